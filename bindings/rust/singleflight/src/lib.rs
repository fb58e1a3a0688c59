//! Duplicate-call suppression ("singleflight") on the shared singleflight
//! engine.
//!
//! When many callers ask for the same key at once, exactly one of them runs
//! the work; the others wait and receive the very same outcome. Every flight
//! runs through the one engine of the process, `libsingleflight.so`, so Rust
//! callers dedup with Go, Python and C callers of the same named group
//! ([`Group::open`]).
//!
//! - **Blocking**: [`Group::call`] runs a closure, or waits for the flight
//!   already running.
//! - **Async**: [`Group::call_async`] returns a [`Call`] future that works on
//!   any executor (tokio, async-std, smol, ...) without depending on one, is
//!   cancel-safe (the work belongs to the flight, not to the caller who
//!   brought it) and can time out ([`Call::timeout`]).
//! - **Typed**: a value `T` is shared between Rust callers as an `Arc<T>`
//!   ([`Shared`]), the work's error `E` as an `Arc<E>` ([`Error::Work`]);
//!   nothing is serialized. Values of byte types ([`Bytes`], `Vec<u8>`,
//!   `String`, `Box<[u8]>`) also reach callers in other languages, zero-copy.
//! - **Panics** in the work are re-raised in every Rust caller with their
//!   message, and reach other languages as `SF_EPANIC`.
//!
//! ```
//! use singleflight::Group;
//! use std::sync::atomic::{AtomicUsize, Ordering};
//! use std::sync::Arc;
//!
//! let group = Group::new();
//! let runs = Arc::new(AtomicUsize::new(0));
//! let threads: Vec<_> = (0..8)
//!     .map(|_| {
//!         let (group, runs) = (group.clone(), runs.clone());
//!         std::thread::spawn(move || {
//!             let v = group
//!                 .call("config", || {
//!                     runs.fetch_add(1, Ordering::SeqCst);
//!                     std::thread::sleep(std::time::Duration::from_millis(50));
//!                     Ok::<_, std::io::Error>(vec![1u8, 2, 3])
//!                 })
//!                 .unwrap();
//!             assert_eq!(&**v, &[1, 2, 3]);
//!         })
//!     })
//!     .collect();
//! threads.into_iter().for_each(|t| t.join().unwrap());
//! // Callers that overlapped shared one run (usually all eight).
//! assert!(runs.load(Ordering::SeqCst) >= 1);
//! ```
#![warn(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]

mod bytes;
mod call;
mod codec;
mod driving;
mod error;
mod executor_gone;
mod fence;
mod fleet;
mod group;
mod key;
mod latency;
#[cfg(feature = "metrics")]
pub mod metrics;
mod native;
mod recycle;
mod rendezvous;
mod set_once;
mod spans;
mod timer;

pub use crate::bytes::Bytes;
pub use crate::call::Call;
pub use crate::codec::Codec;
pub use crate::error::Error;
pub use crate::fence::fence_token;
pub use crate::fleet::FleetOptions;
pub use crate::group::{Follower, Group, Join, Leader, Shared, Stats};
pub use crate::latency::{latency_bound, Histogram, Latency, LATENCY_BUCKETS};

/// The raw C declarations, for callers that need the engine directly.
pub use singleflight_sys as sys;

/// The engine's version string ("MAJOR.MINOR.PATCH").
pub fn engine_version() -> &'static str {
    // Safety: sf_version_string returns a static NUL-terminated string.
    let s = unsafe { std::ffi::CStr::from_ptr(sys::sf_version_string()) };
    s.to_str().unwrap_or("unknown")
}

// The README's examples run as doctests too (`cargo test --doc`).
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeExamples;
