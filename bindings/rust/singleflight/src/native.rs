//! Rust-native outcomes: how a Rust leader hands `Arc<T>` / `Arc<E>` to the
//! flight's Rust followers through the engine, and how any caller reads an
//! outcome back into `Result<Shared<T>, Error<E>>`.

use std::any::{Any, TypeId};
use std::ffi::c_void;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use crate::recycle::{self, BoxOf};
use crate::rendezvous::{Ending, Rendezvous};
use crate::{Bytes, Error, Shared};
use singleflight_sys as sys;

/// A value or error of any type, shared between Rust callers.
pub(crate) type AnyArc = Arc<dyn Any + Send + Sync>;

/// What the work of a flight produced, as every Rust caller sees it.
pub(crate) enum Completion {
    Ok(AnyArc),
    Err(AnyArc),
    Panic(String),
}

/// The tag of this copy of the binding's outcome values: a `Box<Completion>`.
pub(crate) static VALUE_KIND: sys::sf_native_kind =
    sys::sf_native_kind { name: c"rust".as_ptr(), release: Some(release_completion) };

unsafe extern "C" fn release_completion(value: *mut c_void) {
    // Safety: the engine hands back exactly once each pointer we gave it
    // with VALUE_KIND, which is always a Box<Completion>. Dropping user values
    // must not unwind into C.
    let boxed = unsafe { Box::from_raw(value.cast::<Completion>()) };
    let _ = catch_unwind(AssertUnwindSafe(move || recycle::drop_box(BoxOf::Outcome, boxed)));
}

/// The readable message of a panic payload.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "the work panicked with a non-string payload".to_string()
    }
}

/// The byte form of a Rust value, for callers in other languages: a buffer
/// sharing the value's memory (no copy), or `None` when `V` has none.
/// `Bytes`, `Vec<u8>`, `String`, `Box<[u8]>`, `&'static str` and
/// `&'static [u8]` have one. Generic, so the type tests fold away.
fn byte_form<V: Any + Send + Sync>(value: &Arc<V>) -> Option<Bytes> {
    unsafe extern "C" fn drop_arc<V>(ctx: *mut c_void) {
        // Safety: ctx is the Arc::into_raw below, released exactly once by
        // the engine. A panicking Drop must not unwind into C.
        let arc = unsafe { Arc::from_raw(ctx.cast_const().cast::<V>()) };
        let _ = catch_unwind(AssertUnwindSafe(move || drop(arc)));
    }
    let any: &dyn Any = &**value;
    if let Some(b) = any.downcast_ref::<Bytes>() {
        return Some(b.clone());
    }
    if !has_byte_form::<V>() {
        return None;
    }
    let slice = byte_slice(any)?;
    let ctx = Arc::into_raw(value.clone());
    // Safety: the slice lives inside the Arc'd value, which the reference in
    // `ctx` keeps alive until the engine calls drop_arc (exactly once, also
    // when the wrap fails, which returns NULL).
    unsafe {
        Bytes::from_raw_opt(sys::sf_bytes_wrap(
            slice.as_ptr() as *mut c_void,
            slice.len(),
            Some(drop_arc::<V>),
            ctx.cast_mut().cast(),
        ))
    }
}

/// True for the byte types other than `Bytes`; a constant for each `V`, so
/// the other types skip the dynamic tests.
fn has_byte_form<V: Any>() -> bool {
    let id = TypeId::of::<V>();
    id == TypeId::of::<Vec<u8>>()
        || id == TypeId::of::<String>()
        || id == TypeId::of::<Box<[u8]>>()
        || id == TypeId::of::<&'static str>()
        || id == TypeId::of::<&'static [u8]>()
}

/// The bytes of a value of a byte type other than `Bytes`.
fn byte_slice(any: &dyn Any) -> Option<&[u8]> {
    if let Some(v) = any.downcast_ref::<Vec<u8>>() {
        Some(v)
    } else if let Some(s) = any.downcast_ref::<String>() {
        Some(s.as_bytes())
    } else if let Some(b) = any.downcast_ref::<Box<[u8]>>() {
        Some(b)
    } else if let Some(s) = any.downcast_ref::<&'static str>() {
        Some(s.as_bytes())
    } else {
        any.downcast_ref::<&'static [u8]>().map(|s| &s[..])
    }
}

