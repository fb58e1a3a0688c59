//! The Rust piece of the polyglot demo, built as a cdylib: Rust callers that
//! stampede a named group through the Rust binding.
use std::ffi::{c_char, c_int, c_void, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr::NonNull;
use std::sync::Mutex;
use std::thread::JoinHandle;

use singleflight::{Bytes, Error, Group};
use singleflight_sys as sys;

const LANG_RUST: c_int = 2;
const WORK_ERROR: c_int = 1;
const WORK_PANIC: c_int = 2;
const SF_OK: c_int = 0;
const SF_EWORK: c_int = 1;
const SF_EPANIC: c_int = 2;
const SF_ETIMEDOUT: c_int = 6;
const SF_ECANCELED: c_int = 7;
const SF_ENOBYTES: c_int = 9;

extern "C" {
    fn sfx_gate_wait();
    fn sfx_db_query(key: *const c_void, len: usize) -> *mut sys::sf_bytes;
    fn sfx_log(lang: c_int, status: c_int, data: *const c_void, len: usize, shared: c_int);
}

static CALLERS: Mutex<Vec<JoinHandle<()>>> = Mutex::new(Vec::new());
static CANCELS: Mutex<Vec<smol::channel::Sender<()>>> = Mutex::new(Vec::new());

fn log(status: c_int, data: &[u8], shared: bool) {
    // Safety: the C side copies what it keeps before returning.
    unsafe { sfx_log(LANG_RUST, status, data.as_ptr().cast(), data.len(), shared as c_int) }
}

/// Asks the shared database; the row stays in the engine's buffer.
fn query(key: &str, work: c_int) -> Result<Bytes, String> {
    // Safety: sfx_db_query returns a new reference (never NULL here), which
    // Bytes adopts.
    let row = unsafe { Bytes::from_raw(NonNull::new(sfx_db_query(key.as_ptr().cast(), key.len())).unwrap()) };
    match work {
        WORK_ERROR => Err("Rust work failed".into()),
        WORK_PANIC => panic!("Rust work panicked"),
        _ => Ok(row),
    }
}

fn record(r: std::thread::Result<Result<singleflight::Shared<Bytes>, Error<String>>>) {
    match r {
        Ok(Ok(v)) => log(SF_OK, &v, v.is_shared()),
        Ok(Err(Error::Work(e))) => log(SF_EWORK, e.as_bytes(), false),
        Ok(Err(Error::Foreign { failed, bytes })) => {
            log(if failed { SF_EWORK } else { SF_OK }, bytes.as_deref().unwrap_or(b""), false)
        }
        Ok(Err(Error::NoBytes(msg))) => log(SF_ENOBYTES, msg.as_bytes(), false),
        Ok(Err(Error::Timeout)) => log(SF_ETIMEDOUT, b"timed out", false),
        Ok(Err(e)) => log(99, e.to_string().as_bytes(), false),
        Err(panic) => {
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "a panic".into());
            log(SF_EPANIC, msg.as_bytes(), false)
        }
    }
}

fn cstr(p: *const c_char) -> String {
    // Safety: the host passes NUL-terminated strings it keeps alive for the call.
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

/// Starts `n` threads that pass the gate and call the blocking API on `key`
/// of the named group; returns at once (0, or -1 if the group cannot open).
#[no_mangle]
pub extern "C" fn rust_stampede(group: *const c_char, key: *const c_char, n: c_int, work: c_int) -> c_int {
    let Ok(g) = Group::open(cstr(group)) else { return -1 };
    let key = cstr(key);
    let mut callers = CALLERS.lock().unwrap();
    for _ in 0..n {
        let (g, key) = (g.clone(), key.clone());
        callers.push(std::thread::spawn(move || {
            // Safety: a plain C call.
            unsafe { sfx_gate_wait() };
            record(catch_unwind(AssertUnwindSafe(|| g.call(&key, || query(&key, work)))));
        }));
    }
    0
}

/// Starts one async caller whose future rust_cancel_all() drops. Its work
/// waits for that, so the dropped future takes the work with it: the flight
/// hands off to the callers of other languages, one of which runs it.
#[no_mangle]
pub extern "C" fn rust_start_cancellable(group: *const c_char, key: *const c_char) -> c_int {
    let Ok(g) = Group::open(cstr(group)) else { return -1 };
    let key = cstr(key);
    let (tx, rx) = smol::channel::bounded::<()>(1);
    let (hold_tx, hold_rx) = smol::channel::bounded::<()>(1);
    CANCELS.lock().unwrap().push(tx);
    CALLERS.lock().unwrap().push(std::thread::spawn(move || {
        smol::block_on(async move {
            let k = key.clone();
            let call = g.call_async(key.clone(), async move {
                let _ = hold_rx.recv().await; // held until the caller is gone
                query(&k, 0)
            });
            let outcome = smol::future::or(async { Some(call.await) }, async {
                let _ = rx.recv().await;
                None
            })
            .await;
            drop(hold_tx);
            match outcome {
                Some(r) => record(Ok(r)),
                None => log(SF_ECANCELED, b"the Rust future was dropped", false),
            }
        })
    }));
    0
}

/// Drops the futures of every cancellable caller.
#[no_mangle]
pub extern "C" fn rust_cancel_all() {
    for tx in CANCELS.lock().unwrap().drain(..) {
        let _ = tx.try_send(());
    }
}

/// Waits for every Rust caller started so far.
#[no_mangle]
pub extern "C" fn rust_join() {
    let callers: Vec<_> = CALLERS.lock().unwrap().drain(..).collect();
    for c in callers {
        let _ = c.join();
    }
}

/// The engine this library reaches.
#[no_mangle]
pub extern "C" fn rust_engine_id() -> usize {
    // Safety: a plain query of the engine.
    unsafe { sys::sf_engine_id() as usize }
}
