//! The contended scenarios of `peers`, measured so that the machine's noise
//! touches every library alike: round after round, each library runs a few
//! batches in turn (the order rotating), in one process and one runtime.
//! A round's ratio is this binding's time per batch over the best peer's in
//! that same round; the median of the rounds' ratios is printed, with each
//! library's median and best time per batch.
//!
//! Criterion (`peers`) measures each library for seconds on end, one after
//! the other: on a shared machine the load changes in between, and single
//! figures move by ±20–30% from run to run. Here the libraries alternate
//! every few milliseconds.
//!
//! Run: `cargo bench -p singleflight-bench --bench interleaved [-- ROUNDS]`
//! (engine installed, env.sh sourced); ROUNDS defaults to 40, after 2
//! rounds of warm-up. Same calls, work and batches as `peers`
//! (`src/lib.rs`).

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use singleflight_bench::{batch, runtime, AsyncSf, SfAsync};

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

fn scenario(name: &str, tasks: usize, keys: u64, rounds: usize) {
    let rt = runtime();
    let group = singleflight::Group::new();
    let peer = Arc::new(AsyncSf::new());
    let peer2 = Arc::new(SfAsync::new());
    let mut times: [Vec<Duration>; 3] = Default::default();
    let mut ratios = Vec::new();
    let mut base = 0;
    for round in 0..WARM_UP + rounds {
        let mut t = [Duration::ZERO; 3];
        for turn in 0..3 {
            let lib = (round + turn) % 3;
            base += PER_ROUND * 1000;
            t[lib] = match lib {
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
            };
        }
        if round < WARM_UP {
            continue;
        }
        for lib in 0..3 {
            times[lib].push(t[lib]);
        }
        ratios.push(t[0].as_secs_f64() / t[1].min(t[2]).as_secs_f64());
    }
    println!("{name}: {tasks} tasks over {keys} key(s), {rounds} rounds of {PER_ROUND} batches per library");
    for (lib, v) in LIBRARIES.iter().zip(times.iter_mut()) {
        let best = *v.iter().min().unwrap();
        println!("    {lib:<20} median {:>10.1?}  best {:>10.1?}  per batch", median(v), best);
    }
    let mut sorted = ratios.clone();
    let (lo, hi) = (sorted.iter().cloned().fold(f64::MAX, f64::min), sorted.iter().cloned().fold(0.0, f64::max));
    println!("    this / best peer, per round: median {:.3}x (range {lo:.3}-{hi:.3})", median(&mut sorted));
}

fn main() {
    // `cargo bench` passes `--bench`; the first number given is the rounds.
    let rounds = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(40);
    println!("cargo bench -p singleflight-bench --bench interleaved -- {rounds}");
    scenario("hot_key_1000_tasks", 1000, 1, rounds);
    scenario("64_keys_workers", 1024, 64, rounds);
}
