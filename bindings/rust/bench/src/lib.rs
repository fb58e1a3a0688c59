//! What the benchmarks of `benches/` share: the runtime, the scenarios'
//! work, batches and runs of calls, and each library's call, written once
//! so that `peers` (criterion) and `interleaved` measure the very same code.
//!
//! Each call is made the cheapest way its library offers to give a task a
//! `'static` future: the peers' `work(&self, ..)` borrows, so their task
//! holds a clone of the peer's `Arc` and calls inside its `async` block;
//! this binding's `call_async` returns a `Call` that holds its own group
//! reference, so the task awaits it as it is (one reference count per task,
//! either way).

use std::future::Future;
use std::hint::black_box;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// `async_singleflight`'s group, as the benchmarks use it.
pub type AsyncSf = async_singleflight::Group<u64, u64, ()>;
/// `singleflight-async`'s group, as the benchmarks use it.
pub type SfAsync = singleflight_async::SingleFlight<u64, u64>;

/// The runtime of every scenario: tokio, 2 worker threads.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

/// The work of the contended scenarios: yields once, so that callers
/// overlap.
pub async fn work(k: u64) -> u64 {
    tokio::task::yield_now().await;
    k
}

/// Spawns `tasks` tasks over `keys` keys (`base + i % keys`), each running
/// `call(key)`, and awaits them all.
pub async fn batch<F, Fut>(tasks: usize, keys: u64, base: u64, call: &F)
where
    F: Fn(u64) -> Fut,
    Fut: Future<Output = u64> + Send + 'static,
{
    let handles: Vec<_> = (0..tasks).map(|i| tokio::spawn(call(base + i as u64 % keys))).collect();
    for h in handles {
        black_box(h.await.unwrap());
    }
}

/// This binding's call of `key` in the contended scenarios.
pub fn ours(group: &singleflight::Group, k: u64) -> impl Future<Output = u64> + Send + 'static {
    Value(group.call_async(k.to_le_bytes(), async move { Ok::<u64, ()>(work(k).await) }))
}

/// A `Call` whose outcome is read as the scenarios' `u64`: the task runs
/// the `Call` itself, as when it is spawned as it is (an `async` block
/// awaiting it would hold it twice: as its captured value and as the future
/// it awaits).
pub struct Value<F>(pub F);

impl<F> Future for Value<F>
where
    F: Future<Output = Result<singleflight::Shared<u64>, singleflight::Error<()>>>,
{
    type Output = u64;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<u64> {
        // Safety: structural pinning: the call is never moved out of its
        // `Value`, which is pinned.
        let call = unsafe { self.map_unchecked_mut(|v| &mut v.0) };
        call.poll(cx).map(|r| *r.unwrap())
    }
}

/// `async_singleflight`'s call of `key` in the contended scenarios.
pub fn async_singleflight(peer: &Arc<AsyncSf>, k: u64) -> impl Future<Output = u64> + Send + 'static {
    let peer = peer.clone();
    async move { peer.work(&k, async move { Ok::<u64, ()>(work(k).await) }).await.unwrap() }
}

/// `singleflight-async`'s call of `key` in the contended scenarios.
pub fn singleflight_async(peer: &Arc<SfAsync>, k: u64) -> impl Future<Output = u64> + Send + 'static {
    let peer = peer.clone();
    async move { peer.work(k, move || work(k)).await }
}

/// Makes `iters` calls of `call(k)` in a row, each with a fresh key from
/// `next` (no contention): the time they took.
pub async fn calls<F, Fut>(next: &AtomicU64, iters: u64, call: F) -> Duration
where
    F: Fn(u64) -> Fut,
    Fut: Future<Output = u64>,
{
    let start = Instant::now();
    for _ in 0..iters {
        let k = next.fetch_add(1, Ordering::Relaxed);
        black_box(call(k).await);
    }
    start.elapsed()
}

/// This binding's call of `key` with unique keys: the work is ready at once.
pub fn ours_unique(group: &singleflight::Group, k: u64) -> impl Future<Output = u64> + Send + 'static {
    Value(group.call_async(k.to_le_bytes(), async move { Ok::<u64, ()>(k) }))
}

/// `async_singleflight`'s call of `key` with unique keys.
pub fn async_singleflight_unique(peer: &Arc<AsyncSf>, k: u64) -> impl Future<Output = u64> + Send + 'static {
    let peer = peer.clone();
    async move { peer.work(&k, async move { Ok::<u64, ()>(k) }).await.unwrap() }
}

/// `singleflight-async`'s call of `key` with unique keys.
pub fn singleflight_async_unique(peer: &Arc<SfAsync>, k: u64) -> impl Future<Output = u64> + Send + 'static {
    let peer = peer.clone();
    async move { peer.work(k, move || async move { k }).await }
}
