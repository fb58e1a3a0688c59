//! One process-wide timer thread for the timeouts of async calls, so the
//! futures need no runtime: a deadline wakes the call's `Waker`. It is started
//! on the first async call with a timeout; calls without one never touch it.

use std::collections::BTreeMap;
use std::sync::{Condvar, Mutex, OnceLock};
use std::task::Waker;
use std::time::Instant;

/// Identifies one registered deadline.
pub(crate) type TimerKey = (Instant, u64);

struct Timer {
    inner: Mutex<Inner>,
    cv: Condvar,
}

struct Inner {
    entries: BTreeMap<TimerKey, Waker>,
    next_id: u64,
}

fn timer() -> &'static Timer {
    static TIMER: OnceLock<&'static Timer> = OnceLock::new();
    TIMER.get_or_init(|| {
        let t: &'static Timer = Box::leak(Box::new(Timer {
            inner: Mutex::new(Inner { entries: BTreeMap::new(), next_id: 0 }),
            cv: Condvar::new(),
        }));
        std::thread::Builder::new()
            .name("singleflight-timer".into())
            .spawn(move || run(t))
            .expect("cannot start the singleflight timer thread");
        t
    })
}

fn run(t: &'static Timer) {
    let mut inner = t.inner.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let now = Instant::now();
        let mut due = Vec::new();
        while let Some((&key, _)) = inner.entries.first_key_value() {
            if key.0 > now {
                break;
            }
            if let Some(w) = inner.entries.remove(&key) {
                due.push(w);
            }
        }
        if !due.is_empty() {
            drop(inner);
            due.into_iter().for_each(Waker::wake);
            inner = t.inner.lock().unwrap_or_else(|e| e.into_inner());
            continue;
        }
        inner = match inner.entries.first_key_value().map(|(k, _)| k.0) {
            Some(at) => {
                t.cv.wait_timeout(inner, at.saturating_duration_since(now)).unwrap_or_else(|e| e.into_inner()).0
            }
            None => t.cv.wait(inner).unwrap_or_else(|e| e.into_inner()),
        };
    }
}

/// Wakes `waker` at `at` (or soon after) unless cancelled first.
pub(crate) fn register(at: Instant, waker: Waker) -> TimerKey {
    let t = timer();
    let mut inner = t.inner.lock().unwrap_or_else(|e| e.into_inner());
    let key = (at, inner.next_id);
    inner.next_id += 1;
    let earliest = inner.entries.first_key_value().is_none_or(|(k, _)| key < *k);
    inner.entries.insert(key, waker);
    drop(inner);
    if earliest {
        t.cv.notify_one();
    }
    key
}

/// Replaces the waker of a registered deadline (if it has not fired);
/// returns false if it already fired.
pub(crate) fn update(key: TimerKey, waker: &Waker) -> bool {
    let mut inner = timer().inner.lock().unwrap_or_else(|e| e.into_inner());
    match inner.entries.get_mut(&key) {
        Some(w) => {
            if !w.will_wake(waker) {
                *w = waker.clone();
            }
            true
        }
        None => false,
    }
}

/// Forgets a registered deadline.
pub(crate) fn cancel(key: TimerKey) {
    let mut inner = timer().inner.lock().unwrap_or_else(|e| e.into_inner());
    inner.entries.remove(&key);
}
