//! Whether a panic of handed-over work says that the runtime the work needs
//! is gone: shut down, or not there where the work is polled now.
//!
//! When a leader's `Call` is dropped before its work finished, the work
//! moves to the flight's other Rust waiters, which poll it in their own
//! tasks (`rendezvous.rs`). Work that holds resources of the leader's runtime
//! (its timers, its I/O) cannot be polled once that runtime has shut down:
//! tokio panics at the first poll that reaches such a resource. Nor can
//! work that makes a new tokio resource go on in a follower on another
//! executor (smol, a plain thread): tokio panics there for want of a
//! runtime. Such a panic is not the work's outcome but the loss of the
//! place it ran in, so the flight is handed off instead (every waiter joins
//! again and one of them runs its own work, in its own task). Any other
//! panic of the work is its outcome, shared with every caller as usual.
//!
//! No runtime offers a public "has shut down" test for a resource, so the
//! panic is recognized by its message, as tokio's own
//! `tokio::runtime::is_rt_shutdown_err` recognizes its shutdown errors.

/// What tokio's panics say when a resource of a runtime that has shut down
/// is polled: its timer or I/O driver (`RUNTIME_SHUTTING_DOWN_ERROR`), a
/// timer fired by the driver's shutdown (`timer error: ` and its
/// `Error::shutdown()` text); and when a resource is made where no runtime
/// is (`CONTEXT_MISSING_ERROR`). Matched anywhere in the message, so an
/// `unwrap` of the corresponding I/O error is recognized too.
const SHUTDOWN_MESSAGES: [&str; 3] = [
    "A Tokio 1.x context was found, but it is being shutdown",
    "the timer is shutdown, must be called from the context of",
    "there is no reactor running, must be called from the context of a Tokio 1.x runtime",
];

/// True if a panic with `message` means that the runtime the work needs is
/// gone.
pub(crate) fn says_executor_gone(message: &str) -> bool {
    SHUTDOWN_MESSAGES.iter().any(|m| message.contains(m))
}

#[cfg(test)]
mod tests {
    use super::says_executor_gone;

    #[test]
    fn tokio_runtime_panics_and_nothing_else() {
        assert!(says_executor_gone("A Tokio 1.x context was found, but it is being shutdown."));
        assert!(says_executor_gone(
            "timer error: the timer is shutdown, must be called from the context of Tokio runtime"
        ));
        assert!(says_executor_gone(
            "called `Result::unwrap()` on an `Err` value: Custom { kind: Other, error: \"A Tokio 1.x context was found, but it is being shutdown.\" }"
        ));
        assert!(says_executor_gone(
            "there is no reactor running, must be called from the context of a Tokio 1.x runtime"
        ));
        assert!(!says_executor_gone("called `Result::unwrap()` on an `Err` value: RecvError(())"));
        assert!(!says_executor_gone("driven boom"));
        assert!(!says_executor_gone(""));
    }
}
