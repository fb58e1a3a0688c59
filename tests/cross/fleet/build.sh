#!/usr/bin/env bash
# Builds the workers of the cross-language fleet tests into
# $SF_ROOT/build-polyglot/fleet over the installed engine: worker-c (C,
# sf_do), worker-cpp (C++, include/singleflight.hpp), worker-go (Go,
# bindings/go) and worker-rust (Rust, bindings/rust). Prints the directory.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../../scripts/env.sh"
out="$SF_ROOT/build-polyglot/fleet"
mkdir -p "$out"
cc -std=c11 -O2 -Wall -Wextra -Werror -pthread -o "$out/worker-c" "$here/worker.c" \
  $(pkg-config --cflags --libs singleflight)
c++ -std=c++17 -O2 -Wall -Wextra -Werror -pthread -o "$out/worker-cpp" "$here/worker.cpp" \
  $(pkg-config --cflags --libs singleflight)
(cd "$here/go" && go build -o "$out/worker-go" .)
"$here/build-rust.sh" >/dev/null
echo "$out"
