//! [`Rendezvous`]: the Rust binding's rendezvous (`singleflight_binding.h`,
//! docs/binding-contract.md), attached to the engine's flight
//! (`sf_attach`): where the Rust async callers of one flight share the
//! leader's Rust value and are woken through their `Waker`s.
//!
//! What it keeps that the engine cannot is where the Rust work future is
//! ([`Mode`]): a future runs only while someone polls it. A leader whose
//! work is pending after its first poll drives it in its own task (`Held`);
//! should it leave first, the work moves here with its two tickets
//! (`Running`) and whichever Rust waiter is polled drives it. Whoever
//! finishes the work completes the engine's flight and ends the rendezvous
//! ([`Ending`]): its outcome, read here by the waiters it wakes.
//!
//! A follower of work of its own types is taken in here at its meeting
//! (`sf_join_or_meet`) and holds no ticket, so it reads its ending only
//! here; every other caller holds a wait ticket and, with no Rust work here
//! (`Away`), waits through the engine (`sf_subscribe`).
//!
//! When the last Rust waiter leaves unfinished work, the work is dropped and
//! its tickets left: the engine abandons the flight or hands it to the
//! callers of other languages. Work that panics because the runtime it needs
//! is gone (`executor_gone.rs`) is dropped and the flight handed off: every
//! waiter joins again.

use std::any::TypeId;
use std::ffi::{c_int, c_void};
use std::mem::ManuallyDrop;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::fence;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};

use crate::driving::{self, Driven};
use crate::executor_gone::says_executor_gone;
use crate::group::{join_tickets, tickets, Ticket};
use crate::native::{self, Completion, Finished, Outcome};
use crate::recycle::{self, BoxOf};
use crate::set_once::SetOnce;
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

/// Drops a finished work's box like [`drop_quietly`], keeping its block for
/// the next work of this thread ([`recycle`]).
pub(crate) fn drop_quietly_in<X: ?Sized>(b: Box<X>) {
    let _ = catch_unwind(AssertUnwindSafe(move || recycle::drop_box(BoxOf::Work, b)));
}

/// The tag of the rendezvous objects of this copy of the binding: an
/// `Arc<Rendezvous>` (one strong reference owned by the engine).
static RENDEZVOUS_KIND: sys::sf_native_kind =
    sys::sf_native_kind { name: c"rust-rendezvous".as_ptr(), release: Some(release_rendezvous) };

unsafe extern "C" fn release_rendezvous(value: *mut c_void) {
    // Safety: the engine hands back exactly once the Arc::into_raw pointer it
    // installed for RENDEZVOUS_KIND.
    let flight = unsafe { Arc::from_raw(value.cast_const().cast::<Rendezvous>()) };
    let _ = catch_unwind(AssertUnwindSafe(move || release(flight)));
}

/// The work and its tickets, once a leader handed them over.
pub(crate) struct HandedWork {
    fut: Option<WorkFuture>,
    /// The flight's work ticket (or null).
    ticket: *mut sys::sf_ticket,
    /// The leader's wait ticket (or null), held for the Rust waiters left:
    /// the engine sees the flight waited for while they wait.
    wait: *mut sys::sf_ticket,
}

// Safety: tickets may be used from any thread, by one user at a time,
// which the mutex around it ensures; the future is Send.
unsafe impl Send for HandedWork {}

impl HandedWork {
    const NONE: HandedWork = HandedWork { fut: None, ticket: std::ptr::null_mut(), wait: std::ptr::null_mut() };

    /// Moves the work and its tickets out (under the lock of `work`), for
    /// the caller alone.
    fn take(&mut self) -> HandedWork {
        std::mem::replace(self, HandedWork::NONE)
    }

    /// Work no Rust waiter is left for: leaves the wait ticket, drops the
    /// work and leaves its ticket uncompleted (the flight is abandoned, or
    /// handed off to the waiters of other languages).
    pub(crate) fn abandon(self) {
        // Safety (both): tickets taken out of `work`: ours alone, left once.
        if !self.wait.is_null() {
            unsafe { sys::sf_leave(self.wait) };
        }
        drop_quietly(self.fut);
        if !self.ticket.is_null() {
            unsafe { sys::sf_leave(self.ticket) };
        }
    }