/// What the work of a flight produced, typed, still owned by its producer:
/// it becomes an `Arc` only if someone else receives it.
pub(crate) enum Produced<T, E> {
    Ok(T),
    Err(E),
    Panic(String),
}

impl<T, E> Produced<T, E>
where
    T: Send + Sync + 'static,
    E: Send + Sync + 'static,
{
    pub(crate) fn from_result(r: Result<T, E>) -> Self {
        match r {
            Ok(v) => Produced::Ok(v),
            Err(e) => Produced::Err(e),
        }
    }

    fn status(&self) -> sys::sf_status {
        match self {
            Produced::Ok(_) => sys::SF_OK,
            Produced::Err(_) => sys::SF_EWORK,
            Produced::Panic(_) => sys::SF_EPANIC,
        }
    }

    /// Shares it: what the engine and the flight's other callers receive,
    /// and the producer's own outcome, which holds the same `Arc` (marked
    /// shared until the engine says otherwise).
    pub(crate) fn share(self) -> (Finished, Outcome<T, E>) {
        match self {
            Produced::Ok(v) => {
                let v = Arc::new(v);
                (Finished::ok(v.clone()), Outcome::Done(Ok(Shared::from_arc(v, true))))
            }
            Produced::Err(e) => {
                let e = Arc::new(e);
                (Finished::err(e.clone()), Outcome::Done(Err(Error::Work(e))))
            }
            Produced::Panic(m) => (Finished::panic(m.clone()), Outcome::Panic(m)),
        }
    }

    /// What the engine and the other callers receive (the producer keeps
    /// nothing: its work ran in the flight's rendezvous).
    pub(crate) fn finished(self) -> Finished {
        match self {
            Produced::Ok(v) => Finished::ok(Arc::new(v)),
            Produced::Err(e) => Finished::err(Arc::new(e)),
            Produced::Panic(m) => Finished::panic(m),
        }
    }

    /// The producer's own outcome when nobody else receives it: the value
    /// stays its own (no `Arc`).
    fn into_own(self, shared: bool) -> Outcome<T, E> {
        match self {
            Produced::Ok(v) => Outcome::Done(Ok(Shared::own(v, shared))),
            Produced::Err(e) => Outcome::Done(Err(Error::Work(Arc::new(e)))),
            Produced::Panic(m) => Outcome::Panic(m),
        }
    }
}

/// A completion as the engine takes it: its status, the byte forms of the
/// value and the error (where they have one), and the native value.
pub(crate) struct Finished {
    status: sys::sf_status,
    value: Option<Bytes>,
    error: Option<Bytes>,
    pub(crate) native: Completion,
}

impl Finished {
    fn ok<V: Any + Send + Sync>(v: Arc<V>) -> Finished {
        Finished { status: sys::SF_OK, value: byte_form(&v), error: None, native: Completion::Ok(v) }
    }

    fn err<V: Any + Send + Sync>(e: Arc<V>) -> Finished {
        Finished { status: sys::SF_EWORK, value: None, error: byte_form(&e), native: Completion::Err(e) }
    }

    pub(crate) fn panic(message: String) -> Finished {
        let error = Some(Bytes::copy_from_slice(message.as_bytes()));
        Finished { status: sys::SF_EPANIC, value: None, error, native: Completion::Panic(message) }
    }

    /// Hands everything to the engine: (status, value, error, native), each
    /// a new reference or owned pointer that the engine takes over.
    fn into_raw(self) -> (sys::sf_status, *mut sys::sf_bytes, *mut sys::sf_bytes, *mut c_void) {
        let value = self.value.map_or(std::ptr::null_mut(), Bytes::into_raw);
        let error = self.error.map_or(std::ptr::null_mut(), Bytes::into_raw);
        (self.status, value, error, Box::into_raw(recycle::new_box(BoxOf::Outcome, self.native)).cast())
    }
}

