//! Finds the singleflight engine, `libsingleflight.so`, and links it
//! dynamically; with the `bundled` feature, builds it from the repository's
//! sources when none is installed.
//!
//! Order of preference:
//! 1. `SINGLEFLIGHT_LIB_DIR` (and optionally `SINGLEFLIGHT_INCLUDE_DIR`): link
//!    the library in that directory, no pkg-config needed.
//! 2. pkg-config: `singleflight.pc` with a version in the range this crate was
//!    written for. An engine installed to /usr/local (`meson install`, then
//!    `ldconfig`) is found with no environment at all; the project's own
//!    `.local` through PKG_CONFIG_PATH (`. scripts/env.sh`).
//! 3. With the `bundled` feature only: the engine's C++ sources (`lib/` and
//!    `include/` of the repository, or `SINGLEFLIGHT_SOURCE_DIR`) compiled
//!    here with the `cc` crate into a static archive that is linked into the
//!    Rust program. Setting `SINGLEFLIGHT_BUNDLED=always` skips 1 and 2.
//!
//! One engine per process: a dynamically linked engine is shared by every
//! language in the process through its soname, `libsingleflight.so.0`. A
//! bundled engine is private to the Rust program it is linked into (its
//! symbols are not exported from it), so `bundled` is for a Rust program
//! that hosts no other binding of the engine: a process that also loads the
//! Go, Python or C users of libsingleflight.so.0 would hold two engines and
//! named groups would not be shared between them. Cargo builds this crate
//! once per program, so every Rust crate of one program shares the one
//! bundled engine.

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
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_LIBDIR");
    println!("cargo:rerun-if-env-changed=SINGLEFLIGHT_BUNDLED");
    println!("cargo:rerun-if-env-changed=SINGLEFLIGHT_SOURCE_DIR");

    if cfg!(feature = "bundled") && env::var("SINGLEFLIGHT_BUNDLED").as_deref() == Ok("always") {
        bundled::build();
        return;
    }

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
        Err(_) if cfg!(feature = "bundled") => bundled::build(),
        Err(err) => {
            println!(
                "cargo:warning=singleflight-sys: the singleflight engine ({MIN_VERSION} <= version < {MAX_VERSION}) was not found"
            );
            println!(
                "cargo:warning=install it (meson install, then ldconfig) or put its singleflight.pc on PKG_CONFIG_PATH (in the project: `. scripts/env.sh`), set SINGLEFLIGHT_LIB_DIR, or enable this crate's `bundled` feature to build it from source"
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

#[cfg(not(feature = "bundled"))]
mod bundled {
    pub fn build() {
        unreachable!("the bundled engine is built only with the `bundled` feature")
    }
}

#[cfg(feature = "bundled")]
mod bundled {
    use std::env;
    use std::path::{Path, PathBuf};

    /// Fleet sources that need hiredis, and the one that stands in for them
    /// without it: the same choice as lib/meson.build's `fleet` option.
    const FLEET_WITH_HIREDIS: &[&str] = &["connection.cc", "fleet.cc", "keys.cc", "scripts.cc"];
    const FLEET_WITHOUT_HIREDIS: &str = "disabled.cc";

    /// Compiles the engine into `libsingleflight_bundled.a` in OUT_DIR and
    /// links it statically.
    pub fn build() {
        let root = source_root();
        let lib = root.join("lib");
        let include = root.join("include");
        println!("cargo:rerun-if-changed={}", lib.display());
        println!("cargo:rerun-if-changed={}", include.display());

        // hiredis through pkg-config: fleet groups as in the installed engine;
        // without it, a fleet group is a local named group.
        let hiredis = pkg_config::Config::new().cargo_metadata(true).probe("hiredis").ok();
        if hiredis.is_none() {
            println!("cargo:warning=singleflight-sys (bundled): hiredis not found through pkg-config; fleet groups are local named groups");
        }

        let mut sources = Vec::new();
        for dir in [lib.clone(), lib.join("detail")] {
            sources.extend(cc_files(&dir));
        }
        for file in cc_files(&lib.join("fleet")) {
            let name = file.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
            let needs_hiredis = FLEET_WITH_HIREDIS.contains(&name.as_str());
            let keep = if hiredis.is_some() { name != FLEET_WITHOUT_HIREDIS } else { !needs_hiredis };
            if keep {
                sources.push(file);
            }
        }
        if sources.is_empty() {
            panic!("singleflight-sys (bundled): no engine sources under {}", lib.display());
        }

        let mut build = cc::Build::new();
        build
            .cpp(true)
            .std("c++17")
            .files(&sources)
            .include(&include)
            .include(&lib)
            .flag_if_supported("-fvisibility=hidden")
            .flag_if_supported("-fvisibility-inlines-hidden")
            .flag_if_supported("-fno-semantic-interposition")
            .warnings(false);
        if let Some(h) = &hiredis {
            for dir in &h.include_paths {
                build.include(dir);
            }
        }
        build.compile("singleflight_bundled");
        // cc links libstdc++ (or libc++) and emits the static link itself;
        // the engine's threads come from libc's pthread.
        println!("cargo:rustc-link-lib=dylib=pthread");
        println!("cargo:bundled=1");
        super::export_include(&include);
    }

    /// The repository's root: SINGLEFLIGHT_SOURCE_DIR, or three levels up
    /// from this crate (bindings/rust/singleflight-sys).
    fn source_root() -> PathBuf {
        let root = match env::var("SINGLEFLIGHT_SOURCE_DIR") {
            Ok(dir) => PathBuf::from(dir),
            Err(_) => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.."),
        };
        if !root.join("lib").join("abi.cc").exists() || !root.join("include").join("singleflight.h").exists() {
            panic!(
                "singleflight-sys (bundled): {} holds no engine sources (lib/abi.cc, include/singleflight.h); set SINGLEFLIGHT_SOURCE_DIR to a checkout of the singleflight repository",
                root.display()
            );
        }
        root
    }

    fn cc_files(dir: &Path) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("singleflight-sys (bundled): cannot read {}: {e}", dir.display()))
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "cc"))
            .collect();
        files.sort();
        files
    }
}
