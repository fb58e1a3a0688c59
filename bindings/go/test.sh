#!/usr/bin/env bash
# The Go binding's test command (README, .ci/run): checks gofmt (this package
# and examples/polyglot/go), go vet, that a build without cgo stops at its one
# readable error, then runs go test -race with x/sync's own
# singleflight_test.go added to the package through an -overlay (read from
# the module cache, written to a temporary directory, never into the source
# tree). Extra arguments go to `go test` (e.g. -run, -bench).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# The engine is found through pkg-config; scripts/env.sh says where.
if ! pkg-config --exists singleflight 2>/dev/null && [ -f "$here/../../scripts/env.sh" ]; then
	. "$here/../../scripts/env.sh"
fi
polyglot="$here/../../examples/polyglot"
cd "$here"

fail() {
	echo "test.sh: $*" >&2
	exit 1
}

# Formatting.
unformatted=$(gofmt -l . "$polyglot/go")
[ -z "$unformatted" ] || fail "not gofmt-clean (run gofmt -w):"$'\n'"$unformatted"

# x/sync's test file, as an overlay: the package sees it as
# xsync_singleflight_test.go beside its own tests.
xsync=$(go list -m -f '{{.Version}}' golang.org/x/sync)
go mod download golang.org/x/sync
dir=$(go list -m -f '{{.Dir}}' golang.org/x/sync)
if [ -z "$dir" ] || [ ! -f "$dir/singleflight/singleflight_test.go" ]; then
	fail "golang.org/x/sync $xsync is not in the module cache"
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf '{"Replace":{"%s":"%s"}}\n' "$here/xsync_singleflight_test.go" \
	"$dir/singleflight/singleflight_test.go" >"$tmp/overlay.json"
overlay="-overlay=$tmp/overlay.json"

go vet "$overlay" ./...
# The polyglot demo's Go piece includes sfcross.h from the demo's directory.
(cd "$polyglot/go" && CGO_CFLAGS="-I$polyglot" go vet ./...)

# Without cgo the build stops at one error that says what to do.
want=singleflight_requires_cgo__set_CGO_ENABLED_1
if out=$(CGO_ENABLED=0 go build ./... 2>&1); then
	fail "CGO_ENABLED=0 go build succeeded; it must fail with $want"
fi
errors=$(grep -c '\.go:[0-9]*:[0-9]*: ' <<<"$out" || true)
if [ "$errors" != 1 ] || ! grep -q "undefined: $want\$" <<<"$out"; then
	fail "CGO_ENABLED=0 go build must fail with one error naming $want; it says:"$'\n'"$out"
fi

go test "$overlay" -race -count=1 -timeout 5m "$@" ./...
# The Prometheus collector is a module of its own (client_golang stays out
# of the main module): vetted and tested from its directory.
(cd prometheus && go vet ./... && go test -race -count=1 -timeout 5m ./...)
# The allocation test is skipped under -race (the detector allocates).
go test "$overlay" -count=1 -run 'TestBindingTypedZeroAlloc' ./...
