//! Checks the Rust declarations against the installed `singleflight.h`: a
//! small C program compiled against the header prints the sizes and offsets
//! of every struct and the value of every constant, and the test compares
//! them with what Rust sees.

use singleflight_sys::*;
use std::mem::{align_of, offset_of, size_of};
use std::process::Command;

const PROBE: &str = r#"
#include <stdio.h>
#include <stddef.h>
#include "singleflight.h"
#define P(name, expr) printf("%s %llu\n", name, (unsigned long long)(expr))
int main(void) {
  P("result.size", sizeof(sf_result));
  P("result.align", _Alignof(sf_result));
  P("result.value", offsetof(sf_result, value));
  P("result.error", offsetof(sf_result, error));
  P("result.shared", offsetof(sf_result, shared));
  P("stats.size", sizeof(sf_stats));
  P("stats.align", _Alignof(sf_stats));
  P("stats.flights", offsetof(sf_stats, flights));
  P("stats.abandoned", offsetof(sf_stats, abandoned));
  P("stats.live", offsetof(sf_stats, live));
  P("stats.fleet_reconnects", offsetof(sf_stats, fleet_reconnects));
  P("kind.size", sizeof(sf_native_kind));
  P("kind.align", _Alignof(sf_native_kind));
  P("kind.name", offsetof(sf_native_kind, name));
  P("kind.release", offsetof(sf_native_kind, release));
  P("status.size", sizeof(sf_status));
  P("SF_OK", SF_OK); P("SF_EWORK", SF_EWORK); P("SF_EPANIC", SF_EPANIC);
  P("SF_EINVAL", SF_EINVAL); P("SF_ENOMEM", SF_ENOMEM); P("SF_EDEADLK", SF_EDEADLK);
  P("SF_ETIMEDOUT", SF_ETIMEDOUT); P("SF_ECANCELED", SF_ECANCELED);
  P("SF_EHANDOFF", SF_EHANDOFF); P("SF_ENOBYTES", SF_ENOBYTES);
  P("SF_JOIN_RUN_HERE", SF_JOIN_RUN_HERE);
  P("SF_VERSION_NUMBER", SF_VERSION_NUMBER);
  return 0;
}
"#;

fn expected() -> Vec<(&'static str, u64)> {
    vec![
        ("result.size", size_of::<sf_result>() as u64),
        ("result.align", align_of::<sf_result>() as u64),
        ("result.value", offset_of!(sf_result, value) as u64),
        ("result.error", offset_of!(sf_result, error) as u64),
        ("result.shared", offset_of!(sf_result, shared) as u64),
        ("stats.size", size_of::<sf_stats>() as u64),
        ("stats.align", align_of::<sf_stats>() as u64),
        ("stats.flights", offset_of!(sf_stats, flights) as u64),
        ("stats.abandoned", offset_of!(sf_stats, abandoned) as u64),
        ("stats.live", offset_of!(sf_stats, live) as u64),
        ("stats.fleet_reconnects", offset_of!(sf_stats, fleet_reconnects) as u64),
        ("kind.size", size_of::<sf_native_kind>() as u64),
        ("kind.align", align_of::<sf_native_kind>() as u64),
        ("kind.name", offset_of!(sf_native_kind, name) as u64),
        ("kind.release", offset_of!(sf_native_kind, release) as u64),
        ("status.size", size_of::<sf_status>() as u64),
        ("SF_OK", SF_OK as u64),
        ("SF_EWORK", SF_EWORK as u64),
        ("SF_EPANIC", SF_EPANIC as u64),
        ("SF_EINVAL", SF_EINVAL as u64),
        ("SF_ENOMEM", SF_ENOMEM as u64),
        ("SF_EDEADLK", SF_EDEADLK as u64),
        ("SF_ETIMEDOUT", SF_ETIMEDOUT as u64),
        ("SF_ECANCELED", SF_ECANCELED as u64),
        ("SF_EHANDOFF", SF_EHANDOFF as u64),
        ("SF_ENOBYTES", SF_ENOBYTES as u64),
        ("SF_JOIN_RUN_HERE", SF_JOIN_RUN_HERE as u64),
        ("SF_VERSION_NUMBER", SF_VERSION_NUMBER as u64),
    ]
}

#[test]
fn layout_matches_header() {
    let dir = std::env::temp_dir().join(format!("sf-layout-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let src = dir.join("probe.c");
    let exe = dir.join("probe");
    std::fs::write(&src, PROBE).unwrap();
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".to_string());
    let status = Command::new(&cc)
        .arg("-std=c11")
        .arg("-I")
        .arg(env!("SINGLEFLIGHT_HEADER_DIR"))
        .arg(&src)
        .arg("-o")
        .arg(&exe)
        .status()
        .unwrap_or_else(|e| panic!("cannot run the C compiler `{cc}` (set CC): {e}"));
    assert!(status.success(), "the layout probe did not compile");
    let out = Command::new(&exe).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let c: Vec<(String, u64)> = text
        .lines()
        .map(|l| {
            let (k, v) = l.split_once(' ').unwrap();
            (k.to_string(), v.parse().unwrap())
        })
        .collect();
    let rust = expected();
    assert_eq!(c.len(), rust.len());
    for ((ck, cv), (rk, rv)) in c.iter().zip(rust.iter()) {
        assert_eq!(ck, rk);
        assert_eq!(cv, rv, "{ck}: C says {cv}, Rust says {rv}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn library_version_matches_declarations() {
    // Safety: sf_version and sf_version_string take no arguments and return
    // a number and a static string.
    let v = unsafe { sf_version() };
    assert_eq!(v / 100, SF_VERSION_NUMBER / 100, "library {v} vs header {SF_VERSION_NUMBER}");
    let s = unsafe { std::ffi::CStr::from_ptr(sf_version_string()) };
    assert!(!s.to_bytes().is_empty());
}

#[test]
fn status_strings_never_null() {
    for s in [-1, SF_OK, SF_EWORK, SF_ENOBYTES, 42] {
        // Safety: sf_status_str accepts any value and returns a static string.
        let p = unsafe { sf_status_str(s) };
        assert!(!p.is_null());
    }
}
