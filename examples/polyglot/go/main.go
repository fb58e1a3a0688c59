// Package main is the Go piece of the polyglot demo, built as a c-shared
// library: Go callers that stampede a named group through the Go binding.
package main

/*
#cgo pkg-config: singleflight
#cgo LDFLAGS: -lsfcross
#include <stdlib.h>
#include "sfcross.h"
*/
import "C"

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"unsafe"

	singleflight "github.com/singleflight/singleflight/bindings/go"
)

var callers sync.WaitGroup

// query asks the shared database and copies the row into Go memory.
func query(key string, work int) (any, error) {
	ck := C.CString(key)
	defer C.free(unsafe.Pointer(ck))
	row := C.sfx_db_query(unsafe.Pointer(ck), C.size_t(len(key)))
	b := C.GoBytes(C.sf_bytes_data(row), C.int(C.sf_bytes_len(row)))
	C.sf_bytes_release(row)
	switch work {
	case C.SFX_WORK_ERROR:
		return nil, errors.New("Go work failed")
	case C.SFX_WORK_PANIC:
		panic("Go work panicked")
	}
	return b, nil
}

func record(status int, data []byte, shared bool) {
	var p unsafe.Pointer
	if len(data) > 0 {
		p = unsafe.Pointer(&data[0])
	}
	sh := C.int(0)
	if shared {
		sh = 1
	}
	C.sfx_log(C.SFX_GO, C.int(status), p, C.size_t(len(data)), sh)
}

// outcome turns what Do returned (or the panic it re-raised) into the log's
// status and text.
func outcome(v any, err error, recovered any) (int, []byte) {
	if recovered != nil {
		msg := fmt.Sprint(recovered)
		if pv, _, ok := singleflight.PanicValue(recovered); ok {
			msg = fmt.Sprint(pv)
		}
		return int(C.SF_EPANIC), []byte(strings.SplitN(msg, "\n", 2)[0])
	}
	if err != nil {
		var e *singleflight.Error
		if errors.As(err, &e) {
			return int(e.Status), []byte(e.Msg)
		}
		if errors.Is(err, context.Canceled) {
			return int(C.SF_ECANCELED), []byte(err.Error())
		}
		return int(C.SF_EWORK), []byte(err.Error())
	}
	b, _ := v.([]byte)
	return int(C.SF_OK), b
}

func call(g *singleflight.Group, ctx context.Context, key string, work int) {
	defer callers.Done()
	C.sfx_gate_wait()
	var (
		v         any
		err       error
		shared    bool
		recovered any
	)
	func() {
		defer func() { recovered = recover() }()
		if ctx != nil {
			v, err, shared = g.DoContext(ctx, key, func(context.Context) (any, error) { return query(key, work) })
		} else {
			v, err, shared = g.Do(key, func() (any, error) { return query(key, work) })
		}
	}()
	st, data := outcome(v, err, recovered)
	record(st, data, shared)
}

// GoStampede starts n goroutines that pass the gate and call Do on key of
// the named group; returns at once (0, or -1 if the group cannot open).
//
//export GoStampede
func GoStampede(group, key *C.char, n, work C.int) C.int {
	g, err := singleflight.Open(C.GoString(group))
	if err != nil {
		return -1
	}
	k := C.GoString(key)
	for i := 0; i < int(n); i++ {
		callers.Add(1)
		go call(g, nil, k, int(work))
	}
	return 0
}

var cancels []context.CancelFunc
var cancelMu sync.Mutex

// GoStartCancellable starts one caller with DoContext whose context
// GoCancelAll cancels: the Go caller gives up, the work goes on.
//
//export GoStartCancellable
func GoStartCancellable(group, key *C.char) C.int {
	g, err := singleflight.Open(C.GoString(group))
	if err != nil {
		return -1
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancelMu.Lock()
	cancels = append(cancels, cancel)
	cancelMu.Unlock()
	callers.Add(1)
	go call(g, ctx, C.GoString(key), int(C.SFX_WORK_VALUE))
	return 0
}

//export GoCancelAll
func GoCancelAll() {
	cancelMu.Lock()
	defer cancelMu.Unlock()
	for _, c := range cancels {
		c()
	}
	cancels = nil
}

// GoJoin waits for every Go caller started so far.
//
//export GoJoin
func GoJoin() { callers.Wait() }

//export GoEngineID
func GoEngineID() C.uintptr_t { return C.uintptr_t(singleflight.EngineID()) }

func main() {}
