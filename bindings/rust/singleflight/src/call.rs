//! [`Call`]: the async call, runtime-agnostic and cancel-safe.
//!
//! How it works. Every Rust waiter of a flight meets the others at one
//! `RustFlight`, attached to the engine's flight with `sf_attach`. The
//! leader boxes its work future into it, with the flight's work ticket.
//! Whichever waiter is polled drives the work future (with a waker that wakes
//! every waiter, as `futures::Shared` does), and whoever sees it finish
//! completes the flight for everyone. Each waiter also subscribes to the
//! flight's completion (`sf_subscribe`), which wakes its task's `Waker`: that
//! is how flights led by other languages, or by blocking Rust callers, wake
//! async waiters. No thread per waiter, no runtime.
//!
//! Cancel safety. Dropping a waiter (the leader's included) only removes it.
//! When the last Rust waiter goes while the work is unfinished, the work
//! future is dropped and its ticket left: the flight is abandoned if nobody
//! else waits, or handed off to the callers of other languages still waiting
//! (the engine wakes them with `SF_EHANDOFF` and one of them runs it again).

use std::cell::{Cell, RefCell};
use std::ffi::c_void;
use std::fmt;
use std::future::Future;
use std::marker::{PhantomData, PhantomPinned};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use crate::group::{join, Ticket};
use crate::native::{self, Completion, Outcome};
use crate::timer::{self, TimerKey};
use crate::{Error, Group, Shared};
use singleflight_sys as sys;

type WorkFuture = Pin<Box<dyn Future<Output = Completion> + Send>>;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The tag of the per-flight rendezvous objects of this copy of the binding:
/// an `Arc<RustFlight>` (one strong reference owned by the engine).
static FLIGHT_KIND: sys::sf_native_kind = sys::sf_native_kind {
    name: c"rust-flight".as_ptr(),
    release: Some(release_flight),
};

unsafe extern "C" fn release_flight(value: *mut c_void) {
    // Safety: the engine hands back exactly once the Arc::into_raw pointer it
    // installed for FLIGHT_KIND. Dropping must not unwind into C.
    let flight = unsafe { Arc::from_raw(value.cast::<RustFlight>()) };
    let _ = catch_unwind(AssertUnwindSafe(move || drop(flight)));
}

/// The raw work ticket, owned by a `FlightState`.
struct WorkTicket(*mut sys::sf_ticket);
// Safety: tickets may be used from any thread, one user at a time; the
// FlightState mutex ensures that.
unsafe impl Send for WorkTicket {}

struct FlightState {
    /// The shared work, until it finishes or is dropped.
    work: Option<WorkFuture>,
    /// The work ticket, with the work.
    ticket: WorkTicket,
    /// Rust async waiters currently in the flight.
    waiters: usize,
}

/// The Rust waiters' shared state of one flight.
pub(crate) struct RustFlight {
    state: Mutex<FlightState>,
    /// Set when the work future is woken; lets a concurrent poller repoll.
    notified: AtomicBool,
    /// Wakers of the waiters, woken when the work future is.
    wakers: Mutex<Slab>,
}

#[derive(Default)]
struct Slab {
    entries: Vec<Option<Waker>>,
    free: Vec<usize>,
    /// The waiter that drives the work: the work's wakes go to it alone.
    driver: Option<usize>,
}

impl Slab {
    fn insert(&mut self, w: Waker) -> usize {
        match self.free.pop() {
            Some(i) => {
                self.entries[i] = Some(w);
                i
            }
            None => {
                self.entries.push(Some(w));
                self.entries.len() - 1
            }
        }
    }
    /// Removes entry `i`; true if it was the driver.
    fn remove(&mut self, i: usize) -> bool {
        if self.entries[i].take().is_some() {
            self.free.push(i);
        }
        if self.driver == Some(i) {
            self.driver = None;
            return true;
        }
        false
    }
    /// Registers or refreshes the waker of entry `index`.
    fn register(&mut self, index: &mut Option<usize>, waker: &Waker) -> usize {
        match *index {
            Some(i) => {
                match &mut self.entries[i] {
                    Some(w) if w.will_wake(waker) => {}
                    e => *e = Some(waker.clone()),
                }
                i
            }
            None => {
                let i = self.insert(waker.clone());
                *index = Some(i);
                i
            }
        }
    }
}

