//! A group's latency histograms (`sf_group_latency`): how long followers
//! waited and how long the work ran. Off until [`Group::record_latency`].

use std::time::Duration;

use crate::group::Group;
use crate::sys;

/// How many buckets a [`Histogram`] has.
pub const LATENCY_BUCKETS: usize = sys::SF_LATENCY_BUCKETS;

/// The upper bound (inclusive) of bucket `i < LATENCY_BUCKETS - 1`: 2^(10+i)
/// ns, from 1.024 µs to about 18 minutes; `None` for the last bucket.
pub fn latency_bound(i: usize) -> Option<Duration> {
    (i < LATENCY_BUCKETS - 1).then(|| Duration::from_nanos(1u64 << (10 + i)))
}

/// One latency histogram: samples since recording was turned on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Histogram {
    /// Samples: the sum of `buckets`.
    pub count: u64,
    /// The samples' total.
    pub sum: Duration,
    /// Samples per bucket (not cumulative); see [`latency_bound`].
    pub buckets: [u64; LATENCY_BUCKETS],
}

impl Histogram {
    /// `(upper bound in seconds, samples at or below it)` for every bucket
    /// but the last, whose bound is +Inf (with `count` samples).
    pub fn cumulative(&self) -> Vec<(f64, u64)> {
        let mut n = 0;
        (0..LATENCY_BUCKETS - 1)
            .map(|i| {
                n += self.buckets[i];
                (latency_bound(i).map_or(f64::INFINITY, |d| d.as_secs_f64()), n)
            })
            .collect()
    }
}

/// A group's two histograms.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Latency {
    /// Followers' waits, from their call to the outcome.
    pub wait: Histogram,
    /// The runs of the work this process led, from the leader's call to its end.
    pub work: Histogram,
}

impl Group {
    /// Turns the recording of the group's latency histograms on or off
    /// (`sf_group_record_latency`). Off until turned on: it reads the clock
    /// at every call, about as costly as the cheapest flight. A named group
    /// is shared by every language: one caller's switch is everyone's.
    /// Returns false only when the engine is out of memory (recording stays off).
    pub fn record_latency(&self, on: bool) -> bool {
        // Safety: a live group.
        unsafe { sys::sf_group_record_latency(self.as_raw(), i32::from(on)) == sys::SF_OK }
    }

    /// The group's latency histograms, all zero until [`Group::record_latency`].
    pub fn latency(&self) -> Latency {
        Latency { wait: self.histogram(sys::SF_LATENCY_WAIT), work: self.histogram(sys::SF_LATENCY_WORK) }
    }

    fn histogram(&self, which: core::ffi::c_int) -> Histogram {
        let mut h = sys::sf_histogram::default();
        // Safety: a live group and an output of the size we pass.
        unsafe { sys::sf_group_latency(self.as_raw(), which, &mut h, std::mem::size_of::<sys::sf_histogram>()) };
        Histogram { count: h.count, sum: Duration::from_nanos(h.sum_ns), buckets: h.buckets }
    }
}
