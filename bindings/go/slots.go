package singleflight

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"
)

// A call is the Go side of one flight: the outcome its Go participants
// share as Go values, and the channel they park on. Calls live in a table
// of slots indexed by small integers that the C glue hands out (gosf.c): a
// leader takes a slot number when it joins, the engine holds the number for
// the flight (as its attachment, or as the native value of its outcome) and
// gives it back when the flight's last ticket is left. A slot is therefore
// only reused once no participant can read it, and recycling it costs no
// allocation and no callback into Go.
type call struct {
	gen      atomic.Uint32 // the flight the state below belongs to: stored last by publish
	mu       sync.Mutex
	finished bool          // the outcome below is final (guarded by mu)
	done     chan struct{} // made by the first waiter, closed by signal (guarded by mu)

	kind outcomeKind
	err  error
	perr *panicError
	box  valueBox // the value, boxed once per slot and type, reused

	// The wait tickets of the Go followers parked here (guarded by mu):
	// whoever finds, once the outcome is in, that no follower is still
	// reading leaves them all in one cgo call, so a follower of a Go leader
	// pays one cgo call (its join), not two.
	tickets []unsafe.Pointer // *C.sf_ticket
	readers int

	// DoContext: cancels the work's context when every caller has left.
	cancel    context.CancelFunc // guarded by mu
	abandoned bool               // guarded by mu
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

// publish makes a slot the fresh state of the flight of generation gen.
// Its previous users are gone (the engine gave the slot back), but followers
// of the new flight may already look at it: they wait for gen.
func (c *call) publish(gen uint32) {
	c.finished = false
	c.done = nil
	c.kind = ocValue
	c.err = nil
	c.perr = nil
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

// signal publishes the outcome to the Go waiters of the slot and hands
// over own (a wait ticket, or nil) to be left with theirs. It returns the
// tickets to leave now (when no follower is still reading), else nil.
func (c *call) signal(own unsafe.Pointer) []unsafe.Pointer {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.finished = true
	if c.done != nil {
		close(c.done)
	}
	if own != nil {
		c.tickets = append(c.tickets, own)
	}
	return c.takeTickets()
}

// takeTickets returns the parked tickets once nobody reads the outcome any
// more; the slot may be reused as soon as they are left. Called with mu held.
func (c *call) takeTickets() []unsafe.Pointer {
	if c.readers != 0 || !c.finished || len(c.tickets) == 0 {
		return nil
	}
	t := c.tickets
	c.tickets = nil
	return t
}

// park registers a follower's wait ticket and parks until signal, or until
// ctx (which may be nil) is done. It reports whether the outcome is there:
// then the follower reads it and calls doneReading; else the ticket is the
// follower's again, to leave.
func (c *call) park(ctx context.Context, gen uint32, ticket unsafe.Pointer) bool {
	for c.gen.Load() != gen {
		// The leader joined a moment ago and has not published the slot
		// yet (it does so before it runs fn).
		runtime.Gosched()
	}
	c.mu.Lock()
	c.readers++
	c.tickets = append(c.tickets, ticket)
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
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.finished {
		return true // the outcome arrived meanwhile; prefer it
	}
	c.readers--
	for i, t := range c.tickets {
		if t == ticket {
			last := len(c.tickets) - 1
			c.tickets[i] = c.tickets[last]
			c.tickets = c.tickets[:last]
			break
		}
	}
	return false
}

// doneReading ends a parked follower's read of the outcome; it returns the
// tickets to leave now, if this was the last reader.
func (c *call) doneReading() []unsafe.Pointer {
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
