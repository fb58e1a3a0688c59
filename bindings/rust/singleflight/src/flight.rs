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
//! A follower of a flight whose work runs here, of the work's own types,
//! joins through [`RustFlight::join_running`] (`sf_join_attached`): one
//! engine call, which counts it as a caller of the flight and enters it here
//! under the engine's lock, and no wait ticket at all. It holds its own
//! reference to the `RustFlight` and reads the outcome here, so it never
//! needs the engine again. Since `join_running` takes `book` under the
//! engine's flight lock, no code may call into the engine while it holds `book`.
//!
//! When the last Rust waiter leaves while the work is unfinished, the work is
//! dropped and its ticket left: the engine's flight is abandoned, or handed
//! off to the waiters of other languages.

use std::any::TypeId;
use std::ffi::{c_int, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
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
    let _ = catch_unwind(AssertUnwindSafe(move || release(flight)));
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
    /// The value and error types of the installed work (`Running` and after).
    types: Option<(TypeId, TypeId)>,
    /// Its slot in [`RUNNING`] while `Running`.
    hint: usize,
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
    /// Emptied waker lists of finished flights, for new ones: a hot key's
    /// list does not grow again (a reallocation under `book`, which
    /// `join_running` takes under the engine's flight lock) flight after flight.
    static WAKER_LISTS: std::cell::Cell<Vec<Vec<Option<Waker>>>> = const { std::cell::Cell::new(Vec::new()) };
    /// Idle RustFlights, for new flights: one is offered to sf_attach and
    /// kept when another was installed first (followers allocate none), and
    /// a finished flight's comes back here when its last reference goes on
    /// this thread (a flight per flight is not allocated and freed, often on
    /// two threads).
    static IDLE: std::cell::Cell<Vec<Arc<RustFlight>>> = const { std::cell::Cell::new(Vec::new()) };
}

/// How many idle RustFlights a thread keeps.
const IDLE_MAX: usize = 64;

/// An idle RustFlight of this thread, or a new one.
fn take_idle() -> Arc<RustFlight> {
    let idle = IDLE
        .try_with(|l| {
            let mut list = l.take();
            let f = list.pop();
            l.set(list);
            f
        })
        .ok()
        .flatten();
    idle.unwrap_or_else(|| Arc::new(RustFlight::new()))
}

/// Keeps an unused (or reset) RustFlight for [`take_idle`].
fn keep_idle(f: Arc<RustFlight>) {
    let _ = IDLE.try_with(move |l| {
        let mut list = l.take();
        if list.len() < IDLE_MAX {
            list.push(f);
        }
        l.set(list);
    });
}

/// Drops a reference to a RustFlight. If it was the last one, the flight is
/// reset and kept for a new flight on this thread (dropping the outcome it
/// held), unless something in it was left unexpectedly (then it is freed).
pub(crate) fn release(mut f: Arc<RustFlight>) {
    let Some(rf) = Arc::get_mut(&mut f) else { return };
    if rf.reset() {
        keep_idle(f);
    }
}

impl RustFlight {
    fn new() -> RustFlight {
        RustFlight {
            done: OnceLock::new(),
            book: Mutex::new(Book {
                mode: Mode::Unled,
                types: None,
                hint: 0,
                waiters: 0,
                wakers: spare_wakers(),
                free: Vec::new(),
                driver: None,
            }),
            work: Mutex::new(WorkSlot { fut: None, ticket: std::ptr::null_mut() }),
            notified: AtomicBool::new(false),
        }
    }

