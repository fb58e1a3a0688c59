//! A Rust leader's runtime shut down while its work runs: the runtime drops
//! the leader's `Call`, whose work moves to the flight's other waiters. Work
//! that needs the dead runtime (its timers, its I/O) cannot go on there:
//! the flight is handed off, every follower — tasks on other runtimes and
//! blocking threads — joins again and one of them runs its own work. Work
//! that needs no runtime goes on, driven by a follower, and runs once.

mod common;
use common::*;

use singleflight::Group;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

const ASYNC_FOLLOWERS: usize = 4;
const BLOCKING_FOLLOWERS: usize = 2;
const FOLLOWERS: usize = ASYNC_FOLLOWERS + BLOCKING_FOLLOWERS;

/// Sleeps on the current runtime's timer, over and over: it cannot end
/// once that runtime shut down. (Tokio ends a sleep pending at its shutdown
/// as if it elapsed, so one sleep could end; the next one's poll panics.)
pub async fn sleep_on_the_runtime() {
    for _ in 0..u64::MAX {
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
}

/// A leader whose work sleeps on its runtime's timer, spawned by `spawn` on
/// a runtime of its own, and followers on another runtime and on blocking
/// threads; `kill` ends the leader's runtime once every follower joined.
/// Each follower's own work waits until all of them joined its new flight,
/// so exactly one of them runs.
///
/// `kill` returns once the runtime has shut down, and the async followers,
/// on a current-thread runtime, are not polled meanwhile: tokio has a race
/// of its own between a timer polled from another thread and its runtime's
/// shutdown (the timer may then never fire nor panic, and work waiting on it
/// waits forever, with or without this binding), which this test does not
/// exercise.
fn followers_rerun_when_the_leaders_runtime_ends(
    spawn: impl FnOnce(Pin<Box<dyn Future<Output = ()> + Send>>),
    kill: impl FnOnce(),
) {
    let group = Group::new();
    let runs = Arc::new(AtomicUsize::new(0));
    let reruns = Arc::new(AtomicUsize::new(0));
    {
        let (group, runs) = (group.clone(), runs.clone());
        spawn(Box::pin(async move {
            let r = group
                .call_async("k", async move {
                    runs.fetch_add(1, Ordering::SeqCst);
                    sleep_on_the_runtime().await;
                    Ok::<u32, ()>(1)
                })
                .await;
            unreachable!("the leader's runtime ends first: {r:?}");
        }));
    }
    wait_until(|| runs.load(Ordering::SeqCst) == 1);
    // The new flight is complete once all of them joined it: one leads, the
    // others follow (on top of the FOLLOWERS of the first flight).
    let all_rejoined = (FOLLOWERS + FOLLOWERS - 1) as u64;
    let other_rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let tasks: Vec<_> = (0..ASYNC_FOLLOWERS)
        .map(|_| {
            let (group, reruns) = (group.clone(), reruns.clone());
            other_rt.spawn(async move {
                let g2 = group.clone();
                group
                    .call_async("k", async move {
                        reruns.fetch_add(1, Ordering::SeqCst);
                        followers(&g2, all_rejoined).await;
                        Ok::<u32, ()>(2)
                    })
                    .await
            })
        })
        .collect();
    let threads: Vec<_> = (0..BLOCKING_FOLLOWERS)
        .map(|_| {
            let (group, reruns) = (group.clone(), reruns.clone());
            std::thread::spawn(move || {
                catch_unwind(AssertUnwindSafe(|| {
                    group.call("k", || {
                        reruns.fetch_add(1, Ordering::SeqCst);
                        wait_followers(&group, all_rejoined);
                        Ok::<u32, ()>(2)
                    })
                }))
                .map_err(|p| panic_text(&*p))
            })
        })
        .collect();
    other_rt.block_on(followers(&group, ASYNC_FOLLOWERS as u64));
    wait_followers(&group, FOLLOWERS as u64);
    kill();
    for t in tasks {
        let r = other_rt.block_on(t).map_err(|e| panic_text(&*e.into_panic()));
        assert_eq!(r.map(|r| r.map(|v| *v).map_err(|e| format!("{e:?}"))), Ok(Ok(2)), "an async follower");
    }
    for t in threads {
        let r = t.join().unwrap();
        assert_eq!(r.map(|r| r.map(|v| *v).map_err(|e| format!("{e:?}"))), Ok(Ok(2)), "a blocking follower");
    }
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    assert_eq!(reruns.load(Ordering::SeqCst), 1, "one follower ran its own work");
    let s = group.stats();
    // The leader's Call, dropped by its runtime: one cancellation.
    assert_eq!(
        (s.flights, s.followers, s.handoffs, s.panics, s.abandoned, s.cancellations, s.in_table, s.live),
        (2, all_rejoined, 1, 0, 0, 1, 0, 0),
        "{s:?}"
    );
}

#[test]
fn followers_rerun_when_the_leaders_runtime_shuts_down_in_the_background() {
    let (rt, stopped) = tokio_rt_counting_stops();
    let handle = rt.handle().clone();
    followers_rerun_when_the_leaders_runtime_ends(
        move |f| drop(handle.spawn(f)),
        move || {
            rt.shutdown_background();
            wait_until(|| stopped.load(Ordering::SeqCst) >= TOKIO_WORKERS);
        },
    );
}

#[test]
fn followers_rerun_when_the_leaders_runtime_is_dropped() {
    let (rt, stopped) = tokio_rt_counting_stops();
    let handle = rt.handle().clone();
    followers_rerun_when_the_leaders_runtime_ends(
        move |f| drop(handle.spawn(f)),
        move || {
            drop(rt);
            wait_until(|| stopped.load(Ordering::SeqCst) >= TOKIO_WORKERS);
        },
    );
}

#[test]
fn followers_rerun_when_the_leaders_current_thread_runtime_is_dropped() {
    // A current-thread runtime runs its tasks inside `block_on` only: a
    // thread drives it until told to stop, then drops it.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let handle = rt.handle().clone();
    let (stop, stopped) = std::sync::mpsc::channel::<()>();
    let driver = std::thread::spawn(move || {
        rt.block_on(async {
            while stopped.try_recv().is_err() {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        });
        drop(rt);
    });
    followers_rerun_when_the_leaders_runtime_ends(
        move |f| drop(handle.spawn(f)),
        move || {
            stop.send(()).unwrap();
            driver.join().unwrap();
        },
    );
}

#[test]
fn work_that_needs_no_runtime_goes_on_after_its_leaders_runtime_shuts_down() {
    let group = Group::new();
    let runs = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = tokio::sync::oneshot::channel::<u32>();
    let leader_rt = tokio_rt();
    {
        let (group, runs) = (group.clone(), runs.clone());
        leader_rt.spawn(async move {
            group
                .call_async("k", async move {
                    runs.fetch_add(1, Ordering::SeqCst);
                    Ok::<u32, ()>(rx.await.unwrap())
                })
                .await
        });
    }
    wait_until(|| runs.load(Ordering::SeqCst) == 1);
    let other_rt = tokio_rt();
    let tasks = other_rt.block_on(async { counted_followers(&group, "k", &runs, ASYNC_FOLLOWERS) });
    wait_followers(&group, ASYNC_FOLLOWERS as u64);
    leader_rt.shutdown_background();
    tx.send(9).unwrap();
    for t in tasks {
        assert_eq!(*other_rt.block_on(t).unwrap().unwrap(), 9);
    }
    assert_eq!(runs.load(Ordering::SeqCst), 1, "the leader's work ran once, driven by a follower");
    let s = group.stats();
    assert_eq!((s.flights, s.handoffs, s.panics, s.cancellations, s.in_table, s.live), (1, 0, 0, 1, 0, 0), "{s:?}");
}
