//! [`Group`], [`Shared`] and the blocking calls.

use std::fmt;
use std::ops::Deref;
use std::ptr::NonNull;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::native::{self, Outcome};
use crate::{Call, Error};
use singleflight_sys as sys;

/// A namespace of flights keyed by arbitrary bytes (`sf_group`).
///
/// `Clone` takes one more reference to the same group and `Drop` releases
/// one; flights in progress finish even when the last reference goes.
/// [`Group::open`] gives the process-wide group of a name, shared with every
/// other component and language in the process that opens that name.
///
/// ```
/// use singleflight::Group;
/// let group = Group::new();
/// let v = group.call("answer", || Ok::<_, std::io::Error>(6 * 7)).unwrap();
/// assert_eq!(*v, 42);
/// ```
pub struct Group {
    raw: NonNull<sys::sf_group>,
}

// Safety: sf_group is thread-safe by contract (every function may be called
// from any thread) and its refcount is atomic.
unsafe impl Send for Group {}
// Safety: as above; `&Group` only calls thread-safe engine functions.
unsafe impl Sync for Group {}

/// A value produced by a flight. Derefs to `T`.
///
/// When the flight had other callers, every Rust caller of it holds the same
/// `Arc<T>` ([`Shared::arc`]): nothing is copied. A leader that turned out to
/// be the flight's only caller owns its value outright (no `Arc` is made),
/// and so does a caller that converted the value from another language's
/// bytes.
pub struct Shared<T> {
    value: Value<T>,
    shared: bool,
}

/// Where a [`Shared`] value lives.
enum Value<T> {
    /// The flight's only caller's own value.
    Own(T),
    /// The value every Rust caller of the flight shares.
    Arc(Arc<T>),
}

impl<T> Shared<T> {
    /// The value of a flight that had no other caller.
    pub(crate) fn own(value: T, shared: bool) -> Self {
        Shared { value: Value::Own(value), shared }
    }

    /// A reference to the value every Rust caller of the flight shares.
    pub(crate) fn from_arc(value: Arc<T>, shared: bool) -> Self {
        Shared { value: Value::Arc(value), shared }
    }

    /// Tells this outcome whether it went to more than one caller.
    pub(crate) fn set_shared(&mut self, shared: bool) {
        self.shared = shared;
    }

    /// True when this outcome went to more than one caller of the flight.
    pub fn is_shared(&self) -> bool {
        self.shared
    }

    /// The `Arc<T>` that the flight's Rust callers share; `None` when this
    /// caller owns its value (see [`Shared`]).
    pub fn arc(&self) -> Option<&Arc<T>> {
        match &self.value {
            Value::Own(_) => None,
            Value::Arc(a) => Some(a),
        }
    }

    /// The value as an `Arc<T>`: the shared one, or a new one around an owned
    /// value.
    pub fn into_arc(self) -> Arc<T> {
        match self.value {
            Value::Own(v) => Arc::new(v),
            Value::Arc(a) => a,
        }
    }

    /// The value itself: moved out when this caller owns it or holds the last
    /// reference to it, else cloned.
    pub fn into_inner(self) -> T
    where
        T: Clone,
    {
        match self.value {
            Value::Own(v) => v,
            Value::Arc(a) => Arc::unwrap_or_clone(a),
        }
    }
}

impl<T> Deref for Shared<T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        match &self.value {
            Value::Own(v) => v,
            Value::Arc(a) => a,
        }
    }
}

/// A clone of a shared value is another reference to it; an owned value is
/// cloned.
impl<T: Clone> Clone for Shared<T> {
    fn clone(&self) -> Self {
        let value = match &self.value {
            Value::Own(v) => Value::Own(v.clone()),
            Value::Arc(a) => Value::Arc(a.clone()),
        };
        Shared { value, shared: self.shared }
    }
}

impl<T: fmt::Debug> fmt::Debug for Shared<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared").field("value", &**self).field("shared", &self.shared).finish()
    }
}

/// Counters of one group since it was created: the engine's `sf_stats`,
/// as [`Group::stats`] reads them.
pub use sys::sf_stats as Stats;

