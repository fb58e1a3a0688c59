//! singleflight (this binding, on the shared C++ engine) against the Rust
//! peers `async_singleflight` and `singleflight-async`, all under one tokio
//! runtime, in one run:
//!
//! - `unique_keys`: one task, a fresh key per call (no contention): the
//!   per-call overhead.
//! - `hot_key_1000_tasks`: 1,000 tasks call one key at once; the work yields
//!   once so that they overlap. Time per batch of 1,000.
//! - `64_keys_workers`: 1,024 tasks over 64 keys (16 per key) on the
//!   runtime's worker threads. Time per batch.
//!
//! Run: `cargo bench -p singleflight-bench` (engine installed, env.sh sourced).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

type AsyncSf = async_singleflight::Group<u64, u64, ()>;
type SfAsync = singleflight_async::SingleFlight<u64, u64>;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

fn unique_keys(c: &mut Criterion) {
    let rt = runtime();
    let mut g = c.benchmark_group("unique_keys");
    g.throughput(Throughput::Elements(1));
    let next = AtomicU64::new(0);

    let group = singleflight::Group::new();
    g.bench_function(BenchmarkId::new("singleflight", "call"), |b| {
        b.to_async(&rt).iter(|| {
            let k = next.fetch_add(1, Ordering::Relaxed);
            let fut = group.call_async(k.to_le_bytes(), async move { Ok::<u64, ()>(k) });
            async move { *fut.await.unwrap() }
        })
    });
    let peer = AsyncSf::new();
    g.bench_function(BenchmarkId::new("async_singleflight", "call"), |b| {
        b.to_async(&rt).iter(|| {
            let k = next.fetch_add(1, Ordering::Relaxed);
            let peer = &peer;
            async move { peer.work(&k, async move { Ok::<u64, ()>(k) }).await.unwrap() }
        })
    });
    let peer2 = SfAsync::new();
    g.bench_function(BenchmarkId::new("singleflight-async", "call"), |b| {
        b.to_async(&rt).iter(|| {
            let k = next.fetch_add(1, Ordering::Relaxed);
            peer2.work(k, move || async move { k })
        })
    });
    g.finish();
}

/// Spawns `tasks` tasks over `keys` keys, each calling `call(key)`; awaits all.
async fn batch<F, Fut>(tasks: usize, keys: u64, call: F)
where
    F: Fn(u64) -> Fut,
    Fut: std::future::Future<Output = u64> + Send + 'static,
{
    let handles: Vec<_> = (0..tasks).map(|i| tokio::spawn(call(i as u64 % keys))).collect();
    for h in handles {
        criterion::black_box(h.await.unwrap());
    }
}

fn contended(c: &mut Criterion, name: &str, tasks: usize, keys: u64) {
    let rt = runtime();
    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Elements(tasks as u64));
    g.sample_size(30);
    let round = Arc::new(AtomicU64::new(0));

    let group = singleflight::Group::new();
    g.bench_function("singleflight", |b| {
        b.to_async(&rt).iter(|| {
            let base = round.fetch_add(1, Ordering::Relaxed) * 1000;
            let group = group.clone();
            batch(tasks, keys, move |k| {
                let k = base + k;
                let fut = group.call_async(k.to_le_bytes(), async move {
                    tokio::task::yield_now().await;
                    Ok::<u64, ()>(k)
                });
                async move { *fut.await.unwrap() }
            })
        })
    });
    let peer = Arc::new(AsyncSf::new());
    g.bench_function("async_singleflight", |b| {
        b.to_async(&rt).iter(|| {
            let base = round.fetch_add(1, Ordering::Relaxed) * 1000;
            let peer = peer.clone();
            batch(tasks, keys, move |k| {
                let k = base + k;
                let peer = peer.clone();
                async move {
                    peer.work(&k, async move {
                        tokio::task::yield_now().await;
                        Ok::<u64, ()>(k)
                    })
                    .await
                    .unwrap()
                }
            })
        })
    });
    let peer2 = Arc::new(SfAsync::new());
    g.bench_function("singleflight-async", |b| {
        b.to_async(&rt).iter(|| {
            let base = round.fetch_add(1, Ordering::Relaxed) * 1000;
            let peer2 = peer2.clone();
            batch(tasks, keys, move |k| {
                let k = base + k;
                let peer2 = peer2.clone();
                async move {
                    peer2
                        .work(k, move || async move {
                            tokio::task::yield_now().await;
                            k
                        })
                        .await
                }
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
