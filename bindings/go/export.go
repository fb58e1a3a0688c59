package singleflight

// Callbacks from the C glue. cgo forbids C definitions in a file that uses
// //export, so this file has none. No Go panic may cross into C: each
// callback recovers.

// #include <stdint.h>
import "C"

import "runtime/cgo"

// gosfNotify runs when the outcome of a flight that a Go caller subscribed
// to is ready, on the thread that completed it (which may belong to another
// language). It only closes the channel notify is the runtime/cgo handle of.
//
//export gosfNotify
func gosfNotify(notify C.uintptr_t) {
	defer func() { _ = recover() }()
	if ch, ok := cgo.Handle(notify).Value().(notifyCh); ok {
		close(ch)
	}
}

// gosfAbandoned runs when every caller of a DoContext flight has left: it
// cancels the work's context.
//
//export gosfAbandoned
func gosfAbandoned(id C.uintptr_t) {
	defer func() { _ = recover() }()
	if id == 0 {
		return
	}
	rv, gen := rendezvousOf(uintptr(id))
	rv.abandon(gen)
}

// gosfRendezvous runs when the subscribed ticket of a follower's rendezvous
// sees the outcome of its flight, on the thread that completed it: it reads
// the outcome once for the Go followers parked there and wakes them.
//
//export gosfRendezvous
func gosfRendezvous(id C.uintptr_t) {
	defer func() { _ = recover() }()
	if id == 0 {
		return
	}
	rv, gen := rendezvousOf(uintptr(id))
	rv.fire(gen)
}
