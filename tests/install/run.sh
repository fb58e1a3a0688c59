#!/usr/bin/env bash
# The system install, tried as a user of each language would: installs the
# engine (shared and static library, headers, singleflight.pc, the CMake
# package, tsan.supp) with `meson install` to a real prefix, then builds and
# runs scratch projects in temporary directories against it, each with
# plain pkg-config / find_package and no environment from scripts/env.sh:
#
#   - C (stampede.c): pkg-config, shared; and pkg-config --static against
#     libsingleflight.a;
#   - C++ (stampede.cpp): pkg-config; CMake find_package(singleflight), both
#     singleflight::singleflight and singleflight::singleflight_static;
#   - Go: a module requiring the binding's path, with a replace directive to
#     this checkout;
#   - Rust: a crate with one path dependency on the safe crate and no
#     build.rs, against the installed engine, and with its `bundled` feature
#     while no engine is visible to pkg-config;
#   - TSan: tsan_stampede.c built with -fsanitize=thread, which reports the
#     engine's invisible orderings without tsan.supp and nothing with it;
#   - Python: python_wheel.sh, the wheel that bundles the engine, built while
#     pkg-config sees no engine and installed into a fresh venv, then loaded
#     with the engine installed here into one process (one engine).
#
# Every program must run from its own directory with no LD_LIBRARY_PATH
# (as root) and carry no rpath into the checkout (readelf).
#
# As root (CI) the prefix is /usr/local, made known to the loader with
# ldconfig; the suite uninstalls what it installed when it ends, so that the
# other suites, which link the project's .local engine (the same soname,
# found through their rpath), see the machine as before. Not root: the prefix
# is a temporary directory, found through PKG_CONFIG_PATH, CMAKE_PREFIX_PATH
# and LD_LIBRARY_PATH instead (said on the first line of output).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
# Only for the tools (meson, ninja from .venv); the scratch builds below
# run without the PKG_CONFIG_PATH it sets.
# shellcheck source=../../scripts/env.sh
. "$root/scripts/env.sh"
unset PKG_CONFIG_PATH LD_LIBRARY_PATH

fail() { echo "install: FAIL: $*" >&2; exit 1; }
checks=0
step() { checks=$((checks + 1)); printf -- '--- %s\n' "$*"; }  # a check that ended without fail()

tmp=$(mktemp -d)
build="$root/build-install"
installed_log="$build/meson-logs/install-log.txt"
made_dirs=()
uninstall() {
  if [ -f "$installed_log" ]; then
    grep -v '^#' "$installed_log" | while read -r f; do [ -d "$f" ] || rm -f "$f"; done
    # Folders the install made (deepest first), if nothing else is in them.
    local d
    for d in "${made_dirs[@]}"; do rmdir "$d" 2>/dev/null || true; done
    [ "$(id -u)" -ne 0 ] || ldconfig
  fi
  rm -rf "$tmp"
}

if [ "$(id -u)" -eq 0 ]; then
  prefix=/usr/local
  echo "install: as root, to $prefix (ldconfig; uninstalled at the end)"
else
  prefix="$tmp/prefix"
  echo "install: not root, to $prefix (PKG_CONFIG_PATH, CMAKE_PREFIX_PATH, LD_LIBRARY_PATH point there)"
fi
trap uninstall EXIT

# --- the install -------------------------------------------------------------
step "meson setup/compile/install --prefix=$prefix -Ddefault_library=both"
setup="prefix=$prefix"
if [ ! -f "$build/build.ninja" ] || [ "$(cat "$build/.sf-setup" 2>/dev/null)" != "$setup" ]; then
  rm -rf "$build"
  meson setup "$build" "$root" --prefix="$prefix" -Ddefault_library=both \
    -Dtests=disabled -Dbenchmarks=false >/dev/null
  echo "$setup" >"$build/.sf-setup"
fi
nice meson compile -C "$build" >/dev/null
libdir="$prefix/$(meson introspect "$build" --buildoptions |
  python3 -c 'import json,sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"] == "libdir"))')"
made_dirs=()
for d in "$libdir/cmake/singleflight" "$libdir/cmake" "$libdir/pkgconfig" "$libdir" "$prefix/share/singleflight"; do
  [ -d "$d" ] || made_dirs+=("$d")
