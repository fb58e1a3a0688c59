#!/usr/bin/env bash
# Builds the pieces of the polyglot demo into $SF_ROOT/build-polyglot:
#   libsfcross.so  the C side (gate, database, log, C callers)
#   libsfgo.so     Go callers (c-shared, through bindings/go)
#   libsfrust.so   Rust callers (cdylib, through bindings/rust), if present
#   libsfcpp.so    C++ callers (through include/singleflight.hpp, C++20)
# Each links the one installed libsingleflight.so; none carries the engine.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../scripts/env.sh"
out="$SF_ROOT/build-polyglot"
mkdir -p "$out"

cc -std=c99 -O2 -Wall -Wextra -Werror -fPIC -shared -pthread \
  -o "$out/libsfcross.so" "$here/sfcross.c" $(pkg-config --cflags --libs singleflight)

c++ -std=c++20 -O2 -Wall -Wextra -Werror -fPIC -shared -pthread -I"$here" \
  -o "$out/libsfcpp.so" "$here/sfcpp.cpp" -L"$out" -lsfcross -Wl,-rpath,"$out" \
  $(pkg-config --cflags --libs singleflight)

(cd "$here/go" && \
  CGO_CFLAGS="-I$here" CGO_LDFLAGS="-L$out -Wl,-rpath,$out" \
  go build -buildmode=c-shared -o "$out/libsfgo.so" .)

if [ -f "$here/rust/Cargo.toml" ]; then
  (cd "$here/rust" && SFCROSS_LIB_DIR="$out" cargo build --quiet --release \
     --target-dir "$out/rust-target")
  cp "$out/rust-target/release/libsfrust.so" "$out/libsfrust.so"
fi
echo "$out"
