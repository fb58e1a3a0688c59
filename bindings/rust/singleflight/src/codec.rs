//! [`Codec`]: how a typed value crosses to other processes as bytes, and the
//! calls that use one.

use std::future::Future;
use std::sync::Arc;

use crate::{Bytes, Error, Group};

/// Turns values of `T` into bytes and back, for flights whose callers are in
/// other processes (a fleet group, [`Group::open_fleet`]) or other
/// languages, which receive only bytes. Pick the format yourself (JSON,
/// bincode, protobuf, ...): the binding serializes nothing implicitly.
///
/// ```
/// use singleflight::{Bytes, Codec, Group};
/// struct LittleEndian;
/// impl Codec<u64> for LittleEndian {
///     fn encode(&self, value: &u64) -> Bytes {
///         Bytes::copy_from_slice(&value.to_le_bytes())
///     }
///     fn decode(&self, bytes: &[u8]) -> Result<u64, String> {
///         Ok(u64::from_le_bytes(bytes.try_into().map_err(|_| format!("{} bytes, not 8", bytes.len()))?))
///     }
/// }
/// let group = Group::new();
/// let n = group.call_coded("count", &LittleEndian, || Ok::<_, String>(42u64)).unwrap();
/// assert_eq!(n, 42);
/// ```
pub trait Codec<T> {
    /// The bytes of `value`.
    fn encode(&self, value: &T) -> Bytes;
    /// The value of `bytes`, or why they are not one.
    fn decode(&self, bytes: &[u8]) -> Result<T, String>;
}

/// The value of a flight's bytes through `codec`.
fn decoded<T, E, C: Codec<T> + ?Sized>(codec: &C, bytes: &Bytes) -> Result<T, Error<E>> {
    codec.decode(bytes).map_err(Error::Decode)
}

impl Group {
    /// [`Group::call`] whose value crosses as `codec`'s bytes: the leader
    /// encodes what `work` returns, and every caller — in this process or
    /// another, in any language — receives those bytes; each Rust caller
    /// decodes its own `T` ([`Error::Decode`] if they are not one). The
    /// work's error crosses as its own byte form (`String`, `Vec<u8>`,
    /// `Bytes`).
    pub fn call_coded<T, E, C, F>(&self, key: impl AsRef<[u8]>, codec: &C, work: F) -> Result<T, Error<E>>
    where
        E: Send + Sync + 'static,
        C: Codec<T> + ?Sized,
        F: FnOnce() -> Result<T, E>,
    {
        let bytes = self.call(key, || work().map(|v| codec.encode(&v)))?;
        decoded(codec, &bytes)
    }

    /// The asynchronous [`Group::call_coded`]: [`Group::call_async`] whose
    /// value crosses as `codec`'s bytes.
    pub fn call_coded_async<T, E, C, F>(
        &self,
        key: impl AsRef<[u8]>,
        codec: Arc<C>,
        work: F,
    ) -> impl Future<Output = Result<T, Error<E>>> + Send + 'static
    where
        E: Send + Sync + 'static,
        C: Codec<T> + Send + Sync + ?Sized + 'static,
        F: Future<Output = Result<T, E>> + Send + 'static,
    {
        let encoder = codec.clone();
        let call = self.call_async(key, async move { work.await.map(|v| encoder.encode(&v)) });
        async move {
            let bytes = call.await?;
            decoded(&*codec, &bytes)
        }
    }
}
