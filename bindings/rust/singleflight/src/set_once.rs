//! [`SetOnce`]: a cell written once by a single writer and read without a
//! lock, where a flight keeps its outcome for its Rust waiters.
//!
//! `std::sync::OnceLock` lets any number of threads race to initialize it,
//! which costs a state machine of atomic operations on every `set`. A
//! flight's outcome has exactly one writer (whoever completes the flight,
//! which the flight's own bookkeeping makes unique), so here a `set` is one
//! write and one release store, and a `get` one acquire load.

use std::cell::UnsafeCell;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicBool, Ordering};

pub(crate) struct SetOnce<T> {
    ready: AtomicBool,
    value: UnsafeCell<MaybeUninit<T>>,
}

// Safety: a shared `SetOnce` hands out `&T` to any thread once set (T: Sync)
// and takes a T from the thread that sets it (T: Send); the release store of
// `ready` publishes the value to the acquire loads that see it.
unsafe impl<T: Send + Sync> Sync for SetOnce<T> {}
unsafe impl<T: Send> Send for SetOnce<T> {}

impl<T> SetOnce<T> {
    pub(crate) const fn new() -> Self {
        SetOnce { ready: AtomicBool::new(false), value: UnsafeCell::new(MaybeUninit::uninit()) }
    }

    /// The value, once set.
    pub(crate) fn get(&self) -> Option<&T> {
        if self.ready.load(Ordering::Acquire) {
            // Safety: `ready` is set only after the value was written, and
            // the value is never written again while shared.
            Some(unsafe { (*self.value.get()).assume_init_ref() })
        } else {
            None
        }
    }

    /// Sets the value.
    ///
    /// # Safety
    /// The caller is the cell's only writer: no other `set` runs or ran
    /// since it was made or last [`take`](Self::take)n.
    pub(crate) unsafe fn set(&self, value: T) {
        debug_assert!(!self.ready.load(Ordering::Relaxed), "set twice");
        // Safety: the caller is the only writer, and readers read only after
        // seeing `ready`, which is stored after this write.
        unsafe { (*self.value.get()).write(value) };
        self.ready.store(true, Ordering::Release);
    }

    /// Takes the value out (the cell is empty again).
    pub(crate) fn take(&mut self) -> Option<T> {
        if !std::mem::replace(self.ready.get_mut(), false) {
            return None;
        }
        // Safety: it was set, and `ready` is now false, so it is read once.
        Some(unsafe { self.value.get_mut().assume_init_read() })
    }
}

impl<T> Drop for SetOnce<T> {
    fn drop(&mut self) {
        drop(self.take());
    }
}

#[cfg(test)]
mod tests {
    use super::SetOnce;
    use std::sync::Arc;

    #[test]
    fn set_get_take_and_drop() {
        let mut c = SetOnce::new();
        assert!(c.get().is_none());
        let v = Arc::new(5);
        // Safety: the only writer.
        unsafe { c.set(v.clone()) };
        assert_eq!(**c.get().unwrap(), 5);
        assert_eq!(Arc::strong_count(&v), 2);
        assert_eq!(c.take().map(|a| *a), Some(5));
        assert!(c.get().is_none() && c.take().is_none());
        assert_eq!(Arc::strong_count(&v), 1);
        // Safety: emptied by take: one writer again.
        unsafe { c.set(v.clone()) };
        drop(c);
        assert_eq!(Arc::strong_count(&v), 1, "dropped with the cell");
    }

    #[test]
    fn a_value_set_on_one_thread_is_read_on_another() {
        let c = Arc::new(SetOnce::new());
        let writer = {
            let c = c.clone();
            // Safety: this thread is the only writer.
            std::thread::spawn(move || unsafe { c.set(String::from("v")) })
        };
        writer.join().unwrap();
        assert_eq!(c.get().map(String::as_str), Some("v"));
    }
}
