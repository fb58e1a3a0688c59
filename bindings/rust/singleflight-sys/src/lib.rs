//! Raw declarations of the singleflight engine's C ABI (`singleflight.h`,
//! and `singleflight_binding.h` for what only bindings use).
//!
//! These mirror `include/singleflight.h` and `include/singleflight_binding.h`
//! one to one; read those headers for the
//! contract of each function. Everything here is `unsafe` to call: use the
//! safe `singleflight` crate instead unless you are writing a binding.
//!
//! The library is linked dynamically (found by `build.rs` through
//! pkg-config): a process holds exactly one engine, so Rust, Go, Python and C
//! callers share named groups.
//!
//! Conventions kept from the header:
//! - opaque C types are uninhabited Rust types, used only behind pointers;
//! - nullable C function pointers are `Option<unsafe extern "C" fn ...>`;
//! - `sf_status` is a plain `c_int` with the pinned values as constants, so a
//!   value outside the enum is never undefined behaviour on the Rust side.
#![no_std]
#![allow(non_camel_case_types)]
#![warn(missing_docs)]

use core::ffi::{c_char, c_int, c_uint, c_void};

/// `SF_VERSION_MAJOR` of the header these declarations match.
pub const SF_VERSION_MAJOR: c_uint = 0;
/// `SF_VERSION_MINOR` of the header these declarations match.
pub const SF_VERSION_MINOR: c_uint = 1;
/// `SF_VERSION_PATCH` of the header these declarations match.
pub const SF_VERSION_PATCH: c_uint = 0;
/// `SF_VERSION_NUMBER`: `MAJOR * 10000 + MINOR * 100 + PATCH`.
pub const SF_VERSION_NUMBER: c_uint = SF_VERSION_MAJOR * 10000 + SF_VERSION_MINOR * 100 + SF_VERSION_PATCH;

/// What a call returns (`enum sf_status`); the numbers are pinned.
pub type sf_status = c_int;
/// The work succeeded; `result.value` holds its bytes (may be NULL).
pub const SF_OK: sf_status = 0;
/// The work returned an error; `result.error` holds its bytes (may be NULL).
pub const SF_EWORK: sf_status = 1;
/// The work aborted; `result.error` holds a readable message.
pub const SF_EPANIC: sf_status = 2;
/// A bad argument; nothing was run, nothing changed.
pub const SF_EINVAL: sf_status = 3;
/// Out of memory; nothing was run, nothing changed.
pub const SF_ENOMEM: sf_status = 4;
/// The calling thread leads the flight it is waiting for.
pub const SF_EDEADLK: sf_status = 5;
/// A wait reached its deadline; the flight goes on for the others.
pub const SF_ETIMEDOUT: sf_status = 6;
/// A wait was cancelled (`sf_cancel`); the flight goes on for the others.
pub const SF_ECANCELED: sf_status = 7;
/// The leader left without completing: leave, then join again.
pub const SF_EHANDOFF: sf_status = 8;
/// The outcome is another language's native value with no byte form.
pub const SF_ENOBYTES: sf_status = 9;

/// `SF_JOIN_RUN_HERE`: a leader runs the work on the joining thread.
pub const SF_JOIN_RUN_HERE: c_uint = 1;

/// An immutable, refcounted buffer (`sf_bytes`). Opaque.
pub enum sf_bytes {}
/// A namespace of flights (`sf_group`). Opaque.
pub enum sf_group {}
/// One participant's hold on a flight (`sf_ticket`). Opaque.
pub enum sf_ticket {}

/// Release callback of `sf_bytes_wrap` (nullable).
pub type sf_release_fn = Option<unsafe extern "C" fn(ctx: *mut c_void)>;

/// The work of `sf_do` (`sf_work_fn`; nullable here so that bad input can be
/// passed on purpose).
pub type sf_work_fn = Option<
    unsafe extern "C" fn(userdata: *mut c_void, value: *mut *mut sf_bytes, error: *mut *mut sf_bytes) -> sf_status,
>;

/// Completion / abandonment callback (`sf_notify_fn`, nullable).
pub type sf_notify_fn = Option<unsafe extern "C" fn(userdata: *mut c_void)>;

/// A caller's hold on a flight's rendezvous (`sf_meeting`). Opaque.
pub enum sf_meeting {}

/// What a call hands over (`sf_result`).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct sf_result {
    /// A new reference, or NULL: release it.
    pub value: *mut sf_bytes,
    /// A new reference, or NULL: release it.
    pub error: *mut sf_bytes,
    /// Nonzero when this outcome went to more than one caller.
    pub shared: c_int,
}

