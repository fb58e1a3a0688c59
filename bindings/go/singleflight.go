//go:build cgo

// Package singleflight provides a duplicate call suppression mechanism: a
// drop-in replacement for golang.org/x/sync/singleflight whose flights run
// through libsingleflight, the engine shared by the Go, Rust, Python and C
// callers of one process.
//
// Switching from x/sync is one line:
//
//	import "golang.org/x/sync/singleflight"
//	// becomes
//	import singleflight "github.com/singleflight/singleflight/bindings/go"
//
// Group, Do, DoChan, Forget and Result behave as in x/sync: values are any Go
// value, shared between Go callers as the value itself; a panic in fn
// re-panics in every caller with the panic value and the leader's stack;
// runtime.Goexit in fn ends the leader's goroutine and those of the other Do
// callers; a panic under DoChan crashes the process.
//
// Beyond x/sync:
//   - DoContext: callers stop waiting when their context ends, and fn runs in
//     a goroutine of its own, its context cancelled only once every caller
//     has left.
//   - KeyedGroup and Single: typed groups, no interface boxing, no
//     allocation on the steady-state fast path.
//   - Open: a named group shared with every other language in the process.
//   - Stats: the engine's counters, ready for expvar.
//
// Waiting callers are parked by the Go scheduler on channels; no goroutine
// ever blocks inside a cgo call, so ten thousand followers cost ten thousand
// goroutines, not ten thousand threads.
//
// The package links libsingleflight dynamically, found through pkg-config
// (singleflight.pc), so there is one engine per process.
package singleflight

import (
	"context"
	"encoding/json"
)

// Group represents a class of work and forms a namespace in which units of
// work can be executed with duplicate suppression. The zero value is ready
// to use. A Group must not be copied after first use.
type Group struct {
	h atomicHandle
}

// Result holds the results of Do, so they can be passed on a channel.
type Result struct {
	Val    any   // fn's value
	Err    error // fn's error
	Shared bool  // whether Val was given to more than one caller
}

func mkResult(v any, err error, shared bool) Result { return Result{v, err, shared} }

// Do executes and returns the results of the given function, making sure
// that only one execution is in-flight for a given key at a time. If a
// duplicate comes in, the duplicate caller waits for the original to
// complete and receives the same results. The return value shared reports
// whether v was given to multiple callers.
//
// If fn panics, every caller panics with a value wrapping the panic value
// and the leader's stack. A nil fn panics at once.
func (g *Group) Do(key string, fn func() (any, error)) (v any, err error, shared bool) {
	if fn == nil {
		panic("singleflight: Group.Do called with a nil fn")
	}
	h, err := g.h.get()
	if err != nil {
		return nil, err, false
	}
	return do(h, fkey{s: key}, fn)
}

// DoChan is like Do but returns a channel that will receive the results
// when they are ready. The returned channel will not be closed.
//
// As with x/sync, a panic in fn (or in the fn of a Do call this one joined)
// crashes the process. Where fn calls runtime.Goexit the channel receives
// ErrGoexit.
func (g *Group) DoChan(key string, fn func() (any, error)) <-chan Result {
	if fn == nil {
		panic("singleflight: Group.DoChan called with a nil fn")
	}
	h, err := g.h.get()
	if err != nil {
		ch := make(chan Result, 1)
		ch <- Result{Err: err}
		return ch
	}
	return doChan(h, fkey{s: key}, fn, mkResult)
}

// DoContext is like Do, with a context. The caller stops waiting when ctx
// is done and gets ctx.Err(); the flight goes on for the others. fn runs in
// a goroutine of its own with a context that carries ctx's values and is
// cancelled only when every caller of the flight has left (never by one
// caller's deadline alone). A run cancelled that way that fails never hands
// its error to anyone: a caller who joined meanwhile starts a fresh run (one
// that succeeds all the same delivers its value).
//
// A caller whose ctx ends before the outcome gives up: it gets ctx.Err(),
// and Stats counts it once, in Timeouts when the error is
// context.DeadlineExceeded, in Cancellations otherwise (also when ctx had
// ended before the call). Its shared is true when the flight it waited on
// was started by another caller: that flight's outcome, if it comes, goes
// to more than one caller. It is false for the caller whose own call
// started the flight (or that joined none): the outcome is not there when
// it leaves, and whether it will reach anyone else is not known then.
//
// A panic in fn re-panics in every caller still waiting; runtime.Goexit in
// fn gives them ErrGoexit.
func (g *Group) DoContext(ctx context.Context, key string, fn func(context.Context) (any, error)) (v any, err error, shared bool) {
	if fn == nil {
		panic("singleflight: Group.DoContext called with a nil fn")
	}
	if ctx == nil {
		panic("singleflight: Group.DoContext called with a nil context")
	}
	h, err := g.h.get()
	if err != nil {
		return nil, err, false
	}
	return doContext(h, ctx, fkey{s: key}, fn)
}

// Forget tells the singleflight to forget about a key. Future calls to Do
// for this key will call the function rather than waiting for an earlier
// call to complete.
func (g *Group) Forget(key string) {
	if h, err := g.h.get(); err == nil {
		h.forget(fkey{s: key})
	}
}

// ForgetUnshared forgets key only if no caller but its leader waits on the
// running flight (as Go's internal singleflight does). It reports whether
// the key is now free: forgotten, or not in flight at all.
func (g *Group) ForgetUnshared(key string) bool {
	h, err := g.h.get()
	if err != nil {
		return true
	}
	return h.forgetUnshared(fkey{s: key})
}

// Stats returns the engine's counters for the group.
func (g *Group) Stats() Stats {
	h, err := g.h.get()
	if err != nil {
		return Stats{}
	}
	return h.stats()
}

// Close stops the group: later calls return ErrClosed (or, for Forget,
// do nothing). Calls in progress finish normally; the engine's reference is
// dropped once they have returned and the group is unreachable. Close is
// not part of x/sync's API and is optional for a private group; it is the
// way to let go of a named group (Open).
func (g *Group) Close() error {
	g.h.close()
	return nil
}

// Stats are the engine's counters of one group (sf_stats). The fields count
// events since the group was created, except InTable and Live, which are
// gauges. Stats implements expvar.Var (String returns JSON), so a group can
// be published with
//
//	expvar.Publish("flights", expvar.Func(func() any { return g.Stats() }))
type Stats struct {
	Flights       uint64 `json:"flights"`       // flights started (one per leader)
	Followers     uint64 `json:"followers"`     // joins that followed a flight already running
	Forgets       uint64 `json:"forgets"`       // flights forgotten while running
	Panics        uint64 `json:"panics"`        // flights that ended with a panic
	Timeouts      uint64 `json:"timeouts"`      // callers that gave up at their deadline (a DoContext ctx, or a wait in another language)
	Cancellations uint64 `json:"cancellations"` // callers that were cancelled (a DoContext ctx, or a wait in another language)
	Handoffs      uint64 `json:"handoffs"`      // flights whose leader stopped without an outcome
	Abandoned     uint64 `json:"abandoned"`     // times a running flight was left by every caller
	InTable       uint64 `json:"in_table"`      // gauge: flights a new caller would join now
	Live          uint64 `json:"live"`          // gauge: flights still held by a caller
}

// String returns s as JSON, as expvar.Var asks.
func (s Stats) String() string {
	b, _ := json.Marshal(s)
	return string(b)
}
