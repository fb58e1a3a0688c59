//! [`Error`]: everything a call can end with besides a value.

use std::convert::Infallible;
use std::fmt;
use std::sync::Arc;

use crate::Bytes;
use singleflight_sys as sys;

/// Why a call did not produce a value.
///
/// `E` is the work's own error type; it is shared between the flight's Rust
/// callers as an `Arc<E>`, exactly like the value. Engine failures (bad input,
/// a deadline reached, ...) have their own variants: the binding never panics
/// on them. A *panic* in the work is not an `Error`: it is re-raised in every
/// Rust caller of the flight.
#[non_exhaustive]
pub enum Error<E = Infallible> {
    /// The work returned this error; every Rust caller of the flight gets the
    /// same `Arc`.
    Work(Arc<E>),
    /// The flight was led by a caller in another language (or a Rust caller
    /// with other types) and its outcome has no form of this call's types:
    /// the raw bytes it carried are here. `failed` is true when the work
    /// reported an error (then `bytes` is its error bytes).
    Foreign {
        /// True when the work failed (`SF_EWORK`), false when it succeeded.
        failed: bool,
        /// The outcome's value bytes (or error bytes when `failed`).
        bytes: Option<Bytes>,
    },
    /// The leader's outcome is a native value of another language with no
    /// byte form (`SF_ENOBYTES`); the message names that language.
    NoBytes(String),
    /// The flight was led by a Rust caller whose value (or error) type is not
    /// this call's, and it has no byte form either.
    TypeMismatch {
        /// The type this call asked for.
        expected: &'static str,
    },
    /// The call's timeout elapsed before the outcome was ready; the flight
    /// goes on for the others.
    Timeout,
    /// The caller is itself running the work of the flight it asked to join
    /// (a leader re-entering its own key).
    Deadlock,
    /// The leader of the flight gave up without completing it. Only the
    /// split API ([`crate::Follower::wait`]) returns this; the calls rejoin
    /// by themselves.
    HandedOff,
    /// The flight's bytes are not a value of this call's [`crate::Codec`]:
    /// its message.
    Decode(String),
    /// A bad argument (an empty group name, for instance); nothing ran.
    InvalidArgument(&'static str),
    /// The engine ran out of memory; nothing ran.
    OutOfMemory,
    /// A status this binding does not know (from a newer engine).
    Status(i32),
}

impl<E> Error<E> {
    /// The work's error, if the work failed with one.
    pub fn work(&self) -> Option<&Arc<E>> {
        match self {
            Error::Work(e) => Some(e),
            _ => None,
        }
    }

    /// Maps a status that is not an outcome of the work to its variant.
    pub(crate) fn from_status(status: sys::sf_status) -> Error<E> {
        match status {
            sys::SF_EINVAL => Error::InvalidArgument("rejected by the engine"),
            sys::SF_ENOMEM => Error::OutOfMemory,
            sys::SF_EDEADLK => Error::Deadlock,
            sys::SF_ETIMEDOUT => Error::Timeout,
            sys::SF_EHANDOFF => Error::HandedOff,
            other => Error::Status(other),
        }
    }
}

impl<E> Clone for Error<E> {
    fn clone(&self) -> Self {
        match self {
            Error::Work(e) => Error::Work(e.clone()),
            Error::Foreign { failed, bytes } => Error::Foreign { failed: *failed, bytes: bytes.clone() },
            Error::NoBytes(m) => Error::NoBytes(m.clone()),
            Error::TypeMismatch { expected } => Error::TypeMismatch { expected },
            Error::Timeout => Error::Timeout,
            Error::Deadlock => Error::Deadlock,
            Error::HandedOff => Error::HandedOff,
            Error::Decode(m) => Error::Decode(m.clone()),
            Error::InvalidArgument(m) => Error::InvalidArgument(m),
            Error::OutOfMemory => Error::OutOfMemory,
            Error::Status(s) => Error::Status(*s),
        }
    }
}

impl<E: fmt::Debug> fmt::Debug for Error<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Work(e) => f.debug_tuple("Work").field(e).finish(),
            Error::Foreign { failed, bytes } => {
                f.debug_struct("Foreign").field("failed", failed).field("bytes", bytes).finish()
            }
            Error::NoBytes(m) => f.debug_tuple("NoBytes").field(m).finish(),
            Error::TypeMismatch { expected } => f.debug_struct("TypeMismatch").field("expected", expected).finish(),
            Error::Timeout => f.write_str("Timeout"),
            Error::Deadlock => f.write_str("Deadlock"),
            Error::HandedOff => f.write_str("HandedOff"),
            Error::Decode(m) => f.debug_tuple("Decode").field(m).finish(),
            Error::InvalidArgument(m) => f.debug_tuple("InvalidArgument").field(m).finish(),
            Error::OutOfMemory => f.write_str("OutOfMemory"),
            Error::Status(s) => f.debug_tuple("Status").field(s).finish(),
        }
    }
}

impl<E: fmt::Display> fmt::Display for Error<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Work(e) => write!(f, "the work failed: {e}"),
            Error::Foreign { failed: false, bytes } => write!(
                f,
                "the flight's value came from another language as {} bytes, not as this call's type",
                bytes.as_ref().map_or(0, |b| b.len())
            ),
            Error::Foreign { failed: true, bytes } => write!(
                f,
                "the work (of another language) failed: {}",
                bytes.as_ref().map_or_else(String::new, |b| String::from_utf8_lossy(b).into_owned())
            ),
            Error::NoBytes(m) => write!(f, "the value has no byte form: {m}"),
            Error::TypeMismatch { expected } => {
                write!(f, "the flight's leader produced another type than {expected}")
            }
            Error::Timeout => f.write_str("the call's timeout elapsed"),
            Error::Deadlock => f.write_str("the caller runs the work of the flight it joins"),
            Error::HandedOff => f.write_str("the flight's leader gave up without completing it"),
            Error::Decode(m) => write!(f, "the flight's bytes do not decode: {m}"),
            Error::InvalidArgument(m) => write!(f, "invalid argument: {m}"),
            Error::OutOfMemory => f.write_str("the engine ran out of memory"),
            Error::Status(s) => write!(f, "unknown engine status {s}"),
        }
    }
}

impl<E: fmt::Debug + fmt::Display> std::error::Error for Error<E> {}
