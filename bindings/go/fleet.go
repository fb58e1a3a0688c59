package singleflight

/*
#include <stdlib.h>
#include "gosf.h"
*/
import "C"

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"
	"unsafe"
)

// FleetOptions configure a fleet group (sf_fleet_options). Every zero field
// means the engine's default. Durations go to the engine in whole
// milliseconds, rounded up.
type FleetOptions struct {
	// URL is the Redis (or Valkey) server: "redis://[[user]:password@]host[:port][/db]"
	// (port 6379 and db 0 by default), "unix:///path/to/socket[?db=N]", or a
	// plain socket path starting with '/'. Empty: the SF_REDIS_URL
	// environment variable, else "redis://127.0.0.1:6379".
	URL string
	// KeyPrefix begins every Redis key and channel of the group; empty:
	// "sf". It must not contain '{', '}' or ':'.
	KeyPrefix string
	// Lease is how long a leader holds a key without renewing it; the
	// engine renews it while the work runs, and a crashed leader is taken
	// over by another process once it runs out. Zero: 5s. Every process of
	// the fleet should use the same lease.
	Lease time.Duration
	// MaxValueBytes is the largest value (or error message) published to
	// the other processes; over it they run the work themselves. Zero: 1 MiB.
	MaxValueBytes int
	// ConnectTimeout bounds a connection attempt. Zero: 1s.
	ConnectTimeout time.Duration
	// CommandTimeout bounds a reply: a later one opens the circuit breaker
	// (flights run locally). Zero: 1s.
	CommandTimeout time.Duration
	// Linger keeps the last outcome of a key on the server this long for
	// callers that arrive after the flight ended. Zero: nothing is cached.
	Linger time.Duration
	// Cooldown is how long the breaker stays open (local flights only)
	// before the server is tried again. Zero: 1s.
	Cooldown time.Duration
}

// OpenFleet returns the process-wide fleet group called name: a named group
// (as Open) whose flights are also shared with every process, in any
// language, that opened the same name on the same Redis server with the same
// KeyPrefix. When a key is stampeded across the fleet its work runs once,
// in one process; the others get its outcome as bytes (see Open: a Go
// caller in another process receives []byte, or for a typed group a string
// or BinaryUnmarshaler; a work error as an *Error matching ErrWork, a panic
// as a Go panic with an *Error matching ErrPanic). Callers of the leading
// process share its Go value itself, as with any group.
//
// Fleet names are apart from Open's: OpenFleet("a") and Open("a") are two
// groups. A later OpenFleet of a name already open in this process shares
// that group and its first options.
//
// The connection is made in the background: an unreachable server is not
// an error. Flights then run locally (each process deduplicates its own
// callers, Stats().FleetFallbacks counts them) until the server answers
// again. The error is for bad options only (a URL that does not parse, a
// bad prefix, a negative or oversized duration), or no memory.
//
// The work can read its fencing token with FenceToken (DoContext).
//
// Close the group when done with it, and before the process exits: Close
// drops the engine reference as soon as no call is in progress, and the
// engine publishes the completions still queued (within CommandTimeout)
// before Close, or the last call in progress, returns. A process that exits
// without it may leave its last completion unpublished: the other processes
// then wait for the lease to run out and run the work again.
func OpenFleet(name string, opts FleetOptions) (*Group, error) {
	h, err := openFleetHandle(name, opts)
	if err != nil {
		return nil, err
	}
	g := new(Group)
	g.h.p.Store(h)
	return g, nil
}

// OpenFleetKeyed is OpenFleet for a typed group. Values cross to the other
// processes in their byte form: V of []byte, string or an
// encoding.BinaryMarshaler (decoded on the other side through
// BinaryUnmarshaler); any other V gives callers in other processes
// ErrNoBytes.
func OpenFleetKeyed[K comparable, V any](name string, opts FleetOptions) (*KeyedGroup[K, V], error) {
	h, err := openFleetHandle(name, opts)
	if err != nil {
		return nil, err
	}
	g := new(KeyedGroup[K, V])
	g.h.p.Store(h)
	return g, nil
}

func fleetError(name, format string, args ...any) error {
	return &Error{Status: StatusInvalid, Msg: fmt.Sprintf("OpenFleet(%q): ", name) + fmt.Sprintf(format, args...)}
}