    /// Work that cannot go on: leaves its ticket uncompleted while the wait
    /// ticket is still held (a hand-off: every waiter with a ticket gets
    /// `SF_EHANDOFF`, the flight is not counted abandoned), then the rest.
    fn hand_off(self) {
        // Safety (both): as in `abandon`.
        if !self.ticket.is_null() {
            unsafe { sys::sf_leave(self.ticket) };
        }
        if !self.wait.is_null() {
            unsafe { sys::sf_leave(self.wait) };
        }
        drop_quietly(self.fut);
    }
}

/// Where the flight's Rust work is: the one thing a Rust rendezvous keeps
/// that the engine cannot, since a Rust future runs only while someone
/// polls it.
enum Mode {
    /// No Rust work here (led by another language or a blocking caller,
    /// ended, or abandoned): a waiter with a ticket waits through the engine.
    Away,
    /// The leader drives the work in its own `Call` and completes the
    /// flight; dropped unfinished, it hands the work over (`Running`).
    Held,
    /// The work runs here, driven by a waiter.
    Running,
}

/// How the rendezvous ended for its Rust waiters: set once, by whoever
/// finished the Rust work.
pub(crate) enum Ending {
    /// The work completed the flight with this outcome.
    Completed(Completion),
    /// The work's runtime is gone: the flight was handed off; join again.
    HandedOff,
}

/// The waiters' bookkeeping.
struct Book {
    mode: Mode,
    /// The value and error types of the work (`Held` and `Running`).
    types: Option<(TypeId, TypeId)>,
    /// Rust waiters in the flight.
    waiters: usize,
    /// Their wakers, by index (until the ending).
    wakers: Vec<Option<Waker>>,
    free: Vec<usize>,
    /// The waiter that drives the work: the work's wakes go to it alone.
    driver: Option<usize>,
}

/// The Rust waiters' shared state of one flight.
pub(crate) struct Rendezvous {
    /// The ending: read without a lock by the waiters it wakes.
    done: SetOnce<Ending>,
    book: Mutex<Book>,
    /// Locked by the driver while it polls (never together with `book`
    /// taken first, so a wake from inside the poll can take `book`).
    work: Mutex<HandedWork>,
    /// Set when the work future is woken; lets the driver repoll.
    notified: AtomicBool,
}

/// What a waiter does next.
#[derive(Clone, Copy)]
pub(crate) enum Look {
    /// The rendezvous ended: [`Rendezvous::read`].
    Done,
    /// This waiter drives the work.
    Drive,
    /// Another waiter drives the work; this one will be woken.
    Wait,
    /// The outcome comes through the engine.
    Engine,
}

/// An idle Rendezvous of this thread's cache ([`recycle`]), or a new one.
fn take_idle() -> Arc<Rendezvous> {
    recycle::take_rendezvous().unwrap_or_else(|| Arc::new(Rendezvous::new()))
}

/// Drops a reference to a Rendezvous. If it was the last one, the flight is
/// reset and kept for a new flight on this thread (dropping the outcome it
/// held), unless something in it was left unexpectedly (then it is freed).
pub(crate) fn release(mut f: Arc<Rendezvous>) {
    // Others hold it (the common case of a flight's waiters): one decrement.
    // Should the others go meanwhile, the last drop frees it.
    let Some(rf) = unique(&mut f) else { return };
    if rf.reset() {
        recycle::keep_rendezvous(f);
    }
}