impl RustFlight {
    fn new() -> RustFlight {
        RustFlight {
            state: Mutex::new(FlightState { work: None, ticket: WorkTicket(std::ptr::null_mut()), waiters: 0 }),
            notified: AtomicBool::new(false),
            wakers: Mutex::new(Slab::default()),
        }
    }

    fn wake_all(&self) {
        for w in lock(&self.wakers).entries.iter().flatten() {
            w.wake_by_ref();
        }
    }
}

impl Wake for RustFlight {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref()
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.notified.store(true, Ordering::SeqCst);
        let wakers = lock(&self.wakers);
        match wakers.driver.and_then(|i| wakers.entries[i].as_ref()) {
            Some(w) => w.wake_by_ref(),
            None => wakers.entries.iter().flatten().for_each(Waker::wake_by_ref),
        }
    }
}

thread_local! {
    /// A spare RustFlight, offered to sf_attach and kept when another was
    /// installed first: followers allocate none.
    static SPARE: Cell<Option<Arc<RustFlight>>> = const { Cell::new(None) };
    /// The flights whose work this thread is polling right now: by their
    /// rendezvous, or (a leader's first poll) by group and key.
    static DRIVING: RefCell<Vec<Driven>> = const { RefCell::new(Vec::new()) };
}

#[derive(Clone, Copy, PartialEq)]
enum Driven {
    Flight(*const RustFlight),
    Key(*mut sys::sf_group, *const u8, usize),
}

/// Marks a flight as being driven on this thread, for as long as it lives.
struct Driving;

impl Driving {
    fn push(d: Driven) -> Driving {
        DRIVING.with(|s| s.borrow_mut().push(d));
        Driving
    }
    fn key(group: *mut sys::sf_group, key: &[u8]) -> Driving {
        Driving::push(Driven::Key(group, key.as_ptr(), key.len()))
    }
    fn has_flight(f: *const RustFlight) -> bool {
        DRIVING.with(|s| s.borrow().contains(&Driven::Flight(f)))
    }
    fn has_key(group: *mut sys::sf_group, key: &[u8]) -> bool {
        DRIVING.with(|s| {
            s.borrow().iter().any(|d| match *d {
                // Safety: a Key entry points at the key of a Call that is
                // being polled further up this thread's stack: still alive.
                Driven::Key(g, p, n) => g == group && unsafe { std::slice::from_raw_parts(p, n) } == key,
                Driven::Flight(_) => false,
            })
        })
    }
}

impl Drop for Driving {
    fn drop(&mut self) {
        DRIVING.with(|s| s.borrow_mut().pop());
    }
}

/// The flight's RustFlight: ours if we attach first, else the installed one.
fn attach(wait: &Ticket) -> Option<Arc<RustFlight>> {
    let spare = SPARE.with(|s| s.take()).unwrap_or_else(|| Arc::new(RustFlight::new()));
    let raw = Arc::into_raw(spare) as *mut c_void;
    let mut current: *mut c_void = std::ptr::null_mut();
    // Safety: our wait ticket is held; `raw` is a valid pointer of
    // FLIGHT_KIND, whose ownership passes to the engine only if installed.
    let st = unsafe { sys::sf_attach(wait.as_ptr(), &FLIGHT_KIND, raw, &mut current) };
    if st == sys::SF_OK && current == raw {
        // Installed: the engine owns the reference we gave; take our own.
        // Safety: `raw` is a live Arc pointer (the engine holds it).
        unsafe {
            Arc::increment_strong_count(raw as *const RustFlight);
            return Some(Arc::from_raw(raw as *const RustFlight));
        }
    }
    // Not installed: our spare comes back to us, unused.
    // Safety: `raw` is the Arc::into_raw above, still ours.
    let spare = unsafe { Arc::from_raw(raw as *const RustFlight) };
    SPARE.with(|s| s.set(Some(spare)));
    if st != sys::SF_OK || current.is_null() {
        return None;
    }
    // Safety: `current` is the installed Arc<RustFlight> (FLIGHT_KIND is
    // ours alone), valid while our ticket is held; take our own reference.
    unsafe {
        Arc::increment_strong_count(current as *const RustFlight);
        Some(Arc::from_raw(current as *const RustFlight))
    }
}

