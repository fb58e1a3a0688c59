//! Named groups shared with C callers: the raw `sf_do` from
//! `singleflight-sys` plays the C side.

mod common;
use common::*;

use singleflight::sys;
use singleflight::{Bytes, Error, Group};
use std::ffi::c_void;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;

/// What a C caller got from `sf_do`.
#[derive(Debug)]
struct COutcome {
    status: sys::sf_status,
    value: Option<Vec<u8>>,
    value_ptr: usize,
    error: Option<Vec<u8>>,
}

struct CWork {
    group: Group,
    wait_for_followers: u64,
    value: &'static [u8],
    runs: Arc<AtomicUsize>,
    data_ptr: usize,
}

unsafe extern "C" fn c_work(
    ud: *mut c_void,
    value: *mut *mut sys::sf_bytes,
    _error: *mut *mut sys::sf_bytes,
) -> sys::sf_status {
    // Safety: ud is the &mut CWork passed to sf_do below, alive for the call.
    let w = unsafe { &mut *(ud as *mut CWork) };
    w.runs.fetch_add(1, Ordering::SeqCst);
    wait_followers(&w.group, w.wait_for_followers);
    // Safety: a valid slice, copied by the engine.
    let b = unsafe { sys::sf_bytes_new(w.value.as_ptr().cast(), w.value.len()) };
    // Safety: b is a valid buffer we own.
    w.data_ptr = unsafe { sys::sf_bytes_data(b) } as usize;
    // Safety: the out parameter is valid; ownership passes to the engine.
    unsafe { *value = b };
    sys::SF_OK
}

/// Calls `sf_do` on the named group `name` like a C program would.
fn c_call(name: &str, key: &str, mut work: CWork) -> (COutcome, CWork) {
    // Safety: plain C calls with valid pointers; every reference we get is
    // released.
    unsafe {
        let g = sys::sf_group_open(name.as_ptr().cast(), name.len());
        assert!(!g.is_null());
        let mut r = sys::sf_result::EMPTY;
        let st =
            sys::sf_do(g, key.as_ptr().cast(), key.len(), Some(c_work), &mut work as *mut CWork as *mut c_void, &mut r);
        let read = |b: *mut sys::sf_bytes| {
            (!b.is_null())
                .then(|| std::slice::from_raw_parts(sys::sf_bytes_data(b).cast::<u8>(), sys::sf_bytes_len(b)).to_vec())
        };
        let out = COutcome {
            status: st,
            value: read(r.value),
            value_ptr: sys::sf_bytes_data(r.value) as usize,
            error: read(r.error),
        };
        sys::sf_bytes_release(r.value);
        sys::sf_bytes_release(r.error);
        sys::sf_group_release(g);
        (out, work)
    }
}

fn cwork(group: &Group, followers: u64, value: &'static [u8]) -> CWork {
    CWork {
        group: group.clone(),
        wait_for_followers: followers,
        value,
        runs: Arc::new(AtomicUsize::new(0)),
        data_ptr: 0,
    }
}

#[test]
fn rust_follows_a_c_leader_with_the_same_bytes() {
    let group = Group::open("c-callers-1").unwrap();
    let c = {
        let w = cwork(&group, 1, b"from C");
        thread::spawn(move || c_call("c-callers-1", "k", w))
    };
    wait_until(|| group.stats().in_table == 1);
    let v = group.call("k", || Ok::<Bytes, Bytes>(Bytes::from("from Rust"))).unwrap();
    let (out, w) = c.join().unwrap();
    assert_eq!(out.status, sys::SF_OK);
    assert_eq!(&**v, b"from C");
    assert_eq!(v.as_ptr() as usize, w.data_ptr, "the very same buffer, no copy");
    assert_eq!(w.runs.load(Ordering::SeqCst), 1);
    // A typed Rust follower of a non-byte type gets the raw bytes.
    let c = {
        let w = cwork(&group, 2, b"again");
        thread::spawn(move || c_call("c-callers-1", "k", w))
    };
    wait_until(|| group.stats().in_table == 1);
    let r = group.call("k", || Ok::<u64, ()>(0));
    assert!(matches!(&r, Err(Error::Foreign { failed: false, bytes: Some(b) }) if &**b == b"again"), "{r:?}");
    let _ = c.join().unwrap();
}

