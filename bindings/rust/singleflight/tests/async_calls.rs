//! The async API under tokio and smol: exactly-once, cancellation, hand-off,
//! timeouts, panics, mixing with blocking callers.

mod common;
use common::*;

use singleflight::{Error, Group};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

const TASKS: usize = 1000;

#[test]
fn exactly_once_under_many_tokio_tasks() {
    let rt = tokio_rt();
    let group = Group::new();
    let runs = Arc::new(AtomicUsize::new(0));
    let results = rt.block_on(async {
        let handles: Vec<_> = (0..TASKS)
            .map(|_| {
                let (group, runs) = (group.clone(), runs.clone());
                tokio::spawn(async move {
                    let g2 = group.clone();
                    group
                        .call_async("hot", async move {
                            runs.fetch_add(1, Ordering::SeqCst);
                            followers(&g2, (TASKS - 1) as u64).await;
                            Ok::<_, ()>(vec![7u8; 16])
                        })
                        .await
                })
            })
            .collect();
        let mut out = Vec::new();
        for h in handles {
            out.push(h.await.unwrap().unwrap());
        }
        out
    });
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    for r in &results {
        assert!(Arc::ptr_eq(r.arc().unwrap(), results[0].arc().unwrap()));
        assert!(r.is_shared());
    }
    assert_eq!(group.stats().live, 0);
}

#[test]
fn exactly_once_under_many_smol_tasks() {
    let group = Group::new();
    let runs = Arc::new(AtomicUsize::new(0));
    let ex = Arc::new(smol::Executor::new());
    let (stop, stopped) = smol::channel::unbounded::<()>();
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let (ex, stopped) = (ex.clone(), stopped.clone());
            std::thread::spawn(move || smol::block_on(ex.run(stopped.recv())))
        })
        .collect();
    let results = smol::block_on(async {
        let tasks: Vec<_> = (0..TASKS)
            .map(|_| {
                let (group, runs) = (group.clone(), runs.clone());
                ex.spawn(async move {
                    let g2 = group.clone();
                    group
                        .call_async("hot", async move {
                            runs.fetch_add(1, Ordering::SeqCst);
                            followers(&g2, (TASKS - 1) as u64).await;
                            Ok::<_, ()>(String::from("v"))
                        })
                        .await
                })
            })
            .collect();
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.unwrap());
        }
        out
    });
    drop(stop);
    threads.into_iter().for_each(|t| {
        let _ = t.join();
    });
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    assert!(results.iter().all(|r| Arc::ptr_eq(r.arc().unwrap(), results[0].arc().unwrap())));
}

#[test]
fn dropping_the_leader_neither_strands_nor_reruns() {
    let rt = tokio_rt();
    let group = Group::new();
    let runs = Arc::new(AtomicUsize::new(0));
    let (tx, work) = gate::<u32>();
    rt.block_on(async {
        let leader = spawned_leader(&group, group.call_async("k", counted(&runs, work))).await;
        let followers_ = counted_followers(&group, "k", &runs, 10);
        followers(&group, 10).await;
        leader.abort();
        assert!(leader.await.unwrap_err().is_cancelled());
        tx.send(5).unwrap();
        for f in followers_ {
            assert_eq!(*f.await.unwrap().unwrap(), 5);
        }
    });
    assert_eq!(runs.load(Ordering::SeqCst), 1, "the leader's work ran once, driven by the followers");
    assert_eq!(group.stats().handoffs, 0);
    assert_eq!(group.stats().live, 0);
}

