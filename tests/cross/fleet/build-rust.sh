#!/usr/bin/env bash
# Builds the Rust worker of the cross-language fleet tests
# (bindings/rust/singleflight/examples/fleet_worker.rs, which speaks the
# worker protocol of README.md) into $SF_ROOT/build-polyglot/fleet/worker-rust
# over the installed engine. Prints the directory.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../../scripts/env.sh"
out="$SF_ROOT/build-polyglot/fleet"
mkdir -p "$out"
(cd "$SF_ROOT/bindings/rust" && cargo build --quiet --locked --release -p singleflight-engine --example fleet_worker)
cp "$SF_ROOT/bindings/rust/target/release/examples/fleet_worker" "$out/worker-rust"
echo "$out"
