//! [`Call`]: the async call, runtime-agnostic and cancel-safe.
//!
//! A leader polls its work at once, in its own task. Work that is ready on
//! that first poll ends the flight with one engine call (`sf_finish`) and
//! allocates nothing but the work's box and the shared value. Work that is
//! still pending stays with the leader, which drives it in its own task and
//! attaches the flight's [`Rendezvous`] (see `rendezvous.rs`); should the leader
//! go first, the work moves there, where whichever Rust waiter is polled
//! drives it: dropping the leader's `Call` neither strands the followers nor
//! reruns the work, and dropping every waiter drops the work.
//!
//! Followers meet at the same `Rendezvous`. Whoever completes the work wakes
//! them there and hands them the outcome; a follower of the work's own
//! types is taken in there by the engine call that joins it
//! (`Rendezvous::join`) and holds no ticket. Otherwise (a leader in another language, a
//! blocking Rust leader, other types) each subscribes to the engine's
//! completion (`sf_subscribe`), which wakes its task's `Waker`. No thread per
//! waiter, no runtime.

use std::any::TypeId;
use std::ffi::c_void;
use std::fmt;
use std::future::Future;
use std::marker::{PhantomData, PhantomPinned};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, RawWakerVTable, Waker};
use std::time::{Duration, Instant};

use crate::driving::{self, Driven};
use crate::fence;
use crate::group::Ticket;
use crate::key::Key;
use crate::native::{self, Finished, Outcome, Produced};
use crate::recycle::{self, BoxOf};
use crate::rendezvous::{self, drop_quietly, drop_quietly_in, Joining, Look, Rendezvous, WorkFuture};
use crate::spans::PollSpan;
use crate::timer::{self, TimerKey};
use crate::{Error, Group, Shared};
use singleflight_sys as sys;

/// Where the engine's completion callback finds this waiter's `Waker`.
struct Subscription {
    waker: Mutex<Option<Waker>>,
}

unsafe extern "C" fn wake_subscriber(userdata: *mut c_void) {
    // Safety: userdata is the boxed Subscription of a Call, which leaves its
    // ticket (after which the callback has run or never will) before the
    // box goes.
    let sub = unsafe { &*(userdata as *const Subscription) };
    let waker = sub.waker.lock().unwrap_or_else(|e| e.into_inner()).take();
    if let Some(w) = waker {
        let _ = catch_unwind(AssertUnwindSafe(|| w.wake()));
    }
}

/// This waiter's hold on a flight.
struct Joined {
    /// Its wait ticket; `None` for a follower that joined the work running in
    /// the flight's rendezvous (`Rendezvous::join`): it counts there, and reads
    /// the outcome there only.
    wait: Option<Ticket>,
    /// The flight's rendezvous and this waiter's index in it (`None` only
    /// when the engine had no room to attach it; [`LEADER`] for the leader,
    /// which registers no waker there).
    rv: Option<(Arc<Rendezvous>, usize)>,
    /// What `enter` said to do first (it looked already).
    entered: Option<Look>,
    /// Subscribed to the engine's completion.
    subscribed: bool,
    /// While this waiter drives the work: the identity of the waker it
    /// registered. A driver stays the driver until it leaves or completes
    /// the flight, so a poll with the same waker goes straight to the work,
    /// without looking at the rendezvous (and taking its lock).
    drives: Option<WakerId>,
}

/// The index in its rendezvous of a leader that holds its work.
const LEADER: usize = usize::MAX;

/// What `Waker::will_wake` compares: the data and vtable pointers.
type WakerId = (usize, usize);

fn waker_id(w: &Waker) -> WakerId {
    (w.data() as usize, w.vtable() as *const RawWakerVTable as usize)
}

/// One look at a joined flight.
enum Step<T, E> {
    Ready(Outcome<T, E>),
    /// Woken by the flight's driver.
    Wait,
    /// Woken by the engine's completion callback.
    WaitEngine,
}

