//! Feature `tracing`: a stampede of blocking calls, seen by a subscriber
//! that records every span and its `role`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

use singleflight::Group;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// A span's name and the fields recorded on it.
type Seen = (String, Vec<(String, String)>);

#[derive(Default)]
struct Spans {
    next: AtomicU64,
    seen: Mutex<Vec<Seen>>, // per span id - 1
}

struct Fields<'a>(&'a mut Vec<(String, String)>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.push((field.name().to_owned(), format!("{value:?}")));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.push((field.name().to_owned(), value.to_owned()));
    }
}

struct Capture(Arc<Spans>);

impl Subscriber for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, attrs: &Attributes<'_>) -> Id {
        let mut fields = Vec::new();
        attrs.record(&mut Fields(&mut fields));
        let mut seen = self.0.seen.lock().unwrap();
        seen.push((attrs.metadata().name().to_owned(), fields));
        self.0.next.store(seen.len() as u64, Ordering::Relaxed);
        Id::from_u64(seen.len() as u64)
    }
    fn record(&self, span: &Id, values: &Record<'_>) {
        let mut seen = self.0.seen.lock().unwrap();
        let entry = &mut seen[span.into_u64() as usize - 1];
        values.record(&mut Fields(&mut entry.1));
    }
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, _: &Event<'_>) {}
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

#[test]
fn a_span_per_call_with_its_role() {
    let spans = Arc::new(Spans::default());
    let dispatch = tracing::Dispatch::new(Capture(spans.clone()));
    let g = Group::new();
    const N: usize = 4;
    thread::scope(|s| {
        for _ in 0..N {
            let dispatch = dispatch.clone();
            let g = &g;
            s.spawn(move || {
                tracing::dispatcher::with_default(&dispatch, || {
                    g.call("key", || {
                        while g.stats().followers < (N - 1) as u64 {
                            thread::yield_now();
                        }
                        Ok::<_, ()>(7u8)
                    })
                    .unwrap();
                })
            });
        }
    });
    let seen = spans.seen.lock().unwrap();
    assert_eq!(seen.len(), N);
    let role = |fields: &Vec<(String, String)>| fields.iter().find(|(k, _)| k == "role").map(|(_, v)| v.clone());
    let leaders = seen.iter().filter(|(_, f)| role(f).as_deref() == Some("leader")).count();
    let followers = seen.iter().filter(|(_, f)| role(f).as_deref() == Some("follower")).count();
    assert_eq!((leaders, followers), (1, N - 1));
    for (name, fields) in seen.iter() {
        assert_eq!(name, "singleflight.call");
        assert!(fields.iter().any(|(k, v)| k == "key_len" && v == "3"), "{fields:?}");
    }
}
