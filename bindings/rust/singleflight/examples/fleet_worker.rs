//! A worker process of the fleet tests: it opens a fleet group with
//! `Group::open_fleet` and stampedes one key from several callers, half of
//! them blocking (`Group::call` on threads), half async (`Group::call_async`
//! under `smol::block_on`). It speaks the worker protocol of
//! `tests/cross/fleet/README.md`: configuration in `SF_FLEET_*` variables,
//! commands on stdin (`go`, `release`, `stats`, `exit`), one JSON event per
//! line on stdout. Beyond that protocol, `SF_FLEET_TIMEOUT_MS` (if set)
//! bounds each caller's wait for another process's flight.
//!
//! `cargo run --example fleet_worker` (with the variables set); the binding's
//! own fleet tests (`tests/fleet.rs`) run this code in copies of their test
//! binary.

use std::fmt::Write as _;
use std::io::{BufRead, Write as _};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use singleflight::{fence_token, Bytes, Error, FleetOptions, Group, Shared};

const LANG: &str = "rust";

/// The flags the commands on stdin raise.
#[derive(Default)]
struct Flags {
    go: bool,
    release: bool,
    stats: bool,
    exit: bool,
}

#[derive(Default)]
struct Commands {
    flags: Mutex<Flags>,
    changed: Condvar,
}

impl Commands {
    fn raise(&self, f: impl FnOnce(&mut Flags)) {
        f(&mut self.flags.lock().unwrap());
        self.changed.notify_all();
    }
    fn wait_for(&self, f: impl Fn(&Flags) -> bool) {
        let mut flags = self.flags.lock().unwrap();
        while !f(&flags) {
            flags = self.changed.wait(flags).unwrap();
        }
    }
}

/// A JSON string literal of `s`.
fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Prints one event (`fields`: more `"name":value` pairs, or empty).
fn emit(event: &str, fields: &str) {
    let mut line = format!("{{\"event\":\"{event}\",\"pid\":{},\"lang\":\"{LANG}\"", std::process::id());
    if !fields.is_empty() {
        line.push(',');
        line.push_str(fields);
    }
    line.push_str("}\n");
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(line.as_bytes());
    let _ = out.flush();
}

fn env(name: &str, default: &str) -> String {
    std::env::var(name).ok().filter(|v| !v.is_empty()).unwrap_or_else(|| default.to_string())
}

/// One caller's outcome as a `result` event's fields.
fn result_fields(outcome: std::thread::Result<Result<Shared<Bytes>, Error<String>>>) -> String {
    let (status, value, error, shared) = match outcome {
        Ok(Ok(v)) => (0, Some(String::from_utf8_lossy(&v).into_owned()), None, v.is_shared()),
        Ok(Err(e)) => {
            let status = match &e {
                Error::Work(_) | Error::Foreign { failed: true, .. } => 1,
                Error::Timeout => 6,
                Error::NoBytes(_) => 9,
                _ => 3,
            };
            let text = match &e {
                Error::Work(m) => m.to_string(),
                other => other.to_string(),
            };
            (status, None, Some(text), false)
        }
        Err(payload) => {
            let text = payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            (2, None, Some(text), false)
        }
    };
    let mut f = format!("\"status\":{status},\"shared\":{shared}");
    if let Some(v) = value {
        let _ = write!(f, ",\"value\":{}", json_string(&v));
    }
    if let Some(e) = error {
        let _ = write!(f, ",\"error\":{}", json_string(&e));
    }
    f
}

