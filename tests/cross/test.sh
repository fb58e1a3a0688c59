#!/usr/bin/env bash
# The cross-language tests: builds the polyglot pieces (C, Go c-shared, Rust
# cdylib) and the fleet workers (one program per language, fleet/build.sh)
# over the installed engine, then runs pytest: test_polyglot.py in one
# process that loads them all with the Python binding, test_fleet.py with
# worker processes of every language on a private redis-server.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../scripts/env.sh"
"$here/../../examples/polyglot/build.sh" >/dev/null
"$here/fleet/build.sh" >/dev/null
cd "$here"
exec python -m pytest -q "$@"
