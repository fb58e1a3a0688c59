//! singleflight (this binding, on the shared C++ engine) against the Rust
//! peers `async_singleflight` and `singleflight-async`, all under one tokio
//! runtime (2 workers), in one run:
//!
//! - `unique_keys`: one task makes N calls in a row, a fresh key each (no
//!   contention): the per-call overhead.
//! - `hot_key_1000_tasks`: 1,000 tasks call one key at once; the work yields
//!   once so that they overlap. Time per batch of 1,000.
//! - `64_keys_workers`: 1,024 tasks over 64 keys (16 per key) on the
//!   runtime's worker threads. Time per batch.
//!
//! The harness is the same for every library: `iter_custom` runs all of a
//! sample's iterations inside one task spawned on the runtime and times them
//! there, so a sample costs one runtime round trip, not one per call (with
//! `b.to_async(&rt).iter(..)` every call paid a `block_on`, the same for
//! every library, which hid the libraries' own cost). Each call is made the
//! cheapest way its library offers to give a task a `'static` future: the
//! peers' `work(&self, ..)` borrows, so their task holds a clone of the
//! peer's `Arc` and calls inside its `async` block; this binding's
//! `call_async` returns a `Call` that holds its own group reference and is
//! run as it is (`Value` reads its outcome as a `u64`). The contended
//! scenarios' calls are written once, in the bench crate's `src/lib.rs`,
//! shared with the `interleaved` benchmark.
//! A `floor` entry runs the very same work with no library at all:
//! what the harness alone costs. `unique_keys/engine_only` makes the two
//! engine calls of this binding's fast path, from Rust, with nothing else.
//!
//! Run: `cargo bench -p singleflight-bench --bench peers` (engine installed,
//! env.sh sourced).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use singleflight_bench::{
    async_singleflight_unique, batch, calls, ours_unique, runtime, singleflight_async_unique, work, AsyncSf, SfAsync,
};
use singleflight_sys as sys;

/// Runs `sample(iters)` as one task on a worker of `rt`; returns the time it
/// measured.
fn on_worker<F, Fut>(rt: &tokio::runtime::Runtime, iters: u64, sample: F) -> Duration
where
    F: FnOnce(u64) -> Fut,
    Fut: Future<Output = Duration> + Send + 'static,
{
    rt.block_on(rt.spawn(sample(iters))).unwrap()
}

fn unique_keys(c: &mut Criterion) {
    let rt = runtime();
    let mut g = c.benchmark_group("unique_keys");
    g.throughput(Throughput::Elements(1));
    let next = Arc::new(AtomicU64::new(0));

    g.bench_function(BenchmarkId::new("floor", "call"), |b| {
        b.iter_custom(|iters| {
            let next = next.clone();
            on_worker(&rt, iters, move |n| async move {
                calls(&next, n, |k| async move { async move { Ok::<u64, ()>(k) }.await.unwrap() }).await
            })
        })
    });
    // The engine alone: the two calls of a leader's fast path (`sf_join`,
    // `sf_finish` with no value), made from Rust with no binding code: the
    // part of this binding's time that the binding cannot remove.
    let raw = singleflight::Group::new();
    g.bench_function(BenchmarkId::new("engine_only", "call"), |b| {
        b.iter_custom(|iters| {
            let (next, group) = (next.clone(), raw.clone());
            on_worker(&rt, iters, move |n| async move {
                calls(&next, n, move |k| {
                    let key = k.to_le_bytes();
                    let (mut wait, mut work) = (std::ptr::null_mut(), std::ptr::null_mut());
                    let mut result = sys::sf_result::EMPTY;
                    // Safety: a live group and key; the pair of tickets from
                    // sf_join is consumed by sf_finish, which leaves both.
                    unsafe {
                        sys::sf_join(group.as_raw(), key.as_ptr().cast(), key.len(), 0, &mut wait, &mut work);
                        sys::sf_finish(
                            wait,
                            work,
                            sys::SF_OK,
                            std::ptr::null_mut(),
                            std::ptr::null_mut(),
                            std::ptr::null(),
                            std::ptr::null_mut(),
                            &mut result,
                        );
                    }
                    async move { k }
                })
                .await
            })
        })
    });
    let group = singleflight::Group::new();
    g.bench_function(BenchmarkId::new("singleflight", "call"), |b| {
        b.iter_custom(|iters| {
            let (next, group) = (next.clone(), group.clone());
            on_worker(&rt, iters, move |n| async move { calls(&next, n, |k| ours_unique(&group, k)).await })
        })
    });
    let peer = Arc::new(AsyncSf::new());
    g.bench_function(BenchmarkId::new("async_singleflight", "call"), |b| {
        b.iter_custom(|iters| {
            let (next, peer) = (next.clone(), peer.clone());
            on_worker(
                &rt,
                iters,
                move |n| async move { calls(&next, n, |k| async_singleflight_unique(&peer, k)).await },
            )
        })
    });
    let peer2 = Arc::new(SfAsync::new());
    g.bench_function(BenchmarkId::new("singleflight-async", "call"), |b| {
        b.iter_custom(|iters| {
            let (next, peer2) = (next.clone(), peer2.clone());
            on_worker(
                &rt,
                iters,
                move |n| async move { calls(&next, n, |k| singleflight_async_unique(&peer2, k)).await },
            )
        })
    });
    g.finish();
}

