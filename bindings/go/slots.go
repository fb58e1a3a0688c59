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

// A call is the Go side of one flight, in a table of slots indexed by small
// integers that the C glue hands out (gosf.c). A slot is one of:
//
//   - a leader's outcome (Do, DoChan): the leader stores its outcome as Go
//     values (kind, err, perr, box) before it completes the flight, and the
//     slot is the native value of the outcome; nobody parks here, and only
//     the outcome fields are used;
//   - a rendezvous, attached to the flight: its Go followers park on its
//     channel and read the outcome from it. The first Go follower makes it
//     (engine is set): one of the parked wait tickets is subscribed, and the
//     subscription (gosfRendezvous) polls the outcome into eng, once for
//     all of them. DoContext's leader makes its own slot the rendezvous (engine
//     is not set): its work goroutine stores the outcome and signals.
//
// The engine holds the slot's number for the flight and gives it back when
// the flight's last ticket is left, so a slot is only reused once no
// participant can read it, and recycling it costs no allocation and no
// callback into Go.
type call struct {
	gen      atomic.Uint32 // the flight the state below belongs to: stored last by publish
	mu       sync.Mutex
	finished bool          // the outcome below is final (guarded by mu)
	done     chan struct{} // made by the first waiter, closed by signal (guarded by mu)

	kind outcomeKind
	err  error
	perr *panicError
	box  valueBox // the value, boxed once per slot and type, reused

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
// leader's slot (native), or another language's status and bytes, copied.
type engineOutcome struct {
	status int
	shared bool
	native uintptr // a Go leader's slot value, or 0
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

// publish makes a slot the fresh rendezvous of the flight of generation
// gen; engine tells who signals it (a subscription, or the DoContext leader).
// Its previous users are gone (the engine gave the slot back), but followers
// of the new flight may already look at it: they wait for gen.
func (c *call) publish(gen uint32, engine bool) {
	c.finished = false
	c.done = nil
	c.kind = ocValue
	c.err = nil
	c.perr = nil
	c.engine = engine
	c.sub = 0
	c.eng = engineOutcome{}
	c.cancel = nil
	c.abandoned = false
	c.tickets = nil
	c.readers = 0
	c.gen.Store(gen) // followers read the fields above only after seeing gen
}

func storeValue[V any](c *call, v V) {
	b, ok := c.box.(*valBox[V])
	if !ok {
		b = new(valBox[V])
		c.box = b
	}
	b.v = v
}

// loadValue reads the value as a V: the value itself when the leader used
// the same type, else a type assertion from its dynamic value.
func loadValue[V any](c *call) (V, error) {
	if b, ok := c.box.(*valBox[V]); ok {
		return b.v, nil
	}
	var zero V
	if c.box == nil {
		return zero, nil
	}
	a := c.box.anyValue()
	if a == nil {
		return zero, nil
	}
	if v, ok := a.(V); ok {
		return v, nil
	}
	return zero, ErrTypeMismatch
}

// signal publishes the outcome stored in c to the Go waiters of a
// DoContext leader's rendezvous. Its caller holds the work ticket (the slot
// cannot be reused under it). Parked followers are readers until they have
// read, so no ticket is left to leave here.
func (c *call) signal() {
	c.mu.Lock()
	c.finished = true
	if c.done != nil {
		close(c.done)
	}
	c.mu.Unlock()
}

// fire runs, through gosfRendezvous, when the subscribed ticket of a
// follower's rendezvous sees the outcome (or a hand-off): it polls the
// outcome once for every follower parked here and wakes them. The
// subscribed ticket is held while this runs (its sf_leave waits for the
// callback), so the slot is still this flight's.
func (c *call) fire(gen uint32) {
	if c.gen.Load() != gen {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	// sub is nil when the subscription was dropped (every follower gave up;
	// its ticket is being left): a later follower subscribes again. Under
	// mu, sub cannot be left while it is polled.
	if c.finished || c.sub == 0 {
		return
	}
	e := pollEngine(c.sub)
	if e.status == int(C.SF_ETIMEDOUT) {
		return // not there yet (a subscription fires only once it is)
	}
	c.eng = e
	c.finished = true
	if c.done != nil {
		close(c.done)
	}
}

// takeTickets returns the parked tickets once nobody reads the outcome any
// more; the slot may be reused as soon as they are left. Called with mu held.
func (c *call) takeTickets() []C.uintptr_t {
	if c.readers != 0 || !c.finished || len(c.tickets) == 0 {
		return nil
	}
	t := c.tickets
	c.tickets = nil
	return t
}

// park registers a follower's wait ticket in a rendezvous and parks until
// the outcome is there, or until ctx (which may be nil) is done. slot is the
// rendezvous' slot value. It reports whether the outcome is there: then the
// follower reads it and calls doneReading. Otherwise the follower has left
// the flight and must leave the tickets returned (its own, and the
// subscribed one when it was the last to wait), or none: a subscribed ticket
// whose owner gives up stays here, for the subscription, until the others
// are done.
func (c *call) park(ctx context.Context, gen uint32, ticket C.uintptr_t, slot uintptr) (bool, []C.uintptr_t) {
	for c.gen.Load() != gen {
		// The slot's maker joined a moment ago and has not published it
		// yet (it does so right after its join).
		runtime.Gosched()
	}
	c.mu.Lock()
	c.readers++
	c.tickets = append(c.tickets, ticket)
	if c.finished {
		c.mu.Unlock()
		return true, nil
	}
	subscribe := c.engine && c.sub == 0
	if subscribe {
		c.sub = ticket
	}
	if c.done == nil {
		c.done = make(chan struct{})
	}
	d := c.done
	c.mu.Unlock()
	if subscribe {
		beforeSubscribe()
		// Fires at once, on this goroutine, if the outcome is already
		// there: fire takes mu, which is not held here.
		if st := C.gosf_subscribe_rendezvous(ticket, C.uintptr_t(slot)); st != C.SF_OK {
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
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.finished {
		return true, nil // the outcome arrived meanwhile; prefer it
	}
	c.readers--
	var leave []C.uintptr_t
	if ticket != c.sub {
		for i, t := range c.tickets {
			if t == ticket {
				last := len(c.tickets) - 1
				c.tickets[i] = c.tickets[last]
				c.tickets = c.tickets[:last]
				break
			}
		}
		leave = append(leave, ticket)
	}
	if c.readers == 0 {
		// Nobody waits here any more: leave the subscribed ticket too
		// (dropping the subscription), so that the flight can be
		// abandoned. A follower who comes later subscribes again.
		leave = append(leave, c.tickets...)
		c.tickets = nil
		c.sub = 0
	}
	return false, leave
}

// doneReading ends a parked follower's read of the outcome; it returns the
// tickets to leave now, if this was the last reader.
func (c *call) doneReading() []C.uintptr_t {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.readers--
	return c.takeTickets()
}

// wait parks until signal, or until ctx (which may be nil) is done; it
// reports whether the outcome is there.
func (c *call) wait(ctx context.Context, gen uint32) bool {
	for c.gen.Load() != gen {
		// The leader joined a moment ago and has not published the slot
		// yet (it does so before it runs fn).
		runtime.Gosched()
	}
	c.mu.Lock()
	if c.finished {
		c.mu.Unlock()
		return true
	}
	if c.done == nil {
		c.done = make(chan struct{})
	}
	d := c.done
	c.mu.Unlock()
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

func (c *call) setCancel(cancel context.CancelFunc) {
	c.mu.Lock()
	c.cancel = cancel
	ab := c.abandoned
	c.mu.Unlock()
	if ab {
		cancel()
	}
}

// abandon runs (from the engine, through gosfAbandoned) when every caller
// has left a DoContext flight.
func (c *call) abandon(gen uint32) {
	if c.gen.Load() != gen {
		return
	}
	c.mu.Lock()
	c.abandoned = true
	cancel := c.cancel
	c.mu.Unlock()
	if cancel != nil {
		cancel()
	}
}

const (
	slotChunkBits = 10
	slotChunkSize = 1 << slotChunkBits
	maxSlotChunks = 1 << 14 // 16M flights in progress at once
)

var (
	slotChunks [maxSlotChunks]atomic.Pointer[[slotChunkSize]call]
	slotGrowMu sync.Mutex
)

// slotOf splits a slot value ((gen << 32) | (index + 1)) into its call and
// generation.
func slotOf(v uintptr) (*call, uint32) {
	return slotAt(uint32(v) - 1), uint32(uint64(v) >> 32)
}

// slotAt returns the call of slot number i.
func slotAt(i uint32) *call {
	ch := slotChunks[i>>slotChunkBits].Load()
	if ch == nil {
		ch = growSlots(i >> slotChunkBits)
	}
	return &ch[i&(slotChunkSize-1)]
}

func growSlots(n uint32) *[slotChunkSize]call {
	if n >= maxSlotChunks {
		panic("singleflight: too many flights in progress at once")
	}
	slotGrowMu.Lock()
	defer slotGrowMu.Unlock()
	if ch := slotChunks[n].Load(); ch != nil {
		return ch
	}
	ch := new([slotChunkSize]call)
	slotChunks[n].Store(ch)
	return ch
}

// Slot values pack a generation into the upper 32 bits of a pointer-sized
// integer: this binding needs 64-bit pointers (it fails to compile
// elsewhere, rather than lose the generation check).
var _ [unsafe.Sizeof(uintptr(0)) - 8]byte
