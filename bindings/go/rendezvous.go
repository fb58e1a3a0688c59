package singleflight

/*
#include "gosf.h"
*/
import "C"

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"
)

// A rendezvous is the binding's side of the engine's rendezvous: the Go
// state of one flight that lets its Go followers share the leader's Go value
// and wake without a thread each. It lives in a table (below) indexed by
// small integers; what crosses to C and the engine is its id,
// (generation << 32) | (index + 1), and the free ids are kept by the C glue
// (gosf.c), so taking and giving one back costs no allocation and no
// callback into Go. The engine holds an id in one of two ways:
//
//   - as the native value of an outcome (Do, DoChan): a leader whose flight
//     others joined takes a rendezvous once its work is over (a leader
//     alone takes none), stores its outcome as Go values (kind, err, perr,
//     box) there and completes the flight with the id; nobody parks there,
//     and only the outcome fields are used;
//   - attached to the flight (sf_attach): its Go followers park on its
//     channel and read the outcome from it. The first Go follower attaches
//     its own (engine is set): one of the parked wait tickets is
//     subscribed, and the subscription (gosfRendezvous) polls the outcome
//     into eng, once for all of them. DoContext's leader attaches its own
//     (engine is not set): its work goroutine stores the outcome and
//     signals.
//
// The engine gives the id back (gosf_kind.release) when the flight's last
// ticket is left, so a rendezvous is only reused once no participant can
// read it.
type rendezvous struct {
	gen      atomic.Uint32 // the flight the state below belongs to: stored last by publish
	mu       sync.Mutex
	finished bool          // the outcome below is final (guarded by mu)
	done     chan struct{} // made by the first waiter, closed by signal (guarded by mu)

	kind outcomeKind
	err  error
	perr *panicError
	box  valueBox // the value, boxed once per rendezvous and type, reused

	// A follower's rendezvous (guarded by mu): the outcome comes from the
	// engine, through the subscription of the ticket sub.
	engine bool
	sub    C.uintptr_t   // the subscribed ticket (sf_ticket *), or 0
	eng    engineOutcome // the outcome, once finished

	// The wait tickets of the Go followers parked here (guarded by mu):
	// whoever finds, once the outcome is in, that no follower is still
	// reading leaves them all in one cgo call, so a follower pays one cgo
	// call (its join), not two.
	tickets []C.uintptr_t // sf_ticket *
	readers int

	// DoContext: cancels the work's context when every caller has left.
	cancel    context.CancelFunc // guarded by mu
	abandoned bool               // guarded by mu
}

// engineOutcome is an outcome as the engine hands it to a follower: a Go
// leader's rendezvous (native), or another language's status and bytes, copied.
type engineOutcome struct {
	status int
	shared bool
	native uintptr // a Go leader's rendezvous id, or 0
	val    []byte  // the value's bytes (hasVal: not NULL)
	hasVal bool
	msg    string // the error's bytes
}

type outcomeKind uint8

const (
	ocValue   outcomeKind = iota // fn returned (val, err)
	ocPanic                      // fn panicked: perr
	ocGoexit                     // fn called runtime.Goexit
	ocHandoff                    // the work stopped without an outcome: join again
)

// valueBox holds a flight's value with its static Go type, so that the typed
// API stores a V without boxing it in an interface on every flight.
type valueBox interface{ anyValue() any }

type valBox[V any] struct{ v V }

func (b *valBox[V]) anyValue() any { return b.v }

// publish makes rv the fresh rendezvous of the flight of generation
// gen; engine tells who signals it (a subscription, or the DoContext leader).
// Its previous participants are gone (the engine gave its id back), but followers
// of the new flight may already look at it: they wait for gen.
func (rv *rendezvous) publish(gen uint32, engine bool) {
	rv.finished = false
	rv.done = nil
	rv.kind = ocValue
	rv.err = nil
	rv.perr = nil
	rv.engine = engine
	rv.sub = 0
	rv.eng = engineOutcome{}
	rv.cancel = nil
	rv.abandoned = false
	rv.tickets = nil
	rv.readers = 0
	rv.gen.Store(gen) // followers read the fields above only after seeing gen
}

