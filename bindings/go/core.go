package singleflight

/*
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
	named  bool
	closed atomic.Bool
}

func newHandle(g *C.sf_group, named bool) *handle {
	h := &handle{g: g, named: named}
	runtime.AddCleanup(h, func(g *C.sf_group) { C.sf_group_release(g) }, g)
	return h
}

// fkey is a flight key on its way to the engine: bytes, or an integer the C
// glue writes as 8 little-endian bytes (no Go pointer, so no allocation).
type fkey struct {
	s   string
	u   uint64
	isU bool
}

func (h *handle) join(k fkey, flags C.uint) C.gosf_joined {
	var j C.gosf_joined
	if k.isU {
		j = C.gosf_join_u64(h.g, C.uint64_t(k.u), flags)
	} else {
		j = C.gosf_join(h.g, strPtr(k.s), C.size_t(len(k.s)), flags)
	}
	runtime.KeepAlive(h)
	return j
}

func (h *handle) forget(k fkey) {
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

// readCall copies the outcome of a call (valid while a ticket is held).
func readCall[V any](c *call) outcome[V] {
	o := outcome[V]{kind: c.kind, err: c.err, perr: c.perr}
	if o.kind == ocValue {
		v, err := loadValue[V](c)
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

// finish completes the flight of a Go leader. c holds the outcome when the
// slot is not a rendezvous (followers read it as the native value); in a
// rendezvous the caller stores it once it knows anyone will read it.
// wait may be nil (DoContext: the caller holds the wait ticket).
// It returns whether the outcome was shared (-1: refused).
func finish[V any](h *handle, work, wait *C.sf_ticket, slot uintptr, rendezvous bool,
	kind outcomeKind, v V, err error, perr *panicError, leaveWork bool) int {
	status := C.int(C.SF_OK)
	var val, msg []byte
	var sval, smsg string
	hasVal, hasErr, valStr := false, false, false
	native := C.uintptr_t(0)
	switch kind {
	case ocValue:
		if err != nil {
			status = C.SF_EWORK
			if h.named {
				smsg, hasErr = err.Error(), true
			}
		} else if h.named {
			a := any(v)
			if a != nil {
				val, sval, valStr, hasVal = bytesOf(a)
				if !hasVal {
					// No byte form: mark the outcome as a Go value so that
					// other languages get SF_ENOBYTES, not an empty value.
					native = C.GOSF_NO_SLOT
				}
			}
		}
	case ocPanic:
		status = C.SF_EPANIC
		smsg, hasErr = "go panic: "+perr.Error(), true
	case ocGoexit:
		status = C.SF_EPANIC
		smsg, hasErr = "go: runtime.Goexit was called in the work", true
	}
	if !rendezvous {
		native = C.uintptr_t(slot)
	}
	if valStr {
		val = unsafe.Slice(unsafe.StringData(sval), len(sval))
	}
	if smsg != "" {
		msg = unsafe.Slice(unsafe.StringData(smsg), len(smsg))
	}
	lw := C.int(0)
	if leaveWork {
		lw = 1
	}
	r := C.gosf_finish(work, wait, status,
		bytesPtr(val), C.size_t(len(val)), cbool(hasVal),
		bytesPtr(msg), C.size_t(len(msg)), cbool(hasErr),
		native, lw)
	runtime.KeepAlive(h)
	return int(r)
}

func cbool(b bool) C.int {
	if b {
		return 1
	}
	return 0
}

func store[V any](c *call, kind outcomeKind, v V, err error, perr *panicError) {
	c.kind, c.err, c.perr = kind, err, perr
	if kind == ocValue {
		storeValue(c, v)
	}
}

// lead runs fn on the calling goroutine as the leader of the flight j, with
// x/sync's semantics: a panic re-panics here (and in every Go follower) with
// a *panicError; runtime.Goexit goes on exiting this goroutine. *kind is set
// before either happens.
func lead[V any](h *handle, j C.gosf_joined, fn func() (V, error), kind *outcomeKind) (v V, err error, shared bool) {
	slot := uintptr(j.slot)
	rendezvous := uintptr(j.cur) == slot
	c, gen := slotOf(slot)
	c.publish(gen)
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
		if !rendezvous {
			store(c, k, v, err, perr)
		}
		// r == 0: nobody joined, every ticket is left and the slot may be
		// someone else's already. Otherwise (shared, or a refused
		// completion, which cannot happen with a fresh work ticket) the
		// wait ticket keeps the slot for the Go followers until signalled.
		if r := finish(h, j.work, j.wait, slot, rendezvous, k, v, err, perr, true); r != 0 {
			if rendezvous {
				store(c, k, v, err, perr)
			}
			leaveAll(c.signal(unsafe.Pointer(j.wait)))
			shared = r > 0
		}
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

// leaveAll leaves wait tickets collected by a slot, in one cgo call.
func leaveAll(ts []unsafe.Pointer) {
	if len(ts) > 0 {
		C.gosf_leave_all(&ts[0], C.size_t(len(ts)))
	}
}

// notifyCh is what gosfNotify closes.
type notifyCh chan struct{}

// follow waits, as a follower holding the wait ticket of j, for the outcome.
// ctx may be nil (wait as long as it takes). ok is false when ctx ended
// first (the ticket is left). The ticket is always left on return.
func follow[V any](h *handle, j C.gosf_joined, ctx context.Context) (o outcome[V], ok bool) {
	cur := uintptr(j.cur)
	if cur != 0 && cur != uintptr(C.GOSF_NO_SLOT) {
		// A Go leader's rendezvous: park on its channel.
		c, gen := slotOf(cur)
		if !c.park(ctx, gen, unsafe.Pointer(j.wait)) {
			C.sf_leave(j.wait)
			return o, false
		}
		o = readCall[V](c)
		o.shared = true
		leaveAll(c.doneReading())
		return o, true
	}
	return followEngine[V](h, j.wait, ctx)
}

// followEngine waits through an engine subscription: the leader is in
// another language, or is Go but could not make its slot the rendezvous.
func followEngine[V any](h *handle, wait *C.sf_ticket, ctx context.Context) (o outcome[V], ok bool) {
	ch := make(notifyCh)
	hd := cgo.NewHandle(ch)
	defer hd.Delete()
	if st := C.gosf_subscribe(wait, C.uintptr_t(hd)); st != C.SF_OK {
		C.sf_leave(wait)
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
				C.sf_leave(wait)
				return o, false
			}
		}
	}
	r := C.gosf_poll(wait)
	o.shared = r.shared != 0
	switch {
	case r.native != 0 && r.native != C.GOSF_NO_SLOT:
		sh := o.shared
		c, _ := slotOf(uintptr(r.native))
		o = readCall[V](c)
		o.shared = sh
	case r.status == C.SF_OK:
		if r.value != nil {
			o.v, o.err = fromBytes[V](C.GoBytes(unsafe.Pointer(r.val_data), C.int(r.val_len)))
		}
	case r.status == C.SF_EWORK:
		o.err = &Error{Status: StatusWork, Msg: C.GoStringN(r.err_data, C.int(r.err_len))}
	case r.status == C.SF_EPANIC:
		msg := C.GoStringN(r.err_data, C.int(r.err_len))
		o.kind = ocPanic
		o.perr = &panicError{value: &Error{Status: StatusPanic, Msg: msg}}
	case r.status == C.SF_EHANDOFF:
		o.kind = ocHandoff
	default:
		o.err = &Error{Status: Status(r.status), Msg: C.GoStringN(r.err_data, C.int(r.err_len))}
	}
	C.gosf_outcome_release(&r)
	C.sf_leave(wait)
	runtime.KeepAlive(h)
	return o, true
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

// ---- the calls ------------------------------------------------------------

// do is Group.Do for any value type.
func do[V any](h *handle, k fkey, fn func() (V, error)) (v V, err error, shared bool) {
	for {
		j := h.join(k, 0)
		if j.status != C.SF_OK {
			return v, statusError(j.status, ""), false
		}
		if j.work != nil {
			var kind outcomeKind
			return lead(h, j, fn, &kind)
		}
		o, _ := follow[V](h, j, nil)
		switch o.kind {
		case ocValue:
			return o.v, o.err, o.shared
		case ocPanic:
			panic(o.perr)
		case ocGoexit:
			runtime.Goexit()
		}
		// ocHandoff: join again.
	}
}

// doChan is Group.DoChan for any value type: the work (or the wait) runs in
// a goroutine of its own and the result arrives on the channel. A panic in
// fn crashes the process, as with x/sync: nobody could recover it.
func doChan[V any, R any](h *handle, k fkey, fn func() (V, error), mk func(V, error, bool) R) <-chan R {
	ch := make(chan R, 1)
	j := h.join(k, 0)
	if j.status != C.SF_OK {
		var zero V
		ch <- mk(zero, statusError(j.status, ""), false)
		return ch
	}
	go func() {
		for {
			if j.work != nil {
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
			if j = h.join(k, 0); j.status != C.SF_OK {
				var zero V
				ch <- mk(zero, statusError(j.status, ""), false)
				return
			}
		}
	}()
	return ch
}

// doContext is Group.DoContext for any value type.
func doContext[V any](h *handle, ctx context.Context, k fkey, fn func(context.Context) (V, error)) (v V, err error, shared bool) {
	for {
		if err := ctx.Err(); err != nil {
			return v, err, false
		}
		j := h.join(k, C.GOSF_ON_ABANDONED)
		if j.status != C.SF_OK {
			return v, statusError(j.status, ""), false
		}
		var o outcome[V]
		var ok bool
		if j.work != nil {
			slot := uintptr(j.slot)
			rendezvous := uintptr(j.cur) == slot
			c, gen := slotOf(slot)
			c.publish(gen)
			wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
			c.setCancel(cancel)
			go work(h, j.work, slot, rendezvous, c, wctx, cancel, fn)
			if rendezvous {
				if ok = c.wait(ctx, gen); ok {
					o = readCall[V](c)
					o.shared = C.gosf_wait_leave(j.wait) != 0
				} else {
					C.sf_leave(j.wait)
				}
			} else {
				o, ok = followEngine[V](h, j.wait, ctx)
			}
		} else {
			o, ok = follow[V](h, j, ctx)
		}
		if !ok {
			return v, ctx.Err(), false
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

// work runs fn for a DoContext flight in a goroutine of its own, holding the
// work ticket. Its context is cancelled when every caller has left; a
// cancelled run that fails hands the flight off instead of completing it, so
// that nobody who joined since gets a cancelled run's error.
func work[V any](h *handle, wt *C.sf_ticket, slot uintptr, rendezvous bool, c *call,
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
			c.kind = ocHandoff
			if rendezvous {
				leaveAll(c.signal(nil))
				C.sf_leave(wt) // the engine gives the slot back
			} else {
				C.sf_leave(wt)
				C.gosf_slot_put(C.uintptr_t(slot))
			}
			runtime.KeepAlive(h)
			return
		}
		store(c, k, v, err, perr)
		if rendezvous {
			finish(h, wt, nil, slot, true, k, v, err, perr, false)
			leaveAll(c.signal(nil))
			C.sf_leave(wt)
		} else {
			finish(h, wt, nil, slot, false, k, v, err, perr, true)
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
