//! [`RustFlight`]: where the Rust async waiters of one flight meet.
//!
//! It is attached to the engine's flight (`sf_attach`), so every Rust waiter
//! of the flight finds the same one. A Rust leader whose work is still
//! pending after its first poll installs the work future here with the
//! flight's work ticket; from then on whichever waiter is polled drives it
//! (one at a time, the *driver*, whose waker the work's wakes reach), and
//! whoever sees it finish completes the engine's flight, keeps the outcome
//! here for the other Rust waiters and wakes them all: they neither subscribe
//! to the engine nor cross into it to read the outcome.
//!
//! A flight whose work is not here (led by another language, by a blocking
//! Rust caller, or not yet installed) is waited for through the engine: each
//! waiter subscribes to the completion on its own ticket.
//!
//! When the last Rust waiter leaves while the work is unfinished, the work is
//! dropped and its ticket left: the engine's flight is abandoned, or handed
//! off to the waiters of other languages.

use std::ffi::c_void;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::task::{Context, Poll, Wake, Waker};

use crate::driving::{self, Driven};
use crate::group::Ticket;
use crate::native::{self, Completion, Finished};
use singleflight_sys as sys;

/// The shared work of a flight: it ends ready for the engine.
pub(crate) type WorkFuture = std::pin::Pin<Box<dyn std::future::Future<Output = Finished> + Send>>;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Drops `x`, keeping a panic in its `Drop` from unwinding further.
pub(crate) fn drop_quietly<X>(x: X) {
    let _ = catch_unwind(AssertUnwindSafe(move || drop(x)));
}

/// The tag of the rendezvous objects of this copy of the binding: an
/// `Arc<RustFlight>` (one strong reference owned by the engine).
static FLIGHT_KIND: sys::sf_native_kind = sys::sf_native_kind {
    name: c"rust-flight".as_ptr(),
    release: Some(release_flight),
};

unsafe extern "C" fn release_flight(value: *mut c_void) {
    // Safety: the engine hands back exactly once the Arc::into_raw pointer it
    // installed for FLIGHT_KIND.
    let flight = unsafe { Arc::from_raw(value.cast_const().cast::<RustFlight>()) };
    drop_quietly(flight);
}

/// The work and its ticket, once a leader installed them.
struct WorkSlot {
    fut: Option<WorkFuture>,
    ticket: *mut sys::sf_ticket,
}

// Safety: the work ticket may be used from any thread, by one user at a time,
// which the mutex around the slot ensures; the future is Send.
unsafe impl Send for WorkSlot {}

/// Where the flight's outcome is for its Rust waiters.
enum Mode {
    /// No Rust work here: the outcome comes through the engine.
    Unled,
    /// The work is installed and runs.
    Running,
    /// A Rust driver completed the flight (its outcome is in `done`).
    Done,
    /// The last Rust waiter left: the work was dropped (a later waiter gets
    /// the engine's hand-off).
    Orphaned,
}

/// The waiters' bookkeeping.
struct Book {
    mode: Mode,
    /// Rust waiters in the flight.
    waiters: usize,
    /// Their wakers, by index (until `Done`).
    wakers: Vec<Option<Waker>>,
    free: Vec<usize>,
    /// The waiter that drives the work: the work's wakes go to it alone.
    driver: Option<usize>,
}

/// The Rust waiters' shared state of one flight.
pub(crate) struct RustFlight {
    /// The outcome, once a Rust driver completed the flight: read without a
    /// lock by the waiters it wakes.
    done: OnceLock<Completion>,
    book: Mutex<Book>,
    /// Locked by the driver while it polls (never together with `book`
    /// taken first, so a wake from inside the poll can take `book`).
    work: Mutex<WorkSlot>,
    /// Set when the work future is woken; lets the driver repoll.
    notified: AtomicBool,
}

/// What a waiter does next.
#[derive(Clone, Copy)]
pub(crate) enum Look {
    /// The flight is done: its outcome is [`RustFlight::outcome`].
    Done,
    /// This waiter drives the work.
    Drive,
    /// Another waiter drives the work; this one will be woken.
    Wait,
    /// The outcome comes through the engine.
    Engine,
}

/// Work left without any Rust waiter: dropped, its ticket left.
pub(crate) struct Orphan(Option<WorkFuture>, *mut sys::sf_ticket);