/// A held ticket, left on drop.
pub(crate) struct Ticket(pub(crate) NonNull<sys::sf_ticket>);

// Safety: a ticket may be used from any thread, by one caller at a time,
// which ownership of this guard ensures.
unsafe impl Send for Ticket {}
// Safety: `&Ticket` exposes only the pointer; the calls that use it take
// `&mut self` paths or are documented as callable from any thread.
unsafe impl Sync for Ticket {}

impl Ticket {
    pub(crate) fn as_ptr(&self) -> *mut sys::sf_ticket {
        self.0.as_ptr()
    }
    pub(crate) fn into_raw(self) -> *mut sys::sf_ticket {
        let p = self.0.as_ptr();
        std::mem::forget(self);
        p
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        // Safety: we hold the ticket and leave it exactly once.
        unsafe { sys::sf_leave(self.0.as_ptr()) }
    }
}

/// Joins the flight of `key` (`sf_join`): the wait ticket, and the work
/// ticket if this caller leads.
pub(crate) fn join_tickets(
    group: *mut sys::sf_group,
    key: &[u8],
    flags: u32,
) -> Result<(Ticket, Option<Ticket>), sys::sf_status> {
    let mut wait = std::ptr::null_mut();
    let mut work = std::ptr::null_mut();
    // Safety: `group` is a live reference, `key` a valid slice, outputs valid.
    let st = unsafe { sys::sf_join(group, key.as_ptr().cast(), key.len(), flags, &mut wait, &mut work) };
    tickets(st, wait, work)
}

/// The tickets a join gave with status `st`.
pub(crate) fn tickets(
    st: sys::sf_status,
    wait: *mut sys::sf_ticket,
    work: *mut sys::sf_ticket,
) -> Result<(Ticket, Option<Ticket>), sys::sf_status> {
    if st != sys::SF_OK {
        return Err(st);
    }
    let wait = NonNull::new(wait).map(Ticket).ok_or(sys::SF_EINVAL)?;
    Ok((wait, NonNull::new(work).map(Ticket)))
}

/// [`join_tickets`] with the crate's error.
fn join<E>(group: *mut sys::sf_group, key: &[u8], flags: u32) -> Result<(Ticket, Option<Ticket>), Error<E>> {
    join_tickets(group, key, flags).map_err(Error::from_status)
}

/// A timeout as the engine's nanoseconds (negative: no deadline).
fn remaining_ns(deadline: Option<Instant>) -> i64 {
    match deadline {
        None => -1,
        Some(d) => {
            let left = d.saturating_duration_since(Instant::now());
            i64::try_from(left.as_nanos()).unwrap_or(i64::MAX)
        }
    }
}

/// Waits on `wait` (a wait ticket of `group`) until `deadline` and reads
/// the outcome. A wait that reaches its deadline is counted in the group's
/// `timeouts` once: by the engine when it waited with time left, here when
/// no time was left and the engine only looked.
///
/// # Safety
/// `wait` must be a wait ticket the caller holds, of a flight of `group`.
unsafe fn wait_until<T, E>(group: &Group, wait: &Ticket, deadline: Option<Instant>) -> Outcome<T, E>
where
    T: Send + Sync + 'static,
    E: Send + Sync + 'static,
{
    let timeout_ns = remaining_ns(deadline);
    // Safety: our wait ticket, held (caller's promise).
    let outcome = unsafe { native::wait_outcome::<T, E>(wait.as_ptr(), timeout_ns) };
    if timeout_ns == 0 && matches!(outcome, Outcome::Pending) {
        group.count_giveup(sys::SF_ETIMEDOUT);
    }
    outcome
}

impl Group {
    /// A new, private group.
    pub fn new() -> Group {
        // Safety: no arguments; NULL only when out of memory.
        let raw = unsafe { sys::sf_group_new() };
        match NonNull::new(raw) {
            Some(raw) => Group { raw },
            None => std::alloc::handle_alloc_error(std::alloc::Layout::new::<[usize; 64]>()),
        }
    }