/// Where the engine's completion callback finds this waiter's `Waker`.
struct WakerSlot {
    waker: Mutex<Option<Waker>>,
}

unsafe extern "C" fn wake_slot(userdata: *mut c_void) {
    // Safety: userdata is the pinned WakerSlot of a Call, which leaves its
    // ticket (after which the callback has run or never will) before the
    // slot's memory goes (Pin's drop guarantee).
    let slot = unsafe { &*(userdata as *const WakerSlot) };
    let waker = lock(&slot.waker).take();
    if let Some(w) = waker {
        let _ = catch_unwind(AssertUnwindSafe(|| w.wake()));
    }
}

/// A key, inline when short.
enum Key {
    Inline { len: u8, buf: [u8; 40] },
    Heap(Box<[u8]>),
}

impl Key {
    fn new(k: &[u8]) -> Key {
        if k.len() <= 40 {
            let mut buf = [0u8; 40];
            buf[..k.len()].copy_from_slice(k);
            Key::Inline { len: k.len() as u8, buf }
        } else {
            Key::Heap(k.into())
        }
    }
    fn as_slice(&self) -> &[u8] {
        match self {
            Key::Inline { len, buf } => &buf[..*len as usize],
            Key::Heap(b) => b,
        }
    }
}

/// This waiter's hold on a flight.
struct Joined {
    wait: Ticket,
    flight: Option<Arc<RustFlight>>,
    /// Counted in `flight`'s waiters.
    counted: bool,
    /// Index in `flight`'s wakers.
    waker_index: Option<usize>,
    subscribed: bool,
    /// A follower that just joined skips its first outcome poll: its
    /// subscription reports an outcome that is already there at once.
    fresh: bool,
}

/// The future of [`Group::call_async`]: resolves to the flight's outcome.
///
/// - Runs on any executor (tokio, async-std, smol, ...): it is woken through
///   its `Waker` by the engine's completion callback, or by the work itself.
/// - Lazy: it joins the flight when first polled.
/// - Cancel-safe: the work future belongs to the flight, not to the caller
///   who brought it. Whichever waiter of the flight is polled drives it, so
///   dropping the leader's `Call` neither strands the followers nor runs the
///   work twice; dropping every waiter drops the work. A follower's own work
///   future is dropped unused.
/// - If the flight's leader (in another language, or a blocking caller)
///   gives up without completing, the call joins again by itself.
/// - A panic in the work is re-raised by every waiter's `poll`.
///
/// ```
/// # smol::block_on(async {
/// use std::time::Duration;
/// use singleflight::{Error, Group};
/// let group = Group::new();
/// let slow = group.call_async("k", async {
///     smol::Timer::after(Duration::from_secs(3600)).await;
///     Ok::<_, ()>(1)
/// });
/// let r = slow.timeout(Duration::from_millis(10)).await;
/// assert!(matches!(r, Err(Error::Timeout)));
/// # });
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct Call<T, E, F> {
    group: Group,
    key: Key,
    work: Option<F>,
    timeout: Option<Duration>,
    deadline: Option<Instant>,
    timer: Option<TimerKey>,
    joined: Option<Joined>,
    done: bool,
    slot: WakerSlot,
    _pin: PhantomPinned,
    _t: PhantomData<fn() -> (T, E)>,
}