impl Completion {
    /// Another reference to the same values.
    pub(crate) fn share(&self) -> Completion {
        match self {
            Completion::Ok(v) => Completion::Ok(v.clone()),
            Completion::Err(e) => Completion::Err(e.clone()),
            Completion::Panic(m) => Completion::Panic(m.clone()),
        }
    }
}

/// Completes the flight of work ticket `work` with `f` and leaves the ticket.
///
/// # Safety
/// `work` must be a work ticket this caller holds; it is invalid afterwards.
pub(crate) unsafe fn complete_and_leave(work: *mut sys::sf_ticket, f: Finished) {
    let (status, value, error, native) = f.into_raw();
    // Safety: `work` is our work ticket; the engine takes ownership of both
    // byte references and of `native` (released through VALUE_KIND) whatever
    // it returns. Completing our own uncompleted flight cannot fail.
    unsafe {
        let st = sys::sf_complete_native(work, status, value, error, &VALUE_KIND, native);
        debug_assert_eq!(st, sys::SF_OK);
        sys::sf_leave(work);
    }
}

/// The leader's whole ending: `sf_finish_alone` when nobody else holds a
/// ticket, else `sf_finish`, which completes the flight of `work` with `p`,
/// and leaves both tickets. The leader's own outcome is `p` itself, with the
/// engine's `shared` flag. Followers without a ticket in `rendezvous` (the
/// flight's, when the leader held its work) get the outcome there. When
/// nobody else receives it, no outcome is built (no `Arc`, no byte form, no
/// boxed native value).
///
/// # Safety
/// `wait` and `work` must be the two tickets one `sf_join` gave this caller
/// (the flight not yet completed); both are invalid afterwards.
pub(crate) unsafe fn finish_leader<T, E>(
    wait: *mut sys::sf_ticket,
    work: *mut sys::sf_ticket,
    p: Produced<T, E>,
    rendezvous: Option<&Rendezvous>,
) -> Outcome<T, E>
where
    T: Send + Sync + 'static,
    E: Send + Sync + 'static,
{
    let status = p.status();
    let mut shared: std::ffi::c_int = 0;
    // Safety: `wait` and `work` are the pair of our sf_join. When nobody else
    // holds a ticket the engine ends the flight and leaves both; otherwise
    // nothing changes and both are still ours.
    if unsafe { sys::sf_finish_alone(wait, work, status, &mut shared) } == 1 {
        match rendezvous {
            Some(rv) if !rv.close_if_alone() => {
                // Only followers without a ticket receive it.
                let (finished, own) = p.share();
                rv.end(Ending::Completed(finished.native), None);
                return own;
            }
            _ => return p.into_own(shared != 0),
        }
    }
    let (finished, mut own) = p.share();
    let kept = rendezvous.map(|_| finished.native.share());
    // Safety: as above, both still ours.
    let shared = unsafe { finish_shared(wait, work, finished) };
    if let (Some(rv), Some(kept)) = (rendezvous, kept) {
        rv.end(Ending::Completed(kept), None);
    }
    match shared {
        Ok(shared) => {
            if let Outcome::Done(Ok(s)) = &mut own {
                s.set_shared(shared);
            }
            own
        }
        Err(st) => Outcome::Done(Err(Error::from_status(st))),
    }
}

