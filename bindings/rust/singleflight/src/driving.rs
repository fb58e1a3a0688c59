//! Which flights this thread is polling the work of right now, so that a work
//! asking for its own key gets [`crate::Error::Deadlock`] instead of a hang.
//!
//! Why here and not in the engine: the engine detects re-entry for a thread
//! that runs a work to its end (`SF_JOIN_RUN_HERE`), which a blocking call
//! is. A future's work is not run by a thread but polled, a slice at a
//! time, by whichever task is polled, with other tasks' polls in between:
//! a work that awaits its own key blocks no thread (it would wait on itself
//! forever), and only the binding knows when one of its polls is on the
//! stack.
//!
//! A stack of markers threaded through the frames that poll work: each lives
//! on its poller's stack and links to the one below it, so marking costs two
//! thread-local `Cell` writes and no allocation.

use std::cell::Cell;
use std::ptr;

use singleflight_sys as sys;

/// A flight whose work is being polled: by its Rust rendezvous (its
/// address), or, on a leader's first poll, by group and key.
#[derive(Clone, Copy)]
pub(crate) enum Driven {
    Rendezvous(*const ()),
    Key(*mut sys::sf_group, *const u8, usize),
}

struct Marker {
    what: Driven,
    below: *const Marker,
}

thread_local! {
    static TOP: Cell<*const Marker> = const { Cell::new(ptr::null()) };
}

/// Runs `f` with `what` marked as driven on this thread.
pub(crate) fn driving<R>(what: Driven, f: impl FnOnce() -> R) -> R {
    /// Unmarks, also if `f` unwinds.
    struct Pop(*const Marker);
    impl Drop for Pop {
        fn drop(&mut self) {
            TOP.with(|t| t.set(self.0));
        }
    }
    let below = TOP.with(Cell::get);
    let marker = Marker { what, below };
    TOP.with(|t| t.set(&marker));
    let _pop = Pop(below);
    f()
}

/// True if `matches` holds for a flight driven on this thread.
fn any(matches: impl Fn(Driven) -> bool) -> bool {
    let mut m = TOP.with(Cell::get);
    while !m.is_null() {
        // Safety: every marker in the list lives in a frame of `driving`
        // further up this thread's stack, which unlinks it before returning.
        let marker = unsafe { &*m };
        if matches(marker.what) {
            return true;
        }
        m = marker.below;
    }
    false
}

/// True if this thread is polling the work of the flight of `rendezvous`.
pub(crate) fn has_rendezvous(rendezvous: *const ()) -> bool {
    any(|d| matches!(d, Driven::Rendezvous(r) if r == rendezvous))
}

/// True if this thread is polling the first poll of a leader of `key`.
pub(crate) fn has_key(group: *mut sys::sf_group, key: &[u8]) -> bool {
    any(|d| match d {
        // Safety: a Key marker points at the key of a Call that is being
        // polled further up this thread's stack: still alive.
        Driven::Key(g, p, n) => g == group && unsafe { std::slice::from_raw_parts(p, n) } == key,
        Driven::Rendezvous(_) => false,
    })
}
