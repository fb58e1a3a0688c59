//! This thread's cache of what flights allocate and free one after another,
//! kept for the next flight of the same thread (as the engine caches its
//! idle flights and tickets per thread, `lib/flight_cache.h`):
//!
//! - the box of a leader's work future (also when the work ran in the
//!   flight's rendezvous), and the box of the native outcome it hands the
//!   engine: freed blocks, the newest taken by the next box of the same
//!   layout;
//! - idle [`Rendezvous`] objects, reset, with the room of their waker list:
//!   one is offered to `sf_attach` and kept when another was installed first
//!   (followers allocate none), and a finished flight's comes back here when
//!   its last reference goes on this thread.
//!
//! One thread-local ([`CACHE`]), one bound (up to [`KEEP`] of each kind, the
//! rest freed) and one rule at thread exit: the cache is freed with the
//! thread, and what would go to it from then on is freed at once. So calls
//! on one thread go to the allocator only for the value they share, also
//! when many flights are open at once.

use std::alloc::Layout;
use std::cell::Cell;
use std::ptr::{self, NonNull};
use std::sync::Arc;

use crate::rendezvous::Rendezvous;

/// Which boxes a block of the cache serves.
#[derive(Clone, Copy)]
pub(crate) enum BoxOf {
    /// A leader's work future.
    Work,
    /// The native outcome a leader hands the engine.
    Outcome,
}

/// A block from the global allocator, freed when dropped.
struct Block {
    ptr: NonNull<u8>,
    layout: Layout,
}

impl Drop for Block {
    fn drop(&mut self) {
        // Safety: `ptr` was allocated by the global allocator (through a
        // `Box`) with `layout`, and nothing else owns it.
        unsafe { std::alloc::dealloc(self.ptr.as_ptr(), self.layout) }
    }
}

/// How many of each kind a thread keeps.
const KEEP: usize = 64;

/// A thread's kept objects of one kind: the newest apart, so that calls one
/// after another (one taken, then given back) touch nothing else.
struct Shelf<X> {
    newest: Cell<Option<X>>,
    older: Cell<Vec<X>>,
}

impl<X> Shelf<X> {
    const fn new() -> Shelf<X> {
        Shelf { newest: Cell::new(None), older: Cell::new(Vec::new()) }
    }

    /// The newest kept object, if `fits` it.
    fn take(&self, fits: impl Fn(&X) -> bool) -> Option<X> {
        match self.newest.take() {
            Some(x) if fits(&x) => return Some(x),
            Some(other) => {
                self.newest.set(Some(other));
                return None;
            }
            None => {}
        }
        let mut older = self.older.take();
        let x = match older.last() {
            Some(x) if fits(x) => older.pop(),
            _ => None,
        };
        self.older.set(older);
        x
    }

    /// Keeps `x`; the one it would make KEEP + 1 is dropped.
    fn give(&self, x: X) {
        let Some(x) = self.newest.replace(Some(x)) else { return };
        // The one apart goes with the older ones.
        let mut older = self.older.take();
        let dropped = if older.len() + 1 < KEEP {
            if older.capacity() == 0 {
                older.reserve_exact(KEEP - 1);
            }
            older.push(x);
            None
        } else {
            Some(x)
        };
        self.older.set(older);
        drop(dropped);
    }
}

/// A thread's cache.
struct Cache {
    work: Shelf<Block>,
    outcome: Shelf<Block>,
    rendezvous: Shelf<Arc<Rendezvous>>,
}

impl Cache {
    fn blocks(&self, of: BoxOf) -> &Shelf<Block> {
        match of {
            BoxOf::Work => &self.work,
            BoxOf::Outcome => &self.outcome,
        }
    }
}

thread_local! {
    static CACHE: Cache = const { Cache { work: Shelf::new(), outcome: Shelf::new(), rendezvous: Shelf::new() } };
}

/// Runs `f` on this thread's cache; `None` once the thread is being torn
/// down (the caller frees instead).
fn with<R>(f: impl FnOnce(&Cache) -> R) -> Option<R> {
    CACHE.try_with(f).ok()
}

/// `Box::new(x)`, in a kept block when one has the layout of `X`.
pub(crate) fn new_box<X>(of: BoxOf, x: X) -> Box<X> {
    let layout = Layout::new::<X>();
    if layout.size() != 0 {
        let kept = with(|c| c.blocks(of).take(|b| b.layout == layout));
        if let Some(block) = kept.flatten() {
            let p = block.ptr.cast::<X>().as_ptr();
            std::mem::forget(block);
            // Safety: the block came from the global allocator with the
            // layout of `X` (checked above) and is ours alone: writing an `X`
            // into it makes exactly the allocation `Box::new` would have.
            unsafe {
                p.write(x);
                return Box::from_raw(p);
            }
        }
    }
    Box::new(x)
}

/// Drops the value of `b` in place and keeps its block (or frees it, if the
/// thread keeps [`KEEP`] already). `X` may be unsized (a `dyn Future`, whose
/// block the next box of its concrete type takes).
pub(crate) fn drop_box<X: ?Sized>(of: BoxOf, b: Box<X>) {
    /// Keeps the block, also when the value's `Drop` unwinds.
    struct Keep(BoxOf, Option<Block>);
    impl Drop for Keep {
        fn drop(&mut self) {
            let Some(block) = self.1.take() else { return };
            let of = self.0;
            // A thread being torn down frees the block instead.
            let _ = with(move |c| c.blocks(of).give(block));
        }
    }
    let layout = Layout::for_value::<X>(&b);
    if layout.size() == 0 {
        drop(b);
        return;
    }
    let p = Box::into_raw(b);
    // Safety: `p` is non-null (from a Box); the box allocated it with the
    // layout of its value from the global allocator.
    let _keep = Keep(of, Some(Block { ptr: unsafe { NonNull::new_unchecked(p.cast::<u8>()) }, layout }));
    // Safety: `p` holds a valid `X` that nothing else owns; dropped once, in
    // place (so a pinned value is never moved), before its block is kept.
    unsafe { ptr::drop_in_place(p) };
}

/// An idle rendezvous of this thread, if it keeps one.
pub(crate) fn take_rendezvous() -> Option<Arc<Rendezvous>> {
    with(|c| c.rendezvous.take(|_| true)).flatten()
}

/// Keeps an idle (unused or reset) rendezvous for [`take_rendezvous`].
pub(crate) fn keep_rendezvous(rv: Arc<Rendezvous>) {
    // A thread being torn down drops it instead.
    let _ = with(move |c| c.rendezvous.give(rv));
}
