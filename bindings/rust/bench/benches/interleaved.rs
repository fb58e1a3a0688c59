//! The scenarios of `peers`, measured so that the machine's noise touches
//! every library alike: round after round, each library runs a few batches
//! (or, for unique keys, a few thousand calls) in turn, the order rotating,
//! in one process and one runtime. A round's ratio is this binding's time
//! over the best peer's in that same round; the median of the rounds'
//! ratios is printed, with each library's median and best time per batch
//! (or per call).
//!
//! Criterion (`peers`) measures each library for seconds on end, one after
//! the other: on a shared machine the load changes in between, and single
//! figures move by ±20–30% from run to run. Here the libraries alternate
//! every few milliseconds.
//!
//! Run: `cargo bench -p singleflight-bench --bench interleaved [-- ROUNDS]`
//! (engine installed, env.sh sourced); ROUNDS defaults to 40, after 2
//! rounds of warm-up. Same calls, work and batches as `peers`
//! (`src/lib.rs`); the unique-key calls are `peers`' too, each library's
//! made in a row by one task with a fresh key each.

use std::future::Future;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::{Duration, Instant};

use singleflight_bench::{
    async_singleflight_unique, batch, calls, ours_unique, runtime, singleflight_async_unique, AsyncSf, SfAsync,
};

/// Unique-key calls per library per round.
const CALLS_PER_ROUND: u64 = 20_000;

/// Batches per library per round.
const PER_ROUND: u64 = 10;
/// Rounds not counted (warm-up).
const WARM_UP: usize = 2;

const LIBRARIES: [&str; 3] = ["singleflight", "async_singleflight", "singleflight-async"];

/// Times `PER_ROUND` batches of `call` on a worker of `rt`: time per batch.
fn time_batches<F, Fut>(rt: &tokio::runtime::Runtime, tasks: usize, keys: u64, base: u64, call: F) -> Duration
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = u64> + Send + 'static,
{
    rt.block_on(rt.spawn(async move {
        let start = Instant::now();
        for i in 0..PER_ROUND {
            batch(tasks, keys, base + i * 1000, &call).await;
        }
        start.elapsed() / PER_ROUND as u32
    }))
    .unwrap()
}

fn median<T: Copy + PartialOrd>(v: &mut [T]) -> T {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// Runs `rounds` rounds (after the warm-up) in which each library takes a
/// turn, the order rotating: `turn(lib)` measures library `lib` (an index of
/// [`LIBRARIES`]) once and returns its time per `unit`. Prints each
/// library's median and best, and the median of the rounds' ratios of this
/// binding to the best peer.
fn interleave(header: &str, unit: &str, rounds: usize, mut turn: impl FnMut(usize) -> Duration) {
    let mut times: [Vec<Duration>; 3] = Default::default();
    let mut ratios = Vec::new();
    for round in 0..WARM_UP + rounds {
        let mut t = [Duration::ZERO; 3];
        for i in 0..3 {
            let lib = (round + i) % 3;
            t[lib] = turn(lib);
        }
        if round < WARM_UP {
            continue;
        }
        for lib in 0..3 {
            times[lib].push(t[lib]);
        }
        ratios.push(t[0].as_secs_f64() / t[1].min(t[2]).as_secs_f64());
    }
    println!("{header}");
    for (lib, v) in LIBRARIES.iter().zip(times.iter_mut()) {
        let best = *v.iter().min().unwrap();
        println!("    {lib:<20} median {:>10.3?}  best {:>10.3?}  per {unit}", median(v), best);
    }
    let (lo, hi) = (ratios.iter().cloned().fold(f64::MAX, f64::min), ratios.iter().cloned().fold(0.0, f64::max));
    println!("    this / best peer, per round: median {:.3}x (range {lo:.3}-{hi:.3})", median(&mut ratios));
}

/// Unique keys: each library's turn is `CALLS_PER_ROUND` calls in a row by
/// one task, a fresh key each.
fn unique_keys(rounds: usize) {
    let rt = runtime();
    let group = singleflight::Group::new();
    let peer = Arc::new(AsyncSf::new());
    let peer2 = Arc::new(SfAsync::new());
    let next = Arc::new(AtomicU64::new(0));
    let header = format!("unique_keys: {rounds} rounds of {CALLS_PER_ROUND} calls per library");
    interleave(&header, "call", rounds, |lib| {
        let (next, group, peer, peer2) = (next.clone(), group.clone(), peer.clone(), peer2.clone());
        let took = rt
            .block_on(rt.spawn(async move {
                match lib {
                    0 => calls(&next, CALLS_PER_ROUND, |k| ours_unique(&group, k)).await,
                    1 => calls(&next, CALLS_PER_ROUND, |k| async_singleflight_unique(&peer, k)).await,
                    _ => calls(&next, CALLS_PER_ROUND, |k| singleflight_async_unique(&peer2, k)).await,
                }
            }))
            .unwrap();
        took / CALLS_PER_ROUND as u32
    });
}

/// A contended scenario: each library's turn is `PER_ROUND` batches of
/// `tasks` tasks over `keys` keys.
fn contended(name: &str, tasks: usize, keys: u64, rounds: usize) {
    let rt = runtime();
    let group = singleflight::Group::new();
    let peer = Arc::new(AsyncSf::new());
    let peer2 = Arc::new(SfAsync::new());
    let mut base = 0;
    let header =
        format!("{name}: {tasks} tasks over {keys} key(s), {rounds} rounds of {PER_ROUND} batches per library");
    interleave(&header, "batch", rounds, |lib| {
        base += PER_ROUND * 1000;
        match lib {
            0 => {
                let g = group.clone();
                time_batches(&rt, tasks, keys, base, move |k| singleflight_bench::ours(&g, k))
            }
            1 => {
                let p = peer.clone();
                time_batches(&rt, tasks, keys, base, move |k| singleflight_bench::async_singleflight(&p, k))
            }
            _ => {
                let p = peer2.clone();
                time_batches(&rt, tasks, keys, base, move |k| singleflight_bench::singleflight_async(&p, k))
            }
        }
    });
}

fn main() {
    // `cargo bench` passes `--bench`; the first number given is the rounds.
    let rounds = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(40);
    println!("cargo bench -p singleflight-bench --bench interleaved -- {rounds}");
    unique_keys(rounds);
    contended("hot_key_1000_tasks", 1000, 1, rounds);
    contended("64_keys_workers", 1024, 64, rounds);
}