    /// The process-wide group called `name` (one or more arbitrary bytes),
    /// created on first open. Every caller in the process that opens the same
    /// name — in Rust, Go, Python or C — shares its flights.
    ///
    /// ```
    /// use singleflight::Group;
    /// let a = Group::open("users").unwrap();
    /// let b = Group::open("users").unwrap();
    /// assert!(a.same_as(&b));
    /// assert!(Group::open("").is_err());
    /// ```
    pub fn open(name: impl AsRef<[u8]>) -> Result<Group, Error> {
        let name = name.as_ref();
        if name.is_empty() {
            return Err(Error::InvalidArgument("a group name must not be empty"));
        }
        // Safety: a valid, non-empty slice.
        let raw = unsafe { sys::sf_group_open(name.as_ptr().cast(), name.len()) };
        NonNull::new(raw).map(|raw| Group { raw }).ok_or(Error::OutOfMemory)
    }

    /// Takes over one reference to a group.
    pub(crate) fn from_raw(raw: NonNull<sys::sf_group>) -> Group {
        Group { raw }
    }

    /// True when both handles refer to the same engine group.
    pub fn same_as(&self, other: &Group) -> bool {
        self.raw == other.raw
    }

    /// The underlying `sf_group`, borrowed: valid while `self` lives.
    pub fn as_raw(&self) -> *mut sys::sf_group {
        self.raw.as_ptr()
    }

    /// Runs `work` for `key` on this thread, or, when a call for `key` is
    /// already running anywhere in the process (any language), blocks until
    /// its outcome and shares it.
    ///
    /// The value is shared with the flight's Rust callers as an `Arc<T>` and
    /// the error as an `Arc<E>`, without serialization. Callers in other
    /// languages receive the value's byte form when `T` has one (`Bytes`,
    /// `Vec<u8>`, `String`, `Box<[u8]>`, static strings), else a "no byte form"
    /// error. A panic in `work` is re-raised in every Rust caller, message
    /// preserved, and reaches other languages as `SF_EPANIC`. If the flight's
    /// leader gives up without completing, this call joins again by itself
    /// (and may run `work` then).
    ///
    /// Calling it for the key whose work this thread is running gives
    /// [`Error::Deadlock`] rather than a hang.
    ///
    /// ```
    /// use singleflight::{Error, Group};
    /// let group = Group::new();
    /// let r = group.call("k", || Err::<u32, _>("no such user"));
    /// assert!(matches!(r, Err(Error::Work(e)) if *e == "no such user"));
    /// ```
    pub fn call<T, E, F>(&self, key: impl AsRef<[u8]>, work: F) -> Result<Shared<T>, Error<E>>
    where
        T: Send + Sync + 'static,
        E: Send + Sync + 'static,
        F: FnOnce() -> Result<T, E>,
    {
        self.call_inner(key.as_ref(), None, work)
    }

    /// [`Group::call`] that waits at most `timeout` for a flight run by
    /// another caller (then [`Error::Timeout`]; that flight goes on). When
    /// this caller leads, it runs `work` to the end: the work is not
    /// interrupted.
    pub fn call_timeout<T, E, F>(
        &self,
        key: impl AsRef<[u8]>,
        timeout: Duration,
        work: F,
    ) -> Result<Shared<T>, Error<E>>
    where
        T: Send + Sync + 'static,
        E: Send + Sync + 'static,
        F: FnOnce() -> Result<T, E>,
    {
        self.call_inner(key.as_ref(), Instant::now().checked_add(timeout), work)
    }