/// `sf_finish` of the leader's pair with `f`, which others will read: the
/// engine's `shared` flag. Both tickets are left, whatever happens.
///
/// # Safety
/// As for [`finish_leader`].
unsafe fn finish_shared(
    wait: *mut sys::sf_ticket,
    work: *mut sys::sf_ticket,
    f: Finished,
) -> Result<bool, sys::sf_status> {
    let (status, value, error, native) = f.into_raw();
    let mut result = sys::sf_result::EMPTY;
    // Safety: `wait` and `work` are the pair of our sf_join; the engine takes
    // ownership of both byte references and of `native` (released through
    // VALUE_KIND) whatever it returns, and leaves both tickets unless it
    // fails with SF_EINVAL.
    let st = unsafe { sys::sf_finish(wait, work, status, value, error, &VALUE_KIND, native, &mut result) };
    // Safety: the result's references are new and ours: our own byte forms,
    // which we do not need back (most types have none).
    unsafe {
        if !result.value.is_null() {
            sys::sf_bytes_release(result.value);
        }
        if !result.error.is_null() {
            sys::sf_bytes_release(result.error);
        }
    }
    if st == status {
        return Ok(result.shared != 0);
    }
    // Cannot happen for our own pair of an uncompleted flight. Nothing was
    // left: give both tickets back (an uncompleted flight is handed off).
    debug_assert!(false, "sf_finish failed: {st}");
    // Safety: both tickets are still ours; each is left once.
    unsafe {
        sys::sf_leave(wait);
        sys::sf_leave(work);
    }
    Err(st)
}

/// Runs a work closure, catching a panic. The original panic payload is
/// returned for the leader to resume.
pub(crate) fn run_work<T, E, F>(work: F) -> (Produced<T, E>, Option<Box<dyn Any + Send>>)
where
    T: Send + Sync + 'static,
    E: Send + Sync + 'static,
    F: FnOnce() -> Result<T, E>,
{
    match catch_unwind(AssertUnwindSafe(work)) {
        Ok(r) => (Produced::from_result(r), None),
        Err(payload) => (Produced::Panic(panic_message(&*payload)), Some(payload)),
    }
}

/// The outcome of a flight for a Rust waiter that is not its producer, from
/// the native value a Rust caller completed it with: `None` when it holds
/// other types than this waiter's (the engine's byte forms may still fit).
pub(crate) fn shared_outcome<T, E>(c: &Completion) -> Option<Outcome<T, E>>
where
    T: Send + Sync + 'static,
    E: Send + Sync + 'static,
{
    match c {
        Completion::Ok(v) => {
            v.clone().downcast::<T>().ok().map(|value| Outcome::Done(Ok(Shared::from_arc(value, true))))
        }
        Completion::Err(e) => e.clone().downcast::<E>().ok().map(|e| Outcome::Done(Err(Error::Work(e)))),
        Completion::Panic(m) => Some(Outcome::Panic(m.clone())),
    }
}

/// What reading a flight's outcome gives a Rust caller.
pub(crate) enum Outcome<T, E> {
    /// The outcome (or a failure to read it).
    Done(Result<Shared<T>, Error<E>>),
    /// The work panicked: re-raise with this message.
    Panic(String),
    /// The leader handed off: leave and join again.
    HandOff,
    /// Not ready yet (a poll or a wait that reached its deadline).
    Pending,
}

/// Converts an engine buffer to `T` when `T` is a byte type: `Bytes` (no
/// copy), `Vec<u8>` or `String` (a copy; `String` only if UTF-8).
fn from_bytes<T: 'static>(b: Option<Bytes>) -> Option<T> {
    let id = TypeId::of::<T>();
    let boxed: Box<dyn Any> = if id == TypeId::of::<Bytes>() {
        Box::new(b.unwrap_or_default())
    } else if id == TypeId::of::<Vec<u8>>() {
        Box::new(b.map(|b| b.to_vec()).unwrap_or_default())
    } else if id == TypeId::of::<String>() {
        Box::new(String::from_utf8(b.map(|b| b.to_vec()).unwrap_or_default()).ok()?)
    } else {
        return None;
    };
    boxed.downcast::<T>().ok().map(|b| *b)
}