impl sf_result {
    /// A result with both pointers NULL.
    pub const EMPTY: sf_result = sf_result { value: core::ptr::null_mut(), error: core::ptr::null_mut(), shared: 0 };
}

/// How many buckets an `sf_histogram` has.
pub const SF_LATENCY_BUCKETS: usize = 32;
/// `sf_group_latency`: followers' waits.
pub const SF_LATENCY_WAIT: c_int = 0;
/// `sf_group_latency`: the work's runs.
pub const SF_LATENCY_WORK: c_int = 1;

/// One latency histogram of a group (`sf_histogram`): bucket `i < 31` counts
/// samples `d` with `2^(9+i) < d <= 2^(10+i)` ns (bucket 0 every `d <= 1024`),
/// the last every longer one. Not cumulative.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct sf_histogram {
    /// Samples: the sum of the buckets.
    pub count: u64,
    /// The samples' total, in nanoseconds.
    pub sum_ns: u64,
    /// Samples per bucket.
    pub buckets: [u64; SF_LATENCY_BUCKETS],
}

/// Counters of one group (`sf_stats`).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct sf_stats {
    /// Flights started (one per leader).
    pub flights: u64,
    /// Joins that followed a flight already running.
    pub followers: u64,
    /// Flights forgotten while running.
    pub forgets: u64,
    /// Flights that ended with a panic (`SF_EPANIC`).
    pub panics: u64,
    /// Waits with a positive timeout that reached it.
    pub timeouts: u64,
    /// Waits that were cancelled (`SF_ECANCELED`).
    pub cancellations: u64,
    /// Flights whose leader left without completing.
    pub handoffs: u64,
    /// Times a running flight was left by every waiter.
    pub abandoned: u64,
    /// Gauge: flights a new caller would join right now.
    pub in_table: u64,
    /// Gauge: flights still held by a ticket (0 when idle).
    pub live: u64,
    /// Fleet groups: fleet flights this process led.
    pub fleet_led: u64,
    /// Fleet groups: flights that ended with another process's outcome.
    pub fleet_joined: u64,
    /// Fleet groups: leads won from a leader whose lease had run out.
    pub fleet_taken_over: u64,
    /// Fleet groups: completions the server refused (the lease was lost).
    pub fleet_fenced: u64,
    /// Fleet groups: lease renewals refused.
    pub fleet_leases_lost: u64,
    /// Fleet groups: flights run locally because the server was unreachable, slow or failing.
    pub fleet_fallbacks: u64,
    /// Fleet groups: values over the limit, published as a marker or received as one.
    pub fleet_too_large: u64,
    /// Fleet groups: connections made again after a loss.
    pub fleet_reconnects: u64,
}

/// Identifies a binding's native values (`sf_native_kind`); its address is
/// the tag.
#[repr(C)]
#[derive(Debug)]
pub struct sf_native_kind {
    /// The language, for messages (NUL-terminated).
    pub name: *const c_char,
    /// Releases one native value of this kind (nullable in C).
    pub release: Option<unsafe extern "C" fn(value: *mut c_void)>,
}

/// `SF_FLEET_OPTIONS_VERSION`: the version of [`sf_fleet_options`] these
/// declarations describe.
pub const SF_FLEET_OPTIONS_VERSION: c_uint = 1;

/// Options of a fleet group (`sf_fleet_options`); every 0 or NULL means the
/// default. Start from [`sf_fleet_options::INIT`] (`SF_FLEET_OPTIONS_INIT`).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct sf_fleet_options {
    /// `SF_FLEET_OPTIONS_VERSION`.
    pub version: c_uint,
    /// The server's URL (NUL-terminated; NULL: `SF_REDIS_URL`, else
    /// `redis://127.0.0.1:6379`). Copied by the engine.
    pub url: *const c_char,
    /// The first part of every Redis key and channel (NULL: "sf"). Copied.
    pub key_prefix: *const c_char,
    /// A leader's lease in milliseconds (0: 5000).
    pub lease_ms: u32,
    /// Largest value (or error) published (0: 1 MiB).
    pub max_value_bytes: u32,
    /// Connect timeout in milliseconds (0: 1000).
    pub connect_timeout_ms: u32,
    /// A reply later than this trips the breaker (0: 1000).
    pub command_timeout_ms: u32,
    /// Keep the last outcome of a key this long for newcomers (0: nothing).
    pub linger_ms: u32,
    /// How long the breaker stays open before trying again (0: 1000).
    pub cooldown_ms: u32,
}