    fn call_inner<T, E, F>(&self, key: &[u8], deadline: Option<Instant>, work: F) -> Result<Shared<T>, Error<E>>
    where
        T: Send + Sync + 'static,
        E: Send + Sync + 'static,
        F: FnOnce() -> Result<T, E>,
    {
        let mut work = Some(work);
        let span = crate::spans::CallSpan::enter(key.len());
        loop {
            let (wait, lead) = join::<E>(self.as_raw(), key, sys::SF_JOIN_RUN_HERE)?;
            span.role(lead.is_some());
            if let Some(lead) = lead {
                // We lead: run here, then complete, read our own outcome
                // (for the `shared` flag) and leave both tickets in one
                // engine call. A leader completes; it never joins twice.
                let work = work.take().expect("a caller leads at most once");
                let (produced, payload) = crate::fence::running(lead.as_ptr(), || native::run_work(work));
                // Safety: `wait` and `lead` are the pair of our join; both are
                // consumed here (forgotten, so never left twice).
                let outcome = unsafe { native::finish_leader(wait.into_raw(), lead.into_raw(), produced, None) };
                if let Some(payload) = payload {
                    std::panic::resume_unwind(payload);
                }
                return outcome.into_result();
            }
            // Safety: our wait ticket, still held, of this group.
            let outcome = unsafe { wait_until::<T, E>(self, &wait, deadline) };
            drop(wait);
            match outcome {
                Outcome::HandOff => continue,
                other => return other.into_result(),
            }
        }
    }

    /// The asynchronous call: a future that runs `work` for `key`, or shares
    /// the outcome of the flight already running for it. See [`Call`].
    ///
    /// ```
    /// # smol::block_on(async {
    /// use singleflight::Group;
    /// let group = Group::new();
    /// let v = group.call_async("k", async { Ok::<_, std::io::Error>(String::from("v")) }).await.unwrap();
    /// assert_eq!(v.as_str(), "v");
    /// # });
    /// ```
    pub fn call_async<T, E, F>(&self, key: impl AsRef<[u8]>, work: F) -> Call<T, E, F>
    where
        T: Send + Sync + 'static,
        E: Send + Sync + 'static,
        F: std::future::Future<Output = Result<T, E>> + Send + 'static,
    {
        Call::new(self.clone(), key.as_ref(), work)
    }

    /// Joins the flight of `key` without running anything: the split API for
    /// callers that run the work themselves (on another thread, later). See
    /// [`Join`].
    pub fn join<T, E>(&self, key: impl AsRef<[u8]>) -> Result<Join<T, E>, Error<E>>
    where
        T: Send + Sync + 'static,
        E: Send + Sync + 'static,
    {
        let (wait, lead) = join::<E>(self.as_raw(), key.as_ref(), 0)?;
        Ok(match lead {
            Some(work) => Join::Leader(Leader { wait: Some(wait), work: Some(work), _t: std::marker::PhantomData }),
            None => Join::Follower(Follower { wait, group: self.clone(), _t: std::marker::PhantomData }),
        })
    }

    /// Makes the next caller of `key` start a new flight; callers already in
    /// the running flight still get its outcome.
    pub fn forget(&self, key: impl AsRef<[u8]>) {
        let key = key.as_ref();
        // Safety: a live group and a valid slice; SF_EINVAL is impossible.
        unsafe { sys::sf_forget(self.as_raw(), key.as_ptr().cast(), key.len()) };
    }

    /// Forgets `key` only if nobody but its leader has joined its flight.
    /// Returns true when the key is free now (forgotten, or no flight).
    pub fn forget_unshared(&self, key: impl AsRef<[u8]>) -> bool {
        let key = key.as_ref();
        let mut forgotten = 0;
        // Safety: a live group, a valid slice and a valid output.
        unsafe { sys::sf_forget_unshared(self.as_raw(), key.as_ptr().cast(), key.len(), &mut forgotten) };
        forgotten != 0
    }

    /// Counts one caller of this group that gave up in the binding's own
    /// way, not inside the engine's wait (`SF_ETIMEDOUT`: a timeout,
    /// `SF_ECANCELED`: a cancellation).
    pub(crate) fn count_giveup(&self, reason: sys::sf_status) {
        debug_assert!(matches!(reason, sys::SF_ETIMEDOUT | sys::SF_ECANCELED));
        // Safety: a live group; any other reason is refused, counting nothing.
        unsafe { sys::sf_group_count_giveup(self.as_raw(), reason) };
    }

    /// The group's counters.
    pub fn stats(&self) -> Stats {
        let mut s = sys::sf_stats::default();
        // Safety: a live group and an output of the size we pass.
        unsafe { sys::sf_group_stats(self.as_raw(), &mut s, std::mem::size_of::<sys::sf_stats>()) };
        s
    }
}