/// Runs the worker; its exit status.
pub fn run() -> i32 {
    let name = env("SF_FLEET_GROUP", "cross");
    let key = env("SF_FLEET_KEY", "hot key");
    let mode = env("SF_FLEET_MODE", "value");
    let exec_file = env("SF_FLEET_EXEC_FILE", "/dev/null");
    let callers: usize = env("SF_FLEET_CALLERS", "4").parse().unwrap_or(0);
    let lease_ms: u64 = env("SF_FLEET_LEASE_MS", "0").parse().unwrap_or(0);
    let timeout = std::env::var("SF_FLEET_TIMEOUT_MS").ok().and_then(|t| t.parse().ok()).map(Duration::from_millis);
    let mut options = FleetOptions { url: std::env::var("SF_FLEET_URL").ok(), ..FleetOptions::default() };
    if lease_ms > 0 {
        options.lease = Duration::from_millis(lease_ms);
    }
    let group = match Group::open_fleet(&name, options) {
        Ok(g) if callers > 0 => g,
        other => {
            eprintln!("rust worker: {other:?}, {callers} callers");
            return 2;
        }
    };
    let commands = Arc::new(Commands::default());
    {
        let commands = commands.clone();
        std::thread::spawn(move || {
            for line in std::io::stdin().lock().lines() {
                let Ok(line) = line else { break };
                match line.trim() {
                    "go" => commands.raise(|f| f.go = true),
                    "release" => commands.raise(|f| f.release = true),
                    "stats" => commands.raise(|f| f.stats = true),
                    "exit" => {
                        commands.raise(|f| f.exit = true);
                        return;
                    }
                    _ => {}
                }
            }
            commands.raise(|f| {
                f.release = true;
                f.stats = true;
                f.exit = true;
            });
        });
    }
    emit("ready", "");
    commands.wait_for(|f| f.go);

    let work = {
        let commands = commands.clone();
        let mode = mode.clone();
        move || -> Result<Bytes, String> {
            let pid = std::process::id();
            if let Ok(mut f) = std::fs::OpenOptions::new().append(true).create(true).open(&exec_file) {
                let _ = writeln!(f, "{LANG} {pid}");
            }
            emit("leading", &format!("\"token\":{}", fence_token()));
            commands.wait_for(|f| f.release);
            match mode.as_str() {
                "error" => Err(format!("work failed in {LANG} {pid}")),
                "panic" => panic!("boom in {LANG} {pid}"),
                _ => Ok(Bytes::from(format!("{LANG} {pid}"))),
            }
        }
    };

    let entered = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..callers)
        .map(|i| {
            let (group, key, work, entered) = (group.clone(), key.clone(), work.clone(), entered.clone());
            std::thread::spawn(move || {
                entered.fetch_add(1, Ordering::SeqCst);
                let outcome = catch_unwind(AssertUnwindSafe(|| {
                    if i % 2 == 0 {
                        match timeout {
                            Some(t) => group.call_timeout(&key, t, work),
                            None => group.call(&key, work),
                        }
                    } else {
                        let call = group.call_async(&key, async move { work() });
                        let call = match timeout {
                            Some(t) => call.timeout(t),
                            None => call,
                        };
                        smol::block_on(call)
                    }
                }));
                emit("result", &result_fields(outcome));
            })
        })
        .collect();
    // "joined": every caller has entered and joined this process's flight.
    let mut joined = false;
    for _ in 0..100_000 {
        if entered.load(Ordering::SeqCst) == callers && group.stats().followers + 1 >= callers as u64 {
            joined = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    if !joined {
        eprintln!("rust worker: the callers never joined: {:?}", group.stats());
        return 3;
    }
    emit("joined", "");
    for t in threads {
        let _ = t.join();
    }
    commands.wait_for(|f| f.stats);
    let s = group.stats();
    emit(
        "stats",
        &format!(
            "\"stats\":{{\"flights\":{},\"followers\":{},\"timeouts\":{},\"fleet_led\":{},\"fleet_joined\":{},\
             \"fleet_taken_over\":{},\"fleet_fenced\":{},\"fleet_fallbacks\":{},\"fleet_reconnects\":{}}}",
            s.flights,
            s.followers,
            s.timeouts,
            s.fleet_led,
            s.fleet_joined,
            s.fleet_taken_over,
            s.fleet_fenced,
            s.fleet_fallbacks,
            s.fleet_reconnects
        ),
    );
    commands.wait_for(|f| f.exit);
    drop(group);
    0
}

#[allow(dead_code)] // a module of the binding's fleet tests, which have their own main
fn main() {
    std::process::exit(run());
}
