//! Finds the installed engine, `libsingleflight.so`, and links it dynamically.
//!
//! Order of preference:
//! 1. `SINGLEFLIGHT_LIB_DIR` (and optionally `SINGLEFLIGHT_INCLUDE_DIR`): link
//!    the library in that directory, no pkg-config needed.
//! 2. pkg-config: `singleflight.pc` with a version in the range this crate was
//!    written for (`. scripts/env.sh` puts the project's one on PKG_CONFIG_PATH).
//!
//! The engine is never compiled here: one process must hold exactly one
//! engine, or named groups would stop being shared between languages.

use std::env;
use std::path::PathBuf;

/// The header version these declarations match: any 0.1.x library.
const MIN_VERSION: &str = "0.1.0";
const MAX_VERSION: &str = "0.2.0";

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=SINGLEFLIGHT_LIB_DIR");
    println!("cargo:rerun-if-env-changed=SINGLEFLIGHT_INCLUDE_DIR");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");

    if let Ok(dir) = env::var("SINGLEFLIGHT_LIB_DIR") {
        let dir = PathBuf::from(dir);
        if !dir.join("libsingleflight.so").exists() && !dir.join("libsingleflight.dylib").exists() {
            println!("cargo:warning=SINGLEFLIGHT_LIB_DIR={} holds no libsingleflight shared library", dir.display());
        }
        println!("cargo:rustc-link-search=native={}", dir.display());
        println!("cargo:rustc-link-lib=dylib=singleflight");
        // Let test binaries and examples find the library without LD_LIBRARY_PATH.
        println!("cargo:rustc-link-arg=-Wl,-rpath,{}", dir.display());
        println!("cargo:libdir={}", dir.display());
        let include =
            env::var("SINGLEFLIGHT_INCLUDE_DIR").map(PathBuf::from).unwrap_or_else(|_| dir.join("..").join("include"));
        export_include(&include);
        return;
    }

    match pkg_config::Config::new().range_version(MIN_VERSION..MAX_VERSION).probe("singleflight") {
        Ok(lib) => {
            // pkg-config prints the link flags (and singleflight.pc's rpath)
            // itself; add an rpath for every link directory in case the .pc
            // file has none.
            for dir in &lib.link_paths {
                println!("cargo:rustc-link-arg=-Wl,-rpath,{}", dir.display());
            }
            // rustc-link-arg reaches only this package's own targets: publish
            // the directory (DEP_SINGLEFLIGHT_LIBDIR) so that dependents can
            // add the rpath to theirs (see the singleflight crate's build.rs).
            if let Some(dir) = lib.link_paths.first() {
                println!("cargo:libdir={}", dir.display());
            }
            if let Some(include) = lib.include_paths.first() {
                export_include(include);
            } else if let Ok(dir) = env::var("SINGLEFLIGHT_INCLUDE_DIR") {
                export_include(&PathBuf::from(dir));
            } else {
                export_include(&PathBuf::from("/usr/include"));
            }
        }
        Err(err) => {
            println!(
                "cargo:warning=singleflight-sys: the singleflight engine ({MIN_VERSION} <= version < {MAX_VERSION}) was not found"
            );
            println!(
                "cargo:warning=install it and put its singleflight.pc on PKG_CONFIG_PATH (in the project: `. scripts/env.sh`), or set SINGLEFLIGHT_LIB_DIR"
            );
            panic!("singleflight-sys: libsingleflight not found through pkg-config: {err}");
        }
    }
}

/// Tells dependents (`DEP_SINGLEFLIGHT_INCLUDE`) and this crate's own layout
/// test (`SINGLEFLIGHT_HEADER_DIR`) where `singleflight.h` lives.
fn export_include(dir: &std::path::Path) {
    println!("cargo:include={}", dir.display());
    println!("cargo:rustc-env=SINGLEFLIGHT_HEADER_DIR={}", dir.display());
}