impl sf_fleet_options {
    /// `SF_FLEET_OPTIONS_INIT`: the defaults.
    pub const INIT: sf_fleet_options = sf_fleet_options {
        version: SF_FLEET_OPTIONS_VERSION,
        url: core::ptr::null(),
        key_prefix: core::ptr::null(),
        lease_ms: 0,
        max_value_bytes: 0,
        connect_timeout_ms: 0,
        command_timeout_ms: 0,
        linger_ms: 0,
        cooldown_ms: 0,
    };
}

// Safety: an sf_native_kind is immutable static data (a pointer to a static
// C string and a function pointer), read concurrently by the engine.
unsafe impl Sync for sf_native_kind {}

extern "C" {
    /// The library's version as `SF_VERSION_NUMBER` computes it.
    pub fn sf_version() -> c_uint;
    /// The library's version as "MAJOR.MINOR.PATCH"; static.
    pub fn sf_version_string() -> *const c_char;
    /// An address unique to this loaded copy of the engine.
    pub fn sf_engine_id() -> *const c_void;
    /// A readable, static name for any status value.
    pub fn sf_status_str(status: sf_status) -> *const c_char;

    /// A copy of `len` bytes at `data`.
    pub fn sf_bytes_new(data: *const c_void, len: usize) -> *mut sf_bytes;
    /// Adopts `data` without a copy; `release(ctx)` runs exactly once.
    pub fn sf_bytes_wrap(data: *mut c_void, len: usize, release: sf_release_fn, ctx: *mut c_void) -> *mut sf_bytes;
    /// Takes one more reference; returns its argument.
    pub fn sf_bytes_retain(bytes: *mut sf_bytes) -> *mut sf_bytes;
    /// Drops one reference; NULL is a no-op.
    pub fn sf_bytes_release(bytes: *mut sf_bytes);
    /// Borrowed data pointer; NULL for NULL.
    pub fn sf_bytes_data(bytes: *const sf_bytes) -> *const c_void;
    /// Length in bytes; 0 for NULL.
    pub fn sf_bytes_len(bytes: *const sf_bytes) -> usize;

    /// A new private group.
    pub fn sf_group_new() -> *mut sf_group;
    /// The process-wide group called `name`.
    pub fn sf_group_open(name: *const c_void, name_len: usize) -> *mut sf_group;
    /// The process-wide fleet group called `name`, its flights shared with
    /// every process that opened it on the same server (`options` NULL: the
    /// defaults). NULL only on bad input or no memory.
    pub fn sf_group_open_fleet(name: *const c_void, name_len: usize, options: *const sf_fleet_options)
        -> *mut sf_group;
    /// The fencing token of a fleet flight's leader (`work` its work ticket,
    /// or NULL inside an `sf_do` work function); 0 for a local flight.
    pub fn sf_fence_token(work: *const sf_ticket, token: *mut u64) -> sf_status;
    /// Takes one more reference; returns its argument.
    pub fn sf_group_retain(group: *mut sf_group) -> *mut sf_group;
    /// Drops one reference; NULL is a no-op.
    pub fn sf_group_release(group: *mut sf_group);
    /// Turns the recording of the group's latency histograms on (`on`
    /// nonzero) or off.
    pub fn sf_group_record_latency(group: *mut sf_group, on: c_int) -> sf_status;
    /// Fills `out` (of `out_size` bytes) with the histogram `which`
    /// (`SF_LATENCY_WAIT` or `SF_LATENCY_WORK`).
    pub fn sf_group_latency(group: *const sf_group, which: c_int, out: *mut sf_histogram, out_size: usize)
        -> sf_status;
    /// Fills `stats` (of `stats_size` bytes).
    pub fn sf_group_stats(group: *const sf_group, stats: *mut sf_stats, stats_size: usize) -> sf_status;
    /// Counts one caller that gave up waiting in the binding's own way (not
    /// inside `sf_wait`): `SF_ETIMEDOUT` adds one to `stats.timeouts`,
    /// `SF_ECANCELED` one to `stats.cancellations`; any other reason is
    /// `SF_EINVAL`.
    pub fn sf_group_count_giveup(group: *mut sf_group, reason: sf_status) -> sf_status;

    /// Runs or joins the flight of `key` and blocks until its outcome.
    pub fn sf_do(
        group: *mut sf_group,
        key: *const c_void,
        key_len: usize,
        work: sf_work_fn,
        userdata: *mut c_void,
        result: *mut sf_result,
    ) -> sf_status;
    /// Makes the next caller of `key` start a new flight.
    pub fn sf_forget(group: *mut sf_group, key: *const c_void, key_len: usize) -> sf_status;
    /// Forgets `key` only if nobody but its leader has joined.
    pub fn sf_forget_unshared(
        group: *mut sf_group,
        key: *const c_void,
        key_len: usize,
        forgotten: *mut c_int,
    ) -> sf_status;

    /// Joins the flight of `key`, or starts one.
    pub fn sf_join(
        group: *mut sf_group,
        key: *const c_void,
        key_len: usize,
        flags: c_uint,
        wait: *mut *mut sf_ticket,
        work: *mut *mut sf_ticket,
    ) -> sf_status;
    /// Completes the flight with its outcome (takes `value` and `error`).
    pub fn sf_complete(
        work: *mut sf_ticket,
        status: sf_status,
        value: *mut sf_bytes,
        error: *mut sf_bytes,
    ) -> sf_status;
    /// `sf_complete` with a native value of `kind` beside the bytes.
    pub fn sf_complete_native(
        work: *mut sf_ticket,
        status: sf_status,
        value: *mut sf_bytes,
        error: *mut sf_bytes,
        kind: *const sf_native_kind,
        native: *mut c_void,
    ) -> sf_status;
    /// The leader's whole ending in one call: completes the flight as
    /// `sf_complete_native` would, hands the leader its own outcome as
    /// `sf_wait_native(wait, 0, ..)` would (without the native value), and
    /// leaves both tickets. `wait` must be the wait ticket of the same
    /// `sf_join` as `work`. On `SF_EINVAL` nothing is completed or left and
    /// `value`, `error`, `native` are released as `sf_complete` does.
    pub fn sf_finish(
        wait: *mut sf_ticket,
        work: *mut sf_ticket,
        status: sf_status,
        value: *mut sf_bytes,
        error: *mut sf_bytes,
        kind: *const sf_native_kind,
        native: *mut c_void,
        result: *mut sf_result,
    ) -> sf_status;
    /// The leader's ending when nobody else holds a ticket: if `wait` and
    /// `work` (the pair of one `sf_join`) are the flight's only tickets, ends
    /// it with no outcome handed over, leaves both, sets `*shared` (may be
    /// null) and returns 1; otherwise changes nothing and returns 0 (end with
    /// `sf_finish`). `status` only feeds the group's counters.
    pub fn sf_finish_alone(wait: *mut sf_ticket, work: *mut sf_ticket, status: sf_status, shared: *mut c_int) -> c_int;
    /// Waits for the outcome (`timeout_ns` < 0 forever, 0 polls).
    pub fn sf_wait(wait: *mut sf_ticket, timeout_ns: i64, result: *mut sf_result) -> sf_status;
    /// `sf_wait` that also hands over a native value of `kind` (borrowed).
    pub fn sf_wait_native(
        wait: *mut sf_ticket,
        timeout_ns: i64,
        kind: *const sf_native_kind,
        result: *mut sf_result,
        native: *mut *mut c_void,
    ) -> sf_status;
    /// Calls `f(userdata)` once when the outcome is ready (or on hand-off).
    pub fn sf_subscribe(wait: *mut sf_ticket, f: sf_notify_fn, userdata: *mut c_void) -> sf_status;
    /// Makes a blocked (or the next) `sf_wait` return `SF_ECANCELED`.
    pub fn sf_cancel(wait: *mut sf_ticket) -> sf_status;
    /// Calls `f(userdata)` at most once, when every wait ticket has left.
    pub fn sf_on_abandoned(work: *mut sf_ticket, f: sf_notify_fn, userdata: *mut c_void) -> sf_status;
    /// 1 if the flight is abandoned right now, else 0.
    pub fn sf_abandoned(ticket: *const sf_ticket) -> c_int;
    /// Per-binding rendezvous object of a flight.
    pub fn sf_attach(
        ticket: *mut sf_ticket,
        kind: *const sf_native_kind,
        value: *mut c_void,
        current: *mut *mut c_void,
    ) -> sf_status;
    /// Joins through the flight's rendezvous of `kind` (a meeting, ended by
    /// `sf_meeting_end` with the binding's decision), or else as `sf_join`.
    pub fn sf_join_or_meet(
        group: *mut sf_group,
        key: *const c_void,
        key_len: usize,
        flags: c_uint,
        kind: *const sf_native_kind,
        meeting: *mut *mut sf_meeting,
        rendezvous: *mut *mut c_void,
        wait: *mut *mut sf_ticket,
        work: *mut *mut sf_ticket,
    ) -> sf_status;
    /// Ends a meeting; `joined` nonzero counts the caller. NULL is a no-op.
    pub fn sf_meeting_end(meeting: *mut sf_meeting, joined: c_int);
    /// Gives a ticket back; NULL is a no-op.
    pub fn sf_leave(ticket: *mut sf_ticket);
}
