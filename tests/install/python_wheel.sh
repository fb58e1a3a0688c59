#!/usr/bin/env bash
# The Python wheel that brings its engine, tried as a user with only a
# compiler would, and the one-engine rule when a process holds two copies.
#
#   tests/install/python_wheel.sh [OTHER_LIBDIR]
#
# OTHER_LIBDIR holds another installed engine (libsingleflight.so.0, and
# pkgconfig/singleflight.pc above its include dir): tests/install/run.sh
# passes the one it installed; by default the checkout's .local/lib.
#
#   1. `python -m build bindings/python` (sdist, then the wheel from the
#      sdist, both with pip's build isolation) while pkg-config sees no
#      singleflight.pc (everything else it sees as usual) and no SF_* or
#      LD_LIBRARY_PATH is set: the sdist carries the engine's sources in
#      _engine/, the wheel carries libsingleflight.so.0, and the extension's
#      only rpath is $ORIGIN;
#   2. a fresh venv, `pip install` of the wheel, a stampede; the wheel
#      unpacked elsewhere runs from there too (relocatable);
#   3. one engine: the wheel and a C library linked to OTHER_LIBDIR's engine
#      in one process, loaded in either order (wheel_engine.py);
#   4. the rule SINGLEFLIGHT_BUNDLED / pkg-config of src/singleflight/_build.py:
#      a wheel built from the same sdist with the other engine visible links
#      it (no bundled copy); `always` bundles even then, `never` refuses to.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=../../scripts/env.sh
. "$root/scripts/env.sh"   # the tools: .venv's python with `build`
other_libdir=${1:-$SF_PREFIX/lib}
unset PKG_CONFIG_PATH LD_LIBRARY_PATH SF_PREFIX SF_INCLUDE_DIR SF_LIB_DIR \
  SINGLEFLIGHT_BUNDLED SINGLEFLIGHT_SOURCE_DIR PYTHONPATH

fail() { echo "python wheel: FAIL: $*" >&2; exit 1; }
checks=0
step() { checks=$((checks + 1)); printf -- '--- %s\n' "$*"; }

[ -f "$other_libdir/libsingleflight.so.0" ] || fail "no engine in $other_libdir (run scripts/setup or pass a libdir)"
other_pc="$other_libdir/pkgconfig"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# pkg-config as on a machine with no engine installed: its usual search
# path, with every .pc but singleflight.pc (hiredis stays visible, so the
# bundled engine has fleet groups when the machine has hiredis).
mkdir "$tmp/pc"
IFS=: read -r -a pc_dirs <<<"$(pkg-config --variable pc_path pkg-config)"
for d in "${pc_dirs[@]}"; do
  for f in "$d"/*.pc; do
    [ -e "$f" ] && [ "${f##*/}" != singleflight.pc ] && [ ! -e "$tmp/pc/${f##*/}" ] && ln -s "$f" "$tmp/pc/"
  done
done
export PKG_CONFIG_LIBDIR="$tmp/pc"
if pkg-config --exists singleflight; then fail "pkg-config still finds singleflight"; fi

# --- 1. sdist, then the wheel from it ---------------------------------------------
step "python -m build bindings/python (no engine visible to pkg-config)"
nice python -m build --outdir "$tmp/dist" "$root/bindings/python" >"$tmp/build.log" 2>&1 ||
  { tail -40 "$tmp/build.log"; fail "python -m build"; }
sdist=$(echo "$tmp"/dist/*.tar.gz)
wheel=$(echo "$tmp"/dist/*.whl)
[ -f "$sdist" ] && [ -f "$wheel" ] || fail "no sdist or wheel in $tmp/dist"
listing=$(tar tzf "$sdist")
for f in meson.build meson_options.txt lib/abi.cc lib/meson.build include/singleflight.h packaging/tsan.supp; do
  grep -qx "[^/]*/_engine/$f" <<<"$listing" || fail "the sdist has no _engine/$f"
done
echo "sdist: ${sdist##*/}, with the engine's sources in _engine/"

mkdir "$tmp/site"
python -m zipfile -e "$wheel" "$tmp/site"
ext=$(echo "$tmp"/site/singleflight/_singleflight.*.so)
bundled="$tmp/site/singleflight/libsingleflight.so.0"
[ -f "$bundled" ] || fail "the wheel has no singleflight/libsingleflight.so.0"
readelf -d "$bundled" | grep -q 'Library soname: \[libsingleflight.so.0\]' || fail "the bundled library's soname"
if readelf -d "$bundled" | grep -E '\((RPATH|RUNPATH)\)'; then fail "the bundled library carries an rpath"; fi
readelf -d "$ext" | grep -q 'Shared library: \[libsingleflight.so.0\]' || fail "the extension does not need libsingleflight.so.0"
rpaths=$(readelf -d "$ext" | sed -n 's/.*(\(RPATH\|RUNPATH\)).*\[\(.*\)\]/\2/p')
[ -n "$rpaths" ] || fail "the extension has no rpath"
IFS=: read -r -a entries <<<"$rpaths"
for e in "${entries[@]}"; do
  case "$e" in '$ORIGIN' | '$ORIGIN/'*) ;; *) fail "the extension's rpath has $e (all: $rpaths)" ;; esac
