package singleflight

/*
#cgo noescape gosf_join
#cgo nocallback gosf_join
#include "gosf.h"
*/
import "C"

import (
	"context"
	"encoding"
	"fmt"
	"runtime"
	"runtime/cgo"
	"sync/atomic"
	"unsafe"
)

// handle owns one engine group reference.
type handle struct {
	g      *C.sf_group
	gi     C.uintptr_t // g, as the fast path passes it (no cgo pointer check)
	named  bool
	closed atomic.Bool
	ref    *engineRef

	// A fleet group (OpenFleet): DoContext's work gets its fencing token,
	// and the engine reference is dropped as soon as the group is closed
	// and no call is in progress (see enter), so that the engine publishes
	// the completions still queued before a short-lived process exits.
	fleet bool
	calls atomic.Int64 // the group's calls in progress (Do, DoChan, DoContext, Forget), plus one until Close
}

// engineRef drops an engine reference once, from Close or from the cleanup
// of an unreachable handle, whichever comes first.
type engineRef struct {
	g    *C.sf_group
	done atomic.Bool
}

func (r *engineRef) release() {
	if r.done.CompareAndSwap(false, true) {
		C.sf_group_release(r.g)
	}
}

func newHandle(g *C.sf_group, named bool) *handle {
	ref := &engineRef{g: g}
	h := &handle{g: g, gi: C.uintptr_t(uintptr(unsafe.Pointer(g))), named: named, ref: ref}
	h.calls.Store(1)
	runtime.AddCleanup(h, func(r *engineRef) { r.release() }, ref)
	return h
}

