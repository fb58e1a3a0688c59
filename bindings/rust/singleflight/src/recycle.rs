//! Per-thread reuse of the two blocks a leader allocates and frees on every
//! flight: the box of its work future (also when the work ran in the
//! flight's rendezvous) and the box of the native outcome it hands the
//! engine. Up to [`KEEP`] freed blocks of each are kept per thread, the
//! newest taken by the next allocation of the same layout, so calls on one
//! thread go to the allocator only for the value they share, also when many
//! flights are open at once (the engine reuses its flight objects the same
//! way).

use std::alloc::Layout;
use std::cell::Cell;
use std::ptr::{self, NonNull};

/// Which of a thread's pools of kept blocks.
#[derive(Clone, Copy)]
pub(crate) enum Pool {
    Work,
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

/// How many freed blocks of each pool a thread keeps.
const KEEP: usize = 32;

/// A thread's kept blocks of one pool: one apart, so that calls one after
/// another (a block taken, then given back) touch nothing else.
struct Kept {
    newest: Cell<Option<Block>>,
    older: Cell<Vec<Block>>,
}

impl Kept {
    const fn new() -> Kept {
        Kept { newest: Cell::new(None), older: Cell::new(Vec::new()) }
    }

    /// A kept block of `layout` (the newest), if there is one.
    fn take(&self, layout: Layout) -> Option<Block> {
        match self.newest.take() {
            Some(b) if b.layout == layout => return Some(b),
            Some(other) => {
                self.newest.set(Some(other));
                return None;
            }
            None => {}
        }
        let mut older = self.older.take();
        let block = match older.last() {
            Some(b) if b.layout == layout => older.pop(),
            _ => None,
        };
        self.older.set(older);
        block
    }

    /// Keeps `block` (frees it if KEEP are kept already).
    fn give(&self, block: Block) {
        let Some(block) = self.newest.replace(Some(block)) else { return };
        // The one apart goes with the older ones.
        let mut older = self.older.take();
        if older.len() + 1 < KEEP {
            if older.capacity() == 0 {
                older.reserve_exact(KEEP - 1);
            }
            older.push(block);
        }
        self.older.set(older);
    }
}

thread_local! {
    static WORK: Kept = const { Kept::new() };
    static OUTCOME: Kept = const { Kept::new() };
}

/// Runs `f` on this thread's pool; `None` once the thread is being torn down.
fn with<R>(pool: Pool, f: impl FnOnce(&Kept) -> R) -> Option<R> {
    match pool {
        Pool::Work => WORK.try_with(f).ok(),
        Pool::Outcome => OUTCOME.try_with(f).ok(),
    }
}

/// `Box::new(x)`, in the kept block when it has the layout of `X`.
pub(crate) fn new_box<X>(pool: Pool, x: X) -> Box<X> {
    let layout = Layout::new::<X>();
    if layout.size() != 0 {
        let kept = with(pool, |k| k.take(layout));
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
pub(crate) fn drop_box<X: ?Sized>(pool: Pool, b: Box<X>) {
    /// Keeps the block, also when the value's `Drop` unwinds.
    struct Keep(Pool, Option<Block>);
    impl Drop for Keep {
        fn drop(&mut self) {
            let Some(block) = self.1.take() else { return };
            // A thread being torn down frees the block instead.
            let _ = with(self.0, move |k| k.give(block));
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
    let _keep = Keep(pool, Some(Block { ptr: unsafe { NonNull::new_unchecked(p.cast::<u8>()) }, layout }));
    // Safety: `p` holds a valid `X` that nothing else owns; dropped once, in
    // place (so a pinned value is never moved), before its block is kept.
    unsafe { ptr::drop_in_place(p) };
}