impl Joined {
    fn step<T, E>(&mut self, cx: &mut Context<'_>) -> Step<T, E>
    where
        T: Send + Sync + 'static,
        E: Send + Sync + 'static,
    {
        // Whether the engine's flight is complete already.
        let mut complete = false;
        if let Some((rv, me)) = &self.rv {
            let look = match self.entered.take() {
                Some(look) => look,
                None if self.drives.is_some_and(|id| id == waker_id(cx.waker())) => Look::Drive,
                None => rv.look(*me, cx.waker()),
            };
            // The waker `enter` or `look` registered is this poll's.
            self.drives = matches!(look, Look::Drive).then(|| waker_id(cx.waker()));
            match look {
                Look::Wait => return Step::Wait,
                Look::Drive if rv.drive(*me, cx).is_pending() => return Step::Wait,
                Look::Done | Look::Drive => {
                    if let Some(o) = rv.read() {
                        return Step::Ready(o);
                    }
                    // Other types than ours: the engine's byte forms may fit.
                    complete = true;
                }
                Look::Engine => {}
            }
        }
        let Some(wait) = &self.wait else {
            // A ticketless follower joined work of its own types and stays
            // counted until it is done: neither a foreign outcome nor the
            // engine's can reach it. Should it ever, join again.
            debug_assert!(false, "a ticketless follower left without its outcome");
            return Step::Ready(Outcome::HandOff);
        };
        if !self.subscribed && !complete {
            // Subscribing reports an outcome that is already there at once.
            return Step::WaitEngine;
        }
        // Safety: our wait ticket, held.
        match unsafe { native::wait_outcome::<T, E>(wait.as_ptr(), 0) } {
            Outcome::Pending => Step::WaitEngine,
            other => Step::Ready(other),
        }
    }
}

/// The future of [`Group::call_async`]: resolves to the flight's outcome.
///
/// - Runs on any executor (tokio, async-std, smol, ...): it is woken through
///   its `Waker` by the engine's completion callback, or by the work itself.
/// - Lazy: it joins the flight when first polled.
/// - Cancel-safe: the work future belongs to the flight, not to the caller
///   who brought it. The leader drives it while its `Call` lives; dropped
///   (or timed out) first, it leaves the work to the flight's other Rust
///   waiters, the first of them polled driving it on, so the followers are
///   neither stranded nor is the work run twice; dropping every waiter drops
///   the work. A follower's own work future is dropped unused. A leader
///   that is kept but no longer polled holds up its followers until it is
///   polled again or dropped.
/// - If the flight's leader (in another language, or a blocking caller)
///   gives up without completing, the call joins again by itself; so does
///   a follower driving the work of a Rust leader whose runtime shut down,
///   when the work panics because that runtime is gone (the flight is
///   handed off, and one of its callers runs its own work).
/// - Dropped after it joined and before it delivered its outcome, the call
///   counts in the group's `cancellations`; its own timeout counts in
///   `timeouts`.
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
    /// The timeout, if any (boxed: most calls have none, and a smaller
    /// `Call` is cheaper to move into a task).
    deadline: Option<Box<Deadline>>,
    joined: Option<Joined>,
    /// A leader's pending work and its work ticket: the leader drives the
    /// work itself, polled with its own task's waker, while its `Call`
    /// lives (its rendezvous is `Held`). Handed over to the flight's other
    /// Rust waiters if it leaves first.
    held: Option<Held<F>>,
    done: bool,
    /// Where the engine's completion callback finds our waker: made on the
    /// first subscription (most calls never subscribe).
    subscription: Option<Box<Subscription>>,
    /// Feature `tracing`: the call's span (`spans.rs`).
    span: PollSpan,
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
            deadline: None,
            joined: None,
            held: None,
            done: false,
            subscription: None,
            span: PollSpan::new(),
            _pin: PhantomPinned,
            _t: PhantomData,
        }
    }

    /// Gives up with [`Error::Timeout`] when the outcome is not ready within
    /// `timeout` of the first poll. The flight goes on for its other waiters
    /// (if this was the last one, the work is dropped). Needs no runtime: a
    /// single process-wide timer thread wakes the task.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.deadline = Some(Box::new(Deadline::After(timeout)));
        self
    }

    /// Joins the flight. A leader polls its work at once: the flight's
    /// outcome if that finished it, else the work moves into the flight's
    /// rendezvous. Sets `joined` unless it returns an outcome.
    fn start(&mut self, cx: &mut Context<'_>) -> Option<Outcome<T, E>> {
        let group = self.group.as_raw();
        let key = self.key.as_slice();
        let (wait, lead) = match Rendezvous::join(group, key, types::<T, E>(), cx.waker()) {
            Ok(Joining::Met(rv, me, look)) => {
                self.span.role(false);
                // Our types' work runs in the flight's rendezvous: we wait
                // there, without a ticket.
                self.joined = Some(Joined {
                    wait: None,
                    rv: Some((rv, me)),
                    entered: Some(look),
                    subscribed: false,
                    drives: None,
                });
                return None;
            }
            Ok(Joining::Tickets(wait, lead)) => (wait, lead),
            Err(st) => return Some(Outcome::Done(Err(Error::from_status(st)))),
        };
        self.span.role(lead.is_some());
        let Some(lead) = lead else {
            if driving::has_key(group, key) {
                // The work of this very flight is asking for it.
                drop(wait);
                return Some(Outcome::Done(Err(Error::Deadlock)));
            }
            let mut entered = None;
            let rv = Rendezvous::attach(&wait).map(|f| {
                let (me, look) = f.enter(cx.waker());
                entered = Some(look);
                (f, me)
            });
            let deadlock = rv.as_ref().is_some_and(|(f, _)| driving::has_rendezvous(f.id()));
            self.joined = Some(Joined { wait: Some(wait), rv, entered, subscribed: false, drives: None });
            // The work of this very flight is asking for it.
            return deadlock.then_some(Outcome::Done(Err(Error::Deadlock)));
        };
        let Some(work) = self.work.take() else {
            // Cannot happen: a Rust leader's work is dropped only once no
            // Rust waiter is left, so it never leads again.
            drop(lead);
            drop(wait);
            return Some(Outcome::Done(Err(Error::HandedOff)));
        };
        let mut work = Box::into_pin(recycle::new_box(BoxOf::Work, Work(work)));
        let polled = driving::driving(Driven::Key(group, key.as_ptr(), key.len()), || {
            fence::running(lead.as_ptr(), || catch_unwind(AssertUnwindSafe(|| work.as_mut().poll_result(cx))))
        });
        let produced = match polled {
            Ok(Poll::Ready(r)) => Produced::from_result(r),
            Err(payload) => Produced::Panic(native::panic_message(&*payload)),
            // The leader goes on polling the same box, as the flight's work.
            Ok(Poll::Pending) => return self.hold(wait, lead, work),
        };
        // Safety: the work is dropped in place, never moved out of its box.
        drop_quietly_in(unsafe { Pin::into_inner_unchecked(work) });
        // Complete, read our own outcome and leave both tickets in one
        // engine call.
        // Safety: `wait` and `lead` are the pair of our join; both consumed
        // here (forgotten, so never left twice).
        Some(unsafe { native::finish_leader(wait.into_raw(), lead.into_raw(), produced, None) })
    }

    /// The leader's work is pending: the leader holds it, and attaches the
    /// flight's rendezvous (`Held`), where the followers of its types wait
    /// without a ticket and which the work moves into should the leader go.
    fn hold(&mut self, wait: Ticket, lead: Ticket, fut: Pin<Box<Work<F>>>) -> Option<Outcome<T, E>> {
        let Some(rv) = Rendezvous::attach_held(&wait, types::<T, E>()) else {
            // No rendezvous (out of memory): hand off at once.
            drop_quietly(fut);
            drop(lead);
            drop(wait);
            return Some(Outcome::Done(Err(Error::OutOfMemory)));
        };
        // The work was polled with our task's waker: its wakes reach us.
        self.joined =
            Some(Joined { wait: Some(wait), rv: Some((rv, LEADER)), entered: None, subscribed: false, drives: None });
        self.held = Some(Held { work: fut, lead, erase: |w| w });
        None
    }

    /// The leader polls the work it holds; finished, it completes the
    /// flight (with its pair of tickets, in one engine call, building no
    /// shared outcome if nobody else receives it): its outcome.
    fn drive_held(&mut self, cx: &mut Context<'_>) -> Option<Outcome<T, E>> {
        let (Some(Held { work, lead, .. }), Some(Joined { rv: Some((rv, _)), .. })) = (&mut self.held, &self.joined)
        else {
            unreachable!("a leader holds its work with its rendezvous");
        };
        let polled = driving::driving(Driven::Rendezvous(rv.id()), || {
            fence::running(lead.as_ptr(), || catch_unwind(AssertUnwindSafe(|| work.as_mut().poll_result(cx))))
        });
        let produced = match polled {
            Ok(Poll::Pending) => return None,
            Ok(Poll::Ready(r)) => Produced::from_result(r),
            Err(payload) => Produced::Panic(native::panic_message(&*payload)),
        };
        let Held { work, lead, .. } = self.held.take().expect("held above");
        // Safety: the work is dropped in place, never moved out of its box.
        drop_quietly_in(unsafe { Pin::into_inner_unchecked(work) });
        let j = self.joined.as_mut().expect("joined above");
        let wait = j.wait.take().expect("a leader holds its wait ticket");
        let rv = &j.rv.as_ref().expect("attached above").0;
        // Safety: the pair of our join, both consumed here.
        Some(unsafe { native::finish_leader(wait.into_raw(), lead.into_raw(), produced, Some(&**rv)) })
    }
}