// enter counts a call of a fleet group in progress; false once the group
// is closed and its last call returned (the reference is gone). Every
// other group keeps its reference until it is garbage: enter is not
// needed there.
func (h *handle) enter() bool {
	for {
		n := h.calls.Load()
		if n == 0 {
			return false
		}
		if h.calls.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// exit ends what enter began; the last one after Close drops the engine
// reference (the engine then publishes what is queued, within
// CommandTimeout, before sf_group_release returns).
func (h *handle) exit() {
	if h.calls.Add(-1) == 0 {
		h.ref.release()
	}
}

// shut is Close for a handle: later calls fail with ErrClosed; a fleet
// group's reference goes as soon as no call is in progress.
func (h *handle) shut() {
	if h.closed.CompareAndSwap(false, true) && h.fleet {
		h.exit()
	}
}

// fkey is a flight key on its way to the engine: bytes, or an integer the C
// glue writes as 8 little-endian bytes (no Go pointer, so no allocation).
type fkey struct {
	s   string
	u   uint64
	isU bool
}

// join joins the flight of k, or starts it, filling *j (passed by pointer:
// the C glue writes it in place, with no copy of the struct on the way; it
// keeps no pointer (noescape) and never calls into Go (nocallback: a fresh
// work ticket's flight cannot be abandoned yet, its leader's wait ticket is
// held), so j stays on the stack of the goroutine that joins).
func (h *handle) join(k fkey, flags C.uint, j *C.gosf_joined) {
	if k.isU {
		C.gosf_join(h.gi, nil, 8, C.uint64_t(k.u), flags, j)
	} else {
		C.gosf_join(h.gi, strPtr(k.s), C.size_t(len(k.s)), 0, flags, j)
	}
	runtime.KeepAlive(h)
}

func (h *handle) forget(k fkey) {
	if h.fleet {
		if !h.enter() {
			return
		}
		defer h.exit()
	}
	if k.isU {
		var b [8]byte
		for i := range b {
			b[i] = byte(k.u >> (8 * i))
		}
		C.sf_forget(h.g, unsafe.Pointer(&b[0]), 8)
	} else {
		C.sf_forget(h.g, unsafe.Pointer(strPtr(k.s)), C.size_t(len(k.s)))
	}
	runtime.KeepAlive(h)
}

func (h *handle) forgetUnshared(k fkey) bool {
	if h.fleet {
		if !h.enter() {
			return true
		}
		defer h.exit()
	}
	var forgotten C.int
	var b [8]byte
	p, n := strPtr(k.s), C.size_t(len(k.s))
	if k.isU {
		for i := range b {
			b[i] = byte(k.u >> (8 * i))
		}
		p, n = bytesPtr(b[:]), 8
	}
	C.sf_forget_unshared(h.g, unsafe.Pointer(p), n, &forgotten)
	runtime.KeepAlive(h)
	return forgotten != 0
}

func statusString(s Status) string { return C.GoString(C.sf_status_str(C.sf_status(s))) }

func statusError(st C.int, msg string) error {
	return &Error{Status: Status(st), Msg: msg}
}

// outcome is what a participant takes from a flight.
type outcome[V any] struct {
	kind   outcomeKind
	v      V
	err    error
	perr   *panicError
	shared bool
}

// readRendezvous copies the outcome stored in a rendezvous (valid while a
// ticket of its flight is held).
func readRendezvous[V any](rv *rendezvous) outcome[V] {
	o := outcome[V]{kind: rv.kind, err: rv.err, perr: rv.perr}
	if o.kind == ocValue {
		v, err := loadValue[V](rv)
		o.v = v
		if err != nil && o.err == nil {
			o.err = err
		}
	}
	return o
}

// ---- leading ------------------------------------------------------------

// bytesOf is the byte form a value crosses to other languages in: []byte and
// string as they are, an encoding.BinaryMarshaler through MarshalBinary.
// ok is false for a value with no byte form.
func bytesOf(v any) (b []byte, s string, isStr, ok bool) {
	switch x := v.(type) {
	case []byte:
		return x, "", false, true
	case string:
		return nil, x, true, true
	case encoding.BinaryMarshaler:
		if b, err := x.MarshalBinary(); err == nil {
			return b, "", false, true
		}
	}
	return nil, "", false, false
}

// encoded is an outcome in the engine's terms: a status, the bytes that
// cross to other languages, and the native value.
type encoded struct {
	status         C.int
	val, msg       []byte
	hasVal, hasErr bool
	native         C.uintptr_t
}

// encode turns a Go leader's outcome into the engine's terms. Bytes are made
// only for a named group (only there can another language read them); the
// leader's rendezvous id goes as the native value unless that rendezvous is
// attached to the flight (a DoContext leader's): Go followers then find the outcome through the
// engine, from their own rendezvous or subscription.
func encode[V any](h *handle, id uintptr, rendezvous bool,
	kind outcomeKind, v V, err error, perr *panicError) (e encoded) {
	e.status = C.SF_OK
	var sval, smsg string
	valStr, noValue := false, false
	switch kind {
	case ocValue:
		if err != nil {
			e.status = C.SF_EWORK
			if h.named {
				smsg, e.hasErr = err.Error(), true
			}
		} else if h.named {
			a := any(v)
			noValue = a == nil
			if !noValue {
				e.val, sval, valStr, e.hasVal = bytesOf(a)
				if !e.hasVal {
					// No byte form: mark the outcome as a Go value so that
					// other languages get SF_ENOBYTES, not an empty value.
					e.native = C.GOSF_NO_BYTES
				}
			}
		}
	case ocPanic:
		e.status = C.SF_EPANIC
		smsg, e.hasErr = "go panic: "+perr.Error(), true
	case ocGoexit:
		e.status = C.SF_EPANIC
		smsg, e.hasErr = "go: runtime.Goexit was called in the work", true
	}
	if !rendezvous && !noValue {
		// A nil value with no error needs no rendezvous: its followers, Go or
		// not, read SF_OK with no bytes (a native value would give other
		// languages SF_ENOBYTES).
		e.native = C.uintptr_t(id)
	}
	if valStr {
		e.val = unsafe.Slice(unsafe.StringData(sval), len(sval))
	}
	if smsg != "" {
		e.msg = unsafe.Slice(unsafe.StringData(smsg), len(smsg))
	}
	return e
}

// end ends the flight of Do's leader. When its two tickets are the only
// ones, one cgo call (gosf_end, sf_finish_alone) ends it with no outcome
// handed over: no byte form, no rendezvous. Otherwise the same call gave it
// a rendezvous of its own: it stores the outcome there and finishes the
// flight with that id as the native value (finish). It returns whether the
// outcome was shared.
func end[V any](h *handle, j *C.gosf_joined,
	kind outcomeKind, v V, err error, perr *panicError) bool {
	st := C.int(C.SF_OK)
	switch {
	case kind != ocValue:
		st = C.SF_EPANIC
	case err != nil:
		st = C.SF_EWORK
	}
	own := C.gosf_end(j.wait, j.work, st)
	runtime.KeepAlive(h)
	if own <= 1 {
		return own == 1
	}
	rv, _ := rendezvousOf(uintptr(own))
	store(rv, kind, v, err, perr)
	return finish(h, j, own, st, kind, v, err, perr)
}

// finish completes the flight of Do's leader with own, the rendezvous that
// holds its outcome, as the native value, reads whether the outcome was
// shared and leaves both tickets, in one cgo call (sf_finish). Once this
// returns, own may be another flight's.
func finish[V any](h *handle, j *C.gosf_joined, own C.uintptr_t, st C.int,
	kind outcomeKind, v V, err error, perr *panicError) bool {
	if !h.named && kind == ocValue {
		// A private group has no byte form to make, and the rendezvous
		// id is the native value whatever the outcome.
		r := C.gosf_finish(j.wait, j.work, st, nil, 0, 0, nil, 0, 0, own, 0)
		runtime.KeepAlive(h)
		return r > 0
	}
	e := encode(h, uintptr(own), false, kind, v, err, perr)
	back := C.uintptr_t(0)
	if e.native != own {
		back = own
	}
	r := C.gosf_finish(j.wait, j.work, e.status,
		bytesPtr(e.val), C.size_t(len(e.val)), cbool(e.hasVal),
		bytesPtr(e.msg), C.size_t(len(e.msg)), cbool(e.hasErr),
		e.native, back)
	runtime.KeepAlive(h)
	return r > 0
}

// complete completes the flight of DoContext's work goroutine, which holds
// the work ticket alone, and leaves the ticket if leaveWork.
func complete[V any](h *handle, work C.uintptr_t, id uintptr, rendezvous bool,
	kind outcomeKind, v V, err error, perr *panicError, leaveWork bool) {
	e := encode(h, id, rendezvous, kind, v, err, perr)
	back := C.uintptr_t(0)
	if !rendezvous && e.native != C.uintptr_t(id) {
		back = C.uintptr_t(id) // not the attachment, not the native value
	}
	C.gosf_complete(work, e.status,
		bytesPtr(e.val), C.size_t(len(e.val)), cbool(e.hasVal),
		bytesPtr(e.msg), C.size_t(len(e.msg)), cbool(e.hasErr),
		e.native, cbool(leaveWork), back)
	runtime.KeepAlive(h)
}

func cbool(b bool) C.int {
	if b {
		return 1
	}
	return 0
}

func store[V any](rv *rendezvous, kind outcomeKind, v V, err error, perr *panicError) {
	rv.kind, rv.err, rv.perr = kind, err, perr
	if kind == ocValue {
		storeValue(rv, v)
	}
}

// lead runs fn on the calling goroutine as the leader of the flight j, with
// x/sync's semantics: a panic re-panics here (and in every Go follower) with
// a *panicError; runtime.Goexit goes on exiting this goroutine. *kind is set
// before either happens.
//
// The leader attached nothing. Alone at the end, it keeps its outcome;
// otherwise it stores it in a rendezvous of its own and hands its id to the
// engine as the outcome's native value, in the call that completes the
// flight and leaves its tickets (end). Its Go followers parked on the
// rendezvous the first of them attached, and read the leader's from there.
func lead[V any](h *handle, j *C.gosf_joined, fn func() (V, error), kind *outcomeKind) (v V, err error, shared bool) {
	normalReturn, recovered := false, false
	var perr *panicError
	defer func() {
		k := ocValue
		if !normalReturn && !recovered {
			k = ocGoexit
		} else if perr != nil {
			k = ocPanic
		}
		*kind = k
		shared = end(h, j, k, v, err, perr)
		if perr != nil {
			panic(perr)
		}
		// ocGoexit: returning lets runtime.Goexit go on.
	}()
	func() {
		defer func() {
			if !normalReturn {
				if r := recover(); r != nil {
					perr = newPanicError(r)
				}
			}
		}()
		v, err = fn()
		normalReturn = true
	}()
	if !normalReturn {
		recovered = true
	}
	return v, err, shared
}

// ---- following ----------------------------------------------------------

// leaveAll leaves wait tickets collected by a rendezvous, in one cgo call.
func leaveAll(ts []C.uintptr_t) {
	if len(ts) > 0 {
		C.gosf_leave_all(&ts[0], C.size_t(len(ts)))
	}
}

// notifyCh is what gosfNotify closes.
type notifyCh chan struct{}

// follow waits, as a follower holding the wait ticket of j, for the outcome.
// ctx may be nil (wait as long as it takes). ok is false when ctx ended
// first. The ticket is always left (or handed to the rendezvous) on return.
func follow[V any](h *handle, j *C.gosf_joined, ctx context.Context) (o outcome[V], ok bool) {
	attached := uintptr(j.attached)
	if attached == 0 {
		// No rendezvous (every attachment was taken by other kinds,
		// or a test switched them off): a subscription of our own.
		return followEngine[V](h, j.wait, ctx)
	}
	rv, gen := rendezvousOf(attached)
	if uintptr(j.own) == attached {
		rv.publish(gen, true) // this follower made the rendezvous
	}
	ok, leave := rv.park(ctx, gen, j.wait, attached)
	if !ok {
		leaveAll(leave)
		runtime.KeepAlive(h)
		return o, false
	}
	if rv.engine {
		o = fromEngine[V](&rv.eng)
	} else {
		o = readRendezvous[V](rv)
		o.shared = true
	}
	leaveAll(rv.doneReading())
	runtime.KeepAlive(h)
	return o, true
}

// followEngine waits through an engine subscription of its own: the flight
// has no Go rendezvous, or this is DoContext's caller whose rendezvous
// could not be attached.
func followEngine[V any](h *handle, wait C.uintptr_t, ctx context.Context) (o outcome[V], ok bool) {
	ch := make(notifyCh)
	notify := cgo.NewHandle(ch)
	defer notify.Delete()
	if st := C.gosf_subscribe(wait, C.uintptr_t(notify)); st != C.SF_OK {
		C.gosf_leave(wait)
		o.err = statusError(st, "subscribe")
		return o, true
	}
	if ctx == nil {
		<-ch
	} else {
		select {
		case <-ch:
		case <-ctx.Done():
			select {
			case <-ch:
			default:
				C.gosf_leave(wait)
				return o, false
			}
		}
	}
	e := pollEngine(wait)
	o = fromEngine[V](&e)
	C.gosf_leave(wait)
	runtime.KeepAlive(h)
	return o, true
}

// pollEngine reads the outcome of a flight through a wait ticket, copying
// the bytes of another language's outcome into Go memory.
func pollEngine(wait C.uintptr_t) engineOutcome {
	r := C.gosf_poll(wait)
	e := engineOutcome{status: int(r.status), shared: r.shared != 0}
	switch {
	case r.native != 0 && r.native != C.GOSF_NO_BYTES:
		e.native = uintptr(r.native) // a Go leader's rendezvous: no bytes needed
	case r.status == C.SF_OK:
		if r.value != nil {
			e.val = C.GoBytes(unsafe.Pointer(r.val_data), C.int(r.val_len))
			e.hasVal = true
		}
	default:
		if r.error != nil {
			e.msg = C.GoStringN(r.err_data, C.int(r.err_len))
		}
	}
	C.gosf_outcome_release(&r)
	return e
}

// fromEngine turns an outcome read through the engine into a V's outcome.
// A Go leader's rendezvous is read while a ticket of the flight is held.
func fromEngine[V any](e *engineOutcome) (o outcome[V]) {
	switch {
	case e.native != 0:
		rv, _ := rendezvousOf(e.native)
		o = readRendezvous[V](rv)
	case e.status == int(C.SF_OK):
		if e.hasVal {
			o.v, o.err = fromBytes[V](e.val)
		}
	case e.status == int(C.SF_EWORK):
		o.err = &Error{Status: StatusWork, Msg: e.msg}
	case e.status == int(C.SF_EPANIC):
		o.kind = ocPanic
		o.perr = &panicError{value: &Error{Status: StatusPanic, Msg: e.msg}}
	case e.status == int(C.SF_EHANDOFF):
		o.kind = ocHandoff
	default:
		o.err = &Error{Status: Status(e.status), Msg: e.msg}
	}
	o.shared = e.shared
	return o
}

// fromBytes turns bytes from another language into a V.
func fromBytes[V any](b []byte) (V, error) {
	var v V
	switch p := any(&v).(type) {
	case *any:
		*p = b
	case *[]byte:
		*p = b
	case *string:
		*p = string(b)
	case encoding.BinaryUnmarshaler:
		if err := p.UnmarshalBinary(b); err != nil {
			return v, err
		}
	default:
		return v, fmt.Errorf("%w: the leader's value is bytes, not %T", ErrTypeMismatch, v)
	}
	return v, nil
}

// ---- Do, DoChan, DoContext ----------------------------------------------

// do is Group.Do for any value type.
func do[V any](h *handle, k fkey, fn func() (V, error)) (v V, err error, shared bool) {
	if h.fleet {
		if !h.enter() {
			return v, ErrClosed, false
		}
		defer h.exit()
	}
	var j C.gosf_joined
	for {
		h.join(k, 0, &j)
		if j.status != C.SF_OK {
			return v, statusError(C.int(j.status), ""), false
		}
		if j.work != 0 {
			var kind outcomeKind
			return lead(h, &j, fn, &kind)
		}
		again := false
		if v, err, shared, again = followDo[V](h, &j); !again {
			return v, err, shared
		}
	}
}

// followDo is the rest of a Do that joined the flight j as a follower (a
// function of its own, so that the leader's path keeps a small frame).
// again: the flight was handed off, join again.
func followDo[V any](h *handle, j *C.gosf_joined) (v V, err error, shared, again bool) {
	o, _ := follow[V](h, j, nil)
	switch o.kind {
	case ocValue:
		return o.v, o.err, o.shared, false
	case ocPanic:
		panic(o.perr)
	case ocGoexit:
		runtime.Goexit()
	}
	return v, nil, false, true // ocHandoff
}

// doChan is Group.DoChan for any value type: the work (or the wait) runs in
// a goroutine of its own and the result arrives on the channel. A panic in
// fn crashes the process, as with x/sync: nobody could recover it.
func doChan[V any, R any](h *handle, k fkey, fn func() (V, error), mk func(V, error, bool) R) <-chan R {
	ch := make(chan R, 1)
	if h.fleet {
		if !h.enter() {
			var zero V
			ch <- mk(zero, ErrClosed, false)
			return ch
		}
	}
	j := new(C.gosf_joined)
	h.join(k, 0, j)
	if j.status != C.SF_OK {
		if h.fleet {
			h.exit()
		}
		var zero V
		ch <- mk(zero, statusError(C.int(j.status), ""), false)
		return ch
	}
	go func() {
		if h.fleet {
			defer h.exit()
		}
		for {
			if j.work != 0 {
				var kind outcomeKind
				defer func() {
					if kind == ocGoexit {
						var zero V
						ch <- mk(zero, ErrGoexit, false)
					}
				}()
				v, err, shared := lead(h, j, fn, &kind)
				ch <- mk(v, err, shared)
				return
			}
			o, _ := follow[V](h, j, nil)
			switch o.kind {
			case ocValue:
				ch <- mk(o.v, o.err, o.shared)
				return
			case ocPanic:
				panic(o.perr)
			case ocGoexit:
				var zero V
				ch <- mk(zero, ErrGoexit, true)
				return
			}
			if h.join(k, 0, j); j.status != C.SF_OK {
				var zero V
				ch <- mk(zero, statusError(C.int(j.status), ""), false)
				return
			}
		}
	}()
	return ch
}

// doContext is Group.DoContext for any value type.
//
// A caller whose context ends gives up: it returns ctx.Err(), counted once
// in the group's stats (giveUp), and shared reports whether the flight it
// was waiting on is another caller's. Such a flight's outcome, if it comes,
// goes to the caller who started it and to this one: the engine's flag for it (more than
// one caller joined) is already true. For a caller who started the flight
// itself, or had joined none, shared is false: the outcome is not there
// when it leaves, and nothing tells whether one will ever be given to
// others (whoever joined may leave too, and callers may join after it).
func doContext[V any](h *handle, ctx context.Context, k fkey, fn func(context.Context) (V, error)) (v V, err error, shared bool) {
	if h.fleet {
		if !h.enter() {
			return v, ErrClosed, false
		}
		defer h.exit()
	}
	follower := false // the flight this caller last joined is another caller's
	for {
		if err := ctx.Err(); err != nil {
			h.giveUp(err)
			return v, err, follower
		}
		var j C.gosf_joined
		h.join(k, C.GOSF_ATTACH|C.GOSF_ON_ABANDONED, &j)
		if j.status != C.SF_OK {
			return v, statusError(C.int(j.status), ""), false
		}
		follower = j.work == 0
		var o outcome[V]
		var ok bool
		if j.work != 0 {
			id := uintptr(j.own)
			rendezvous := uintptr(j.attached) == id
			rv, gen := rendezvousOf(id)
			rv.publish(gen, false)
			wctx, cancel := context.WithCancel(withFenceToken(h, context.WithoutCancel(ctx), j.work))
			rv.setCancel(cancel)
			go runWork(h, j.work, id, rendezvous, rv, wctx, cancel, fn)
			if rendezvous {
				if ok = rv.wait(ctx, gen); ok {
					o = readRendezvous[V](rv)
					o.shared = C.gosf_wait_leave(j.wait) != 0
				} else {
					C.gosf_leave(j.wait)
				}
			} else {
				o, ok = followEngine[V](h, j.wait, ctx)
			}
		} else {
			o, ok = follow[V](h, &j, ctx)
		}
		if !ok {
			err := ctx.Err()
			h.giveUp(err)
			return v, err, follower
		}
		switch o.kind {
		case ocValue:
			return o.v, o.err, o.shared
		case ocPanic:
			panic(o.perr)
		case ocGoexit:
			return v, ErrGoexit, o.shared
		}
	}
}

// runWork runs fn, the work of a DoContext flight, in a goroutine of its
// own, holding the work ticket. Its context is cancelled when every caller has left; a
// cancelled run that fails hands the flight off instead of completing it, so
// that nobody who joined since gets a cancelled run's error.
func runWork[V any](h *handle, wt C.uintptr_t, id uintptr, rendezvous bool, rv *rendezvous,
	ctx context.Context, cancel context.CancelFunc, fn func(context.Context) (V, error)) {
	var v V
	var err error
	var perr *panicError
	normalReturn, recovered := false, false
	defer func() {
		defer cancel()
		k := ocValue
		if !normalReturn && !recovered {
			k = ocGoexit
		} else if perr != nil {
			k = ocPanic
		}
		if ctx.Err() != nil && (k != ocValue || err != nil) {
			// Abandoned while running, and the run failed (most likely
			// because of that): hand off, so that nobody who joined since
			// gets the cancelled run's error. A run that succeeded all the
			// same completes the flight for them.
			rv.kind = ocHandoff
			if rendezvous {
				rv.signal()
				C.gosf_leave(wt) // the engine gives the id back
			} else {
				C.gosf_leave(wt)
				C.gosf_rendezvous_put(C.uintptr_t(id))
			}
			runtime.KeepAlive(h)
			return
		}
		store(rv, k, v, err, perr)
		if rendezvous {
			// Completed before signalled: the caller who started the
			// flight reads the engine's shared flag once signalled.
			complete(h, wt, id, true, k, v, err, perr, false)
			rv.signal()
			C.gosf_leave(wt)
		} else {
			complete(h, wt, id, false, k, v, err, perr, true)
		}
	}()
	func() {
		defer func() {
			if !normalReturn {
				if r := recover(); r != nil {
					perr = newPanicError(r)
				}
			}
		}()
		v, err = fn(ctx)
		normalReturn = true
	}()
	if !normalReturn {
		recovered = true
	}
}