done
meson install -C "$build" --quiet >/dev/null
if [ "$(id -u)" -eq 0 ]; then
  ldconfig
  grep -q "libsingleflight.so.0 .*=> $libdir/libsingleflight.so.0" <<<"$(ldconfig -p)" ||
    fail "ldconfig does not list $libdir/libsingleflight.so.0"
else
  export PKG_CONFIG_PATH="$libdir/pkgconfig" CMAKE_PREFIX_PATH="$prefix" LD_LIBRARY_PATH="$libdir"
fi

# No installed file carries an rpath, and singleflight.pc adds none.
no_rpath() {  # no_rpath FILE...: fails if any has an RPATH/RUNPATH
  local f
  for f in "$@"; do
    if readelf -d "$f" | grep -E '\((RPATH|RUNPATH)\)'; then fail "$f carries an rpath"; fi
  done
}
no_rpath_into_checkout() {  # the same, for rpaths that name the checkout
  local f
  for f in "$@"; do
    if readelf -d "$f" | grep -E '\((RPATH|RUNPATH)\)' | grep -F "$root"; then
      fail "$f carries an rpath into the checkout"
    fi
  done
}
loads_installed() {  # loads_installed PROGRAM: libsingleflight.so.0 resolves to the installed one
  local deps
  deps=$(ldd "$1")
  grep -q "libsingleflight.so.0 => $libdir/libsingleflight.so.0" <<<"$deps" ||
    fail "$1 does not load $libdir/libsingleflight.so.0:"$'\n'"$deps"
}
links_no_engine() {  # links_no_engine PROGRAM: the engine is linked in, not loaded
  local dynamic
  dynamic=$(readelf -d "$1")
  if grep -q 'libsingleflight' <<<"$dynamic"; then fail "$1 needs libsingleflight.so"; fi
}
no_rpath "$libdir/libsingleflight.so.0"
pkg-config --exists singleflight || fail "pkg-config does not find singleflight"
case " $(pkg-config --libs singleflight) " in *rpath*) fail "singleflight.pc adds an rpath: $(pkg-config --libs singleflight)" ;; esac
[ -f "$libdir/libsingleflight.a" ] || fail "no static library in $libdir"
supp="$prefix/share/singleflight/tsan.supp"
[ -f "$supp" ] || fail "$supp is not installed"
echo "installed: $(pkg-config --modversion singleflight) in $libdir; pkg-config --libs: $(pkg-config --libs singleflight)"

cd "$tmp"
cp "$root/examples/stampede.c" "$root/examples/stampede.cpp" .

# --- C and C++ through pkg-config ----------------------------------------------
step "C: cc stampede.c \$(pkg-config --cflags --libs singleflight)"
# shellcheck disable=SC2046
cc -std=c99 -O1 stampede.c $(pkg-config --cflags --libs singleflight) -pthread -o c_shared
no_rpath c_shared
loads_installed c_shared
./c_shared | tail -1

step "C, static: pkg-config --static with libsingleflight.a"
static_libs=$(pkg-config --static --libs singleflight | sed 's/-lsingleflight\b/-l:libsingleflight.a/')
# shellcheck disable=SC2086
cc -std=c99 -O1 stampede.c $(pkg-config --cflags singleflight) $static_libs -pthread -o c_static
no_rpath c_static
links_no_engine c_static
./c_static | tail -1

step "C++: c++ stampede.cpp \$(pkg-config --cflags --libs singleflight)"
# shellcheck disable=SC2046
c++ -std=c++17 -O1 stampede.cpp $(pkg-config --cflags --libs singleflight) -pthread -o cpp_shared
no_rpath cpp_shared
loads_installed cpp_shared
./cpp_shared | tail -1

# --- CMake find_package -----------------------------------------------------------
step "CMake: find_package(singleflight) → singleflight::singleflight, singleflight::singleflight_static"
mkdir cmake && cp "$here/scratch/cmake/CMakeLists.txt" stampede.c stampede.cpp cmake/
cmake -S cmake -B cmake/build -DCMAKE_BUILD_TYPE=Release >cmake.log 2>&1 || { cat cmake.log; fail "cmake configure"; }
nice cmake --build cmake/build >>cmake.log 2>&1 || { cat cmake.log; fail "cmake build"; }
grep -q "singleflight_DIR:PATH=$libdir/cmake/singleflight" cmake/build/CMakeCache.txt ||
  fail "CMake found another singleflight package: $(grep singleflight_DIR cmake/build/CMakeCache.txt)"