impl<T, E, F> Call<T, E, F> {
    /// Leaves the flight: unregisters, leaves the wait ticket, and drops the
    /// work if this was its last Rust waiter.
    fn leave(&mut self) {
        let Some(mut j) = self.joined.take() else { return };
        let orphan = match (self.held.take(), &j.rv) {
            // A leader leaving before its work finished: its wait ticket
            // goes with the work, held for the waiters left (unless it is
            // subscribed, with our `subscription`, which goes with us: never so
            // while the leader holds the work).
            (Some(Held { work, lead, erase }), Some((f, _))) => {
                let wait = if j.subscribed { None } else { j.wait.take() };
                f.hand_over(erase(work), lead, wait)
            }
            (_, Some((f, me))) if *me != LEADER => f.leave(*me),
            // A leader that completed the flight: nothing is left to do.
            _ => None,
        };
        drop(j.wait);
        if let Some(o) = orphan {
            o.abandon();
        }
        if let Some((f, _)) = j.rv {
            rendezvous::release(f);
        }
    }

    fn stop_timer(&mut self) {
        if let Some(d) = self.deadline.as_deref_mut() {
            if let Deadline::Armed(k) = *d {
                timer::cancel(k);
                *d = Deadline::At(k.0);
            }
        }
    }

    /// Arms (or refreshes) the timeout's wake-up; false if it has passed.
    fn arm_timer(&mut self, cx: &Context<'_>) -> bool {
        let Some(d) = self.deadline.as_deref_mut() else { return true };
        let at = match *d {
            Deadline::After(_) => return true,
            Deadline::At(at) => at,
            Deadline::Armed(k) => {
                if Instant::now() >= k.0 {
                    return false;
                }
                if timer::update(k, cx.waker()) {
                    return true;
                }
                k.0
            }
        };
        if Instant::now() >= at {
            return false;
        }
        *d = Deadline::Armed(timer::register(at, cx.waker().clone()));
        true
    }
}

