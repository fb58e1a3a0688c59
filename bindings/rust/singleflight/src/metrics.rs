//! Feature `metrics`: a group's counters and latency histograms through the
//! [`metrics`](https://docs.rs/metrics) crate, under the names every binding
//! uses (docs/metrics.md), labelled `group = <label>`.
//!
//! The engine keeps its own counters and buckets, so [`export`] writes their
//! current values: counters with `absolute`, gauges with `set`, and each
//! histogram as the series a Prometheus histogram has —
//! `<name>_bucket{le}` (cumulative counters), `<name>_count` (a counter) and
//! `<name>_sum` (a gauge, in seconds). Call it before every scrape, or on a
//! timer. The first call turns latency recording on for the group.

use crate::group::{Group, Stats};
use crate::latency::Histogram;

/// One counter: its name, how to read it from [`Stats`], and whether it is a gauge.
pub type Counter = (&'static str, fn(&Stats) -> u64, bool);

/// The counters in docs/metrics.md's order.
pub const COUNTERS: &[Counter] = &[
    ("singleflight_flights_total", |s| s.flights, false),
    ("singleflight_followers_total", |s| s.followers, false),
    ("singleflight_forgets_total", |s| s.forgets, false),
    ("singleflight_panics_total", |s| s.panics, false),
    ("singleflight_timeouts_total", |s| s.timeouts, false),
    ("singleflight_cancellations_total", |s| s.cancellations, false),
    ("singleflight_handoffs_total", |s| s.handoffs, false),
    ("singleflight_abandoned_total", |s| s.abandoned, false),
    ("singleflight_in_table", |s| s.in_table, true),
    ("singleflight_live", |s| s.live, true),
    ("singleflight_fleet_led_total", |s| s.fleet_led, false),
    ("singleflight_fleet_joined_total", |s| s.fleet_joined, false),
    ("singleflight_fleet_taken_over_total", |s| s.fleet_taken_over, false),
    ("singleflight_fleet_fenced_total", |s| s.fleet_fenced, false),
    ("singleflight_fleet_leases_lost_total", |s| s.fleet_leases_lost, false),
    ("singleflight_fleet_fallbacks_total", |s| s.fleet_fallbacks, false),
    ("singleflight_fleet_too_large_total", |s| s.fleet_too_large, false),
    ("singleflight_fleet_reconnects_total", |s| s.fleet_reconnects, false),
];

/// The followers' waits histogram's name.
pub const WAIT_SECONDS: &str = "singleflight_wait_seconds";
/// The work's runs histogram's name.
pub const WORK_SECONDS: &str = "singleflight_work_seconds";

/// Writes the group's counters and histograms to the installed `metrics`
/// recorder, labelled `group = label`, and turns latency recording on.
pub fn export(group: &Group, label: &str) {
    group.record_latency(true);
    let s = group.stats();
    for &(name, read, gauge) in COUNTERS {
        let v = read(&s);
        if gauge {
            metrics::gauge!(name, "group" => label.to_owned()).set(v as f64);
        } else {
            metrics::counter!(name, "group" => label.to_owned()).absolute(v);
        }
    }
    let l = group.latency();
    histogram(WAIT_SECONDS, &l.wait, label);
    histogram(WORK_SECONDS, &l.work, label);
}

fn histogram(name: &'static str, h: &Histogram, label: &str) {
    let bucket = format!("{name}_bucket");
    for (le, n) in h.cumulative() {
        metrics::counter!(bucket.clone(), "group" => label.to_owned(), "le" => le_label(le)).absolute(n);
    }
    metrics::counter!(bucket, "group" => label.to_owned(), "le" => "+Inf").absolute(h.count);
    metrics::counter!(format!("{name}_count"), "group" => label.to_owned()).absolute(h.count);
    metrics::gauge!(format!("{name}_sum"), "group" => label.to_owned()).set(h.sum.as_secs_f64());
}

/// A bucket bound as Go's and Python's exporters write it (`1.024e-06`,
/// `0.000131072`, `1099.511627776`), so that every binding's series match.
fn le_label(le: f64) -> String {
    let s = format!("{le:?}");
    match s.split_once("e-") {
        Some((m, e)) if e.len() == 1 => format!("{m}e-0{e}"),
        _ => s,
    }
}