no_rpath_into_checkout cmake/build/stampede_cpp cmake/build/stampede_static
loads_installed cmake/build/stampede_cpp
links_no_engine cmake/build/stampede_static
cmake/build/stampede_cpp | tail -1
cmake/build/stampede_static | tail -1

# --- Go, with a replace directive -----------------------------------------------------
step "Go: require github.com/singleflight/singleflight/bindings/go, replace => checkout"
mkdir go && cp "$here/scratch/go/main.go" go/
(
  cd go
  cat >go.mod <<EOF
module example.com/scratch

go 1.24.0

require github.com/singleflight/singleflight/bindings/go v0.0.0

replace github.com/singleflight/singleflight/bindings/go => $root/bindings/go
EOF
  # A build cache of its own: Go's cache does not key on pkg-config's output
  # (golang/go#24544), so the binding package built by the other suites
  # against the checkout's .local, with its rpath, would be linked again.
  export GOCACHE="$tmp/gocache"
  go mod tidy >/dev/null 2>&1 || go mod tidy
  nice go build -o stampede_go .
  no_rpath_into_checkout stampede_go
  loads_installed stampede_go
  ./stampede_go
)

# --- Rust, a path dependency on the safe crate and no build.rs --------------------------------
# One target directory for both modes and every run (the features differ,
# so cargo keeps both builds of singleflight-engine-sys).
export CARGO_TARGET_DIR="$build/cargo-target"
mkdir rust && cp -r "$here/scratch/rust/src" rust/
sed "s|@SF_ROOT@|$root|" "$here/scratch/rust/Cargo.toml" >rust/Cargo.toml
# The binding's lock file pins the versions the binding is tested with.
cp "$root/bindings/rust/Cargo.lock" rust/Cargo.lock
[ ! -e rust/build.rs ] || fail "the scratch crate must have no build.rs"

step "Rust: singleflight-engine against the installed engine (pkg-config, no build.rs)"
(cd rust && nice cargo build --quiet --release)
app="$CARGO_TARGET_DIR/release/scratch-stampede"
no_rpath "$app"
loads_installed "$app"
"$app"

step "Rust: the bundled feature, with no engine visible to pkg-config"
mkdir empty-pc
(cd rust && PKG_CONFIG_LIBDIR="$tmp/empty-pc" nice cargo build --quiet --release --features bundled)
no_rpath "$app"
links_no_engine "$app"
"$app"

# --- TSan with the installed suppressions --------------------------------------------------
step "TSan: tsan_stampede.c -fsanitize=thread against the uninstrumented engine"
# shellcheck disable=SC2046
cc -std=c99 -g -O1 -fsanitize=thread "$here/tsan_stampede.c" $(pkg-config --cflags --libs singleflight) -pthread -o tsan_stampede
if TSAN_OPTIONS="halt_on_error=1 exitcode=66" ./tsan_stampede >tsan_bare.log 2>&1; then
  fail "without tsan.supp, ThreadSanitizer reported nothing: the test would prove nothing"
fi
grep -q "WARNING: ThreadSanitizer" tsan_bare.log || { cat tsan_bare.log; fail "tsan_stampede failed without a report"; }
echo "without tsan.supp: $(grep -m1 SUMMARY tsan_bare.log)"
TSAN_OPTIONS="suppressions=$supp halt_on_error=1 exitcode=66" ./tsan_stampede >tsan.log 2>&1 || {
  cat tsan.log
  fail "a report with $supp"
}
if grep -q "WARNING: ThreadSanitizer" tsan.log; then cat tsan.log; fail "a report with $supp"; fi
tail -1 tsan.log

# --- Python: the wheel that brings its engine, beside the installed one ----------------------
step "Python: python_wheel.sh (the bundled wheel; one engine with $libdir's)"
"$here/python_wheel.sh" "$libdir" || fail "python_wheel.sh"

# Every step above passed (a failure exits through fail() or set -e).
echo "install: $checks passed, 0 failed"
