# Sourced by every script (and by you: `. scripts/env.sh`): where the project
# installs the engine and its tools, so pkg-config and every binding find the
# one libsingleflight.so. Programs find the library through the rpath that
# singleflight.pc adds; LD_LIBRARY_PATH is deliberately left alone, since it
# would make the sanitizer builds' tests load the installed engine instead of
# the one they built.
SF_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export SF_ROOT
export SF_PREFIX="${SF_PREFIX:-$SF_ROOT/.local}"
export SF_VENV="${SF_VENV:-$SF_ROOT/.venv}"
export PKG_CONFIG_PATH="$SF_PREFIX/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
export PATH="$SF_VENV/bin:$PATH"
