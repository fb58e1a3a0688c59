//! Feature `tracing`: a span `singleflight.call` (target `singleflight`,
//! level DEBUG) around every call, with the fields `key_len` and `role`
//! (`"leader"` for the caller that ran the work, `"follower"` for one that
//! shared its outcome; recorded once known). A blocking call
//! ([`Group::call`], [`Group::call_timeout`]) is inside it from start to
//! end; an async call ([`Group::call_async`]) has one span from its first
//! poll until it is dropped, entered during each of its polls (so the work
//! the leader polls runs inside it). Without the feature this compiles to
//! nothing.
//!
//! [`Group::call`]: crate::Group::call
//! [`Group::call_timeout`]: crate::Group::call_timeout
//! [`Group::call_async`]: crate::Group::call_async

#[cfg(feature = "tracing")]
fn span(key_len: usize) -> tracing::Span {
    tracing::debug_span!(target: "singleflight", "singleflight.call", key_len, role = tracing::field::Empty)
}

#[cfg(feature = "tracing")]
fn record_role(span: &tracing::Span, leader: bool) {
    span.record("role", if leader { "leader" } else { "follower" });
}

/// The span of a blocking call, entered for its whole length.
#[cfg(feature = "tracing")]
pub(crate) struct CallSpan(tracing::span::EnteredSpan);

#[cfg(feature = "tracing")]
impl CallSpan {
    pub(crate) fn enter(key_len: usize) -> CallSpan {
        CallSpan(span(key_len).entered())
    }

    pub(crate) fn role(&self, leader: bool) {
        record_role(&self.0, leader);
    }
}

/// The span of an async call: made at its first poll, entered during each.
#[cfg(feature = "tracing")]
pub(crate) struct PollSpan(Option<tracing::Span>);

#[cfg(feature = "tracing")]
impl PollSpan {
    pub(crate) fn new() -> PollSpan {
        PollSpan(None)
    }

    /// Enters the span (made on the first poll) until the guard is dropped.
    pub(crate) fn enter(&mut self, key_len: usize) -> tracing::span::EnteredSpan {
        self.0.get_or_insert_with(|| span(key_len)).clone().entered()
    }

    pub(crate) fn role(&self, leader: bool) {
        if let Some(s) = &self.0 {
            record_role(s, leader);
        }
    }
}

#[cfg(not(feature = "tracing"))]
pub(crate) struct CallSpan;

#[cfg(not(feature = "tracing"))]
impl CallSpan {
    #[inline(always)]
    pub(crate) fn enter(_key_len: usize) -> CallSpan {
        CallSpan
    }

    #[inline(always)]
    pub(crate) fn role(&self, _leader: bool) {}
}

#[cfg(not(feature = "tracing"))]
pub(crate) struct PollSpan;

#[cfg(not(feature = "tracing"))]
impl PollSpan {
    #[inline(always)]
    pub(crate) fn new() -> PollSpan {
        PollSpan
    }

    #[inline(always)]
    pub(crate) fn enter(&mut self, _key_len: usize) {}

    #[inline(always)]
    pub(crate) fn role(&self, _leader: bool) {}
}
