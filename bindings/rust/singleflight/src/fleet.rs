//! Fleet groups: [`Group::open_fleet`] and its [`FleetOptions`].

use std::ffi::CString;
use std::ptr::NonNull;
use std::time::Duration;

use crate::{Error, Group};
use singleflight_sys as sys;

/// How a fleet group reaches its server and runs its flights
/// ([`Group::open_fleet`]). `Default` gives the engine's defaults; set the
/// fields you need:
///
/// ```
/// use singleflight::FleetOptions;
/// use std::time::Duration;
/// let options = FleetOptions {
///     url: Some("redis://10.0.0.5:6379/2".into()),
///     lease: Duration::from_secs(10),
///     ..FleetOptions::default()
/// };
/// # let _ = options;
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FleetOptions {
    /// The server: `redis://[[user]:password@]host[:port][/db]`,
    /// `unix:///path/to/socket[?db=N]` or a socket path starting with `/`.
    /// `None`: the `SF_REDIS_URL` environment variable, else
    /// `redis://127.0.0.1:6379`.
    pub url: Option<String>,
    /// The first part of every Redis key and channel name (`None`: `"sf"`);
    /// no `{`, `}` or `:`. Processes share flights only under the same prefix.
    pub key_prefix: Option<String>,
    /// A leader's lease, renewed while its work runs: a leader whose process
    /// died is taken over by another process after this long.
    pub lease: Duration,
    /// The largest value (or error) published to the other processes; a
    /// larger one makes them run the work themselves.
    pub max_value_bytes: u32,
    /// How long connecting to the server may take.
    pub connect_timeout: Duration,
    /// A reply later than this trips the circuit breaker (local flights).
    pub command_timeout: Duration,
    /// How long the last outcome of a key stays on the server for callers
    /// who arrive after its flight ended; zero: nothing is kept.
    pub linger: Duration,
    /// How long the circuit breaker stays open (flights run locally) before
    /// the server is tried again.
    pub cooldown: Duration,
}

impl Default for FleetOptions {
    fn default() -> FleetOptions {
        FleetOptions {
            url: None,
            key_prefix: None,
            lease: Duration::from_secs(5),
            max_value_bytes: 1 << 20,
            connect_timeout: Duration::from_secs(1),
            command_timeout: Duration::from_secs(1),
            linger: Duration::ZERO,
            cooldown: Duration::from_secs(1),
        }
    }
}

/// Whole milliseconds, rounded up (a non-zero duration never becomes 0,
/// which the engine reads as "the default"); `None` past `u32::MAX` ms.
fn millis(d: Duration) -> Option<u32> {
    let ms = d.as_nanos().div_ceil(1_000_000);
    u32::try_from(ms).ok()
}

/// A positive duration in milliseconds, or the error naming it.
fn positive_millis(d: Duration, what: &'static str) -> Result<u32, Error> {
    match millis(d) {
        Some(0) | None => Err(Error::InvalidArgument(what)),
        Some(ms) => Ok(ms),
    }
}

/// A string option as a C string, or the error naming it.
fn c_string(s: &Option<String>, what: &'static str) -> Result<Option<CString>, Error> {
    s.as_deref().map(|s| CString::new(s).map_err(|_| Error::InvalidArgument(what))).transpose()
}

impl Group {
    /// The process-wide fleet group called `name`: its flights are shared by
    /// every process, on this machine or another, that opened the same name
    /// on the same Redis (or Valkey) server with the same key prefix. When
    /// processes stampede one key, the work runs once in the whole fleet and
    /// every caller gets its outcome; [`Group::call`], [`Group::call_async`],
    /// the split API, deadlines, cancellation and [`Group::stats`] work as
    /// for any group. Values and errors reach the other processes as bytes
    /// (`Bytes`, `Vec<u8>`, `String`, or any type through a
    /// [`crate::Codec`]); a panic reaches them as a panic with its message.
    ///
    /// The first open of a name in the process creates the group with its
    /// options; later opens share it. The connection is made in the
    /// background: an unreachable server is not an error (the flights run
    /// locally until it answers).
    ///
    /// Errors only for bad options: an empty name, a string with a NUL byte,
    /// a key prefix with `{`, `}` or `:`, a zero lease, timeout, cool-down
    /// or value limit, a duration over `u32::MAX` milliseconds, or a URL the
    /// engine cannot parse.
    ///
    /// ```
    /// use singleflight::{FleetOptions, Group};
    /// let bad = FleetOptions { key_prefix: Some("a:b".into()), ..FleetOptions::default() };
    /// assert!(Group::open_fleet("users", bad).is_err());
    /// ```
    pub fn open_fleet(name: impl AsRef<[u8]>, options: FleetOptions) -> Result<Group, Error> {
        let name = name.as_ref();
        if name.is_empty() {
            return Err(Error::InvalidArgument("a group name must not be empty"));
        }
        let url = c_string(&options.url, "a fleet URL must not contain a NUL byte")?;
        let prefix = c_string(&options.key_prefix, "a key prefix must not contain a NUL byte")?;
        if options.key_prefix.as_deref().is_some_and(|p| p.contains(['{', '}', ':'])) {
            return Err(Error::InvalidArgument("a key prefix must not contain '{', '}' or ':'"));
        }
        if options.max_value_bytes == 0 {
            return Err(Error::InvalidArgument("max_value_bytes must be positive"));
        }
        let raw_options = sys::sf_fleet_options {
            url: url.as_ref().map_or(std::ptr::null(), |s| s.as_ptr()),
            key_prefix: prefix.as_ref().map_or(std::ptr::null(), |s| s.as_ptr()),
            lease_ms: positive_millis(options.lease, "the lease must be between 1 ms and u32::MAX ms")?,
            max_value_bytes: options.max_value_bytes,
            connect_timeout_ms: positive_millis(
                options.connect_timeout,
                "the connect timeout must be between 1 ms and u32::MAX ms",
            )?,
            command_timeout_ms: positive_millis(
                options.command_timeout,
                "the command timeout must be between 1 ms and u32::MAX ms",
            )?,
            linger_ms: millis(options.linger)
                .ok_or(Error::InvalidArgument("the linger must be at most u32::MAX ms"))?,
            cooldown_ms: positive_millis(options.cooldown, "the cool-down must be between 1 ms and u32::MAX ms")?,
            ..sys::sf_fleet_options::INIT
        };
        // Safety: a valid, non-empty slice and options whose strings live
        // until the call returns (the engine copies them).
        let raw = unsafe { sys::sf_group_open_fleet(name.as_ptr().cast(), name.len(), &raw_options) };
        // Every other input was checked above: NULL is a URL the engine
        // could not parse, or no memory.
        NonNull::new(raw)
            .map(Group::from_raw)
            .ok_or(Error::InvalidArgument("the engine refused the fleet options (a URL that does not parse?)"))
    }
}