#[test]
fn c_follows_a_rust_leader() {
    let group = Group::open("c-callers-2").unwrap();
    // A byte-typed value crosses zero-copy.
    let leader = lead::<Vec<u8>, ()>(&group, "bytes");
    let c = {
        let w = cwork(&group, 0, b"C ran");
        thread::spawn(move || c_call("c-callers-2", "bytes", w))
    };
    wait_followers(&group, 1);
    let v = vec![1u8, 2, 3];
    let vp = v.as_ptr() as usize;
    let mine = leader.complete(Ok(v)).unwrap();
    let (out, w) = c.join().unwrap();
    assert_eq!(out.status, sys::SF_OK);
    assert_eq!(out.value.as_deref(), Some(&[1u8, 2, 3][..]));
    assert_eq!(out.value_ptr, vp, "the Vec's own memory, no copy");
    assert_eq!(w.runs.load(Ordering::SeqCst), 0);
    assert!(mine.is_shared());

    // A value with no byte form is a clear error for the C caller.
    let leader = lead::<std::time::Duration, ()>(&group, "typed");
    let c = {
        let w = cwork(&group, 0, b"C ran");
        thread::spawn(move || c_call("c-callers-2", "typed", w))
    };
    wait_followers(&group, 2);
    leader.complete(Ok(std::time::Duration::from_secs(1))).unwrap();
    let (out, _) = c.join().unwrap();
    assert_eq!(out.status, sys::SF_ENOBYTES);
    assert!(String::from_utf8_lossy(out.error.as_deref().unwrap_or_default()).contains("rust"), "{out:?}");
}

#[test]
fn rust_panic_reaches_c_as_epanic() {
    let group = Group::open("c-callers-3").unwrap();
    let c = once_a_flight_runs(&group, |group| c_call("c-callers-3", "k", cwork(group, 0, b"C ran")));
    let g2 = group.clone();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        group.call("k", move || -> Result<u8, ()> {
            wait_followers(&g2, 1);
            panic!("rust work failed")
        })
    }));
    assert_eq!(panic_text(&*r.unwrap_err()), "rust work failed");
    let (out, _) = c.join().unwrap();
    assert_eq!(out.status, sys::SF_EPANIC);
    assert_eq!(out.error.as_deref(), Some(&b"rust work failed"[..]));
}

#[test]
fn async_leader_dropped_hands_off_to_a_c_caller() {
    let group = Group::open("c-callers-4").unwrap();
    let work_dropped = Arc::new(AtomicUsize::new(0));
    let rt = tokio_rt();
    let task = {
        let (group, guard) = (group.clone(), DropCounter(work_dropped.clone()));
        rt.spawn(async move {
            group
                .call_async("k", async move {
                    let _guard = guard;
                    std::future::pending::<()>().await;
                    Ok::<&'static str, ()>("rust")
                })
                .await
        })
    };
    wait_until(|| group.stats().in_table == 1);
    let c = {
        let w = cwork(&group, 0, b"C ran");
        thread::spawn(move || c_call("c-callers-4", "k", w))
    };
    wait_followers(&group, 1);
    task.abort();
    c_ran_after_a_hand_off(c, &work_dropped, &group);
}

/// A thread that runs `call` once a flight of `group` is in its table
/// (the Rust leader's, started after this returns).
fn once_a_flight_runs<R: Send + 'static>(
    group: &Group,
    call: impl FnOnce(&Group) -> R + Send + 'static,
) -> thread::JoinHandle<R> {
    let group = group.clone();
    thread::spawn(move || {
        wait_until(|| group.stats().in_table == 1);
        call(&group)
    })
}

/// A C follower through the raw split API: `sf_join` (which must follow),
/// then a blocking `sf_wait`. Returns the status, the bytes (value or error)
/// and the address of the engine buffer's data.
fn c_follow(name: &str, key: &str) -> (sys::sf_status, Option<Vec<u8>>, usize) {
    // Safety: plain C calls with valid pointers; every reference and ticket
    // we get is released or left.
    unsafe {
        let g = sys::sf_group_open(name.as_ptr().cast(), name.len());
        assert!(!g.is_null());
        let (mut wait, mut work) = (std::ptr::null_mut(), std::ptr::null_mut());
        assert_eq!(sys::sf_join(g, key.as_ptr().cast(), key.len(), 0, &mut wait, &mut work), sys::SF_OK);
        assert!(work.is_null(), "the C caller must follow");
        let mut r = sys::sf_result::EMPTY;
        let st = sys::sf_wait(wait, -1, &mut r);
        assert!(r.shared != 0, "a follower's outcome is shared");
        let b = if r.value.is_null() { r.error } else { r.value };
        let bytes = (!b.is_null())
            .then(|| std::slice::from_raw_parts(sys::sf_bytes_data(b).cast::<u8>(), sys::sf_bytes_len(b)).to_vec());
        let ptr = if b.is_null() { 0 } else { sys::sf_bytes_data(b) as usize };
        sys::sf_bytes_release(r.value);
        sys::sf_bytes_release(r.error);
        sys::sf_leave(wait);
        sys::sf_group_release(g);
        (st, bytes, ptr)
    }
}

