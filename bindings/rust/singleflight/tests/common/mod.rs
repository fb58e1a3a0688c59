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

/// A leader's `Call` of `key` whose work waits for the returned sender, then
/// gives `value`; polled once here, so it is pending: it holds its work and
/// has attached the flight's rendezvous.
pub async fn gated_leader<T: Send + Sync + 'static>(
    group: &Group,
    key: &str,
    value: T,
) -> (
    std::pin::Pin<Box<impl std::future::Future<Output = Result<singleflight::Shared<T>, singleflight::Error<()>>>>>,
    tokio::sync::oneshot::Sender<()>,
) {
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let mut leader = Box::pin(group.call_async(key, async move {
        rx.await.unwrap();
        Ok::<_, ()>(value)
    }));
    assert!(poll_once(&mut leader).await.is_pending());
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