impl Default for Group {
    fn default() -> Group {
        Group::new()
    }
}

impl Clone for Group {
    fn clone(&self) -> Group {
        // Safety: a live reference; retain adds one we own.
        unsafe { sys::sf_group_retain(self.raw.as_ptr()) };
        Group { raw: self.raw }
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        // Safety: we own exactly one reference.
        unsafe { sys::sf_group_release(self.raw.as_ptr()) }
    }
}

impl fmt::Debug for Group {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Group").field(&self.raw).finish()
    }
}

/// The result of [`Group::join`]: this caller leads the flight, or follows it.
///
/// ```
/// use singleflight::{Group, Join};
/// let group = Group::new();
/// match group.join::<u32, ()>("k").unwrap() {
///     Join::Leader(leader) => assert_eq!(*leader.complete(Ok(7)).unwrap(), 7),
///     Join::Follower(_) => unreachable!("nobody else is calling"),
/// }
/// ```
pub enum Join<T, E> {
    /// This caller leads: it must [`Leader::complete`] the flight, or drop
    /// the leader to hand the flight off to its followers.
    Leader(Leader<T, E>),
    /// Another caller leads: [`Follower::wait`] for its outcome.
    Follower(Follower<T, E>),
}

/// The leader of a flight from [`Group::join`]. Dropping it without
/// completing *hands off*: the followers are woken, and one of them (whose
/// call joins again by itself) leads a new run.
pub struct Leader<T, E> {
    wait: Option<Ticket>,
    work: Option<Ticket>,
    _t: std::marker::PhantomData<fn() -> (T, E)>,
}

impl<T, E> Leader<T, E>
where
    T: Send + Sync + 'static,
    E: Send + Sync + 'static,
{
    /// The flight's fencing token ([`crate::fence_token`]): 0 unless the
    /// group is a fleet group and this process leads the flight fleet-wide.
    pub fn fence_token(&self) -> u64 {
        let work = self.work.as_ref().expect("work ticket held until completion");
        // Safety: our work ticket, held while `self` lives.
        unsafe { crate::fence::token_of(work.as_ptr()) }
    }

    /// Delivers the outcome to every caller of the flight and returns this
    /// caller's share of it.
    pub fn complete(mut self, outcome: Result<T, E>) -> Result<Shared<T>, Error<E>> {
        let produced = native::Produced::from_result(outcome);
        let work = self.work.take().expect("work ticket held until completion");
        let wait = self.wait.take().expect("wait ticket held until completion");
        // Safety: the pair of our join; both consumed here (forgotten, so
        // `Drop` leaves neither).
        let outcome = unsafe { native::finish_leader(wait.into_raw(), work.into_raw(), produced, None) };
        outcome.into_result()
    }
}

impl<T, E> Drop for Leader<T, E> {
    fn drop(&mut self) {
        // Leave the wait ticket first, then the work ticket: a hand-off if the
        // flight was not completed.
        drop(self.wait.take());
        drop(self.work.take());
    }
}

impl<T, E> fmt::Debug for Leader<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Leader")
    }
}

/// A follower of a flight from [`Group::join`].
pub struct Follower<T, E> {
    wait: Ticket,
    /// Where a wait that finds its deadline passed is counted.
    group: Group,
    _t: std::marker::PhantomData<fn() -> (T, E)>,
}

impl<T, E> Follower<T, E>
where
    T: Send + Sync + 'static,
    E: Send + Sync + 'static,
{
    /// Blocks until the flight's outcome, at most `timeout` if given.
    /// [`Error::HandedOff`] when its leader gave up: join again.
    /// A panic in the work is re-raised here.
    pub fn wait(self, timeout: Option<Duration>) -> Result<Shared<T>, Error<E>> {
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        // Safety: our wait ticket of this group, held until `self` drops.
        let outcome = unsafe { wait_until::<T, E>(&self.group, &self.wait, deadline) };
        outcome.into_result()
    }
}

impl<T, E> fmt::Debug for Follower<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Follower")
    }
}