/// The Rendezvous behind `f` if `f` is its only reference: `Arc::get_mut`
/// without its read-modify-write of the weak count, which guards against a
/// `Weak` upgrading meanwhile. No `Weak` of a Rendezvous is ever made, so a
/// strong count of one, read with acquire ordering, means nothing else can
/// reach it.
fn unique(f: &mut Arc<Rendezvous>) -> Option<&mut Rendezvous> {
    if Arc::strong_count(f) != 1 {
        return None;
    }
    // Pairs with the release decrement of every reference dropped before.
    fence(Ordering::Acquire);
    // Safety: the only reference (above), borrowed mutably for as long as
    // the result lives, so no other can be made meanwhile.
    Some(unsafe { &mut *Arc::as_ptr(f).cast_mut() })
}

impl Rendezvous {
    fn new() -> Rendezvous {
        Rendezvous {
            done: SetOnce::new(),
            book: Mutex::new(Book {
                mode: Mode::Away,
                types: None,
                waiters: 0,
                wakers: Vec::new(),
                free: Vec::new(),
                driver: None,
            }),
            work: Mutex::new(HandedWork::NONE),
            notified: AtomicBool::new(false),
        }
    }

    /// Makes this Rendezvous, which nothing else references, as new: true if
    /// it can serve another flight. Its ending is dropped here (and a panic
    /// in a value's `Drop` stays here).
    fn reset(&mut self) -> bool {
        if self.book.is_poisoned() || self.work.is_poisoned() {
            return false;
        }
        let handed = self.work.get_mut().unwrap_or_else(|e| e.into_inner());
        if handed.fut.is_some() || !handed.ticket.is_null() || !handed.wait.is_null() {
            return false;
        }
        let b = self.book.get_mut().unwrap_or_else(|e| e.into_inner());
        if matches!(b.mode, Mode::Running | Mode::Held) {
            return false;
        }
        b.mode = Mode::Away;
        b.types = None;
        b.waiters = 0;
        b.driver = None;
        b.free.clear();
        // Ended or abandoned, a flight has no waker left: its list's room
        // stays for the next flight (up to WAKERS_KEPT), so a hot key's list
        // does not grow again (a reallocation under `book`) flight after
        // flight.
        if b.wakers.capacity() > WAKERS_KEPT || b.wakers.iter().any(Option::is_some) {
            drop_quietly(std::mem::take(&mut b.wakers));
        } else {
            b.wakers.clear();
        }
        *self.notified.get_mut() = false;
        drop_quietly(self.done.take());
        true
    }

    /// The flight's Rendezvous: ours if we attach first, else the installed
    /// one; `None` if the engine has no room for it.
    pub(crate) fn attach(wait: &Ticket) -> Option<Arc<Rendezvous>> {
        Self::offer(wait, take_idle()).map(|(f, _)| f)
    }

    /// The leader's attach: the flight's Rendezvous, in which it holds its
    /// pending work of value and error types `types` (`Held`), counted as
    /// its first waiter, with no waker (it drives the work in its own task).
    pub(crate) fn attach_held(wait: &Ticket, types: (TypeId, TypeId)) -> Option<Arc<Rendezvous>> {
        let mut spare = take_idle();
        if let Some(rf) = unique(&mut spare) {
            // Not published yet: set up without a lock.
            let b = rf.book.get_mut().unwrap_or_else(|e| e.into_inner());
            (b.mode, b.types, b.waiters) = (Mode::Held, Some(types), 1);
        }
        let (f, ours) = Self::offer(wait, spare)?;
        if !ours {
            // A follower attached one first (between our join and now).
            let mut b = lock(&f.book);
            debug_assert!(matches!(b.mode, Mode::Away), "one leader per flight");
            b.mode = Mode::Held;
            b.types = Some(types);
            b.waiters += 1;
        }
        Some(f)
    }

