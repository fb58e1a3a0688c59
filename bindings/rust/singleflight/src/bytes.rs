//! [`Bytes`]: the engine's immutable, refcounted buffer.

use std::ffi::c_void;
use std::fmt;
use std::ops::Deref;
use std::ptr::NonNull;

use singleflight_sys as sys;

/// An immutable, refcounted buffer owned by the engine (`sf_bytes`).
///
/// This is the form in which values cross languages: every caller of a
/// flight, whatever its language, holds a reference to the same memory.
/// `Clone` takes one more reference (no copy), `Drop` releases one, and the
/// buffer derefs to `[u8]`.
///
/// Building one from a `Vec<u8>`, `String`, `Box<[u8]>` or any owner of
/// bytes ([`Bytes::from_owner`]) adopts the memory without copying it; the
/// owner is dropped exactly once, when the last reference goes, on whichever
/// thread (or language) drops it.
///
/// ```
/// use singleflight::Bytes;
/// let b = Bytes::from(vec![1u8, 2, 3]);
/// let c = b.clone(); // same memory, one more reference
/// assert_eq!(&*c, &[1, 2, 3]);
/// assert_eq!(b.as_ptr(), c.as_ptr());
/// ```
pub struct Bytes {
    raw: NonNull<sys::sf_bytes>,
    data: *const u8,
    len: usize,
}

// Safety: an sf_bytes is immutable once built and its refcount is atomic
// (the engine shares one buffer between threads and languages), so a
// reference may move to and be used from any thread.
unsafe impl Send for Bytes {}
// Safety: as above; `&Bytes` only reads immutable memory.
unsafe impl Sync for Bytes {}

impl Bytes {
    /// A copy of `data` in a new engine buffer.
    pub fn copy_from_slice(data: &[u8]) -> Bytes {
        // Safety: `data` is a valid slice for `len` bytes; the engine copies
        // it before returning.
        let raw = unsafe { sys::sf_bytes_new(data.as_ptr().cast(), data.len()) };
        Bytes::from_new(raw)
    }

    /// An empty buffer.
    pub fn new() -> Bytes {
        Bytes::copy_from_slice(&[])
    }

    /// Adopts `owner`'s bytes without a copy; `owner` is dropped exactly once,
    /// when the last reference to the buffer goes.
    ///
    /// `owner.as_ref()` must keep returning the same memory for as long as
    /// `owner` lives (true of `Vec<u8>`, `String`, `Box<[u8]>`, `Arc<[u8]>`,
    /// memory maps and the like).
    pub fn from_owner<O>(owner: O) -> Bytes
    where
        O: AsRef<[u8]> + Send + 'static,
    {
        unsafe extern "C" fn release<O>(ctx: *mut c_void) {
            // Safety: ctx is the Box::into_raw below, handed to the engine,
            // which calls release exactly once. A panicking Drop must not
            // unwind into C.
            let owner = unsafe { Box::from_raw(ctx.cast::<O>()) };
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(owner)));
        }
        let owner = Box::new(owner);
        let slice = (*owner).as_ref();
        let (data, len) = (slice.as_ptr(), slice.len());
        let ctx = Box::into_raw(owner);
        // Safety: `data..data+len` stays valid while the boxed owner lives
        // (its bytes do not move with the Box); the engine calls `release`
        // exactly once, also on failure, which frees the owner.
        let raw = unsafe { sys::sf_bytes_wrap(data as *mut c_void, len, Some(release::<O>), ctx.cast()) };
        Bytes::from_new(raw)
    }

    /// Borrows static memory, without a copy and without a release.
    pub fn from_static(data: &'static [u8]) -> Bytes {
        // Safety: static memory outlives every reference; no release needed.
        let raw = unsafe { sys::sf_bytes_wrap(data.as_ptr() as *mut c_void, data.len(), None, std::ptr::null_mut()) };
        Bytes::from_new(raw)
    }

    fn from_new(raw: *mut sys::sf_bytes) -> Bytes {
        match NonNull::new(raw) {
            // Safety: `raw` is a new reference we now own.
            Some(raw) => unsafe { Bytes::from_raw_nonnull(raw) },
            // The engine returns NULL here only when out of memory (the
            // arguments above are always valid): do as Rust's allocator does.
            None => std::alloc::handle_alloc_error(std::alloc::Layout::new::<[usize; 4]>()),
        }
    }

    /// Takes ownership of one reference to `raw`.
    ///
    /// # Safety
    /// `raw` must be a valid `sf_bytes` reference the caller owns; it is
    /// released when the returned value drops.
    pub unsafe fn from_raw(raw: NonNull<sys::sf_bytes>) -> Bytes {
        // Safety: forwarded to the caller.
        unsafe { Bytes::from_raw_nonnull(raw) }
    }

    unsafe fn from_raw_nonnull(raw: NonNull<sys::sf_bytes>) -> Bytes {
        // Safety: `raw` is a valid buffer (caller's promise); its data
        // pointer and length never change while a reference is held.
        let (data, len) = unsafe { (sys::sf_bytes_data(raw.as_ptr()).cast::<u8>(), sys::sf_bytes_len(raw.as_ptr())) };
        Bytes { raw, data, len }
    }

    /// Takes ownership of `raw` if it is not NULL.
    ///
    /// # Safety
    /// As [`Bytes::from_raw`].
    pub(crate) unsafe fn from_raw_opt(raw: *mut sys::sf_bytes) -> Option<Bytes> {
        // Safety: forwarded to the caller.
        NonNull::new(raw).map(|r| unsafe { Bytes::from_raw_nonnull(r) })
    }

    /// The underlying `sf_bytes`, borrowed: valid while `self` lives.
    pub fn as_raw(&self) -> *mut sys::sf_bytes {
        self.raw.as_ptr()
    }

    /// Gives up this reference as a raw pointer (release it with
    /// `sf_bytes_release`, or hand it to a function that takes ownership).
    pub fn into_raw(self) -> *mut sys::sf_bytes {
        let raw = self.raw.as_ptr();
        std::mem::forget(self);
        raw
    }
}