    /// Makes this RustFlight, which nothing else references, as new: true if
    /// it can serve another flight. Its outcome is dropped here (and a panic
    /// in a value's `Drop` stays here).
    fn reset(&mut self) -> bool {
        if self.book.is_poisoned() || self.work.is_poisoned() {
            return false;
        }
        let slot = self.work.get_mut().unwrap_or_else(|e| e.into_inner());
        if slot.fut.is_some() || !slot.ticket.is_null() {
            return false;
        }
        let b = self.book.get_mut().unwrap_or_else(|e| e.into_inner());
        if matches!(b.mode, Mode::Running) {
            return false;
        }
        b.mode = Mode::Unled;
        b.types = None;
        b.hint = 0;
        b.waiters = 0;
        b.driver = None;
        b.free.clear();
        // Done or orphaned, a flight has no waker left; its list's room stays
        // (up to the size a thread keeps spare lists of).
        let wakers = std::mem::take(&mut b.wakers);
        b.wakers = if wakers.is_empty() && wakers.capacity() > 0 && wakers.capacity() <= SPARE_LIST_MAX {
            wakers
        } else {
            drop_quietly(wakers);
            spare_wakers()
        };
        *self.notified.get_mut() = false;
        drop_quietly(std::mem::take(&mut self.done));
        true
    }

