# Sourced by setup and test: makes sure the tools and the engine are there.
# Idempotent and quiet when nothing changed. Needs only what a fresh machine
# ships (python3, a C++ compiler, GoogleTest); everything else comes from PyPI
# into the project's own virtual environment.
. "$(dirname "${BASH_SOURCE[0]}")/env.sh"

sf_step() { printf '\n==> %s\n' "$*"; }

# Debian packages the build and the tests need beyond what the machine
# ships: hiredis (the fleet groups' Redis client), redis-server (the fleet
# tests start their own), clang with its libFuzzer runtime (the fuzz target),
# cmake (the install test's find_package(singleflight) project).
# Installed with apt-get as root when missing; quiet when all are there.
SF_DEBIAN_PACKAGES="libhiredis-dev redis-server clang libclang-rt-14-dev cmake"
sf_bootstrap_packages() {
  local missing=() p
  for p in $SF_DEBIAN_PACKAGES; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  sf_step "packages: ${missing[*]} (apt-get)"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

sf_bootstrap_tools() {
  if [ ! -x "$SF_VENV/bin/meson" ] || [ ! -x "$SF_VENV/bin/ninja" ] || [ ! -x "$SF_VENV/bin/ruff" ] || \
     ! "$SF_VENV/bin/python" -c 'import build, cffi, pytest, setuptools' 2>/dev/null; then
    sf_step "tools: meson, ninja, cffi, pytest, ruff, build into $SF_VENV"
    python3 -m venv "$SF_VENV"
    "$SF_VENV/bin/pip" install --quiet --upgrade pip
    "$SF_VENV/bin/pip" install --quiet meson ninja cffi pytest setuptools wheel build "ruff==0.17.6"  # ruff pinned: its rules and format change between releases
  fi
}

# Builds the engine (optimised, with tests) and installs it into $SF_PREFIX,
# where pkg-config and every binding find it.
sf_bootstrap_engine() {
  sf_step "engine: build and install into $SF_PREFIX"
  if [ ! -f "$SF_ROOT/build/build.ninja" ]; then
    meson setup "$SF_ROOT/build" "$SF_ROOT" --prefix="$SF_PREFIX" --libdir=lib >/dev/null
  fi
  meson compile -C "$SF_ROOT/build" >/dev/null
  meson install -C "$SF_ROOT/build" --quiet >/dev/null
  pkg-config --modversion singleflight >/dev/null
}