/// The end of a hand-off to a C caller: the Rust work was dropped once, and
/// the C caller (thread `c`, `sf_do` with work giving "C ran") ran its own.
fn c_ran_after_a_hand_off(c: thread::JoinHandle<(COutcome, CWork)>, work_dropped: &AtomicUsize, group: &Group) {
    let (out, w) = c.join().unwrap();
    assert_eq!(out.status, sys::SF_OK);
    assert_eq!(out.value.as_deref(), Some(&b"C ran"[..]));
    assert_eq!(w.runs.load(Ordering::SeqCst), 1, "the C caller ran its own work after the hand-off");
    assert_eq!(work_dropped.load(Ordering::SeqCst), 1, "the Rust work was dropped");
    assert_eq!(group.stats().handoffs, 1);
}

/// A byte value whose drops are counted.
struct Counted(Vec<u8>, Arc<AtomicUsize>);
impl Drop for Counted {
    fn drop(&mut self) {
        self.1.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn leader_finish_shares_result_with_a_c_follower() {
    // The blocking leader ends its flight in one engine call (sf_finish): its
    // own result, the shared flag and the C follower's bytes must agree.
    let group = Group::open("c-callers-finish").unwrap();
    let c = once_a_flight_runs(&group, |_| c_follow("c-callers-finish", "ok"));
    let g2 = group.clone();
    let v = group
        .call("ok", move || {
            wait_followers(&g2, 1);
            Ok::<String, String>(String::from("finished by Rust"))
        })
        .unwrap();
    let (st, bytes, ptr) = c.join().unwrap();
    assert_eq!(st, sys::SF_OK);
    assert_eq!(v.as_str(), "finished by Rust");
    assert!(v.is_shared(), "a C follower joined: the leader's outcome is shared");
    assert_eq!(bytes.as_deref(), Some(v.as_bytes()));
    assert_eq!(ptr, v.as_ptr() as usize, "the leader's String memory, no copy");

    // The work's error takes the same path.
    let c = once_a_flight_runs(&group, |_| c_follow("c-callers-finish", "err"));
    let g2 = group.clone();
    let e = group
        .call("err", move || {
            wait_followers(&g2, 2);
            Err::<String, String>(String::from("failed in Rust"))
        })
        .unwrap_err();
    let (st, bytes, ptr) = c.join().unwrap();
    assert_eq!(st, sys::SF_EWORK);
    let Error::Work(e) = e else { panic!("{e:?}") };
    assert_eq!(e.as_str(), "failed in Rust");
    assert_eq!(bytes.as_deref(), Some(e.as_bytes()));
    assert_eq!(ptr, e.as_ptr() as usize, "the leader's error memory, no copy");

    // Every ticket was left exactly once.
    assert_eq!(group.stats().live, 0);
    assert_eq!(group.stats().in_table, 0);
}

#[test]
fn unshared_leader_finish_releases_once_and_frees_the_key() {
    // Alone in its flight, the leader's native value is released by the
    // engine at once: the leader's own share must stay valid, and the value
    // must be dropped exactly once, when the leader drops it.
    let group = Group::new();
    let drops = Arc::new(AtomicUsize::new(0));
    let d = drops.clone();
    let v = group.call("k", move || Ok::<Counted, ()>(Counted(vec![7; 16], d))).unwrap();
    assert!(!v.is_shared());
    assert_eq!(v.0, vec![7; 16]);
    assert_eq!(drops.load(Ordering::SeqCst), 0, "the leader still holds the value");
    assert_eq!(group.stats().live, 0, "both tickets left");
    drop(v);
    assert_eq!(drops.load(Ordering::SeqCst), 1);

    // The async leader whose work is ready at once takes the same path.
    let d = drops.clone();
    let v = smol::block_on(group.call_async("k", async move { Ok::<Counted, ()>(Counted(vec![8; 4], d)) })).unwrap();
    assert!(!v.is_shared());
    assert_eq!(v.0, vec![8; 4]);
    assert_eq!(group.stats().live, 0, "both tickets left");
    assert_eq!(group.stats().in_table, 0, "the key is free");
    drop(v);
    assert_eq!(drops.load(Ordering::SeqCst), 2);

    // The split API's Leader::complete too; and the key runs again.
    let leader = lead::<u32, ()>(&group, "k");
    let mine = leader.complete(Ok(3)).unwrap();
    assert_eq!(*mine, 3);
    assert!(!mine.is_shared());
    assert_eq!(group.stats().live, 0);
    assert_eq!(group.stats().flights, 3);
}

#[test]
fn c_caller_gets_the_outcome_driven_by_ticketless_rust_followers() {
    // The Rust leader's work runs in the rendezvous; Rust followers join it
    // without a ticket; the leader's `Call` goes (the engine then sees no
    // wait ticket); a C caller joins afterwards and gets the byte form of
    // the outcome a Rust follower drives to the end.
    let group = Group::open("c-callers-ticketless-1").unwrap();
    let rt = tokio_rt();
    let (c, rust_followers) = rt.block_on(async {
        let (leader, tx) = gated_leader(&group, "k", "from rust").await;
        let rust_followers: Vec<_> =
            (0..3).map(|_| tokio::spawn(group.call_async("k", async { Ok::<&'static str, ()>("unused") }))).collect();
        followers(&group, 3).await;
        drop(leader);
        let c = {
            let w = cwork(&group, 0, b"C ran");
            thread::spawn(move || c_call("c-callers-ticketless-1", "k", w))
        };
        followers(&group, 4).await;
        tx.send(()).unwrap();
        (c, rust_followers)
    });
    for f in rust_followers {
        assert_eq!(*rt.block_on(f).unwrap().unwrap(), "from rust");
    }
    let (out, w) = c.join().unwrap();
    assert_eq!(out.status, sys::SF_OK);
    assert_eq!(out.value.as_deref(), Some(&b"from rust"[..]));
    assert_eq!(w.runs.load(Ordering::SeqCst), 0, "the C caller shared the Rust run");
    let s = group.stats();
    assert_eq!((s.flights, s.handoffs, s.live), (1, 0, 0), "{s:?}");
}

#[test]
fn last_ticketless_rust_follower_leaving_hands_off_to_a_c_caller() {
    let group = Group::open("c-callers-ticketless-2").unwrap();
    let work_dropped = Arc::new(AtomicUsize::new(0));
    let rt = tokio_rt();
    let (c, rust_followers) = rt.block_on(async {
        let mut leader = {
            let guard = DropCounter(work_dropped.clone());
            Box::pin(group.call_async("k", async move {
                let _guard = guard;
                std::future::pending::<()>().await;
                Ok::<&'static str, ()>("rust")
            }))
        };
        assert!(poll_once(&mut leader).await.is_pending());
        let rust_followers: Vec<_> =
            (0..3).map(|_| tokio::spawn(group.call_async("k", async { Ok::<&'static str, ()>("unused") }))).collect();
        let c = {
            let w = cwork(&group, 0, b"C ran");
            thread::spawn(move || c_call("c-callers-ticketless-2", "k", w))
        };
        followers(&group, 4).await;
        drop(leader);
        (c, rust_followers)
    });
    assert_eq!(work_dropped.load(Ordering::SeqCst), 0, "Rust followers still wait");
    for f in &rust_followers {
        f.abort();
    }
    for f in rust_followers {
        assert!(rt.block_on(f).unwrap_err().is_cancelled());
    }
    c_ran_after_a_hand_off(c, &work_dropped, &group);
}

#[test]
fn pending_async_leader_ends_its_flight_alone_or_with_a_c_follower() {
    // A leader whose work was pending after its first poll drives it to the
    // end and ends the flight with its own pair of tickets in one engine
    // call: alone, its outcome is not shared; with a C follower (who holds a
    // ticket) it is, and the C follower gets the value's bytes.
    let group = Group::open("c-callers-pending-leader").unwrap();
    let rt = tokio_rt();
    let alone = rt
        .block_on(group.call_async("alone", async {
            tokio::task::yield_now().await;
            Ok::<&'static str, ()>("alone")
        }))
        .unwrap();
    assert_eq!(*alone, "alone");
    assert!(!alone.is_shared());
    let (c, led) = rt.block_on(async {
        let (leader, tx) = gated_leader(&group, "k", "from rust").await;
        let c = thread::spawn(|| c_follow("c-callers-pending-leader", "k"));
        followers(&group, 1).await;
        tx.send(()).unwrap();
        (c, leader.await.unwrap())
    });
    assert_eq!(*led, "from rust");
    assert!(led.is_shared(), "a C follower joined: the leader's outcome is shared");
    let (st, bytes, _) = c.join().unwrap();
    assert_eq!(st, sys::SF_OK);
    assert_eq!(bytes.as_deref(), Some(&b"from rust"[..]));
    let s = group.stats();
    assert_eq!((s.flights, s.followers, s.handoffs, s.in_table, s.live), (2, 1, 0, 0, 0), "{s:?}");
}