impl Orphan {
    /// Drops the work and leaves its ticket uncompleted: the flight is
    /// abandoned, or handed off to the waiters of other languages.
    pub(crate) fn abandon(self) {
        drop_quietly(self.0);
        if !self.1.is_null() {
            // Safety: the work ticket, moved out of the slot under its lock:
            // ours alone, left once.
            unsafe { sys::sf_leave(self.1) };
        }
    }
}

thread_local! {
    /// A spare RustFlight, offered to sf_attach and kept when another was
    /// installed first: followers allocate none.
    static SPARE: std::cell::Cell<Option<Arc<RustFlight>>> = const { std::cell::Cell::new(None) };
}

impl RustFlight {
    fn new() -> RustFlight {
        RustFlight {
            done: OnceLock::new(),
            book: Mutex::new(Book { mode: Mode::Unled, waiters: 0, wakers: Vec::new(), free: Vec::new(), driver: None }),
            work: Mutex::new(WorkSlot { fut: None, ticket: std::ptr::null_mut() }),
            notified: AtomicBool::new(false),
        }
    }

    /// The flight's RustFlight: ours if we attach first, else the installed
    /// one; `None` if the engine has no room for it.
    pub(crate) fn attach(wait: &Ticket) -> Option<Arc<RustFlight>> {
        let spare = SPARE.with(|s| s.take()).unwrap_or_else(|| Arc::new(RustFlight::new()));
        let raw = Arc::into_raw(spare).cast_mut().cast::<c_void>();
        let mut current: *mut c_void = std::ptr::null_mut();
        // Safety: our wait ticket is held; `raw` is a valid pointer of
        // FLIGHT_KIND, whose ownership passes to the engine only if installed.
        let st = unsafe { sys::sf_attach(wait.as_ptr(), &FLIGHT_KIND, raw, &mut current) };
        if st != sys::SF_OK || current != raw {
            // Not installed: our spare comes back to us, unused.
            // Safety: `raw` is the Arc::into_raw above, still ours.
            let spare = unsafe { Arc::from_raw(raw.cast_const().cast::<RustFlight>()) };
            SPARE.with(|s| s.set(Some(spare)));
        }
        if st != sys::SF_OK || current.is_null() {
            return None;
        }
        // Safety: `current` is the installed Arc<RustFlight> (FLIGHT_KIND is
        // ours alone), valid while our ticket is held; take our own reference
        // (the engine keeps its own).
        unsafe {
            let current = current.cast_const().cast::<RustFlight>();
            Arc::increment_strong_count(current);
            Some(Arc::from_raw(current))
        }
    }

    /// An address unique to this flight, for [`driving`].
    pub(crate) fn id(&self) -> *const () {
        (self as *const RustFlight).cast()
    }

    /// Counts a new waiter and registers its waker: its index, and what it
    /// does next.
    pub(crate) fn enter(&self, waker: &Waker) -> (usize, Look) {
        let mut b = lock(&self.book);
        b.waiters += 1;
        if self.done.get().is_some() {
            // Nothing will be woken any more.
            return (usize::MAX, Look::Done);
        }
        let w = Some(waker.clone());
        let me = match b.free.pop() {
            Some(i) => {
                b.wakers[i] = w;
                i
            }
            None => {
                b.wakers.push(w);
                b.wakers.len() - 1
            }
        };
        (me, self.next(&mut b, me))
    }

    /// The leader's pending work (and its work ticket) comes here; waiter
    /// `me`, the leader, drives it.
    pub(crate) fn install(&self, fut: WorkFuture, ticket: Ticket, me: usize) {
        {
            let mut slot = lock(&self.work);
            slot.fut = Some(fut);
            slot.ticket = ticket.into_raw();
        }
        let mut b = lock(&self.book);
        debug_assert!(matches!(b.mode, Mode::Unled), "one leader per flight");
        b.mode = Mode::Running;
        b.driver = Some(me);
    }

    /// The outcome a Rust driver completed the flight with.
    pub(crate) fn outcome(&self) -> Option<&Completion> {
        self.done.get()
    }

    /// What waiter `me` does next; refreshes its waker.
    pub(crate) fn look(&self, me: usize, waker: &Waker) -> Look {
        if self.done.get().is_some() {
            return Look::Done;
        }
        let mut b = lock(&self.book);
        refresh(&mut b.wakers[me], waker);
        self.next(&mut b, me)
    }

