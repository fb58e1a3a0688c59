//! Feature `tracing`: stampedes of blocking and of async calls, seen by a
//! subscriber that records every span, its `role`, and which spans are
//! entered.

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
    /// The ids of the spans entered now, innermost last (one thread).
    entered: Mutex<Vec<u64>>,
}

impl Spans {
    /// The name of the innermost span entered now.
    fn current(&self) -> Option<String> {
        let id = *self.entered.lock().unwrap().last()?;
        Some(self.seen.lock().unwrap()[id as usize - 1].0.clone())
    }
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
    fn enter(&self, span: &Id) {
        self.0.entered.lock().unwrap().push(span.into_u64());
    }
    fn exit(&self, span: &Id) {
        let mut entered = self.0.entered.lock().unwrap();
        if let Some(i) = entered.iter().rposition(|&id| id == span.into_u64()) {
            entered.remove(i);
        }
    }
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
    check_roles(&spans, N);
}

/// One `singleflight.call` span per call, with its key's length: one
/// leader, the rest followers.
fn check_roles(spans: &Spans, n: usize) {
    let seen = spans.seen.lock().unwrap();
    assert_eq!(seen.len(), n);
    let role = |fields: &Vec<(String, String)>| fields.iter().find(|(k, _)| k == "role").map(|(_, v)| v.clone());
    let leaders = seen.iter().filter(|(_, f)| role(f).as_deref() == Some("leader")).count();
    let followers = seen.iter().filter(|(_, f)| role(f).as_deref() == Some("follower")).count();
    assert_eq!((leaders, followers), (1, n - 1));
    for (name, fields) in seen.iter() {
        assert_eq!(name, "singleflight.call");
        assert!(fields.iter().any(|(k, v)| k == "key_len" && v == "3"), "{fields:?}");
    }
}

#[test]
fn a_span_per_async_call_with_its_role_around_the_work() {
    let spans = Arc::new(Spans::default());
    let dispatch = tracing::Dispatch::new(Capture(spans.clone()));
    let g = Group::new();
    const N: usize = 4;
    // Every task on this one thread, so the subscriber's record of entered
    // spans is this thread's.
    tracing::dispatcher::with_default(&dispatch, || {
        let ex = smol::LocalExecutor::new();
        let tasks: Vec<_> = (0..N)
            .map(|_| {
                let (g, spans) = (g.clone(), spans.clone());
                ex.spawn(async move {
                    let g2 = g.clone();
                    g.call_async("key", async move {
                        // The leader's work is polled inside its call's span.
                        assert_eq!(spans.current().as_deref(), Some("singleflight.call"));
                        while g2.stats().followers < (N - 1) as u64 {
                            smol::future::yield_now().await;
                        }
                        assert_eq!(spans.current().as_deref(), Some("singleflight.call"));
                        Ok::<_, ()>(7u8)
                    })
                    .await
                    .unwrap()
                })
            })
            .collect();
        smol::block_on(ex.run(async {
            for t in tasks {
                assert_eq!(*t.await, 7);
            }
        }));
    });
    // Outside every poll, no span is entered.
    assert_eq!(spans.current(), None);
    check_roles(&spans, N);
}
