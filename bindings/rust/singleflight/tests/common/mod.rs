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