    /// Offers `spare` to the flight of `wait`: the flight's Rendezvous, and
    /// whether it is `spare`; `None` if the engine has no room for it.
    fn offer(wait: &Ticket, spare: Arc<Rendezvous>) -> Option<(Arc<Rendezvous>, bool)> {
        let raw = Arc::into_raw(spare).cast_mut().cast::<c_void>();
        let mut current: *mut c_void = std::ptr::null_mut();
        // Safety: our wait ticket is held; `raw` is a valid pointer of
        // RENDEZVOUS_KIND, whose ownership passes to the engine only if installed.
        let st = unsafe { sys::sf_attach(wait.as_ptr(), &RENDEZVOUS_KIND, raw, &mut current) };
        if st != sys::SF_OK || current != raw {
            // Not installed: our spare comes back to us, unused.
            // Safety: `raw` is the Arc::into_raw above, still ours.
            let mut spare = unsafe { Arc::from_raw(raw.cast_const().cast::<Rendezvous>()) };
            if let Some(rf) = unique(&mut spare) {
                // Undo what a leader set up in it.
                let b = rf.book.get_mut().unwrap_or_else(|e| e.into_inner());
                (b.mode, b.types, b.waiters) = (Mode::Away, None, 0);
            }
            recycle::keep_rendezvous(spare);
        }
        if st != sys::SF_OK || current.is_null() {
            return None;
        }
        // Safety: `current` is the installed Arc<Rendezvous> (RENDEZVOUS_KIND is
        // ours alone), valid while our ticket is held; take our own reference
        // (the engine keeps its own).
        let f = unsafe {
            let current = current.cast_const().cast::<Rendezvous>();
            Arc::increment_strong_count(current);
            Arc::from_raw(current)
        };
        Some((f, current == raw))
    }

    /// An address unique to this flight, for [`driving`].
    pub(crate) fn id(&self) -> *const () {
        (self as *const Rendezvous).cast()
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
        let me = register(&mut b, waker.clone());
        (me, self.next(&mut b, me))
    }

    /// Joins the flight of `key` in one engine call (`sf_join_or_meet`):
    /// through its rendezvous, with no ticket, if the work runs there with
    /// value and error types `types` (this waiter's reference to the
    /// flight, its index and what it does next); else with tickets, as
    /// `sf_join`.
    pub(crate) fn join(
        group: *mut sys::sf_group,
        key: &[u8],
        types: (TypeId, TypeId),
        waker: &Waker,
    ) -> Result<Joining, sys::sf_status> {
        let mut meeting: *mut sys::sf_meeting = std::ptr::null_mut();
        let mut rendezvous: *mut c_void = std::ptr::null_mut();
        let (mut wait, mut work) = (std::ptr::null_mut(), std::ptr::null_mut());
        // Safety: `group` is a live reference and `key` a valid slice.
        let st = unsafe {
            sys::sf_join_or_meet(
                group,
                key.as_ptr().cast(),
                key.len(),
                0,
                &RENDEZVOUS_KIND,
                &mut meeting,
                &mut rendezvous,
                &mut wait,
                &mut work,
            )
        };
        if st == sys::SF_OK && !meeting.is_null() {
            // No engine lock is held here: the meeting keeps the flight's
            // rendezvous (an Arc<Rendezvous> of our kind) alive until it ends.
            let rv = rendezvous.cast_const().cast::<Rendezvous>();
            // Safety: that live attachment.
            let taken = catch_unwind(AssertUnwindSafe(|| unsafe { &*rv }.take_in(types, waker))).ok().flatten();
            let joined = taken.map(|(me, look)| {
                // Safety: as above; the waiter just counted takes a reference
                // of its own before the meeting ends (the engine keeps its own).
                let rv = unsafe {
                    Arc::increment_strong_count(rv);
                    Arc::from_raw(rv)
                };
                Joining::Met(rv, me, look)
            });
            // Safety: the meeting sf_join_or_meet gave, ended once.
            unsafe { sys::sf_meeting_end(meeting, c_int::from(joined.is_some())) };
            if let Some(joined) = joined {
                return Ok(joined);
            }
            let (wait, lead) = join_tickets(group, key, 0)?;
            return Ok(Joining::Tickets(wait, lead));
        }
        let (wait, lead) = tickets(st, wait, work)?;
        Ok(Joining::Tickets(wait, lead))
    }