#[test]
fn dropping_every_waiter_drops_the_work() {
    let rt = tokio_rt();
    let group = Group::new();
    let dropped = Arc::new(AtomicUsize::new(0));
    rt.block_on(async {
        let tasks: Vec<_> = (0..5)
            .map(|_| tokio::spawn(group.call_async("k", pending_with::<()>(DropCounter(dropped.clone())))))
            .collect();
        followers(&group, 4).await;
        for t in &tasks {
            t.abort();
        }
        for t in tasks {
            assert!(t.await.unwrap_err().is_cancelled());
        }
    });
    // 4 followers' unused work futures plus the leader's running one.
    assert_eq!(dropped.load(Ordering::SeqCst), 5);
    let s = group.stats();
    assert_eq!((s.in_table, s.live), (0, 0), "{s:?}");
    // The key is free for a fresh run.
    let v = rt.block_on(group.call_async("k", async { Ok::<_, ()>(3) })).unwrap();
    assert_eq!(*v, 3);
}

#[test]
fn async_timeout_leaves_the_flight_running() {
    let rt = tokio_rt();
    let group = Group::new();
    let (tx, work) = gate::<u32>();
    rt.block_on(async {
        let leader = spawned_leader(&group, group.call_async("k", work)).await;
        let r = group.call_async("k", async { Ok::<u32, ()>(0) }).timeout(Duration::from_millis(5)).await;
        assert!(matches!(r, Err(Error::Timeout)), "{r:?}");
        tx.send(8).unwrap();
        assert_eq!(*leader.await.unwrap().unwrap(), 8);
    });
    assert_eq!(group.stats().live, 0);
}

#[test]
fn async_panic_reraises_in_every_task() {
    let rt = tokio_rt();
    let group = Group::new();
    rt.block_on(async {
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let group = group.clone();
                tokio::spawn(async move {
                    let g2 = group.clone();
                    group
                        .call_async("k", async move {
                            followers(&g2, 19).await;
                            if g2.stats().flights > 0 {
                                panic!("async boom");
                            }
                            Ok::<u8, ()>(0)
                        })
                        .await
                })
            })
            .collect();
        for t in tasks {
            let e = t.await.unwrap_err();
            assert!(e.is_panic());
            assert_eq!(panic_text(&*e.into_panic()), "async boom");
        }
        // Not poisoned.
        assert_eq!(*group.call_async("k", async { Ok::<_, ()>(1) }).await.unwrap(), 1);
    });
}

#[test]
fn async_followers_of_a_blocking_leader_are_woken() {
    let group = Group::new();
    let leader = lead::<u32, ()>(&group, "k");
    let waiter = follower_thread(&group, |group| smol::block_on(group.call_async("k", async { Ok::<u32, ()>(0) })));
    leader.complete(Ok(11)).unwrap();
    assert_eq!(*waiter.join().unwrap().unwrap(), 11);
}

#[test]
fn blocking_leader_hands_off_to_an_async_follower() {
    let group = Group::new();
    let leader = lead::<u32, ()>(&group, "k");
    let waiter = follower_thread(&group, |group| smol::block_on(group.call_async("k", async { Ok::<u32, ()>(12) })));
    drop(leader);
    assert_eq!(*waiter.join().unwrap().unwrap(), 12);
    assert_eq!(group.stats().handoffs, 1);
}

#[test]
fn async_work_reentering_its_key_is_deadlock() {
    let group = Group::new();
    let g2 = group.clone();
    let r = smol::block_on(group.call_async("k", async move {
        let inner = g2.call_async("k", async { Ok::<u8, ()>(0) }).await;
        Ok::<_, ()>(matches!(inner, Err(Error::Deadlock)))
    }));
    assert!(*r.unwrap());
}