    /// The flight's RustFlight: ours if we attach first, else the installed
    /// one; `None` if the engine has no room for it.
    pub(crate) fn attach(wait: &Ticket) -> Option<Arc<RustFlight>> {
        let spare = take_idle();
        let raw = Arc::into_raw(spare).cast_mut().cast::<c_void>();
        let mut current: *mut c_void = std::ptr::null_mut();
        // Safety: our wait ticket is held; `raw` is a valid pointer of
        // FLIGHT_KIND, whose ownership passes to the engine only if installed.
        let st = unsafe { sys::sf_attach(wait.as_ptr(), &FLIGHT_KIND, raw, &mut current) };
        if st != sys::SF_OK || current != raw {
            // Not installed: our spare comes back to us, unused.
            // Safety: `raw` is the Arc::into_raw above, still ours.
            let spare = unsafe { Arc::from_raw(raw.cast_const().cast::<RustFlight>()) };
            keep_idle(spare);
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
        let me = register(&mut b, waker.clone());
        (me, self.next(&mut b, me))
    }

    /// Joins the running flight of `key` without a ticket (one engine call,
    /// `sf_join_attached`) if its work runs here with value and error types
    /// `types`: this waiter's reference to the flight, its index and what it
    /// does next. `None`: join through the engine.
    #[inline]
    pub(crate) fn join_running<T: 'static, E: 'static>(
        group: *mut sys::sf_group,
        key: &[u8],
        waker: &Waker,
    ) -> Option<(Arc<RustFlight>, usize, Look)> {
        if RUNNING_ANY.0.load(Ordering::Relaxed) == 0 || RUNNING[hint_slot(group, key)].load(Ordering::Relaxed) == 0 {
            // No rendezvous of this key runs work (a hint, not a promise):
            // spare the engine call.
            return None;
        }
        Self::join_attached(group, key, (TypeId::of::<T>(), TypeId::of::<E>()), waker)
    }

    #[inline(never)]
    fn join_attached(
        group: *mut sys::sf_group,
        key: &[u8],
        types: (TypeId, TypeId),
        waker: &Waker,
    ) -> Option<(Arc<RustFlight>, usize, Look)> {
        // Cloned here, not under the engine's lock (dropped unused if the
        // flight does not take us).
        let mut a = Accept { types, waker: Some(waker.clone()), joined: None };
        let mut joined: c_int = 0;
        // Safety: `group` is a live reference and `key` a valid slice;
        // `accept_running` takes `a` (alive for the whole call) as its
        // userdata, and our kind's attachments are Arc<RustFlight>s.
        unsafe {
            sys::sf_join_attached(
                group,
                key.as_ptr().cast(),
                key.len(),
                &FLIGHT_KIND,
                Some(accept_running),
                (&mut a as *mut Accept).cast(),
                &mut joined,
            )
        };
        debug_assert_eq!(joined != 0, a.joined.is_some());
        a.joined
    }

    /// Counts a ticketless waiter in if the work runs here, of `types`, and
    /// this thread is not polling it: its index and what it does next.
    /// Runs under the engine's flight lock (from `accept_running`): takes `book`
    /// only, and cannot panic once it changed anything.
    /// `waker` is taken only if the waiter is counted in.
    fn enter_running(&self, types: (TypeId, TypeId), waker: &mut Option<Waker>) -> Option<(usize, Look)> {
        if driving::has_flight(self.id()) {
            // The work of this very flight asks for it: the engine path
            // reports the deadlock.
            return None;
        }
        let mut b = lock(&self.book);
        if !matches!(b.mode, Mode::Running) || b.types != Some(types) || self.done.get().is_some() {
            return None;
        }
        let w = waker.take()?;
        b.waiters += 1;
        let me = register(&mut b, w);
        Some((me, self.next(&mut b, me)))
    }

    /// The leader's pending work (and its work ticket) comes here; waiter
    /// `me`, the leader, drives it. `types` are its value and error types;
    /// `group` and `key` the flight's, for [`RUNNING`].
    pub(crate) fn install(
        &self,
        fut: WorkFuture,
        ticket: Ticket,
        me: usize,
        types: (TypeId, TypeId),
        group: *mut sys::sf_group,
        key: &[u8],
    ) {
        {
            let mut slot = lock(&self.work);
            slot.fut = Some(fut);
            slot.ticket = ticket.into_raw();
        }
        let hint = hint_slot(group, key);
        let mut b = lock(&self.book);
        debug_assert!(matches!(b.mode, Mode::Unled), "one leader per flight");
        b.mode = Mode::Running;
        b.types = Some(types);
        b.hint = hint;
        RUNNING[hint].fetch_add(1, Ordering::Relaxed);
        RUNNING_ANY.0.fetch_add(1, Ordering::Relaxed);
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
        if matches!(b.mode, Mode::Done) {
            // Completed since we looked at `done`: the wakers are gone.
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
        let mut wakers = {
            let mut b = lock(&self.book);
            if matches!(b.mode, Mode::Running) {
                stopped_running(b.hint);
            }
            b.mode = Mode::Done;
            b.driver = None;
            b.free = Vec::new();
            std::mem::take(&mut b.wakers)
        };
        for (i, w) in wakers.drain(..).enumerate() {
            if let Some(w) = w.filter(|_| i != me) {
                w.wake();
            }
        }
        recycle_wakers(wakers);
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
        // Our waker, dropped after `book` is unlocked (declared first).
        let _old: Option<Waker>;
        let mut b = lock(&self.book);
        b.waiters -= 1;
        if matches!(b.mode, Mode::Done) {
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
            b.mode = Mode::Orphaned;
            stopped_running(b.hint);
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

/// Stores `waker` in `slot` unless the one there wakes the same task; the
/// waker it replaced, to drop outside the lock.
fn refresh(slot: &mut Option<Waker>, waker: &Waker) -> Option<Waker> {
    match slot {
        Some(w) if w.will_wake(waker) => None,
        s => s.replace(waker.clone()),
    }
}

/// How many emptied waker lists a thread keeps, and up to what capacity.
const SPARE_LISTS: usize = 64;
const SPARE_LIST_MAX: usize = 4096;

/// An empty waker list, with room from an earlier flight if this thread has
/// one.
fn spare_wakers() -> Vec<Option<Waker>> {
    WAKER_LISTS
        .try_with(|l| {
            let mut lists = l.take();
            let list = lists.pop();
            l.set(lists);
            list
        })
        .ok()
        .flatten()
        .unwrap_or_default()
}

/// Keeps an emptied waker list for [`spare_wakers`].
fn recycle_wakers(list: Vec<Option<Waker>>) {
    debug_assert!(list.is_empty());
    if list.capacity() == 0 || list.capacity() > SPARE_LIST_MAX {
        return;
    }
    let _ = WAKER_LISTS.try_with(|l| {
        let mut lists = l.take();
        if lists.len() < SPARE_LISTS {
            lists.push(list);
        }
        l.set(lists);
    });
}

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

/// How many rendezvous run work right now, by a hash of group and key: a
/// hint that lets a call of a key with no such flight (the common case of
/// unique keys) skip `sf_join_attached` and go straight to `sf_join`. A stale
/// or colliding count costs one engine call, never correctness.
static RUNNING: [AtomicU32; HINT_SLOTS] = [const { AtomicU32::new(0) }; HINT_SLOTS];
const HINT_SLOTS: usize = 1024;
/// Their sum: when no rendezvous runs work anywhere, a call does not even
/// hash its key. Read by every call: on a cache line of its own.
static RUNNING_ANY: Padded = Padded(AtomicUsize::new(0));

#[repr(align(64))]
struct Padded(AtomicUsize);

/// A rendezvous counted in slot `hint` of [`RUNNING`] stopped running work.
fn stopped_running(hint: usize) {
    RUNNING[hint].fetch_sub(1, Ordering::Relaxed);
    RUNNING_ANY.0.fetch_sub(1, Ordering::Relaxed);
}

/// The [`RUNNING`] slot of a key: a quick hash that reads every byte of the
/// key in place (the last word overlapping the one before).
#[inline]
fn hint_slot(group: *mut sys::sf_group, key: &[u8]) -> usize {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    fn mix(h: u64, w: u64) -> u64 {
        (h.rotate_left(23) ^ w).wrapping_mul(K)
    }
    fn word(b: &[u8], at: usize) -> u64 {
        b.get(at..at + 8).and_then(|w| w.try_into().ok()).map_or(0, u64::from_le_bytes)
    }
    fn half(b: &[u8], at: usize) -> u64 {
        b.get(at..at + 4).and_then(|w| w.try_into().ok()).map_or(0, u32::from_le_bytes) as u64
    }
    let n = key.len();
    let mut h = mix(group as usize as u64, n as u64);
    if n >= 8 {
        let mut at = 0;
        while at + 8 < n {
            h = mix(h, word(key, at));
            at += 8;
        }
        h = mix(h, word(key, n - 8));
    } else if n >= 4 {
        h = mix(h, half(key, 0) << 32 | half(key, n - 4));
    } else if n > 0 {
        h = mix(h, key[0] as u64 | (key[n / 2] as u64) << 8 | (key[n - 1] as u64) << 16);
    }
    (h >> 54) as usize & (HINT_SLOTS - 1)
}

/// The userdata of `accept_running`.
struct Accept {
    types: (TypeId, TypeId),
    waker: Option<Waker>,
    joined: Option<(Arc<RustFlight>, usize, Look)>,
}

/// `sf_accept_fn` of [`RustFlight::join_running`].
unsafe extern "C" fn accept_running(attachment: *mut c_void, userdata: *mut c_void) -> c_int {
    // Safety: `userdata` is the `Accept` that join_running passes, alive and
    // not otherwise borrowed during the engine call.
    let a = unsafe { &mut *userdata.cast::<Accept>() };
    let flight = attachment.cast_const().cast::<RustFlight>();
    // Safety: an attachment of FLIGHT_KIND is an Arc<RustFlight>, kept alive
    // by the engine for the duration of this call.
    let entered = catch_unwind(AssertUnwindSafe(|| unsafe { &*flight }.enter_running(a.types, &mut a.waker)));
    match entered {
        Ok(Some((me, look))) => {
            // Safety: as above: a live Arc<RustFlight>; the waiter we just
            // counted takes a reference of its own (the engine keeps its own).
            let f = unsafe {
                Arc::increment_strong_count(flight);
                Arc::from_raw(flight)
            };
            a.joined = Some((f, me, look));
            1
        }
        Ok(None) | Err(_) => 0,
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