    /// Counts a ticketless waiter in if the work runs here, of `types`, and
    /// this thread is not polling it: its index and what it does next.
    /// Runs with no engine lock held, while a meeting keeps the flight's
    /// rendezvous alive: takes `book` only, and cannot panic once it changed
    /// anything.
    fn take_in(&self, types: (TypeId, TypeId), waker: &Waker) -> Option<(usize, Look)> {
        if driving::has_rendezvous(self.id()) {
            // The work of this very flight asks for it: the engine path
            // reports the deadlock.
            return None;
        }
        let mut b = lock(&self.book);
        if !matches!(b.mode, Mode::Held | Mode::Running) || b.types != Some(types) || self.done.get().is_some() {
            return None;
        }
        // A task's own waker: cloning it touches nothing the others share.
        let w = waker.clone();
        b.waiters += 1;
        let me = register(&mut b, w);
        Some((me, self.next(&mut b, me)))
    }

    /// The leader that holds the work (`Held`) leaves before it finished:
    /// the work and its tickets (`wait`, the leader's wait ticket, if it
    /// still holds it) move here for the Rust waiters left, the first of
    /// them polled to drive it. Returns them instead if no Rust waiter is
    /// left: the caller abandons them.
    pub(crate) fn hand_over(&self, fut: WorkFuture, lead: Ticket, wait: Option<Ticket>) -> Option<HandedWork> {
        {
            // Nobody else touches `work` while the leader holds the work.
            let mut handed = lock(&self.work);
            handed.fut = Some(fut);
            handed.ticket = lead.into_raw();
            handed.wait = wait.map_or(std::ptr::null_mut(), Ticket::into_raw);
        }
        let mut b = lock(&self.book);
        debug_assert!(matches!(b.mode, Mode::Held));
        b.waiters -= 1;
        if b.waiters == 0 {
            return Some(self.orphan(b));
        }
        b.mode = Mode::Running;
        b.driver = None;
        // The next to be polled drives it.
        b.wakers.iter().flatten().for_each(Waker::wake_by_ref);
        None
    }

    /// The ending, for a waiter of value and error types `T` and `E`: `None`
    /// before it, or if it holds other types (the engine's byte forms may
    /// still fit).
    pub(crate) fn read<T, E>(&self) -> Option<Outcome<T, E>>
    where
        T: Send + Sync + 'static,
        E: Send + Sync + 'static,
    {
        match self.done.get()? {
            Ending::Completed(c) => native::shared_outcome(c),
            Ending::HandedOff => Some(Outcome::HandOff),
        }
    }

    /// What waiter `me` does next; refreshes its waker.
    pub(crate) fn look(&self, me: usize, waker: &Waker) -> Look {
        if self.done.get().is_some() {
            return Look::Done;
        }
        let mut b = lock(&self.book);
        if self.done.get().is_some() {
            // Ended since we looked: the wakers are gone.
            return Look::Done;
        }
        let old = refresh(&mut b.wakers[me], waker);
        let look = self.next(&mut b, me);
        drop(b);
        drop(old);
        look
    }

    /// What waiter `me` does next (its waker is registered).
    fn next(&self, b: &mut Book, me: usize) -> Look {
        match b.mode {
            Mode::Away => Look::Engine,
            // The leader drives the work in its own task.
            Mode::Held => Look::Wait,
            Mode::Running => match b.driver {
                Some(d) if d != me => Look::Wait,
                _ => {
                    b.driver = Some(me);
                    Look::Drive
                }
            },
        }
    }