/// A leader's pending work, held by the leader ([`Call::held`]).
struct Held<F> {
    work: Pin<Box<Work<F>>>,
    /// The flight's work ticket.
    lead: Ticket,
    /// Makes `work` the flight's [`WorkFuture`] (for the hand-over, in
    /// `Drop`, where the bounds that allow it are not known).
    erase: fn(Pin<Box<Work<F>>>) -> WorkFuture,
}

/// A leader's work, boxed once: its first poll, by the leader, reads the
/// typed result; if that is pending, the box becomes the flight's
/// [`WorkFuture`] as it is.
struct Work<F>(F);

impl<F> Work<F> {
    fn poll_result<T, E>(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T, E>>
    where
        F: Future<Output = Result<T, E>>,
    {
        // Safety: structural pinning: the work is never moved out of its
        // `Work`, which is pinned.
        unsafe { self.map_unchecked_mut(|w| &mut w.0) }.poll(cx)
    }
}

impl<T, E, F> Future for Work<F>
where
    T: Send + Sync + 'static,
    E: Send + Sync + 'static,
    F: Future<Output = Result<T, E>>,
{
    type Output = Finished;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Finished> {
        self.poll_result(cx).map(|r| Produced::from_result(r).finished())
    }
}

/// The value and error types of a call, as its flight's rendezvous records
/// them.
fn types<T: 'static, E: 'static>() -> (TypeId, TypeId) {
    (TypeId::of::<T>(), TypeId::of::<E>())
}

/// A call's timeout, from set to armed.
#[derive(Clone, Copy)]
enum Deadline {
    /// Not polled yet: the timeout counts from the first poll.
    After(Duration),
    /// Not registered with the timer yet.
    At(Instant),
    /// Registered with the timer (the key holds the instant).
    Armed(TimerKey),
}

impl<T, E, F> Future for Call<T, E, F>
where
    T: Send + Sync + 'static,
    E: Send + Sync + 'static,
    F: Future<Output = Result<T, E>> + Send + 'static,
{
    type Output = Result<Shared<T>, Error<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // Safety: we never move any pinned data: `work` is moved out before
        // it is ever pinned (it is boxed and pinned when it runs), and the
        // only address the engine keeps is that of the boxed `subscription`.
        let this = unsafe { self.get_unchecked_mut() };
        assert!(!this.done, "singleflight::Call polled after it completed");
        #[allow(clippy::let_unit_value)] // without feature `tracing`, the guard is `()`
        let _span = this.span.enter(this.key.as_slice().len());
        if let Some(Deadline::After(t)) = this.deadline.as_deref() {
            this.deadline = Instant::now().checked_add(*t).map(|at| Box::new(Deadline::At(at)));
        }
        let outcome = loop {
            let step = if this.joined.is_none() {
                match this.start(cx) {
                    Some(o) => break o,
                    // A leader holding its pending work: just polled.
                    None if this.held.is_some() => Step::Wait,
                    None => this.joined.as_mut().expect("joined by start").step::<T, E>(cx),
                }
            } else if this.held.is_some() {
                match this.drive_held(cx) {
                    Some(o) => break o,
                    None => Step::Wait,
                }
            } else {
                this.joined.as_mut().expect("joined").step::<T, E>(cx)
            };
            let engine = match step {
                Step::Ready(Outcome::HandOff) => {
                    // The leader (of another language, or blocking) gave up:
                    // join again.
                    this.leave();
                    continue;
                }
                Step::Ready(o) => break o,
                Step::Wait => false,
                Step::WaitEngine => true,
            };
            if engine {
                let sub = this.subscription.get_or_insert_with(|| Box::new(Subscription { waker: Mutex::new(None) }));
                let old = rendezvous::refresh(&mut sub.waker.lock().unwrap_or_else(|e| e.into_inner()), cx.waker());
                drop(old);
                let sub: *const Subscription = &**sub;
                let j = this.joined.as_mut().expect("joined above");
                if !j.subscribed {
                    j.subscribed = true;
                    let wait = j.wait.as_ref().expect("WaitEngine only with a ticket");
                    // Safety: our wait ticket is held; the boxed subscription outlives
                    // the subscription (we leave the ticket before the box
                    // goes). Runs at once if the outcome is there.
                    unsafe { sys::sf_subscribe(wait.as_ptr(), Some(wake_subscriber), sub.cast_mut().cast()) };
                }
            }
            if !this.arm_timer(cx) {
                // The binding's own deadline: the engine did not see it.
                this.group.count_giveup(sys::SF_ETIMEDOUT);
                break Outcome::Done(Err(Error::Timeout));
            }
            return Poll::Pending;
        };
        this.leave();
        this.stop_timer();
        this.done = true;
        Poll::Ready(outcome.into_result())
    }
}

impl<T, E, F> Drop for Call<T, E, F> {
    fn drop(&mut self) {
        if self.joined.is_some() {
            // Joined and not delivered its outcome (which leaves the flight):
            // this caller gave up.
            self.group.count_giveup(sys::SF_ECANCELED);
        }
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
