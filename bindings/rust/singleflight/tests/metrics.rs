//! Feature `metrics`: a stampede, then `export`, read back through
//! metrics-util's DebuggingRecorder.

use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use metrics_util::{CompositeKey, MetricKind};
use singleflight::Group;

const HOLD: Duration = Duration::from_millis(2);

type Snap = Vec<(CompositeKey, Option<metrics::Unit>, Option<metrics::SharedString>, DebugValue)>;

fn find<'a>(snap: &'a Snap, kind: MetricKind, name: &str, labels: &[(&str, &str)]) -> Option<&'a DebugValue> {
    snap.iter()
        .find(|(k, _, _, _)| {
            k.kind() == kind
                && k.key().name() == name
                && labels.iter().all(|(lk, lv)| k.key().labels().any(|l| l.key() == *lk && l.value() == *lv))
                && k.key().labels().count() == labels.len()
        })
        .map(|(_, _, _, v)| v)
}

fn counter(snap: &Snap, name: &str, labels: &[(&str, &str)]) -> Option<u64> {
    match find(snap, MetricKind::Counter, name, labels) {
        Some(DebugValue::Counter(v)) => Some(*v),
        _ => None,
    }
}

fn gauge(snap: &Snap, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    match find(snap, MetricKind::Gauge, name, labels) {
        Some(DebugValue::Gauge(v)) => Some(v.0),
        _ => None,
    }
}

#[test]
fn export_after_a_stampede() {
    let recorder = DebuggingRecorder::new();
    let snapshotter: Snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        let g = Arc::new(Group::new());
        singleflight::metrics::export(&g, "users"); // turns recording on
        const N: usize = 6;
        let joined = Arc::new(Barrier::new(N));
        let threads: Vec<_> = (0..N)
            .map(|_| {
                let (g, joined) = (g.clone(), joined.clone());
                thread::spawn(move || {
                    joined.wait();
                    let g2 = g.clone();
                    g.call("k", move || {
                        while g2.stats().followers < (N - 1) as u64 {
                            thread::yield_now();
                        }
                        thread::sleep(HOLD);
                        Ok::<_, ()>(1u32)
                    })
                    .unwrap();
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        while g.stats().live != 0 {
            thread::yield_now();
        }
        singleflight::metrics::export(&g, "users");
        let snap = snapshotter.snapshot().into_vec();
        let users = [("group", "users")];
        assert_eq!(counter(&snap, "singleflight_flights_total", &users), Some(1));
        assert_eq!(counter(&snap, "singleflight_followers_total", &users), Some(5));
        assert_eq!(gauge(&snap, "singleflight_live", &users), Some(0.0));
        for &(name, _, gauge) in singleflight::metrics::COUNTERS {
            let kind = if gauge { MetricKind::Gauge } else { MetricKind::Counter };
            assert!(find(&snap, kind, name, &users).is_some(), "{name} not exported");
        }
        assert_eq!(counter(&snap, "singleflight_wait_seconds_count", &users), Some(5));
        assert_eq!(counter(&snap, "singleflight_work_seconds_count", &users), Some(1));
        let inf = [("group", "users"), ("le", "+Inf")];
        assert_eq!(counter(&snap, "singleflight_wait_seconds_bucket", &inf), Some(5));
        let low = [("group", "users"), ("le", "1.024e-06")];
        assert_eq!(counter(&snap, "singleflight_wait_seconds_bucket", &low), Some(0));
        let sum = gauge(&snap, "singleflight_work_seconds_sum", &users).expect("work sum");
        assert!(sum >= HOLD.as_secs_f64(), "work sum {sum}");
    });
}
