//! Fault tests: callers that give up at random points, in thousands, and a
//! runtime shut down with flights running. Each ends with the group idle
//! (`live == 0`, `in_table == 0`), no panic anywhere, every caller that
//! stayed with the outcome of a run of its key, every work future dropped
//! exactly once, and the give-up counters equal to what the test did.
//!
//! The random choices come from a fixed seed (`SF_FAULT_SEED` overrides
//! it); the interleavings come from the scheduler.

mod common;
use common::*;

use singleflight::{Error, Group};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// splitmix64: small, seedable, good enough to pick plans.
struct Rng(u64);

impl Rng {
    fn from_env() -> Rng {
        let seed = std::env::var("SF_FAULT_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x5eed_f17e);
        eprintln!("SF_FAULT_SEED={seed}");
        Rng(seed)
    }
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const KEYS: u64 = 4;
/// A run's value (or error): its key times this, plus the run's number.
const PER_KEY: u64 = 1_000_000;

/// What the work of the calls does, and what it leaves behind.
#[derive(Default)]
struct Works {
    /// Runs started, numbered from 0.
    runs: AtomicU64,
    /// Work futures made, and dropped (run or not).
    made: AtomicUsize,
    dropped: Arc<AtomicUsize>,
}

impl Works {
    /// Work for `key` that yields `yields` times, sleeps `sleep_us` on the
    /// runtime's timer if nonzero, and gives its run's number (as an error
    /// if `fails`).
    fn make(
        self: &Arc<Self>,
        key: u64,
        yields: u64,
        sleep_us: u64,
        fails: bool,
    ) -> impl std::future::Future<Output = Result<u64, u64>> + Send + 'static {
        self.made.fetch_add(1, Ordering::SeqCst);
        let guard = DropCounter(self.dropped.clone());
        let works = self.clone();
        async move {
            let _guard = guard;
            let run = works.runs.fetch_add(1, Ordering::SeqCst);
            for _ in 0..yields {
                tokio::task::yield_now().await;
            }
            if sleep_us > 0 {
                tokio::time::sleep(Duration::from_micros(sleep_us)).await;
            }
            let v = key * PER_KEY + run;
            if fails {
                Err(v)
            } else {
                Ok(v)
            }
        }
    }

    /// Checks that `v` is the value or error of a run of `key`.
    fn check(&self, key: u64, v: u64) {
        assert_eq!(v / PER_KEY, key, "the outcome of another key: {v}");
        assert!(v % PER_KEY < self.runs.load(Ordering::SeqCst), "the outcome of no run: {v}");
    }
}

/// How a caller ended, as the test saw it.
enum Fate {
    /// It got the flight's outcome: the value or error of a run.
    Outcome(Result<u64, u64>),
    /// Its own timeout (`Call::timeout`, or a blocking call's): a timeout.
    TimedOut,
    /// Dropped after it joined, before its outcome: a cancellation.
    Dropped,
    /// Dropped before it was ever polled: nothing.
    NeverJoined,
}

fn fate_of(r: Result<singleflight::Shared<u64>, Error<u64>>) -> Fate {
    match r {
        Ok(v) => Fate::Outcome(Ok(*v)),
        Err(Error::Work(e)) => Fate::Outcome(Err(*e)),
        Err(Error::Timeout) => Fate::TimedOut,
        Err(e) => panic!("a caller got {e:?}"),
    }
}

/// Counts the fates of the callers.
#[derive(Default)]
struct Tally {
    outcomes: AtomicU64,
    timeouts: AtomicU64,
    cancellations: AtomicU64,
}

impl Tally {
    fn add(&self, works: &Works, key: u64, fate: Fate) {
        match fate {
            Fate::Outcome(r) => {
                works.check(key, r.unwrap_or_else(|e| e));
                self.outcomes.fetch_add(1, Ordering::SeqCst);
            }
            Fate::TimedOut => {
                self.timeouts.fetch_add(1, Ordering::SeqCst);
            }
            Fate::Dropped => {
                self.cancellations.fetch_add(1, Ordering::SeqCst);
            }
            Fate::NeverJoined => {}
        }
    }
}

#[test]
fn random_drops_across_thousands_of_tasks_leave_the_group_idle() {
    const TASKS: usize = 5000;
    const BATCH: usize = 250;
    const BLOCKING_THREADS: usize = 2;
    const BLOCKING_CALLS: usize = 150;
    let mut rng = Rng::from_env();
    let rt = tokio_rt();
    let group = Group::new();
    let works = Arc::new(Works::default());
    let tally = Arc::new(Tally::default());

    // Blocking callers on the same keys meanwhile, with random deadlines
    // (zero included: the binding counts those, the engine the others).
    let blocking: Vec<_> = (0..BLOCKING_THREADS)
        .map(|t| {
            let (group, works, tally) = (group.clone(), works.clone(), tally.clone());
            let mut rng = Rng(rng.next() ^ t as u64);
            std::thread::spawn(move || {
                for _ in 0..BLOCKING_CALLS {
                    let key = rng.below(KEYS);
                    let timeout = Duration::from_micros(rng.below(4) * rng.below(1000));
                    let sleep = Duration::from_micros(rng.below(300));
                    let fails = rng.below(8) == 0;
                    let w = works.clone();
                    let r = group.call_timeout(key.to_le_bytes(), timeout, move || {
                        let run = w.runs.fetch_add(1, Ordering::SeqCst);
                        std::thread::sleep(sleep);
                        let v = key * PER_KEY + run;
                        if fails {
                            Err(v)
                        } else {
                            Ok(v)
                        }
                    });
                    tally.add(&works, key, fate_of(r));
                }
            })
        })
        .collect();

    rt.block_on(async {
        for _ in 0..TASKS / BATCH {
            let mut tasks = Vec::with_capacity(BATCH);
            for _ in 0..BATCH {
                let key = rng.below(KEYS);
                let sleep_us = if rng.below(4) == 0 { 1 + rng.below(500) } else { 0 };
                let work = works.make(key, rng.below(8), sleep_us, rng.below(8) == 0);
                let call = group.call_async(key.to_le_bytes(), work);
                let patience = rng.below(20);
                let (works, tally) = (works.clone(), tally.clone());
                let task = match rng.below(5) {
                    // Waits for its outcome.
                    0 => tokio::spawn(async move { fate_of(call.await) }),
                    // Gives up after `patience` yields (the call is polled
                    // first, so it has joined when it is dropped).
                    1 => tokio::spawn(async move {
                        tokio::select! {
                            biased;
                            r = call => fate_of(r),
                            _ = async { for _ in 0..patience { tokio::task::yield_now().await } } => Fate::Dropped,
                        }
                    }),
                    // The binding's own timeout.
                    2 => tokio::spawn(async move { fate_of(call.timeout(Duration::from_micros(patience * 50)).await) }),
                    // The runtime's timeout drops the call (polled first).
                    3 => tokio::spawn(async move {
                        match tokio::time::timeout(Duration::from_micros(patience * 50), call).await {
                            Ok(r) => fate_of(r),
                            Err(_) => Fate::Dropped,
                        }
                    }),
                    // Aborted after `patience` yields of another task.
                    _ => {
                        let started = Arc::new(AtomicBool::new(false));
                        let s2 = started.clone();
                        let handle = tokio::spawn(async move {
                            s2.store(true, Ordering::SeqCst);
                            fate_of(call.await)
                        });
                        tokio::spawn(async move {
                            for _ in 0..patience {
                                tokio::task::yield_now().await;
                            }
                            handle.abort();
                            match handle.await {
                                Ok(fate) => fate,
                                Err(e) if e.is_cancelled() && started.load(Ordering::SeqCst) => Fate::Dropped,
                                Err(e) if e.is_cancelled() => Fate::NeverJoined,
                                Err(e) => std::panic::resume_unwind(e.into_panic()),
                            }
                        })
                    }
                };
                tasks.push((key, task, works, tally));
            }
            for (key, task, works, tally) in tasks {
                let fate = task.await.unwrap_or_else(|e| panic!("a task failed: {e}"));
                tally.add(&works, key, fate);
            }
        }
    });
    for t in blocking {
        t.join().expect("a blocking caller panicked");
    }
    drop(rt);

    let s = group.stats();
    eprintln!("{s:?}");
    assert_eq!((s.in_table, s.live, s.panics), (0, 0, 0), "{s:?}");
    assert_eq!(s.timeouts, tally.timeouts.load(Ordering::SeqCst), "timeouts: {s:?}");
    assert_eq!(s.cancellations, tally.cancellations.load(Ordering::SeqCst), "cancellations: {s:?}");
    assert_eq!(s.flights, works.runs.load(Ordering::SeqCst), "one run per flight: {s:?}");
    assert_eq!(works.made.load(Ordering::SeqCst), TASKS);
    assert_eq!(works.dropped.load(Ordering::SeqCst), TASKS, "every work future dropped once");
    assert!(tally.outcomes.load(Ordering::SeqCst) > 0);
    assert!(s.cancellations > 0 && s.timeouts > 0, "the plans gave up in both ways: {s:?}");
}

/// What the leader of one flight does with its work.
#[derive(Clone, Copy, PartialEq, Debug)]
enum LeaderWork {
    /// Sleeps on the leader's runtime's timer: it cannot go on once that
    /// runtime is gone; a follower reruns.
    NeedsItsRuntime,
    /// Waits for a gate that any thread opens: it goes on, driven by a
    /// follower, and runs once.
    NeedsNoRuntime,
}

/// Which followers a flight has.
#[derive(Clone, Copy, Debug)]
struct Followers {
    tokio: usize,
    smol: usize,
    blocking: usize,
}

impl Followers {
    fn total(self) -> usize {
        self.tokio + self.smol + self.blocking
    }
}

#[test]
fn a_runtime_shut_down_with_flights_running_leaves_every_group_idle() {
    use LeaderWork::*;
    let plans: Vec<(LeaderWork, Followers)> = vec![
        (NeedsItsRuntime, Followers { tokio: 3, smol: 2, blocking: 2 }),
        (NeedsItsRuntime, Followers { tokio: 0, smol: 0, blocking: 3 }),
        (NeedsItsRuntime, Followers { tokio: 0, smol: 4, blocking: 0 }),
        (NeedsItsRuntime, Followers { tokio: 5, smol: 0, blocking: 1 }),
        (NeedsNoRuntime, Followers { tokio: 3, smol: 2, blocking: 2 }),
        (NeedsNoRuntime, Followers { tokio: 0, smol: 3, blocking: 0 }),
        (NeedsNoRuntime, Followers { tokio: 2, smol: 0, blocking: 2 }),
    ];
    let (leader_rt, leader_rt_stopped) = tokio_rt_counting_stops();
    // The followers' executors are driven only while the leader's runtime
    // is not shutting down (see `followers_rerun_when_the_leaders_runtime_ends`
    // in runtime_shutdown.rs: tokio's own race of a timer polled elsewhere
    // during its runtime's shutdown is not what this test is about).
    let other_rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let smol_ex = Arc::new(smol::Executor::<'static>::new());

    struct Flight {
        leader_work: LeaderWork,
        followers: Followers,
        group: Group,
        runs: Arc<AtomicUsize>,
        reruns: Arc<AtomicUsize>,
        gate: Mutex<Option<tokio::sync::oneshot::Sender<()>>>,
    }
    // Each flight has a group of its own, so its counters are its own.
    let flights: Vec<Arc<Flight>> = plans
        .iter()
        .map(|&(leader_work, followers)| {
            Arc::new(Flight {
                leader_work,
                followers,
                group: Group::new(),
                runs: Arc::default(),
                reruns: Arc::default(),
                gate: Mutex::new(None),
            })
        })
        .collect();
    const LED: u64 = 1;
    const RERUN: u64 = 2;

    for f in &flights {
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        *f.gate.lock().unwrap() = Some(tx);
        let (group, runs, kind) = (f.group.clone(), f.runs.clone(), f.leader_work);
        leader_rt.spawn(async move {
            let _ = group
                .call_async("k", async move {
                    runs.fetch_add(1, Ordering::SeqCst);
                    match kind {
                        NeedsItsRuntime => {
                            // Tokio ends a sleep pending at its shutdown as
                            // if it elapsed: the next one's poll panics.
                            for _ in 0..u64::MAX {
                                tokio::time::sleep(Duration::from_secs(3600)).await;
                            }
                        }
                        NeedsNoRuntime => rx.await.unwrap(),
                    }
                    Ok::<u64, ()>(LED)
                })
                .await;
        });
    }
    for f in &flights {
        wait_until(|| f.runs.load(Ordering::SeqCst) == 1);
    }

    // A follower's own work: it waits until every follower of the flight
    // joined its new flight (so one of them runs), then gives RERUN.
    fn rerun_work(f: &Arc<Flight>) -> impl std::future::Future<Output = Result<u64, ()>> + Send + 'static {
        let f = f.clone();
        async move {
            f.reruns.fetch_add(1, Ordering::SeqCst);
            let n = f.followers.total() as u64;
            followers(&f.group, n + n - 1).await;
            Ok(RERUN)
        }
    }
    /// A follower's result: its value or the debug text of its error, or
    /// the text of its panic.
    type Ended = Result<Result<u64, String>, String>;
    type Waiting = Box<dyn FnOnce() -> Ended + Send>;
    let mut waiting: Vec<(Arc<Flight>, Waiting)> = Vec::new();
    let mut tokio_tasks = Vec::new();
    for f in &flights {
        for _ in 0..f.followers.tokio {
            tokio_tasks.push((f.clone(), other_rt.spawn(f.group.call_async("k", rerun_work(f)))));
        }
        for _ in 0..f.followers.smol {
            let t = smol_ex.spawn({
                let call = f.group.call_async("k", rerun_work(f));
                async move { catch_unwind_future(call).await }
            });
            waiting.push((f.clone(), Box::new(move || smol::block_on(t))));
        }
        for _ in 0..f.followers.blocking {
            let f2 = f.clone();
            let t = std::thread::spawn(move || {
                catch_unwind(AssertUnwindSafe(|| {
                    f2.group.call("k", || {
                        f2.reruns.fetch_add(1, Ordering::SeqCst);
                        let n = f2.followers.total() as u64;
                        wait_followers(&f2.group, n + n - 1);
                        Ok::<u64, ()>(RERUN)
                    })
                }))
                .map(|r| r.map(|v| *v).map_err(|e| format!("{e:?}")))
                .map_err(|p| panic_text(&*p))
            });
            waiting.push((f.clone(), Box::new(move || t.join().unwrap())));
        }
    }
    let all_joined = || flights.iter().all(|f| f.group.stats().followers >= f.followers.total() as u64);
    std::thread::scope(|s| {
        s.spawn(|| {
            other_rt.block_on(async {
                while !all_joined() {
                    yield_now().await
                }
            })
        });
        s.spawn(|| {
            smol::block_on(smol_ex.run(async {
                while !all_joined() {
                    yield_now().await
                }
            }))
        });
    });

    leader_rt.shutdown_background();
    wait_until(|| leader_rt_stopped.load(Ordering::SeqCst) >= TOKIO_WORKERS);
    for f in &flights {
        // Opened after the shutdown: the work that needs no runtime goes on.
        let _ = f.gate.lock().unwrap().take().unwrap().send(());
    }
    let (stop_smol, smol_stopped) = smol::channel::unbounded::<()>();
    let smol_thread = {
        let ex = smol_ex.clone();
        std::thread::spawn(move || smol::block_on(ex.run(smol_stopped.recv())))
    };
    let tokio_thread = std::thread::spawn(move || {
        other_rt.block_on(async {
            let mut results = Vec::new();
            for (f, h) in tokio_tasks {
                let r = h
                    .await
                    .map(|r| r.map(|v| *v).map_err(|e| format!("{e:?}")))
                    .map_err(|e| panic_text(&*e.into_panic()));
                results.push((f, r));
            }
            results
        })
    });
    for (f, r) in tokio_thread.join().unwrap() {
        waiting.push((f, Box::new(move || r)));
    }
    for (f, wait) in waiting {
        let expected = match f.leader_work {
            NeedsItsRuntime => RERUN,
            NeedsNoRuntime => LED,
        };
        assert_eq!(wait(), Ok(Ok(expected)), "a follower of {:?} {:?}", f.leader_work, f.followers);
    }
    drop(stop_smol);
    smol_thread.join().unwrap().ok();

    for f in &flights {
        let s = f.group.stats();
        let n = f.followers.total() as u64;
        let what = format!("{:?} {:?}: {s:?}", f.leader_work, f.followers);
        assert_eq!(f.runs.load(Ordering::SeqCst), 1, "{what}");
        assert_eq!((s.in_table, s.live, s.panics, s.cancellations, s.timeouts), (0, 0, 0, 1, 0), "{what}");
        match f.leader_work {
            NeedsItsRuntime => {
                assert_eq!(f.reruns.load(Ordering::SeqCst), 1, "{what}");
                assert_eq!((s.flights, s.followers, s.handoffs), (2, n + n - 1, 1), "{what}");
            }
            NeedsNoRuntime => {
                assert_eq!(f.reruns.load(Ordering::SeqCst), 0, "{what}");
                assert_eq!((s.flights, s.followers, s.handoffs), (1, n, 0), "{what}");
            }
        }
    }
}

/// Awaits `call` on any executor, its panic (if any) caught as text.
async fn catch_unwind_future<F>(call: F) -> Result<Result<u64, String>, String>
where
    F: std::future::Future<Output = Result<singleflight::Shared<u64>, Error<()>>>,
{
    let mut call = Box::pin(call);
    std::future::poll_fn(move |cx| match catch_unwind(AssertUnwindSafe(|| call.as_mut().poll(cx))) {
        Ok(std::task::Poll::Pending) => std::task::Poll::Pending,
        Ok(std::task::Poll::Ready(r)) => std::task::Poll::Ready(Ok(r.map(|v| *v).map_err(|e| format!("{e:?}")))),
        Err(p) => std::task::Poll::Ready(Err(panic_text(&*p))),
    })
    .await
}