#[test]
fn blocking_and_async_callers_share_one_flight() {
    let rt = tokio_rt();
    let group = Group::new();
    let runs = Arc::new(AtomicUsize::new(0));
    let (tx, work) = gate::<u32>();
    let task = rt.spawn(group.call_async("k", counted(&runs, work)));
    wait_until(|| group.stats().in_table == 1);
    let blocking: Vec<_> = (0..4)
        .map(|_| {
            let (group, runs) = (group.clone(), runs.clone());
            std::thread::spawn(move || {
                group.call("k", || {
                    runs.fetch_add(1, Ordering::SeqCst);
                    Ok::<u32, ()>(0)
                })
            })
        })
        .collect();
    wait_followers(&group, 4);
    tx.send(21).unwrap();
    for b in blocking {
        assert_eq!(*b.join().unwrap().unwrap(), 21);
    }
    assert_eq!(*rt.block_on(task).unwrap().unwrap(), 21);
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

#[test]
fn async_followers_of_other_types_read_the_byte_form() {
    let rt = tokio_rt();
    let group = Group::new();
    let (tx, work) = gate::<String>();
    rt.block_on(async {
        // A Rust leader whose work is pending: it runs in the flight's
        // rendezvous, and followers of its own type take its Arc.
        let leader = spawned_leader(&group, group.call_async("k", work)).await;
        let same = tokio::spawn(group.call_async("k", async { Ok::<String, ()>(String::new()) }));
        let bytes = tokio::spawn(group.call_async("k", async { Ok::<singleflight::Bytes, ()>(Default::default()) }));
        let other = tokio::spawn(group.call_async("k", async { Ok::<u32, ()>(0) }));
        followers(&group, 3).await;
        tx.send(String::from("text")).unwrap();
        let led = leader.await.unwrap().unwrap();
        let same = same.await.unwrap().unwrap();
        assert!(Arc::ptr_eq(led.arc().unwrap(), same.arc().unwrap()) && same.is_shared());
        assert_eq!(&**bytes.await.unwrap().unwrap(), b"text");
        let r = other.await.unwrap();
        assert!(matches!(r, Err(Error::TypeMismatch { .. })), "{r:?}");
    });
    assert_eq!(group.stats().flights, 1);
    assert_eq!(group.stats().live, 0);
}

// ---- Followers that join the work running in the flight's rendezvous
// without a wait ticket (`sf_join_or_meet`). The leader's `Call` is polled
// once by hand first: when that poll returns, its pending work is installed,
// so every follower of its types joins that way.

#[test]
fn ticketless_followers_share_one_run_across_workers() {
    let rt = tokio_rt();
    let group = Group::new();
    let runs = Arc::new(AtomicUsize::new(0));
    let (tx, work) = gate::<Vec<u8>>();
    rt.block_on(async {
        let leader = pending_leader(&group, "hot", counted(&runs, work)).await;
        let tasks: Vec<_> = (0..TASKS)
            .map(|_| {
                let (group, runs) = (group.clone(), runs.clone());
                tokio::spawn(async move {
                    group
                        .call_async("hot", async move {
                            runs.fetch_add(1, Ordering::SeqCst);
                            Ok::<Vec<u8>, ()>(vec![])
                        })
                        .await
                })
            })
            .collect();
        followers(&group, TASKS as u64).await;
        tx.send(vec![1u8, 2, 3]).unwrap();
        let led = leader.await.unwrap();
        assert!(led.is_shared());
        for t in tasks {
            let r = t.await.unwrap().unwrap();
            assert!(Arc::ptr_eq(r.arc().unwrap(), led.arc().unwrap()) && r.is_shared());
        }
    });
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    let s = group.stats();
    assert_eq!((s.flights, s.followers, s.abandoned, s.handoffs), (1, TASKS as u64, 0, 0), "{s:?}");
    assert_eq!((s.in_table, s.live), (0, 0), "{s:?}");
}

#[test]
fn ticketless_followers_drive_the_work_after_the_leader_leaves() {
    let rt = tokio_rt();
    let group = Group::new();
    let runs = Arc::new(AtomicUsize::new(0));
    let (tx, work) = gate::<u32>();
    rt.block_on(async {
        let leader = pending_leader(&group, "k", counted(&runs, work)).await;
        let tasks = counted_followers(&group, "k", &runs, 8);
        followers(&group, 8).await;
        drop(leader);
        // The followers hold no ticket, but the leader's wait ticket went
        // with its work: for the engine the flight is still waited for.
        assert_eq!(group.stats().abandoned, 0);
        tx.send(9).unwrap();
        for t in tasks {
            assert_eq!(*t.await.unwrap().unwrap(), 9);
        }
    });
    assert_eq!(runs.load(Ordering::SeqCst), 1, "the leader's work ran once, driven by a follower");
    let s = group.stats();
    assert_eq!((s.abandoned, s.handoffs, s.in_table, s.live), (0, 0, 0, 0), "{s:?}");
}

#[test]
fn a_newcomer_after_the_leader_left_joins_the_same_work() {
    let rt = tokio_rt();
    let group = Group::new();
    let (tx, work) = gate::<u32>();
    rt.block_on(async {
        let leader = pending_leader(&group, "k", work).await;
        let first = tokio::spawn(group.call_async("k", async { Ok::<u32, ()>(0) }));
        followers(&group, 1).await;
        drop(leader);
        assert_eq!(group.stats().abandoned, 0, "a follower still waits");
        // The work runs on in the rendezvous, driven by the first follower:
        // the next caller meets it there.
        let second = tokio::spawn(group.call_async("k", async { Ok::<u32, ()>(1) }));
        followers(&group, 2).await;
        tx.send(4).unwrap();
        let (a, b) = (first.await.unwrap().unwrap(), second.await.unwrap().unwrap());
        assert_eq!((*a, *b), (4, 4));
        assert!(Arc::ptr_eq(a.arc().unwrap(), b.arc().unwrap()));
    });
    let s = group.stats();
    assert_eq!((s.flights, s.followers, s.abandoned, s.in_table, s.live), (1, 2, 0, 0, 0), "{s:?}");
}

#[test]
fn dropping_every_ticketless_waiter_drops_the_work_and_frees_the_key() {
    let rt = tokio_rt();
    let group = Group::new();
    let dropped = Arc::new(AtomicUsize::new(0));
    rt.block_on(async {
        let leader = pending_leader(&group, "k", pending_with::<u32>(DropCounter(dropped.clone()))).await;
        let tasks: Vec<_> = (0..6).map(|_| tokio::spawn(group.call_async("k", async { Ok::<u32, ()>(1) }))).collect();
        followers(&group, 6).await;
        // The leader goes first: a follower takes over as the driver.
        drop(leader);
        assert_eq!(dropped.load(Ordering::SeqCst), 0, "the work outlives its leader");
        for (i, t) in tasks.iter().enumerate() {
            t.abort();
            if i + 1 < 6 {
                // The work is not dropped while a waiter is left.
                assert_eq!(dropped.load(Ordering::SeqCst), 0);
            }
        }
        for t in tasks {
            assert!(t.await.unwrap_err().is_cancelled());
        }
    });
    assert_eq!(dropped.load(Ordering::SeqCst), 1, "the last waiter's leaving dropped the work");
    let s = group.stats();
    // Abandoned once the last waiter left (not when the leader did), then
    // handed off as the work's ticket was left undone.
    assert_eq!((s.abandoned, s.handoffs, s.in_table, s.live), (1, 1, 0, 0), "{s:?}");
    // The key is free: the next caller runs its own work.
    let v = rt.block_on(group.call_async("k", async { Ok::<_, ()>(3u32) })).unwrap();
    assert_eq!(*v, 3);
    assert!(!v.is_shared());
    assert!(v.arc().is_none(), "a lone leader owns its value: no Arc");
    assert_eq!(group.stats().flights, 2);
}

#[test]
fn ticketless_followers_time_out_and_the_last_one_drops_the_work() {
    let rt = tokio_rt();
    let group = Group::new();
    let dropped = Arc::new(AtomicUsize::new(0));
    let (tx, work) = gate::<u32>();
    rt.block_on(async {
        // A flight that completes: its followers that time out leave it
        // running for the leader.
        let leader = pending_leader(&group, "a", work).await;
        let late: Vec<_> = (0..4)
            .map(|_| tokio::spawn(group.call_async("a", async { Ok::<u32, ()>(0) }).timeout(Duration::from_millis(5))))
            .collect();
        for t in late {
            let r = t.await.unwrap();
            assert!(matches!(r, Err(Error::Timeout)), "{r:?}");
        }
        tx.send(2).unwrap();
        assert_eq!(*leader.await.unwrap(), 2);

        // A flight whose leader went: its last waiter's timeout drops the work.
        let leader = pending_leader(&group, "b", pending_with::<u32>(DropCounter(dropped.clone()))).await;
        let timed: Vec<_> = (0..3)
            .map(|i| {
                tokio::spawn(
                    group.call_async("b", async { Ok::<u32, ()>(1) }).timeout(Duration::from_millis(5 + 5 * i)),
                )
            })
            .collect();
        followers(&group, 4 + 3).await;
        drop(leader);
        for t in timed {
            let r = t.await.unwrap();
            assert!(matches!(r, Err(Error::Timeout)), "{r:?}");
        }
    });
    assert_eq!(dropped.load(Ordering::SeqCst), 1);
    let s = group.stats();
    assert_eq!((s.flights, s.followers, s.in_table, s.live), (2, 7, 0, 0), "{s:?}");
    let v = rt.block_on(group.call_async("b", async { Ok::<_, ()>(5u32) })).unwrap();
    assert_eq!(*v, 5);
}

#[test]
fn a_leader_that_times_out_hands_its_work_to_the_followers() {
    // The leader holds its pending work; its own timeout makes it leave, and
    // a follower drives the same work on (it is not run again).
    let rt = tokio_rt();
    let group = Group::new();
    let runs = Arc::new(AtomicUsize::new(0));
    let (tx, work) = gate::<u32>();
    rt.block_on(async {
        let call = group.call_async("k", counted(&runs, work)).timeout(Duration::from_millis(300));
        let leader = spawned_leader(&group, call).await;
        let tasks = counted_followers(&group, "k", &runs, 4);
        followers(&group, 4).await;
        assert!(matches!(leader.await.unwrap(), Err(Error::Timeout)));
        tx.send(6).unwrap();
        for t in tasks {
            assert_eq!(*t.await.unwrap().unwrap(), 6);
        }
    });
    assert_eq!(runs.load(Ordering::SeqCst), 1, "the leader's work ran once, driven by a follower");
    let s = group.stats();
    assert_eq!((s.flights, s.followers, s.abandoned, s.handoffs, s.live), (1, 4, 0, 0, 0), "{s:?}");
}

#[test]
fn a_leader_that_is_not_polled_holds_up_its_followers_until_it_is_polled_or_dropped() {
    // The leader drives the work it holds while its `Call` lives: kept but
    // not polled, its followers wait (here, until their timeout); polled
    // again, it completes the flight for every waiter.
    let rt = tokio_rt();
    let group = Group::new();
    rt.block_on(async {
        let (leader, tx) = gated_leader(&group, "k", 8u32).await;
        let waiting = tokio::spawn(group.call_async("k", async { Ok::<u32, ()>(0) }));
        let timed = tokio::spawn(group.call_async("k", async { Ok::<u32, ()>(0) }).timeout(Duration::from_millis(20)));
        followers(&group, 2).await;
        tx.send(()).unwrap();
        assert!(matches!(timed.await.unwrap(), Err(Error::Timeout)), "nobody polled the work");
        assert!(!waiting.is_finished());
        assert_eq!(*leader.await.unwrap(), 8);
        assert_eq!(*waiting.await.unwrap().unwrap(), 8);
    });
    assert_eq!(group.stats().live, 0);
}

#[test]
fn followers_of_other_types_join_a_running_flight_with_a_ticket() {
    let rt = tokio_rt();
    let group = Group::new();
    rt.block_on(async {
        let (leader, tx) = gated_leader(&group, "k", String::from("text")).await;
        // Same value type, another error type: the value's Arc is shared.
        let other_e = tokio::spawn(group.call_async("k", async { Ok::<String, std::io::Error>(String::new()) }));
        let same = tokio::spawn(group.call_async("k", async { Ok::<String, ()>(String::new()) }));
        let bytes = tokio::spawn(group.call_async("k", async { Ok::<singleflight::Bytes, ()>(Default::default()) }));
        let other = tokio::spawn(group.call_async("k", async { Ok::<u32, ()>(0) }));
        followers(&group, 4).await;
        tx.send(()).unwrap();
        let led = leader.await.unwrap();
        let same = same.await.unwrap().unwrap();
        assert!(Arc::ptr_eq(led.arc().unwrap(), same.arc().unwrap()) && same.is_shared());
        let other_e = other_e.await.unwrap().unwrap();
        assert!(Arc::ptr_eq(led.arc().unwrap(), other_e.arc().unwrap()) && other_e.is_shared());
        assert_eq!(&**bytes.await.unwrap().unwrap(), b"text");
        let r = other.await.unwrap();
        assert!(matches!(r, Err(Error::TypeMismatch { .. })), "{r:?}");
    });
    let s = group.stats();
    assert_eq!((s.flights, s.followers, s.live), (1, 4, 0), "{s:?}");
}

#[test]
fn followers_of_other_types_are_not_left_without_the_outcome_when_the_leader_goes() {
    // Ticketed followers (other types) and ticketless ones (the work's types)
    // of one flight; the leader leaves; a ticketless follower drives.
    let rt = tokio_rt();
    let group = Group::new();
    rt.block_on(async {
        let (leader, tx) = gated_leader(&group, "k", String::from("v")).await;
        let same = tokio::spawn(group.call_async("k", async { Ok::<String, ()>(String::new()) }));
        let bytes = tokio::spawn(group.call_async("k", async { Ok::<Vec<u8>, ()>(vec![]) }));
        followers(&group, 2).await;
        drop(leader);
        tx.send(()).unwrap();
        assert_eq!(same.await.unwrap().unwrap().as_str(), "v");
        assert_eq!(&**bytes.await.unwrap().unwrap(), b"v");
    });
    let s = group.stats();
    assert_eq!((s.flights, s.handoffs, s.live), (1, 0, 0), "{s:?}");
}

#[test]
fn driven_work_awaiting_its_own_key_is_deadlock() {
    // The work yields first, so it is installed in the rendezvous and polled
    // by its driver when it asks for its own key (of its own types).
    let group = Group::new();
    let g2 = group.clone();
    let r = smol::block_on(group.call_async("k", async move {
        yield_now().await;
        let inner = g2.call_async("k", async { Ok::<bool, ()>(false) }).await;
        Ok::<_, ()>(matches!(inner, Err(Error::Deadlock)))
    }));
    assert!(*r.unwrap());
    assert_eq!(group.stats().live, 0);
}

#[test]
fn ticketless_followers_reraise_a_panic() {
    let rt = tokio_rt();
    let group = Group::new();
    let (tx, work) = gate::<()>();
    rt.block_on(async {
        let leader = pending_leader(&group, "k", async move {
            work.await?;
            if true {
                panic!("driven boom");
            }
            Ok::<u8, ()>(0)
        })
        .await;
        let tasks: Vec<_> = (0..5).map(|_| tokio::spawn(group.call_async("k", async { Ok::<u8, ()>(1) }))).collect();
        followers(&group, 5).await;
        // The leader goes: a follower drives the work into its panic.
        drop(leader);
        tx.send(()).unwrap();
        for t in tasks {
            let e = t.await.unwrap_err();
            assert_eq!(panic_text(&*e.into_panic()), "driven boom");
        }
        assert_eq!(*group.call_async("k", async { Ok::<_, ()>(2u8) }).await.unwrap(), 2);
    });
    assert_eq!(group.stats().panics, 1);
}
