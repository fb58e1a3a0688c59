#!/usr/bin/env bash
# Runs the Go fleet peer benchmark and plots it: builds fleetpeers into a
# temporary directory, runs it (arguments go to it, e.g. -reps 9 -p 2,8),
# prints its table and writes fleet_peers.png beside this script. Needs
# redis-server and the engine (scripts/bootstrap.sh); installs matplotlib
# into the project's virtual environment when it is missing there.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../../../scripts/env.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python=$SF_VENV/bin/python
if ! "$python" -c 'import matplotlib' 2>/dev/null; then
	"$SF_VENV/bin/pip" install --quiet matplotlib
fi
(cd "$here" && go build -o "$tmp/fleetpeers" .)
"$tmp/fleetpeers" -json "$tmp/fleet_peers.json" "$@"
"$python" "$here/plot.py" "$tmp/fleet_peers.json" "$here/fleet_peers.png"
echo "wrote $here/fleet_peers.png"
