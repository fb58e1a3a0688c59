#!/usr/bin/env bash
# The Go binding's test command (README, .ci/run): checks gofmt and go vet
# over every Go module of the repository (this binding, its benchmark
# modules, the examples, the cross-language workers), that a build without
# cgo stops at its one readable error, then runs go test -race with the
# sftesthooks tag (the C test callers and hooks) and x/sync's own
# singleflight_test.go added to the package through an -overlay. Nothing is
# written into the source tree: the overlay and every build output go to a
# temporary directory, the caches to the go command's own (GOCACHE,
# GOMODCACHE). Extra arguments go to `go test` (e.g. -run, -bench).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
# The engine is found through pkg-config; scripts/env.sh says where.
if ! pkg-config --exists singleflight 2>/dev/null && [ -f "$root/scripts/env.sh" ]; then
	. "$root/scripts/env.sh"
fi
polyglot="$root/examples/polyglot"
cd "$here"

fail() {
	echo "test.sh: $*" >&2
	exit 1
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Every Go module of the repository (a directory with a go.mod), outside
# the build, install and tool directories.
modules=()
while IFS= read -r m; do
	modules+=("$(dirname "$m")")
done < <(find "$root" -mindepth 1 \( -name '.*' -o -name 'build*' -o -name target -o -name node_modules \) -prune \
	-o -name go.mod -type f -print | sort)
[ ${#modules[@]} -gt 0 ] || fail "no Go module found under $root"

# Formatting, over all of them.
unformatted=$(gofmt -l "${modules[@]}")
[ -z "$unformatted" ] || fail "not gofmt-clean (run gofmt -w):"$'\n'"$unformatted"

# x/sync's test file, as an overlay: the package sees it as
# xsync_singleflight_test.go beside its own tests.
xsync=$(go list -m -f '{{.Version}}' golang.org/x/sync)
go mod download golang.org/x/sync
dir=$(go list -m -f '{{.Dir}}' golang.org/x/sync)
if [ -z "$dir" ] || [ ! -f "$dir/singleflight/singleflight_test.go" ]; then
	fail "golang.org/x/sync $xsync is not in the module cache"
fi
printf '{"Replace":{"%s":"%s"}}\n' "$here/xsync_singleflight_test.go" \
	"$dir/singleflight/singleflight_test.go" >"$tmp/overlay.json"
overlay="-overlay=$tmp/overlay.json"
tags="-tags=sftesthooks"

# go vet: this package with and without the test hooks, then every other
# module. The polyglot demo's Go piece includes sfcross.h from the demo's
# directory.
go vet "$overlay" ./...
go vet "$overlay" "$tags" ./...
for m in "${modules[@]}"; do
	[ "$m" = "$here" ] && continue
	(cd "$m" && CGO_CFLAGS="-I$polyglot ${CGO_CFLAGS:-}" go vet ./...) || fail "go vet failed in $m"
done

# The test hooks (C callers, switches) are in no production build.
prod=$(go list -f '{{join .GoFiles " "}} {{join .CgoFiles " "}} {{join .CFiles " "}}' .)
for f in testhooks.go gosf_testcaller.c; do
	if grep -qw "$f" <<<"$prod"; then
		fail "$f is part of the production build; it must build only with -tags sftesthooks"
	fi
done

# Without cgo the build stops at one error that says what to do.
want=singleflight_requires_cgo__set_CGO_ENABLED_1
if out=$(CGO_ENABLED=0 go build ./... 2>&1); then
	fail "CGO_ENABLED=0 go build succeeded; it must fail with $want"
fi
errors=$(grep -c '\.go:[0-9]*:[0-9]*: ' <<<"$out" || true)
if [ "$errors" != 1 ] || ! grep -q "undefined: $want\$" <<<"$out"; then
	fail "CGO_ENABLED=0 go build must fail with one error naming $want; it says:"$'\n'"$out"
fi

go test "$overlay" "$tags" -race -count=1 -timeout 5m "$@" ./...
# The Prometheus collector is a module of its own (client_golang stays out
# of the main module): vetted and tested from its directory.
(cd prometheus && go vet ./... && go test -race -count=1 -timeout 5m ./...)
# The allocation test is skipped under -race (the detector allocates).
go test "$overlay" "$tags" -count=1 -run 'TestBindingTypedZeroAlloc' ./...