/// Times `iters` batches; each batch uses keys of its own (`base + k`).
async fn batches<F, Fut>(round: Arc<AtomicU64>, iters: u64, tasks: usize, keys: u64, call: F) -> Duration
where
    F: Fn(u64) -> Fut,
    Fut: Future<Output = u64> + Send + 'static,
{
    let start = Instant::now();
    for _ in 0..iters {
        let base = round.fetch_add(1, Ordering::Relaxed) * 1000;
        batch(tasks, keys, base, &call).await;
    }
    start.elapsed()
}

fn contended(c: &mut Criterion, name: &str, tasks: usize, keys: u64) {
    let rt = runtime();
    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Elements(tasks as u64));
    g.sample_size(30);
    let round = Arc::new(AtomicU64::new(0));

    g.bench_function("floor", |b| {
        b.iter_custom(|iters| {
            let round = round.clone();
            on_worker(&rt, iters, move |n| batches(round, n, tasks, keys, work))
        })
    });
    let group = singleflight::Group::new();
    g.bench_function("singleflight", |b| {
        b.iter_custom(|iters| {
            let (round, group) = (round.clone(), group.clone());
            on_worker(&rt, iters, move |n| batches(round, n, tasks, keys, move |k| singleflight_bench::ours(&group, k)))
        })
    });
    let peer = Arc::new(AsyncSf::new());
    g.bench_function("async_singleflight", |b| {
        b.iter_custom(|iters| {
            let (round, peer) = (round.clone(), peer.clone());
            on_worker(&rt, iters, move |n| {
                batches(round, n, tasks, keys, move |k| singleflight_bench::async_singleflight(&peer, k))
            })
        })
    });
    let peer2 = Arc::new(SfAsync::new());
    g.bench_function("singleflight-async", |b| {
        b.iter_custom(|iters| {
            let (round, peer2) = (round.clone(), peer2.clone());
            on_worker(&rt, iters, move |n| {
                batches(round, n, tasks, keys, move |k| singleflight_bench::singleflight_async(&peer2, k))
            })
        })
    });
    g.finish();
}

fn hot_key(c: &mut Criterion) {
    contended(c, "hot_key_1000_tasks", 1000, 1);
}

fn keys_64(c: &mut Criterion) {
    contended(c, "64_keys_workers", 1024, 64);
}

criterion_group!(benches, unique_keys, hot_key, keys_64);
criterion_main!(benches);
