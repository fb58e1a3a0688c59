//! Helpers shared by the test files.
#![allow(dead_code)]

use singleflight::Group;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Blocks (yielding the thread) until `group` has seen `n` followers.
/// No wall-clock limit: a test that never gets there hangs and is reported by
/// the harness, it does not pass by accident.
pub fn wait_followers(group: &Group, n: u64) {
    while group.stats().followers < n {
        std::thread::yield_now();
        std::thread::sleep(std::time::Duration::from_micros(200));
    }
}

/// A thread running `call` with its own reference to `group`, returned
/// once it has joined the flight running there as one more follower.
pub fn follower_thread<R: Send + 'static>(
    group: &Group,
    call: impl FnOnce(Group) -> R + Send + 'static,
) -> std::thread::JoinHandle<R> {
    let before = group.stats().followers;
    let g = group.clone();
    let thread = std::thread::spawn(move || call(g));
    wait_followers(group, before + 1);
    thread
}

/// Yields until `f()` is true.
pub fn wait_until(mut f: impl FnMut() -> bool) {
    while !f() {
        std::thread::sleep(std::time::Duration::from_micros(200));
    }
}

/// Counts drops.
pub struct DropCounter(pub Arc<AtomicUsize>);
impl Drop for DropCounter {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// The message of a panic payload.
pub fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else if let Some(s) = p.downcast_ref::<&'static str>() {
        s.to_string()
    } else {
        "<non-string>".into()
    }
}

/// A tokio runtime with 2 worker threads.
pub fn tokio_rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(TOKIO_WORKERS).enable_all().build().unwrap()
}

/// The worker threads of [`tokio_rt`] and [`tokio_rt_counting_stops`].
pub const TOKIO_WORKERS: usize = 2;

/// A tokio runtime with 2 worker threads, and the number of its threads
/// that stopped: both workers stopped means it has shut down (its timer
/// and I/O drivers too).
pub fn tokio_rt_counting_stops() -> (tokio::runtime::Runtime, Arc<AtomicUsize>) {
    let stopped = Arc::new(AtomicUsize::new(0));
    let counter = stopped.clone();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(TOKIO_WORKERS)
        .enable_all()
        .on_thread_stop(move || {
            counter.fetch_add(1, Ordering::SeqCst);
        })
        .build()
        .unwrap();
    (rt, stopped)
}

/// Awaits (without a runtime timer) until `group` has `n` followers.
pub async fn followers(group: &Group, n: u64) {
    while group.stats().followers < n {
        yield_now().await;
    }
}

/// A runtime-agnostic yield.
pub async fn yield_now() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            std::task::Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    })
    .await
}

/// Polls `f` once, in the current task.
pub async fn poll_once<F: std::future::Future + Unpin>(f: &mut F) -> std::task::Poll<F::Output> {
    std::future::poll_fn(|cx| std::task::Poll::Ready(std::pin::Pin::new(&mut *f).poll(cx))).await
}

/// Work that gives what the returned sender sends: its flight runs until
/// the test lets it end.
pub fn gate<T: Send + 'static>(
) -> (tokio::sync::oneshot::Sender<T>, impl std::future::Future<Output = Result<T, ()>> + Send + 'static) {
    let (tx, rx) = tokio::sync::oneshot::channel::<T>();
    (tx, async move { Ok(rx.await.unwrap()) })
}

/// `work`, counting itself in `runs` when it starts.
pub fn counted<F: std::future::Future>(
    runs: &Arc<AtomicUsize>,
    work: F,
) -> impl std::future::Future<Output = F::Output> {
    let runs = runs.clone();
    async move {
        runs.fetch_add(1, Ordering::SeqCst);
        work.await
    }
}

/// Work that holds `guard` and never ends: dropped, it counts.
pub async fn pending_with<T>(guard: DropCounter) -> Result<T, ()> {
    let _guard = guard;
    std::future::pending().await
}

/// A leader's `Call` of `key` with `work`, polled once here: its work is
/// pending, so it holds it and has attached the flight's rendezvous.
pub async fn pending_leader<T, E, F>(
    group: &Group,
    key: &str,
    work: F,
) -> std::pin::Pin<Box<singleflight::Call<T, E, F>>>
where
    T: Send + Sync + 'static,
    E: Send + Sync + 'static,
    F: std::future::Future<Output = Result<T, E>> + Send + 'static,
{
    let mut leader = Box::pin(group.call_async(key, work));
    assert!(poll_once(&mut leader).await.is_pending());
    leader
}

/// `call` spawned on the current tokio runtime, returned once its flight
/// is in the group's table: the caller that spawned it leads.
pub async fn spawned_leader<C>(group: &Group, call: C) -> tokio::task::JoinHandle<C::Output>
where
    C: std::future::Future + Send + 'static,
    C::Output: Send + 'static,
{
    let leader = tokio::spawn(call);
    while group.stats().in_table == 0 {
        yield_now().await;
    }
    leader
}

/// The split API's leader of `key`, where no flight runs.
pub fn lead<T, E>(group: &Group, key: &str) -> singleflight::Leader<T, E>
where
    T: Send + Sync + 'static,
    E: Send + Sync + 'static,
{
    match group.join::<T, E>(key) {
        Ok(singleflight::Join::Leader(leader)) => leader,
        _ => panic!("a flight of {key:?} runs already"),
    }
}

/// A [`pending_leader`] of `key` whose work waits for the returned sender,
/// then gives `value`.
pub async fn gated_leader<T: Send + Sync + 'static>(
    group: &Group,
    key: &str,
    value: T,
) -> (
    std::pin::Pin<Box<impl std::future::Future<Output = Result<singleflight::Shared<T>, singleflight::Error<()>>>>>,
    tokio::sync::oneshot::Sender<()>,
) {
    let (tx, work) = gate::<()>();
    let leader = pending_leader(group, key, async move {
        work.await?;
        Ok::<_, ()>(value)
    })
    .await;
    (leader, tx)
}

/// `n` tokio tasks that each call `key` of `group` with work that counts
/// itself in `runs` and gives 0: followers whose own work must not run.
pub fn counted_followers(
    group: &Group,
    key: &'static str,
    runs: &Arc<AtomicUsize>,
    n: usize,
) -> Vec<tokio::task::JoinHandle<Result<singleflight::Shared<u32>, singleflight::Error<()>>>> {
    (0..n)
        .map(|_| {
            let runs = runs.clone();
            tokio::spawn(group.call_async(key, async move {
                runs.fetch_add(1, Ordering::SeqCst);
                Ok::<u32, ()>(0)
            }))
        })
        .collect()
}
