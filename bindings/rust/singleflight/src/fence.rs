//! The fencing token of the flight whose work this thread is running
//! ([`fence_token`]): each place that runs or polls a leader's work marks its
//! work ticket here for the length of the call or poll.

use std::cell::Cell;
use std::ptr;

use singleflight_sys as sys;

thread_local! {
    /// The work ticket of the work running (or being polled) on this thread.
    static RUNNING: Cell<*const sys::sf_ticket> = const { Cell::new(ptr::null()) };
}

/// Runs `f` with `work` (a work ticket held for as long as `f` runs) as this
/// thread's running work; the one below it comes back afterwards, also if
/// `f` unwinds.
pub(crate) fn running<R>(work: *const sys::sf_ticket, f: impl FnOnce() -> R) -> R {
    /// Restores the work below, also on unwinding.
    struct Restore(*const sys::sf_ticket);
    impl Drop for Restore {
        fn drop(&mut self) {
            RUNNING.with(|r| r.set(self.0));
        }
    }
    let _restore = Restore(RUNNING.with(|r| r.replace(work)));
    f()
}

/// The fencing token of work ticket `work` (0 for a local flight).
///
/// # Safety
/// `work` must be a work ticket that is held.
pub(crate) unsafe fn token_of(work: *const sys::sf_ticket) -> u64 {
    let mut token = 0;
    // Safety: a held work ticket and a valid output (caller's promise).
    unsafe { sys::sf_fence_token(work, &mut token) };
    token
}

/// The fencing token of the flight whose work is running on this thread:
/// the work of a [`crate::Group::call`] while it runs, or of a
/// [`crate::Group::call_async`] while it is polled (read it in the work's
/// own future, not in a task it spawns).
///
/// In a fleet group ([`crate::Group::open_fleet`]) the server hands a leader
/// a token per key, larger for every new lead; a store that remembers the
/// largest token it has seen can refuse the writes of a leader that stalled
/// past its lease and was taken over. The token is 0 when the flight is
/// local (a group that is not a fleet group, or a fleet group running
/// locally because its server is unreachable) and outside any work.
///
/// ```
/// use singleflight::{fence_token, Group};
/// let group = Group::new();
/// let v = group.call("k", || Ok::<_, ()>(fence_token())).unwrap();
/// assert_eq!(*v, 0); // a local group: no token
/// assert_eq!(fence_token(), 0); // outside any work
/// ```
pub fn fence_token() -> u64 {
    let work = RUNNING.with(Cell::get);
    if work.is_null() {
        return 0;
    }
    // Safety: the marker is set only while its work ticket is held (the
    // frame of `running` that set it is further up this thread's stack).
    unsafe { token_of(work) }
}