impl<T, E, F> Call<T, E, F>
where
    T: Send + Sync + 'static,
    E: Send + Sync + 'static,
    F: Future<Output = Result<T, E>> + Send + 'static,
{
    pub(crate) fn new(group: Group, key: &[u8], work: F) -> Self {
        Call {
            group,
            key: Key::new(key),
            work: Some(work),
            timeout: None,
            deadline: None,
            timer: None,
            joined: None,
            done: false,
            slot: WakerSlot { waker: Mutex::new(None) },
            _pin: PhantomPinned,
            _t: PhantomData,
        }
    }

    /// Gives up with [`Error::Timeout`] when the outcome is not ready within
    /// `timeout` of the first poll. The flight goes on for its other waiters
    /// (if this was the last one, the work is dropped). Needs no runtime: a
    /// single process-wide timer thread wakes the task.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }
}

/// Polls `flight`'s work if this waiter may drive it (it is the driver, or
/// there is none) and nobody else is polling it; on completion, completes the
/// engine's flight. Returns true if it completed. Registers this waiter's
/// waker either way, so that it can take over if the driver goes.
fn drive(flight: &Arc<RustFlight>, waker_index: &mut Option<usize>, cx: &mut Context<'_>) -> bool {
    {
        let mut wakers = lock(&flight.wakers);
        let me = wakers.register(waker_index, cx.waker());
        match wakers.driver {
            Some(d) if d != me => return false,
            _ => wakers.driver = Some(me),
        }
    }
    // Only the driver polls the work, so the lock is held by others only for
    // short bookkeeping (a waiter coming or going): wait for it rather than
    // lose the work's wake-up.
    let mut state = lock(&flight.state);
    let Some(work) = state.work.as_mut() else { return false };
    flight.notified.store(false, Ordering::SeqCst);
    let waker = Waker::from(flight.clone());
    match poll_work(Arc::as_ptr(flight), work, &waker) {
        None => {
            drop(state);
            if flight.notified.swap(false, Ordering::SeqCst) {
                // Woken while we polled: come back soon, through the executor.
                cx.waker().wake_by_ref();
            }
            false
        }
        Some(completion) => {
            let work = state.work.take();
            let ticket = std::mem::replace(&mut state.ticket, WorkTicket(std::ptr::null_mut()));
            drop(state);
            let _ = catch_unwind(AssertUnwindSafe(move || drop(work)));
            // Safety: the work ticket was moved out of the state under its
            // lock, so we alone hold it; it is consumed here.
            unsafe { native::complete_and_leave(ticket.0, completion) };
            true
        }
    }
}

/// Polls the work of `flight` once with `waker`, catching a panic.
fn poll_work(flight: *const RustFlight, work: &mut WorkFuture, waker: &Waker) -> Option<Completion> {
    let mut work_cx = Context::from_waker(waker);
    let _driving = Driving::push(Driven::Flight(flight));
    let polled = catch_unwind(AssertUnwindSafe(|| work.as_mut().poll(&mut work_cx)));
    match polled {
        Ok(Poll::Pending) => None,
        Ok(Poll::Ready(c)) => Some(c),
        Err(payload) => Some(Completion::Panic(native::panic_message(&*payload))),
    }
}

impl<T, E, F> Call<T, E, F> {
    /// Leaves the flight: unregisters, leaves the wait ticket, and drops the
    /// work if this was its last Rust waiter.
    fn leave(&mut self) {
        let Some(j) = self.joined.take() else { return };
        let mut orphan = None;
        let mut wake_others = false;
        if let Some(flight) = &j.flight {
            let was_driver = match j.waker_index {
                Some(i) => lock(&flight.wakers).remove(i),
                None => false,
            };
            if j.counted {
                let mut st = lock(&flight.state);
                st.waiters -= 1;
                if st.waiters == 0 {
                    if st.work.is_some() {
                        let ticket = std::mem::replace(&mut st.ticket, WorkTicket(std::ptr::null_mut()));
                        orphan = Some((st.work.take(), ticket));
                    }
                } else if st.work.is_some() && (was_driver || flight.notified.load(Ordering::SeqCst)) {
                    // The work is left without its driver (or a wake of it
                    // may have reached only us): the others take over.
                    wake_others = true;
                }
            }
            if wake_others {
                flight.wake_all();
            }
        }
        drop(j.wait);
        if let Some((work, ticket)) = orphan {
            let _ = catch_unwind(AssertUnwindSafe(move || drop(work)));
            // Safety: the work ticket is ours alone (moved out under the lock).
            // Left uncompleted: the flight is abandoned, or handed off to the
            // waiters of other languages.
            unsafe { sys::sf_leave(ticket.0) };
        }
        drop(j.flight);
    }

