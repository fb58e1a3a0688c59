//! Adds the engine's library directory (published by singleflight-sys as
//! DEP_SINGLEFLIGHT_LIBDIR) as an rpath of this package's tests, examples and
//! benchmarks, so they run without LD_LIBRARY_PATH. Applications linking the
//! crate do the same in their own build.rs, or set LD_LIBRARY_PATH.
fn main() {
    println!("cargo:rerun-if-env-changed=DEP_SINGLEFLIGHT_LIBDIR");
    if let Ok(dir) = std::env::var("DEP_SINGLEFLIGHT_LIBDIR") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
    }
}