impl Default for Bytes {
    fn default() -> Bytes {
        Bytes::new()
    }
}

impl Deref for Bytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        if self.len == 0 {
            return &[];
        }
        // Safety: the engine guarantees `data` is valid for `len` bytes and
        // immutable while we hold a reference.
        unsafe { std::slice::from_raw_parts(self.data, self.len) }
    }
}

impl AsRef<[u8]> for Bytes {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

impl Clone for Bytes {
    fn clone(&self) -> Bytes {
        // Safety: `raw` is a valid reference; retain adds one we own.
        unsafe { sys::sf_bytes_retain(self.raw.as_ptr()) };
        Bytes { raw: self.raw, data: self.data, len: self.len }
    }
}

impl Drop for Bytes {
    fn drop(&mut self) {
        // Safety: we own exactly one reference.
        unsafe { sys::sf_bytes_release(self.raw.as_ptr()) }
    }
}

impl fmt::Debug for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Bytes({:?})", String::from_utf8_lossy(self))
    }
}

impl PartialEq for Bytes {
    fn eq(&self, other: &Bytes) -> bool {
        **self == **other
    }
}
impl Eq for Bytes {}

impl PartialEq<[u8]> for Bytes {
    fn eq(&self, other: &[u8]) -> bool {
        **self == *other
    }
}

impl std::hash::Hash for Bytes {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        (**self).hash(state)
    }
}

impl From<Vec<u8>> for Bytes {
    /// Adopts the vector's memory without a copy.
    fn from(v: Vec<u8>) -> Bytes {
        Bytes::from_owner(v)
    }
}

impl From<String> for Bytes {
    /// Adopts the string's memory without a copy.
    fn from(s: String) -> Bytes {
        Bytes::from_owner(s)
    }
}

impl From<Box<[u8]>> for Bytes {
    /// Adopts the boxed slice without a copy.
    fn from(b: Box<[u8]>) -> Bytes {
        Bytes::from_owner(b)
    }
}

impl From<&'static [u8]> for Bytes {
    /// Borrows static memory (no copy, no release).
    fn from(s: &'static [u8]) -> Bytes {
        Bytes::from_static(s)
    }
}

impl From<&'static str> for Bytes {
    /// Borrows a static string (no copy, no release).
    fn from(s: &'static str) -> Bytes {
        Bytes::from_static(s.as_bytes())
    }
}
