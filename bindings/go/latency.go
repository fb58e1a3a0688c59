//go:build cgo

package singleflight

/*
#include "gosf.h"
*/
import "C"

import (
	"runtime"
	"time"
	"unsafe"
)

// LatencyBuckets is how many buckets a Histogram has (SF_LATENCY_BUCKETS).
const LatencyBuckets = C.SF_LATENCY_BUCKETS

// LatencyBound is the upper bound (inclusive) of bucket i of a Histogram,
// for 0 <= i < LatencyBuckets-1: 2^(10+i) ns, from 1.024µs to about 18
// minutes. The last bucket has no bound.
func LatencyBound(i int) time.Duration {
	if i < 0 || i >= LatencyBuckets-1 {
		panic("singleflight: LatencyBound of a bucket with no bound")
	}
	return time.Duration(uint64(1) << (10 + i))
}

// Histogram is one of a group's latency histograms (sf_histogram): samples
// since recording was turned on (RecordLatency).
type Histogram struct {
	Count   uint64                 // samples: the sum of Buckets
	Sum     time.Duration          // the samples' total
	Buckets [LatencyBuckets]uint64 // samples per bucket (not cumulative); see LatencyBound
}

// Latency holds a group's two histograms.
type Latency struct {
	Wait Histogram // followers' waits, from their call to the outcome
	Work Histogram // the work's runs this process led, from the leader's call to its end
}

// Observable is what the exporters read (Expvar, and the prometheus
// package): *Group and *KeyedGroup are Observable.
type Observable interface {
	Stats() Stats
	Latency() Latency
	RecordLatency(on bool) error
}

var (
	_ Observable = (*Group)(nil)
	_ Observable = (*KeyedGroup[string, int])(nil)
)

// RecordLatency turns the recording of the group's latency histograms on or
// off (sf_group_record_latency). It is off until turned on: it reads the
// clock at every call, about as costly as the cheapest flight. A named
// group is shared by every language: one caller's switch is everyone's.
// The exporters turn it on for the groups they are given.
func (g *Group) RecordLatency(on bool) error {
	h, err := g.h.get()
	if err != nil {
		return err
	}
	return h.recordLatency(on)
}

// Latency returns the group's latency histograms (zero until RecordLatency).
func (g *Group) Latency() Latency {
	h, err := g.h.get()
	if err != nil {
		return Latency{}
	}
	return h.latency()
}

// RecordLatency is Group.RecordLatency.
func (g *KeyedGroup[K, V]) RecordLatency(on bool) error {
	h, err := g.h.get()
	if err != nil {
		return err
	}
	return h.recordLatency(on)
}

// Latency is Group.Latency.
func (g *KeyedGroup[K, V]) Latency() Latency {
	h, err := g.h.get()
	if err != nil {
		return Latency{}
	}
	return h.latency()
}

func (h *handle) recordLatency(on bool) error {
	if h.fleet {
		if !h.enter() {
			return ErrClosed
		}
		defer h.exit()
	}
	var flag C.int
	if on {
		flag = 1
	}
	st := C.sf_group_record_latency(h.g, flag)
	runtime.KeepAlive(h)
	if st != C.SF_OK {
		return statusError(C.int(st), "sf_group_record_latency")
	}
	return nil
}

func (h *handle) latency() Latency {
	if h.fleet {
		if !h.enter() {
			return Latency{}
		}
		defer h.exit()
	}
	l := Latency{Wait: h.histogram(C.SF_LATENCY_WAIT), Work: h.histogram(C.SF_LATENCY_WORK)}
	runtime.KeepAlive(h)
	return l
}

func (h *handle) histogram(which C.int) Histogram {
	var c C.sf_histogram
	C.sf_group_latency(h.g, which, &c, C.size_t(unsafe.Sizeof(c)))
	out := Histogram{Count: uint64(c.count), Sum: time.Duration(c.sum_ns)}
	for i := range out.Buckets {
		out.Buckets[i] = uint64(c.buckets[i])
	}
	return out
}