    /// Polls the work once (this waiter is the driver, after the leader
    /// handed it over). Ready once the rendezvous ended: the work completed
    /// the engine's flight, or found its runtime gone and handed it off.
    pub(crate) fn drive(self: &Arc<Self>, me: usize, cx: &mut Context<'_>) -> Poll<()> {
        let mut handed = lock(&self.work);
        let ticket = handed.ticket;
        let Some(fut) = handed.fut.as_mut() else { return Poll::Pending };
        self.notified.store(false, Ordering::SeqCst);
        let waker = self.work_waker();
        let polled = driving::driving(Driven::Rendezvous(self.id()), || {
            crate::fence::running(ticket, || {
                catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(&mut Context::from_waker(&waker))))
            })
        });
        let finished = match polled {
            Ok(Poll::Pending) => {
                drop(handed);
                if self.notified.swap(false, Ordering::SeqCst) {
                    // Woken while we polled: come back soon, through the executor.
                    cx.waker().wake_by_ref();
                }
                return Poll::Pending;
            }
            Ok(Poll::Ready(f)) => f,
            Err(payload) => {
                let message = native::panic_message(&*payload);
                drop_quietly(payload);
                if says_executor_gone(&message) {
                    let gone = handed.take();
                    drop(handed);
                    gone.hand_off();
                    self.end(Ending::HandedOff, Some(me));
                    return Poll::Ready(());
                }
                Finished::panic(message)
            }
        };
        let done = handed.take();
        drop(handed);
        if let Some(fut) = done.fut {
            // Safety: the work is dropped in place, never moved out of its box.
            let fut = unsafe { std::pin::Pin::into_inner_unchecked(fut) };
            drop_quietly_in(fut);
        }
        let outcome = finished.native.share();
        // Safety: the work ticket, taken out of `work`: ours alone; consumed here.
        unsafe { native::complete_and_leave(done.ticket, finished) };
        if !done.wait.is_null() {
            // Safety: the leader's wait ticket, taken with the work ticket:
            // ours alone, left once, now that the flight is complete.
            unsafe { sys::sf_leave(done.wait) };
        }
        self.end(Ending::Completed(outcome), Some(me));
        Poll::Ready(())
    }

    /// Ends the rendezvous and wakes its Rust waiters (but `me`, who ended
    /// it). Called once per flight, by whoever finished the work: the
    /// leader that held it, or the driver that took it out of `work`.
    pub(crate) fn end(&self, ending: Ending, me: Option<usize>) {
        // Safety: the only writer, as above (the work is gone now).
        unsafe { self.done.set(ending) };
        let mut wakers = {
            let mut b = lock(&self.book);
            b.mode = Mode::Away;
            b.driver = None;
            b.free.clear();
            std::mem::take(&mut b.wakers)
        };
        for (i, w) in wakers.drain(..).enumerate() {
            if let Some(w) = w.filter(|_| Some(i) != me) {
                w.wake();
            }
        }
        // The emptied list goes back for the rendezvous' next flight
        // (nothing registers in an ended one).
        if wakers.capacity() > 0 {
            lock(&self.book).wakers = wakers;
        }
    }

    /// The last Rust waiter left the unfinished work (`b` is the locked
    /// book): the work and its tickets, taken out for the caller to abandon.
    fn orphan(&self, mut b: MutexGuard<'_, Book>) -> HandedWork {
        b.mode = Mode::Away;
        drop(b);
        lock(&self.work).take()
    }

    /// Waiter `me` leaves. Returns the work if it was the last Rust waiter
    /// of an unfinished flight: the caller abandons it after leaving its own
    /// wait ticket.
    pub(crate) fn leave(&self, me: usize) -> Option<HandedWork> {
        if self.done.get().is_some() {
            // Ended for good: nothing to abandon, nobody to wake.
            return None;
        }
        // Our waker, dropped after `book` is unlocked (declared first).
        let _old: Option<Waker>;
        let mut b = lock(&self.book);
        b.waiters -= 1;
        if self.done.get().is_some() {
            // Ended since we looked: the wakers are gone.
            return None;
        }
        let was_driver = b.driver == Some(me);
        if was_driver {
            b.driver = None;
        }
        _old = b.wakers[me].take();
        b.free.push(me);
        if !matches!(b.mode, Mode::Running) {
            return None;
        }
        if b.waiters == 0 {
            return Some(self.orphan(b));
        }
        if was_driver || self.notified.load(Ordering::SeqCst) {
            // The work is left without its driver (or a wake of it may have
            // reached only us): the others take over.
            b.wakers.iter().flatten().for_each(Waker::wake_by_ref);
        }
        None
    }
}