func storeValue[V any](rv *rendezvous, v V) {
	b, ok := rv.box.(*valBox[V])
	if !ok {
		b = new(valBox[V])
		rv.box = b
	}
	b.v = v
}

// loadValue reads the value as a V: the value itself when the leader used
// the same type, else a type assertion from its dynamic value.
func loadValue[V any](rv *rendezvous) (V, error) {
	if b, ok := rv.box.(*valBox[V]); ok {
		return b.v, nil
	}
	var zero V
	if rv.box == nil {
		return zero, nil
	}
	a := rv.box.anyValue()
	if a == nil {
		return zero, nil
	}
	if v, ok := a.(V); ok {
		return v, nil
	}
	return zero, ErrTypeMismatch
}

// signal publishes the outcome stored in rv to the Go waiters of a
// DoContext leader's rendezvous. The goroutine that signals holds the work
// ticket (the rendezvous cannot be reused under it). Parked followers are readers until they have
// read, so no ticket is left to leave here.
func (rv *rendezvous) signal() {
	rv.mu.Lock()
	rv.finished = true
	if rv.done != nil {
		close(rv.done)
	}
	rv.mu.Unlock()
}

// fire runs, through gosfRendezvous, when the subscribed ticket of a
// follower's rendezvous sees the outcome (or a hand-off): it polls the
// outcome once for every follower parked here and wakes them. The
// subscribed ticket is held while this runs (its sf_leave waits for the
// callback), so the rendezvous is still this flight's.
func (rv *rendezvous) fire(gen uint32) {
	if rv.gen.Load() != gen {
		return
	}
	rv.mu.Lock()
	defer rv.mu.Unlock()
	// sub is nil when the subscription was dropped (every follower gave up;
	// its ticket is being left): a later follower subscribes again. Under
	// mu, sub cannot be left while it is polled.
	if rv.finished || rv.sub == 0 {
		return
	}
	e := pollEngine(rv.sub)
	if e.status == int(C.SF_ETIMEDOUT) {
		return // not there yet (a subscription fires only once it is)
	}
	rv.eng = e
	rv.finished = true
	if rv.done != nil {
		close(rv.done)
	}
}

// takeTickets returns the parked tickets once nobody reads the outcome any
// more; the rendezvous may be reused as soon as they are left. Called with mu held.
func (rv *rendezvous) takeTickets() []C.uintptr_t {
	if rv.readers != 0 || !rv.finished || len(rv.tickets) == 0 {
		return nil
	}
	t := rv.tickets
	rv.tickets = nil
	return t
}

// park registers a follower's wait ticket in a rendezvous and parks until
// the outcome is there, or until ctx (which may be nil) is done. id is the
// rendezvous' id. It reports whether the outcome is there: then the
// follower reads it and calls doneReading. Otherwise the follower has left
// the flight and must leave the tickets returned (its own, and the
// subscribed one when it was the last to wait), or none: a subscribed ticket
// whose owner gives up stays here, for the subscription, until the others
// are done.
func (rv *rendezvous) park(ctx context.Context, gen uint32, ticket C.uintptr_t, id uintptr) (bool, []C.uintptr_t) {
	for rv.gen.Load() != gen {
		// The rendezvous' maker joined a moment ago and has not published it
		// yet (it does so right after its join).
		runtime.Gosched()
	}
	rv.mu.Lock()
	rv.readers++
	rv.tickets = append(rv.tickets, ticket)
	if rv.finished {
		rv.mu.Unlock()
		return true, nil
	}
	subscribe := rv.engine && rv.sub == 0
	if subscribe {
		rv.sub = ticket
	}
	if rv.done == nil {
		rv.done = make(chan struct{})
	}
	d := rv.done
	rv.mu.Unlock()
	if subscribe {
		beforeSubscribe()
		// Fires at once, on this goroutine, if the outcome is already
		// there: fire takes mu, which is not held here.
		if st := C.gosf_subscribe_rendezvous(ticket, C.uintptr_t(id)); st != C.SF_OK {
			// A fresh wait ticket is never refused.
			panic("singleflight: internal error: subscription refused: " + statusString(Status(st)))
		}
	}
	if ctx == nil {
		<-d
		return true, nil
	}
	select {
	case <-d:
		return true, nil
	case <-ctx.Done():
	}
	rv.mu.Lock()
	defer rv.mu.Unlock()
	if rv.finished {
		return true, nil // the outcome arrived meanwhile; prefer it
	}
	rv.readers--
	var leave []C.uintptr_t
	if ticket != rv.sub {
		for i, t := range rv.tickets {
			if t == ticket {
				last := len(rv.tickets) - 1
				rv.tickets[i] = rv.tickets[last]
				rv.tickets = rv.tickets[:last]
				break
			}
		}
		leave = append(leave, ticket)
	}
	if rv.readers == 0 {
		// Nobody waits here any more: leave the subscribed ticket too
		// (dropping the subscription), so that the flight can be
		// abandoned. A follower who comes later subscribes again.
		leave = append(leave, rv.tickets...)
		rv.tickets = nil
		rv.sub = 0
	}
	return false, leave
}