done
echo "wheel: ${wheel##*/}: singleflight/libsingleflight.so.0 (needs: $(readelf -d "$bundled" |
  sed -n 's/.*Shared library: \[\(.*\)\]/\1/p' | tr '\n' ' ')); extension rpath: $rpaths"

# --- 2. a fresh venv ----------------------------------------------------------------
step "fresh venv: pip install the wheel, import, stampede"
python3 -m venv "$tmp/venv"
vpy="$tmp/venv/bin/python"
"$vpy" -m pip install --quiet --disable-pip-version-check "$wheel"
site=$("$vpy" -c 'import sysconfig; print(sysconfig.get_paths()["platlib"])')
(cd "$tmp" && "$vpy" "$here/wheel_engine.py" stampede "$site/singleflight/libsingleflight.so.0")

step "relocated: the wheel unpacked in another directory"
(cd "$tmp" && PYTHONPATH="$tmp/site" "$vpy" "$here/wheel_engine.py" stampede "$bundled")

# --- 3. one engine with another copy in the process -------------------------------------
other_inc=$(PKG_CONFIG_LIBDIR="$other_pc" pkg-config --variable=includedir singleflight)
cc -std=c99 -O1 -shared -fPIC "$here/other_engine.c" -I"$other_inc" -L"$other_libdir" -lsingleflight \
  -Wl,-rpath,"$other_libdir" -o "$tmp/libother.so"
step "one engine: the wheel's loaded first, then a library linked to $other_libdir"
(cd "$tmp" && "$vpy" "$here/wheel_engine.py" wheel-first "$tmp/libother.so" "$site/singleflight/libsingleflight.so.0")
step "one engine: the library linked to $other_libdir loaded first, then the wheel"
(cd "$tmp" && "$vpy" "$here/wheel_engine.py" other-first "$tmp/libother.so" "$other_libdir/libsingleflight.so.0")
step "the rule's limit: dlopen by soname gives the loaded engine, by another file's path a second one"
(cd "$tmp" && "$vpy" "$here/wheel_engine.py" by-path "$other_libdir/libsingleflight.so.0" "$site/singleflight/libsingleflight.so.0")

# --- 4. the rule: link an installed engine, or bundle ------------------------------------
step "the same sdist with $other_pc visible: the wheel links that engine"
PKG_CONFIG_PATH="$other_pc" nice python -m pip wheel --quiet --no-deps --no-build-isolation \
  --wheel-dir "$tmp/linked" "$sdist" >"$tmp/linked.log" 2>&1 || { tail -40 "$tmp/linked.log"; fail "pip wheel (linked)"; }
mkdir "$tmp/linked/site"
python -m zipfile -e "$tmp"/linked/*.whl "$tmp/linked/site"
[ ! -e "$tmp/linked/site/singleflight/libsingleflight.so.0" ] || fail "the linked wheel bundles an engine"
readelf -d "$tmp"/linked/site/singleflight/_singleflight.*.so | grep -E '\((RPATH|RUNPATH)\)' | grep -qF "$other_libdir" ||
  fail "the linked wheel's extension has no rpath to $other_libdir"
echo "linked: no bundled engine; rpath to $other_libdir"

step "SINGLEFLIGHT_BUNDLED: what src/singleflight/_build.py chooses, with and without an engine visible"
tar xzf "$sdist" -C "$tmp"
unpacked="$tmp/$(basename "$sdist" .tar.gz)"
choice() {  # choice MODE [PKG_CONFIG_PATH]: what _build.py chooses from the sdist's sources
  (cd "$unpacked" && PKG_CONFIG_PATH=${2:-} SINGLEFLIGHT_BUNDLED=$1 python -c '
import runpy
b = runpy.run_path("src/singleflight/_build.py")
print("bundled" if b["BUNDLED_SOURCE"] else "linked", ":".join(b["rpaths"]))')
}
[ "$(choice auto "$other_pc")" = "linked $other_libdir" ] || fail "auto with an engine visible: $(choice auto "$other_pc")"
[ "$(choice always "$other_pc")" = 'bundled $ORIGIN' ] || fail "always: $(choice always "$other_pc")"
[ "$(choice auto)" = 'bundled $ORIGIN' ] || fail "auto with no engine visible: $(choice auto)"
if choice never >/dev/null 2>&1; then fail "never, with no engine visible, did not stop"; fi
# From the checkout itself (pip install ./bindings/python): the sources are the checkout's.
from_checkout=$(cd "$tmp" && python -c '
import runpy, sys
print(runpy.run_path(sys.argv[1])["BUNDLED_SOURCE"])' "$root/bindings/python/src/singleflight/_build.py")
[ "$from_checkout" = "$root" ] || fail "a build from the checkout bundles $from_checkout, not $root"
echo "engine visible: auto links, always bundles; none visible: auto bundles (from the sdist's _engine/, or from the checkout), never stops"

echo "python wheel: $checks passed, 0 failed"
