#!/usr/bin/env bash
# Builds the libFuzzer target (the engine's sources and tests/fuzz/fuzz_abi.cc,
# clang++ with libFuzzer, ASan and UBSan with the enum check, every report
# fatal) into $SF_FUZZ_BUILD (default: <root>/build-fuzz) and runs it on the
# committed seed corpus. Arguments go to libFuzzer; without any it makes a
# short fixed number of executions (the test command's run):
#   tests/fuzz/run.sh                      # -runs=3000
#   tests/fuzz/run.sh -max_total_time=600  # a longer run (tests/fuzz/README.md)
# New inputs libFuzzer finds go to a scratch corpus in the build dir, not
# into the committed one.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${SF_FUZZ_BUILD:-$root/build-fuzz}
bin=$out/fuzz_abi
mkdir -p "$out/corpus"

# The engine as a build without hiredis makes it: fleet groups are local
# named groups (lib/fleet/disabled.cc), so the fuzzer needs no server.
sources=("$root"/lib/*.cc "$root"/lib/detail/*.cc "$root"/lib/fleet/abi.cc "$root"/lib/fleet/options.cc
         "$root"/lib/fleet/disabled.cc "$here/fuzz_abi.cc")
inputs=("${sources[@]}" "$root"/lib/*.h "$root"/lib/detail/*.h "$root"/lib/fleet/*.h "$root/include/singleflight.h"
        "$root/tests/raw_status.c" "$root/tests/raw_status.h" "$here/run.sh")
stale=0
[ -x "$bin" ] || stale=1
for f in "${inputs[@]}"; do [ "$f" -nt "$bin" ] && stale=1; done
if [ $stale -eq 1 ]; then
  echo "fuzz: building $bin"
  sanitize="-fsanitize=fuzzer,address,undefined,enum -fno-sanitize-recover=all"
  clang -std=c99 -O1 -g -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all \
    -I "$root/include" -c "$root/tests/raw_status.c" -o "$out/raw_status.o"
  clang++ -std=c++17 -O1 -g $sanitize -pthread -I "$root/include" -I "$root/lib" \
    "${sources[@]}" "$out/raw_status.o" -o "$bin"
fi

[ $# -gt 0 ] || set -- -runs=3000
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
exec "$bin" "$@" -artifact_prefix="$out/" "$out/corpus" "$here/corpus"
