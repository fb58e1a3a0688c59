// Links the C side of the demo (libsfcross.so), built by ../build.sh.
fn main() {
    println!("cargo:rerun-if-env-changed=SFCROSS_LIB_DIR");
    let dir = std::env::var("SFCROSS_LIB_DIR").expect("SFCROSS_LIB_DIR: where ../build.sh put libsfcross.so");
    println!("cargo:rustc-link-search=native={dir}");
    println!("cargo:rustc-link-lib=dylib=sfcross");
    println!("cargo:rustc-cdylib-link-arg=-Wl,-rpath,{dir}");
}
