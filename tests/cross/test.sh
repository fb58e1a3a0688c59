#!/usr/bin/env bash
# The cross-language tests: builds the polyglot pieces (C, Go c-shared, Rust
# cdylib) over the installed engine, then runs pytest in one process that
# loads them all with the Python binding.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../scripts/env.sh"
"$here/../../examples/polyglot/build.sh" >/dev/null
cd "$here"
exec python -m pytest -q "$@"
