#!/usr/bin/env bash
# The Go binding's test command (README, .ci/run): copies x/sync's own
# singleflight_test.go from the module cache into this package (never
# committed: .gitignore has bindings/go/xsync_*_test.go), then runs go vet and
# go test -race. Extra arguments go to `go test` (e.g. -run, -bench).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# The engine is found through pkg-config; scripts/env.sh says where.
if ! pkg-config --exists singleflight 2>/dev/null && [ -f "$here/../../scripts/env.sh" ]; then
	. "$here/../../scripts/env.sh"
fi
cd "$here"
xsync=$(go list -m -f '{{.Version}}' golang.org/x/sync)
go mod download golang.org/x/sync
dir=$(go list -m -f '{{.Dir}}' golang.org/x/sync)
if [ -z "$dir" ] || [ ! -f "$dir/singleflight/singleflight_test.go" ]; then
	echo "test.sh: golang.org/x/sync $xsync is not in the module cache" >&2
	exit 1
fi
install -m 0644 "$dir/singleflight/singleflight_test.go" xsync_singleflight_test.go
go vet ./...
go test -race -count=1 -timeout 5m "$@" ./...
# The allocation test is skipped under -race (the detector allocates).
go test -count=1 -run 'TestBindingTypedZeroAlloc' ./...