    fn stop_timer(&mut self) {
        if let Some(k) = self.timer.take() {
            timer::cancel(k);
        }
    }
}

impl<T, E, F> Future for Call<T, E, F>
where
    T: Send + Sync + 'static,
    E: Send + Sync + 'static,
    F: Future<Output = Result<T, E>> + Send + 'static,
{
    type Output = Result<Shared<T>, Error<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // Safety: we never move `slot` (the only field whose address the
        // engine keeps) nor any pinned data: `work` is moved out before it is
        // ever pinned (it is boxed and pinned inside the flight).
        let this = unsafe { self.get_unchecked_mut() };
        assert!(!this.done, "singleflight::Call polled after it completed");
        if this.deadline.is_none() {
            this.deadline = this.timeout.and_then(|t| Instant::now().checked_add(t));
        }
        let ready = loop {
            if this.joined.is_none() {
                let (wait, lead) = match join::<E>(this.group.as_raw(), this.key.as_slice(), 0) {
                    Ok(t) => t,
                    Err(e) => break Poll::Ready(Err(e)),
                };
                let key = this.key.as_slice();
                let group = this.group.as_raw();
                // The leader polls its work once before anything else: work
                // that is ready at once completes without a rendezvous.
                let mut pending_work = None;
                let mut lead = lead;
                if let Some(l) = lead.take() {
                    let Some(work) = this.work.take() else {
                        // Cannot happen: a Rust leader's work is dropped only
                        // once no Rust waiter is left, so it never leads again.
                        drop(l);
                        drop(wait);
                        break Poll::Ready(Err(Error::HandedOff));
                    };
                    let mut work: WorkFuture = Box::pin(async move {
                        match work.await {
                            Ok(v) => Completion::Ok(Arc::new(v)),
                            Err(e) => Completion::Err(Arc::new(e)),
                        }
                    });
                    let spare = SPARE.with(|s| s.take()).unwrap_or_else(|| Arc::new(RustFlight::new()));
                    spare.notified.store(false, Ordering::SeqCst);
                    let waker = Waker::from(spare.clone());
                    let polled = {
                        let _driving = Driving::key(group, key);
                        poll_work(Arc::as_ptr(&spare), &mut work, &waker)
                    };
                    let spare_ptr = Arc::as_ptr(&spare);
                    drop(waker);
                    SPARE.with(|s| s.set(Some(spare)));
                    match polled {
                        Some(completion) => {
                            let _ = catch_unwind(AssertUnwindSafe(move || drop(work)));
                            // Complete, read our own outcome and leave both
                            // tickets in one engine call: nobody attached
                            // anything to this flight.
                            // Safety: `wait` and `l` are the pair of our
                            // join; both consumed here (forgotten, so never
                            // left twice).
                            let outcome =
                                unsafe { native::finish_leader::<T, E>(wait.into_raw(), l.into_raw(), completion) };
                            match outcome {
                                Outcome::Done(r) => break Poll::Ready(r),
                                Outcome::Panic(m) => {
                                    this.stop_timer();
                                    this.done = true;
                                    native::resume_panic(m);
                                }
                                // Not for a leader's own outcome; as for any
                                // waiter: join again.
                                Outcome::HandOff => continue,
                                Outcome::Pending => break Poll::Ready(Err(Error::Timeout)),
                            }
                        }
                        None => pending_work = Some((work, l, spare_ptr)),
                    }
                } else if Driving::has_key(group, key) {
                    // The work of this very flight is asking for it.
                    drop(wait);
                    break Poll::Ready(Err(Error::Deadlock));
                }
                let flight = attach(&wait);
                let fresh = pending_work.is_none();
                let mut j = Joined { wait, flight, counted: false, waker_index: None, subscribed: false, fresh };
                match (&j.flight, pending_work) {
                    (Some(flight), pending_work) => {
                        if Driving::has_flight(Arc::as_ptr(flight)) {
                            // The work of this very flight is asking for it.
                            this.joined = Some(j);
                            break Poll::Ready(Err(Error::Deadlock));
                        }
                        let mut st = lock(&flight.state);
                        st.waiters += 1;
                        j.counted = true;
                        if let Some((work, lead, polled_with)) = pending_work {
                            st.work = Some(work);
                            st.ticket = WorkTicket(lead.into_raw());
                            drop(st);
                            let mut wakers = lock(&flight.wakers);
                            let me = wakers.register(&mut j.waker_index, cx.waker());
                            wakers.driver = Some(me);
                            drop(wakers);
                            if polled_with != Arc::as_ptr(flight) || flight.notified.swap(false, Ordering::SeqCst) {
                                // The work was woken while no waiter was
                                // registered, or was polled with the waker
                                // of a spare that another waiter's
                                // rendezvous beat: poll it again, with the
                                // flight's waker.
                                cx.waker().wake_by_ref();
                            }
                        }
                    }
                    (None, Some((work, lead, _))) => {
                        // No rendezvous (out of memory): hand off at once.
                        drop(work);
                        drop(lead);
                        this.joined = Some(j);
                        break Poll::Ready(Err(Error::OutOfMemory));
                    }
                    (None, None) => {}
                }
                this.joined = Some(j);
            }
            let j = this.joined.as_mut().expect("joined above");
            // Safety: our wait ticket, held.
            let outcome = if std::mem::take(&mut j.fresh) {
                Outcome::Pending
            } else {
                unsafe { native::wait_outcome::<T, E>(j.wait.as_ptr(), 0) }
            };
            match outcome {
                Outcome::Pending => {}
                Outcome::HandOff => {
                    this.leave();
                    continue;
                }
                Outcome::Done(r) => break Poll::Ready(r),
                Outcome::Panic(m) => {
                    this.leave();
                    this.stop_timer();
                    this.done = true;
                    native::resume_panic(m);
                }
            }
            if let Some(flight) = j.flight.clone() {
                if drive(&flight, &mut j.waker_index, cx) {
                    continue;
                }
            }
            if let Some(deadline) = this.deadline {
                if Instant::now() >= deadline {
                    break Poll::Ready(Err(Error::Timeout));
                }
                let fresh = match this.timer {
                    Some(k) => !timer::update(k, cx.waker()),
                    None => true,
                };
                if fresh {
                    this.timer = Some(timer::register(deadline, cx.waker().clone()));
                }
            }
            {
                let mut w = lock(&this.slot.waker);
                match &*w {
                    Some(old) if old.will_wake(cx.waker()) => {}
                    _ => *w = Some(cx.waker().clone()),
                }
            }
            if !j.subscribed {
                j.subscribed = true;
                // Safety: our wait ticket is held; the slot is pinned and
                // outlives the subscription (we leave the ticket before the
                // slot goes). Runs at once if the outcome is already there.
                unsafe {
                    sys::sf_subscribe(j.wait.as_ptr(), Some(wake_slot), &this.slot as *const WakerSlot as *mut c_void)
                };
            }
            return Poll::Pending;
        };
        this.leave();
        this.stop_timer();
        this.done = true;
        ready
    }
}

impl<T, E, F> Drop for Call<T, E, F> {
    fn drop(&mut self) {
        self.leave();
        self.stop_timer();
    }
}

impl<T, E, F> fmt::Debug for Call<T, E, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Call")
            .field("key", &String::from_utf8_lossy(self.key.as_slice()))
            .field("joined", &self.joined.is_some())
            .field("done", &self.done)
            .finish()
    }
}

// A Call is Send when its work is: it can be spawned on any executor.
const _: fn() = || {
    fn is_send<X: Send>() {}
    is_send::<Call<u8, u8, std::future::Ready<Result<u8, u8>>>>();
};