// millis converts a duration option to the engine's milliseconds.
func millis(name, field string, d time.Duration) (C.uint32_t, error) {
	if d < 0 {
		return 0, fleetError(name, "%s is negative (%v)", field, d)
	}
	ms := (d + time.Millisecond - 1) / time.Millisecond
	if ms > math.MaxUint32 {
		return 0, fleetError(name, "%s is too long (%v; at most %v)", field, d, time.Duration(math.MaxUint32)*time.Millisecond)
	}
	return C.uint32_t(ms), nil
}

func openFleetHandle(name string, opts FleetOptions) (*handle, error) {
	if name == "" {
		return nil, &Error{Status: StatusInvalid, Msg: "a group name must not be empty"}
	}
	if strings.IndexByte(opts.URL, 0) >= 0 {
		return nil, fleetError(name, "the URL contains a NUL byte")
	}
	if strings.IndexByte(opts.KeyPrefix, 0) >= 0 || strings.ContainsAny(opts.KeyPrefix, "{}:") {
		return nil, fleetError(name, "KeyPrefix %q must not contain '{', '}', ':' or NUL", opts.KeyPrefix)
	}
	if opts.MaxValueBytes < 0 || uint64(opts.MaxValueBytes) > math.MaxUint32 {
		return nil, fleetError(name, "MaxValueBytes %d is out of range (0 to %d)", opts.MaxValueBytes, uint64(math.MaxUint32))
	}
	var o C.sf_fleet_options
	o.version = C.SF_FLEET_OPTIONS_VERSION
	o.max_value_bytes = C.uint32_t(opts.MaxValueBytes)
	for _, f := range []struct {
		field string
		d     time.Duration
		to    *C.uint32_t
	}{
		{"Lease", opts.Lease, &o.lease_ms},
		{"ConnectTimeout", opts.ConnectTimeout, &o.connect_timeout_ms},
		{"CommandTimeout", opts.CommandTimeout, &o.command_timeout_ms},
		{"Linger", opts.Linger, &o.linger_ms},
		{"Cooldown", opts.Cooldown, &o.cooldown_ms},
	} {
		ms, err := millis(name, f.field, f.d)
		if err != nil {
			return nil, err
		}
		*f.to = ms
	}
	if opts.URL != "" {
		o.url = C.CString(opts.URL)
		defer C.free(unsafe.Pointer(o.url))
	}
	if opts.KeyPrefix != "" {
		o.key_prefix = C.CString(opts.KeyPrefix)
		defer C.free(unsafe.Pointer(o.key_prefix))
	}
	g := C.sf_group_open_fleet(unsafe.Pointer(unsafe.StringData(name)), C.size_t(len(name)), &o)
	if g == nil {
		// Every other option was checked above: the engine refused the URL
		// (or, rarely, ran out of memory).
		url := opts.URL
		if url == "" {
			url = "$SF_REDIS_URL"
		}
		return nil, fleetError(name, "the engine refused the options: is the URL %q well formed? "+
			"(redis://[[user]:password@]host[:port][/db], unix:///path[?db=N] or /path)", url)
	}
	h := newHandle(g, true)
	h.fleet = true
	return h, nil
}

// fenceKey is the context key of a fleet leader's fencing token.
type fenceKey struct{}

// withFenceToken gives DoContext's work context the fencing token of the
// work ticket, for a fleet group (a local flight's token is 0).
func withFenceToken(h *handle, ctx context.Context, work C.uintptr_t) context.Context {
	if !h.fleet {
		return ctx
	}
	return context.WithValue(ctx, fenceKey{}, uint64(C.gosf_fence_token(work)))
}

// FenceToken returns the fencing token of the fleet flight whose work is
// running with ctx (the context DoContext hands to fn, or one derived from
// it): a number the Redis server hands out per key, larger for every new
// leader of that key. A store that remembers the largest token it has seen
// and refuses writes with a smaller one is safe from a leader that stalled
// past its lease and was taken over: its late writes carry the old token.
//
// It returns 0 when the flight is local (not a fleet group, the server
// unreachable, a value too large elsewhere) and for any other context. Do
// and DoChan give fn no context: use DoContext to read the token.
func FenceToken(ctx context.Context) uint64 {
	t, _ := ctx.Value(fenceKey{}).(uint64)
	return t
}
