#!/usr/bin/env bash
# Tests the Rust binding: `cargo test` and `cargo clippy -D warnings` for the
# workspace's default members (singleflight-engine-sys, singleflight-engine), and
# `cargo fmt --check` for the whole workspace (rustfmt.toml). Needs the
# engine installed (scripts/env.sh points pkg-config at it; sourced here
# unless the caller already did).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if ! pkg-config --exists singleflight 2>/dev/null; then
  # shellcheck source=../../scripts/env.sh
  . "$here/../../scripts/env.sh"
fi
cd "$here"
cargo fmt --all --check
cargo test --locked
cargo clippy --locked --all-targets -- -D warnings
# The optional exporters (docs/metrics.md): the default build has no dependency.
cargo test --locked -p singleflight-engine --features metrics,tracing
cargo clippy --locked -p singleflight-engine --all-targets --features metrics,tracing -- -D warnings
