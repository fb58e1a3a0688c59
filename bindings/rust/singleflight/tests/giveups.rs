//! The group's `timeouts` and `cancellations` count every Rust caller that
//! gave up: an async call dropped before its outcome (a cancellation), an
//! async call's own timeout and a blocking wait that reached its deadline (a
//! timeout), each once, whether the engine or the binding saw it; a call
//! whose outcome was delivered, or that never joined, counts nothing.

mod common;
use common::*;

use singleflight::{Error, Group, Join};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[test]
fn fifty_async_callers_that_gave_up_are_counted() {
    const ABORTED: usize = 20;
    const SELECTED: usize = 10;
    const TIMED_OUT: usize = 20;
    const DELIVERED: usize = 5;
    let rt = tokio_rt();
    let group = Group::new();
    rt.block_on(async {
        let (leader, tx) = gated_leader(&group, "k", 1u32).await;
        let aborted: Vec<_> =
            (0..ABORTED).map(|_| tokio::spawn(group.call_async("k", async { Ok::<u32, ()>(0) }))).collect();
        let selected: Vec<_> = (0..SELECTED)
            .map(|_| {
                let group = group.clone();
                tokio::spawn(async move {
                    let call = group.call_async("k", async { Ok::<u32, ()>(0) });
                    let g2 = group.clone();
                    // Gives up once everyone has joined: the call is dropped.
                    tokio::select! {
                        r = call => Some(r),
                        _ = followers(&g2, (ABORTED + SELECTED) as u64) => None,
                    }
                })
            })
            .collect();
        followers(&group, (ABORTED + SELECTED) as u64).await;
        for t in &aborted {
            t.abort();
        }
        for t in aborted {
            assert!(t.await.unwrap_err().is_cancelled());
        }
        for t in selected {
            assert!(t.await.unwrap().is_none(), "the flight is still gated");
        }
        let timed: Vec<_> = (0..TIMED_OUT)
            .map(|_| tokio::spawn(group.call_async("k", async { Ok::<u32, ()>(0) }).timeout(Duration::from_millis(2))))
            .collect();
        for t in timed {
            let r = t.await.unwrap();
            assert!(matches!(r, Err(Error::Timeout)), "{r:?}");
        }
        // Callers whose outcome is delivered, then dropped, count nothing;
        // nor does a call dropped before it was ever polled.
        let delivered: Vec<_> =
            (0..DELIVERED).map(|_| tokio::spawn(group.call_async("k", async { Ok::<u32, ()>(0) }))).collect();
        followers(&group, (ABORTED + SELECTED + TIMED_OUT + DELIVERED) as u64).await;
        drop(group.call_async("k", async { Ok::<u32, ()>(0) }));
        tx.send(()).unwrap();
        assert_eq!(*leader.await.unwrap(), 1);
        for t in delivered {
            let v = t.await.unwrap().unwrap();
            assert_eq!(*v, 1);
            drop(v);
        }
    });
    let s = group.stats();
    assert_eq!((s.timeouts, s.cancellations), (TIMED_OUT as u64, (ABORTED + SELECTED) as u64), "{s:?}");
    assert_eq!((s.flights, s.in_table, s.live), (1, 0, 0), "{s:?}");
}

#[test]
fn a_leader_dropped_with_its_work_pending_counts_one_cancellation() {
    let rt = tokio_rt();
    let group = Group::new();
    let runs = Arc::new(AtomicUsize::new(0));
    rt.block_on(async {
        let (leader, tx) = gated_leader(&group, "k", 4u32).await;
        let tasks = counted_followers(&group, "k", &runs, 3);
        followers(&group, 3).await;
        drop(leader);
        tx.send(()).unwrap();
        for t in tasks {
            assert_eq!(*t.await.unwrap().unwrap(), 4);
        }
        // A leader whose own timeout ends its wait: one timeout.
        let (tx, rx) = tokio::sync::oneshot::channel::<u32>();
        let timed = tokio::spawn(
            group.call_async("t", async move { Ok::<_, ()>(rx.await.unwrap()) }).timeout(Duration::from_millis(2)),
        );
        assert!(matches!(timed.await.unwrap(), Err(Error::Timeout)));
        drop(tx);
    });
    assert_eq!(runs.load(Ordering::SeqCst), 0);
    let s = group.stats();
    assert_eq!((s.timeouts, s.cancellations, s.in_table, s.live), (1, 1, 0, 0), "{s:?}");
}

#[test]
fn blocking_timeouts_count_once_whoever_saw_them() {
    let group = Group::new();
    let leader = lead::<u32, ()>(&group, "k");
    // A wait with time left: the engine counts it (the binding must not too).
    let r = group.call_timeout("k", Duration::from_millis(2), || Ok::<u32, ()>(0));
    assert!(matches!(r, Err(Error::Timeout)), "{r:?}");
    assert_eq!(group.stats().timeouts, 1);
    // No time left at all: the engine only polls, the binding counts it.
    let r = group.call_timeout("k", Duration::ZERO, || Ok::<u32, ()>(0));
    assert!(matches!(r, Err(Error::Timeout)), "{r:?}");
    assert_eq!(group.stats().timeouts, 2);
    // The split API's follower, both ways.
    let Join::Follower(f) = group.join::<u32, ()>("k").unwrap() else { unreachable!() };
    assert!(matches!(f.wait(Some(Duration::ZERO)), Err(Error::Timeout)));
    let Join::Follower(f) = group.join::<u32, ()>("k").unwrap() else { unreachable!() };
    assert!(matches!(f.wait(Some(Duration::from_millis(2))), Err(Error::Timeout)));
    assert_eq!(group.stats().timeouts, 4);
    // Outcomes that were there: nothing counted.
    let Join::Follower(f) = group.join::<u32, ()>("k").unwrap() else { unreachable!() };
    assert_eq!(*leader.complete(Ok(3)).unwrap(), 3);
    assert_eq!(*f.wait(Some(Duration::ZERO)).unwrap(), 3);
    assert_eq!(*group.call_timeout("k", Duration::ZERO, || Ok::<u32, ()>(5)).unwrap(), 5);
    let s = group.stats();
    assert_eq!((s.timeouts, s.cancellations, s.in_table, s.live), (4, 0, 0, 0), "{s:?}");
}