/// The leader that held the work completes the flight
/// ([`native::finish_leader`]).
impl Rendezvous {
    /// Called once the engine's flight has ended (nobody joins any more):
    /// true if no follower waits here, which then closes for good.
    pub(crate) fn close_if_alone(&self) -> bool {
        let mut b = lock(&self.book);
        debug_assert!(matches!(b.mode, Mode::Held));
        if b.waiters > 1 {
            return false;
        }
        // Only the leader: nobody reads an outcome here.
        b.mode = Mode::Away;
        true
    }
}

/// Stores `waker` in `cell` unless the one there wakes the same task; the
/// waker it replaced, to drop outside the lock.
pub(crate) fn refresh(cell: &mut Option<Waker>, waker: &Waker) -> Option<Waker> {
    match cell {
        Some(w) if w.will_wake(waker) => None,
        s => s.replace(waker.clone()),
    }
}

/// The most waker room an idle rendezvous keeps for its next flight.
const WAKERS_KEPT: usize = 4096;

/// Registers a waiter's waker: its index.
fn register(b: &mut Book, w: Waker) -> usize {
    match b.free.pop() {
        Some(i) => {
            b.wakers[i] = Some(w);
            i
        }
        None => {
            b.wakers.push(Some(w));
            b.wakers.len() - 1
        }
    }
}

/// How a call joined its flight ([`Rendezvous::join`]).
pub(crate) enum Joining {
    /// Taken in by the flight's rendezvous, where work of its types runs: no
    /// ticket; its reference to the flight, its index and what it does next.
    Met(Arc<Rendezvous>, usize, Look),
    /// With tickets, as `sf_join`: the wait ticket, and the work ticket if
    /// it leads.
    Tickets(Ticket, Option<Ticket>),
}

impl Rendezvous {
    /// The waker the work is polled with, borrowed from `self` for the
    /// poll: made without touching the reference count (the work takes a
    /// reference of its own only if it clones the waker).
    fn work_waker(self: &Arc<Self>) -> ManuallyDrop<Waker> {
        let data = Arc::as_ptr(self).cast::<()>();
        // Safety: WORK_WAKER's functions treat `data` as an Arc<Rendezvous>
        // pointer, as it is; the waker is never dropped (ManuallyDrop), so
        // it gives back no reference it did not take, and `self` keeps the
        // flight alive while the poll can use it.
        ManuallyDrop::new(unsafe { Waker::from_raw(RawWaker::new(data, &WORK_WAKER)) })
    }

    /// A wake of the work: the driver (or, with none, every waiter) is
    /// woken to poll it.
    fn wake_work(&self) {
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

/// The waker of a flight's work: its data is an `Arc<Rendezvous>` pointer,
/// each waker made from it by `clone` owning one reference.
static WORK_WAKER: RawWakerVTable = RawWakerVTable::new(clone_work_waker, wake_work, wake_work_by_ref, drop_work_waker);

unsafe fn clone_work_waker(data: *const ()) -> RawWaker {
    // Safety: `data` is a live Arc<Rendezvous> pointer (the waker being
    // cloned keeps it alive); the clone owns the reference taken here.
    unsafe { Arc::increment_strong_count(data.cast::<Rendezvous>()) };
    RawWaker::new(data, &WORK_WAKER)
}

unsafe fn wake_work(data: *const ()) {
    // Safety: a waker made by `clone_work_waker` owns one reference, given
    // back here.
    let flight = unsafe { Arc::from_raw(data.cast::<Rendezvous>()) };
    flight.wake_work();
}

unsafe fn wake_work_by_ref(data: *const ()) {
    // Safety: `data` is a live Arc<Rendezvous> pointer (the waker keeps it
    // alive).
    unsafe { &*data.cast::<Rendezvous>() }.wake_work();
}

unsafe fn drop_work_waker(data: *const ()) {
    // Safety: a waker made by `clone_work_waker` owns one reference, given
    // back here (the borrowed one of `work_waker` is never dropped).
    drop(unsafe { Arc::from_raw(data.cast::<Rendezvous>()) });
}
