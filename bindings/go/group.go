package singleflight

/*
#include "gosf.h"
*/
import "C"

import (
	"context"
	"errors"
	"runtime"
	"sync/atomic"
	"unsafe"
)

// atomicHandle is a group's engine reference, made on first use.
type atomicHandle struct {
	p atomic.Pointer[handle]
}

func (a *atomicHandle) get() (*handle, error) {
	h := a.p.Load()
	if h == nil {
		return a.init()
	}
	if h.closed.Load() {
		return nil, ErrClosed
	}
	return h, nil
}

func (a *atomicHandle) init() (*handle, error) {
	g := C.sf_group_new()
	if g == nil {
		return nil, ErrNoMemory
	}
	h := newHandle(g, false)
	if !a.p.CompareAndSwap(nil, h) {
		// Another goroutine made it first; ours goes with the garbage.
		return a.get()
	}
	return h, nil
}

func (a *atomicHandle) close() {
	for {
		if h := a.p.Load(); h != nil {
			h.shut()
			return
		}
		// Never used: install a closed handle with no engine group.
		h := &handle{}
		h.closed.Store(true)
		if a.p.CompareAndSwap(nil, h) {
			return
		}
	}
}

func openHandle(name string) (*handle, error) {
	if name == "" {
		return nil, &Error{Status: StatusInvalid, Msg: "a group name must not be empty"}
	}
	g := C.sf_group_open(unsafe.Pointer(unsafe.StringData(name)), C.size_t(len(name)))
	if g == nil {
		return nil, ErrNoMemory
	}
	return newHandle(g, true), nil
}

// Open returns the process-wide group called name, shared with every other
// language in the process that opens the same name through libsingleflight
// (the Rust and Python bindings, C callers). Go callers share Go values as
// with any Group. A value reaches callers in other languages as bytes:
// []byte and string as they are, an encoding.BinaryMarshaler through
// MarshalBinary, copied once into the engine; any other value gives them a
// "no byte form" error (SF_ENOBYTES). A work error reaches them as its
// Error() text, a panic as SF_EPANIC with its message. In the other
// direction a Go caller receives another language's value as []byte (Do,
// DoChan, DoContext), its error as an *Error matching ErrWork, and its
// panic as a Go panic whose value is an *Error matching ErrPanic.
//
// Close the group when done with it. An empty name is ErrInvalid.
func Open(name string) (*Group, error) {
	h, err := openHandle(name)
	if err != nil {
		return nil, err
	}
	g := new(Group)
	g.h.p.Store(h)
	return g, nil
}

func (h *handle) stats() Stats {
	var s C.sf_stats
	if h.g == nil {
		return Stats{}
	}
	if h.fleet {
		if !h.enter() {
			return Stats{}
		}
		defer h.exit()
	}
	C.sf_group_stats(h.g, &s, C.size_t(unsafe.Sizeof(s)))
	runtime.KeepAlive(h)
	return Stats{
		Flights:       uint64(s.flights),
		Followers:     uint64(s.followers),
		Forgets:       uint64(s.forgets),
		Panics:        uint64(s.panics),
		Timeouts:      uint64(s.timeouts),
		Cancellations: uint64(s.cancellations),
		Handoffs:      uint64(s.handoffs),
		Abandoned:     uint64(s.abandoned),
		InTable:       uint64(s.in_table),
		Live:          uint64(s.live),

		FleetLed:        uint64(s.fleet_led),
		FleetJoined:     uint64(s.fleet_joined),
		FleetTakenOver:  uint64(s.fleet_taken_over),
		FleetFenced:     uint64(s.fleet_fenced),
		FleetLeasesLost: uint64(s.fleet_leases_lost),
		FleetFallbacks:  uint64(s.fleet_fallbacks),
		FleetTooLarge:   uint64(s.fleet_too_large),
		FleetReconnects: uint64(s.fleet_reconnects),
	}
}

// giveUp counts, through sf_group_count_giveup, a caller who stopped
// waiting because its context ended (err is the context's Err()): in
// Timeouts for a deadline, in Cancellations otherwise. The engine sees no
// such wait (no Go caller waits inside sf_wait), so this is the only count.
func (h *handle) giveUp(err error) {
	if h.g == nil {
		return
	}
	reason := C.sf_status(C.SF_ECANCELED)
	if errors.Is(err, context.DeadlineExceeded) {
		reason = C.SF_ETIMEDOUT
	}
	C.sf_group_count_giveup(h.g, reason)
	runtime.KeepAlive(h)
}