/// Reads the outcome of `status`, `result` and `native` (as returned by
/// `sf_wait_native` with VALUE_KIND), taking ownership of the result's bytes.
///
/// # Safety
/// `result` must come from the engine (its references are ours); `native`
/// must be NULL or a `Completion` the engine handed back for VALUE_KIND,
/// still valid (the caller holds its ticket).
pub(crate) unsafe fn read_outcome<T, E>(
    status: sys::sf_status,
    result: sys::sf_result,
    native: *mut c_void,
) -> Outcome<T, E>
where
    T: Send + Sync + 'static,
    E: Send + Sync + 'static,
{
    // Safety: the references in `result` are new and ours (caller's promise).
    let value = unsafe { Bytes::from_raw_opt(result.value) };
    // Safety: as above.
    let error = unsafe { Bytes::from_raw_opt(result.error) };
    let shared = result.shared != 0;
    if !native.is_null() {
        // Safety: a valid Completion while our ticket is held (caller's promise).
        let c = unsafe { &*native.cast::<Completion>() };
        return match c {
            Completion::Ok(v) => match v.clone().downcast::<T>() {
                Ok(value) => Outcome::Done(Ok(Shared::from_arc(value, shared))),
                Err(_) => match from_bytes::<T>(value.clone()).filter(|_| value.is_some()) {
                    Some(v) => Outcome::Done(Ok(Shared::own(v, shared))),
                    None => Outcome::Done(Err(Error::TypeMismatch { expected: std::any::type_name::<T>() })),
                },
            },
            Completion::Err(e) => match e.clone().downcast::<E>() {
                Ok(e) => Outcome::Done(Err(Error::Work(e))),
                Err(_) => match from_bytes::<E>(error.clone()).filter(|_| error.is_some()) {
                    Some(e) => Outcome::Done(Err(Error::Work(Arc::new(e)))),
                    None => Outcome::Done(Err(Error::TypeMismatch { expected: std::any::type_name::<E>() })),
                },
            },
            Completion::Panic(m) => Outcome::Panic(m.clone()),
        };
    }
    match status {
        sys::SF_OK => match from_bytes::<T>(value.clone()) {
            Some(v) => Outcome::Done(Ok(Shared::own(v, shared))),
            None => Outcome::Done(Err(Error::Foreign { failed: false, bytes: value })),
        },
        sys::SF_EWORK => match from_bytes::<E>(error.clone()) {
            Some(e) => Outcome::Done(Err(Error::Work(Arc::new(e)))),
            None => Outcome::Done(Err(Error::Foreign { failed: true, bytes: error })),
        },
        sys::SF_EPANIC => Outcome::Panic(
            error.map_or_else(|| "the work aborted".to_string(), |b| String::from_utf8_lossy(&b).into_owned()),
        ),
        sys::SF_ENOBYTES => Outcome::Done(Err(Error::NoBytes(
            error.map_or_else(String::new, |b| String::from_utf8_lossy(&b).into_owned()),
        ))),
        sys::SF_ETIMEDOUT => Outcome::Pending,
        sys::SF_EHANDOFF => Outcome::HandOff,
        other => Outcome::Done(Err(Error::from_status(other))),
    }
}

/// Waits on wait ticket `wait` for up to `timeout_ns` and reads the outcome.
///
/// # Safety
/// `wait` must be a wait ticket the caller holds.
pub(crate) unsafe fn wait_outcome<T, E>(wait: *mut sys::sf_ticket, timeout_ns: i64) -> Outcome<T, E>
where
    T: Send + Sync + 'static,
    E: Send + Sync + 'static,
{
    let mut result = sys::sf_result::EMPTY;
    let mut native: *mut c_void = std::ptr::null_mut();
    // Safety: `wait` is our wait ticket; result and native are valid outputs.
    let status = unsafe { sys::sf_wait_native(wait, timeout_ns, &VALUE_KIND, &mut result, &mut native) };
    // Safety: result and native come straight from the engine and our
    // ticket is still held.
    unsafe { read_outcome(status, result, native) }
}

impl<T, E> Outcome<T, E> {
    /// What a call returns for this outcome; a panic is re-raised here.
    pub(crate) fn into_result(self) -> Result<Shared<T>, Error<E>> {
        match self {
            Outcome::Done(r) => r,
            Outcome::Panic(m) => resume_panic(m),
            Outcome::HandOff => Err(Error::HandedOff),
            Outcome::Pending => Err(Error::Timeout),
        }
    }
}

/// Re-raises a flight's panic in this caller, message preserved.
pub(crate) fn resume_panic(message: String) -> ! {
    std::panic::resume_unwind(Box::new(message))
}