    /// What waiter `me` does next (its waker is registered).
    fn next(&self, b: &mut Book, me: usize) -> Look {
        match b.mode {
            Mode::Done => Look::Done,
            Mode::Unled | Mode::Orphaned => Look::Engine,
            Mode::Running => match b.driver {
                Some(d) if d != me => Look::Wait,
                _ => {
                    b.driver = Some(me);
                    Look::Drive
                }
            },
        }
    }

    /// Polls the work once (this waiter is the driver); on completion,
    /// completes the engine's flight, keeps the outcome for the Rust waiters
    /// and wakes them. Returns true if it completed.
    pub(crate) fn drive(self: &Arc<Self>, me: usize, cx: &mut Context<'_>) -> bool {
        let mut slot = lock(&self.work);
        let Some(fut) = slot.fut.as_mut() else { return false };
        self.notified.store(false, Ordering::SeqCst);
        let waker = Waker::from(self.clone());
        let polled = driving::driving(Driven::Flight(self.id()), || {
            catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(&mut Context::from_waker(&waker))))
        });
        let finished = match polled {
            Ok(Poll::Pending) => {
                drop(slot);
                if self.notified.swap(false, Ordering::SeqCst) {
                    // Woken while we polled: come back soon, through the executor.
                    cx.waker().wake_by_ref();
                }
                return false;
            }
            Ok(Poll::Ready(f)) => f,
            Err(payload) => Finished::panic(native::panic_message(&*payload)),
        };
        let fut = slot.fut.take();
        let ticket = std::mem::replace(&mut slot.ticket, std::ptr::null_mut());
        drop(slot);
        drop_quietly(fut);
        let outcome = finished.native.share();
        // Safety: the work ticket was moved out of the slot under its lock,
        // so we alone hold it; it is consumed here.
        unsafe { native::complete_and_leave(ticket, finished) };
        // Only the driver completes, once (the work is gone now).
        let _ = self.done.set(outcome);
        let wakers = {
            let mut b = lock(&self.book);
            b.mode = Mode::Done;
            b.driver = None;
            b.free = Vec::new();
            std::mem::take(&mut b.wakers)
        };
        for (i, w) in wakers.into_iter().enumerate() {
            if let Some(w) = w.filter(|_| i != me) {
                w.wake();
            }
        }
        true
    }

    /// Waiter `me` leaves. Returns the work if it was the last Rust waiter
    /// of an unfinished flight: the caller abandons it after leaving its own
    /// wait ticket.
    pub(crate) fn leave(&self, me: usize) -> Option<Orphan> {
        if self.done.get().is_some() {
            // Done for good: nothing to orphan or hand over, nobody to wake.
            return None;
        }
        let mut b = lock(&self.book);
        b.waiters -= 1;
        if matches!(b.mode, Mode::Done) {
            return None;
        }
        let was_driver = b.driver == Some(me);
        if was_driver {
            b.driver = None;
        }
        b.wakers[me] = None;
        b.free.push(me);
        if !matches!(b.mode, Mode::Running) {
            return None;
        }
        if b.waiters == 0 {
            b.mode = Mode::Orphaned;
            drop(b);
            let mut slot = lock(&self.work);
            let ticket = std::mem::replace(&mut slot.ticket, std::ptr::null_mut());
            return Some(Orphan(slot.fut.take(), ticket));
        }
        if was_driver || self.notified.load(Ordering::SeqCst) {
            // The work is left without its driver (or a wake of it may have
            // reached only us): the others take over.
            b.wakers.iter().flatten().for_each(Waker::wake_by_ref);
        }
        None
    }
}

/// Stores `waker` in `slot` unless the one there wakes the same task.
fn refresh(slot: &mut Option<Waker>, waker: &Waker) {
    match slot {
        Some(w) if w.will_wake(waker) => {}
        s => *s = Some(waker.clone()),
    }
}

impl Wake for RustFlight {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref()
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.notified.store(true, Ordering::SeqCst);
        let b = lock(&self.book);
        if !matches!(b.mode, Mode::Running) {
            return;
        }
        match b.driver.and_then(|i| b.wakers[i].as_ref()) {
            Some(w) => w.wake_by_ref(),
            None => b.wakers.iter().flatten().for_each(Waker::wake_by_ref),
        }
    }
}
