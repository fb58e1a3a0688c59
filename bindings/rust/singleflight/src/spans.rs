//! Feature `tracing`: a span `singleflight.call` (target `singleflight`,
//! level DEBUG) around every blocking call ([`Group::call`],
//! [`Group::call_timeout`]), with the fields `key_len` and `role`
//! (`"leader"` for the caller that ran the work, `"follower"` for one that
//! shared its outcome; recorded once known). Without the feature this
//! compiles to nothing.
//!
//! [`Group::call`]: crate::Group::call
//! [`Group::call_timeout`]: crate::Group::call_timeout

#[cfg(feature = "tracing")]
pub(crate) struct CallSpan(tracing::span::EnteredSpan);

#[cfg(feature = "tracing")]
impl CallSpan {
    pub(crate) fn enter(key_len: usize) -> CallSpan {
        CallSpan(
            tracing::debug_span!(target: "singleflight", "singleflight.call", key_len, role = tracing::field::Empty)
                .entered(),
        )
    }

    pub(crate) fn role(&self, leader: bool) {
        self.0.record("role", if leader { "leader" } else { "follower" });
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
