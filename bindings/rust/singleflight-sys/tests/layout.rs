//! Checks the Rust declarations against the installed `singleflight.h`: a
//! small C program compiled against the header prints the sizes and offsets
//! of every struct and the value of every constant, and the test compares
//! them with what Rust sees.

use singleflight_sys::*;
use std::mem::{align_of, offset_of, size_of};
use std::process::Command;

/// The C side of one check: the expression the probe prints.
macro_rules! c_expr {
    (size $t:ident) => {
        concat!("sizeof(", stringify!($t), ")")
    };
    (align $t:ident) => {
        concat!("_Alignof(", stringify!($t), ")")
    };
    (offset $t:ident . $f:ident) => {
        concat!("offsetof(", stringify!($t), ", ", stringify!($f), ")")
    };
    (constant $c:ident) => {
        stringify!($c)
    };
}

/// The Rust side of one check: what the declarations say.
macro_rules! rust_value {
    (size $t:ident) => {
        size_of::<$t>() as u64
    };
    (align $t:ident) => {
        align_of::<$t>() as u64
    };
    (offset $t:ident . $f:ident) => {
        offset_of!($t, $f) as u64
    };
    (constant $c:ident) => {
        $c as u64
    };
}

/// Every check, named once: the probe's lines (`P("expr", expr);`) and
/// the values Rust expects, by the same name.
macro_rules! checks {
    ($([$($check:tt)*])*) => {
        const PROBE_CHECKS: &str = concat!($("  P(\"", c_expr!($($check)*), "\", ", c_expr!($($check)*), ");\n",)*);
        fn expected() -> Vec<(&'static str, u64)> {
            vec![$((c_expr!($($check)*), rust_value!($($check)*)),)*]
        }
    };
}

checks! {
    [size sf_result] [align sf_result]
    [offset sf_result.value] [offset sf_result.error] [offset sf_result.shared]
    [size sf_stats] [align sf_stats]
    [offset sf_stats.flights] [offset sf_stats.abandoned] [offset sf_stats.live] [offset sf_stats.fleet_reconnects]
    [size sf_fleet_options] [align sf_fleet_options]
    [offset sf_fleet_options.url] [offset sf_fleet_options.key_prefix]
    [offset sf_fleet_options.lease_ms] [offset sf_fleet_options.cooldown_ms]
    [constant SF_FLEET_OPTIONS_VERSION]
    [size sf_native_kind] [align sf_native_kind]
    [offset sf_native_kind.name] [offset sf_native_kind.release]
    [size sf_status]
    [constant SF_OK] [constant SF_EWORK] [constant SF_EPANIC] [constant SF_EINVAL] [constant SF_ENOMEM]
    [constant SF_EDEADLK] [constant SF_ETIMEDOUT] [constant SF_ECANCELED] [constant SF_EHANDOFF]
    [constant SF_ENOBYTES] [constant SF_JOIN_RUN_HERE] [constant SF_VERSION_NUMBER]
}

/// The probe's opening; its body is [`PROBE_CHECKS`].
const PROBE_HEAD: &str = r#"
#include <stdio.h>
#include <stddef.h>
#include "singleflight.h"
#define P(name, expr) printf("%s %llu\n", name, (unsigned long long)(expr))
int main(void) {
"#;

#[test]
fn layout_matches_header() {
    let dir = std::env::temp_dir().join(format!("sf-layout-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let src = dir.join("probe.c");
    let exe = dir.join("probe");
    std::fs::write(&src, format!("{PROBE_HEAD}{PROBE_CHECKS}  return 0;\n}}\n")).unwrap();
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
            let (k, v) = l.rsplit_once(' ').unwrap();
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
