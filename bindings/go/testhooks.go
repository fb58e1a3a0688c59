//go:build sftesthooks

package singleflight

/*
#cgo CFLAGS: -DGOSF_TESTHOOKS
#include "gosf_testcaller.h"
*/
import "C"

import (
	"runtime"
	"unsafe"
)

// Hooks for this package's tests, built only with the sftesthooks tag
// (test.sh sets it; cgo is not allowed in _test.go files): a C participant
// in a flight, standing for a caller in another language, a switch that
// sends Go followers down the engine path, and a hook before a rendezvous
// subscribes. The tag's CFLAGS turn the C glue's switch on (GOSF_TESTHOOKS).

type cCaller struct {
	p *C.gosf_ccaller
	h *handle
}

// cOutcome is what a C follower received.
type cOutcome struct {
	status Status
	val    []byte
	valPtr uintptr // the engine buffer's data pointer (same for every follower)
	msg    string
	shared bool
	raw    C.gosf_outcome
}

// release drops the C caller's references to the outcome's bytes.
func (o *cOutcome) release() { C.gosf_outcome_release(&o.raw) }

func cCallerJoin(h *handle, key string) *cCaller {
	p := C.gosf_ccaller_join(h.g, strPtr(key), C.size_t(len(key)))
	if p == nil {
		return nil
	}
	return &cCaller{p: p, h: h}
}

func (p *cCaller) leads() bool { return C.gosf_ccaller_leads(p.p) != 0 }

func (p *cCaller) completeAsync(st Status, data string) {
	C.gosf_ccaller_complete_async(p.p, C.int(st), strPtr(data), C.size_t(len(data)))
}

func (p *cCaller) handoff() { C.gosf_ccaller_handoff(p.p) }

func (p *cCaller) waitAsync() { C.gosf_ccaller_wait_async(p.p) }

// finish joins the C caller's thread and leaves its tickets; the outcome keeps
// its bytes until release.
func (p *cCaller) finish() cOutcome {
	o := C.gosf_ccaller_finish(p.p)
	out := cOutcome{
		status: Status(o.status),
		valPtr: uintptr(unsafe.Pointer(o.val_data)),
		shared: o.shared != 0,
	}
	if o.value != nil {
		out.val = C.GoBytes(unsafe.Pointer(o.val_data), C.int(o.val_len))
	}
	if o.error != nil {
		out.msg = C.GoStringN(o.err_data, C.int(o.err_len))
	}
	out.raw = o
	runtime.KeepAlive(p.h)
	return out
}

// testHookSubscribe, when set (by a test, before it starts the calls it
// watches), runs before a follower subscribes a rendezvous to the engine.
var testHookSubscribe func()

func beforeSubscribe() {
	if testHookSubscribe != nil {
		testHookSubscribe()
	}
}

func setNoAttach(on bool) {
	if on {
		C.gosf_test_no_attach = 1
	} else {
		C.gosf_test_no_attach = 0
	}
}

func (g *Group) testHandle() *handle { h, _ := g.h.get(); return h }