// doneReading ends a parked follower's read of the outcome; it returns the
// tickets to leave now, if this was the last reader.
func (rv *rendezvous) doneReading() []C.uintptr_t {
	rv.mu.Lock()
	defer rv.mu.Unlock()
	rv.readers--
	return rv.takeTickets()
}

// wait parks until signal, or until ctx (which may be nil) is done; it
// reports whether the outcome is there.
func (rv *rendezvous) wait(ctx context.Context, gen uint32) bool {
	for rv.gen.Load() != gen {
		// The leader joined a moment ago and has not published the rendezvous
		// yet (it does so before it runs fn).
		runtime.Gosched()
	}
	rv.mu.Lock()
	if rv.finished {
		rv.mu.Unlock()
		return true
	}
	if rv.done == nil {
		rv.done = make(chan struct{})
	}
	d := rv.done
	rv.mu.Unlock()
	if ctx == nil {
		<-d
		return true
	}
	select {
	case <-d:
		return true
	case <-ctx.Done():
		// The outcome may have arrived at the same time; prefer it.
		select {
		case <-d:
			return true
		default:
			return false
		}
	}
}

func (rv *rendezvous) setCancel(cancel context.CancelFunc) {
	rv.mu.Lock()
	rv.cancel = cancel
	ab := rv.abandoned
	rv.mu.Unlock()
	if ab {
		cancel()
	}
}

// abandon runs (from the engine, through gosfAbandoned) when every caller
// has left a DoContext flight.
func (rv *rendezvous) abandon(gen uint32) {
	if rv.gen.Load() != gen {
		return
	}
	rv.mu.Lock()
	rv.abandoned = true
	cancel := rv.cancel
	rv.mu.Unlock()
	if cancel != nil {
		cancel()
	}
}

const (
	rvChunkBits = 10
	rvChunkSize = 1 << rvChunkBits
	maxRVChunks = 1 << 14 // 16M flights in progress at once
)

var (
	rvChunks [maxRVChunks]atomic.Pointer[[rvChunkSize]rendezvous]
	rvGrowMu sync.Mutex
)

// rendezvousOf splits a rendezvous id ((gen << 32) | (index + 1)) into its
// rendezvous and generation.
func rendezvousOf(v uintptr) (*rendezvous, uint32) {
	return rendezvousAt(uint32(v) - 1), uint32(uint64(v) >> 32)
}

// rendezvousAt returns the rendezvous of index i.
func rendezvousAt(i uint32) *rendezvous {
	ch := rvChunks[i>>rvChunkBits].Load()
	if ch == nil {
		ch = growRendezvousTable(i >> rvChunkBits)
	}
	return &ch[i&(rvChunkSize-1)]
}

func growRendezvousTable(n uint32) *[rvChunkSize]rendezvous {
	if n >= maxRVChunks {
		panic("singleflight: too many flights in progress at once")
	}
	rvGrowMu.Lock()
	defer rvGrowMu.Unlock()
	if ch := rvChunks[n].Load(); ch != nil {
		return ch
	}
	ch := new([rvChunkSize]rendezvous)
	rvChunks[n].Store(ch)
	return ch
}

// Rendezvous ids pack a generation into the upper 32 bits of a pointer-sized
// integer: this binding needs 64-bit pointers (it fails to compile
// elsewhere, rather than lose the generation check).
var _ [unsafe.Sizeof(uintptr(0)) - 8]byte
