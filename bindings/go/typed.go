//go:build cgo

package singleflight

import (
	"context"
	"fmt"
	"reflect"
	"unsafe"
)

// KeyedGroup is a Group with typed keys and values: no interface boxing and,
// on the steady-state fast path, no allocation. The zero value is ready to
// use; a KeyedGroup must not be copied after first use.
//
// Keys cross to the engine as bytes: a string kind as its bytes, an integer
// kind as 8 little-endian bytes (so an int key 7 and an int64 key 7 meet in
// a named group), any other comparable type as its fmt "%#v" text (which
// allocates).
type KeyedGroup[K comparable, V any] struct {
	h atomicHandle
}

// TypedResult holds the results of KeyedGroup.DoChan and Single.DoChan.
type TypedResult[V any] struct {
	Val    V     // fn's value
	Err    error // fn's error
	Shared bool  // whether Val was given to more than one caller
}

// OpenKeyed is Open for a typed group: the process-wide group called name.
// Several Go views of one name may use different types; a caller whose
// leader returned a value of another type gets ErrTypeMismatch.
func OpenKeyed[K comparable, V any](name string) (*KeyedGroup[K, V], error) {
	h, err := openHandle(name)
	if err != nil {
		return nil, err
	}
	g := new(KeyedGroup[K, V])
	g.h.p.Store(h)
	return g, nil
}

func keyOf[K comparable](k K) fkey {
	// The common key types, without reflect on every call.
	switch x := any(k).(type) {
	case string:
		return fkey{s: x}
	case int:
		return fkey{u: uint64(x), isU: true}
	case int64:
		return fkey{u: uint64(x), isU: true}
	case uint64:
		return fkey{u: x, isU: true}
	}
	p := unsafe.Pointer(&k)
	switch reflect.TypeFor[K]().Kind() {
	case reflect.String:
		return fkey{s: *(*string)(p)}
	case reflect.Int, reflect.Int64:
		return fkey{u: uint64(*(*int64)(p)), isU: true}
	case reflect.Uint, reflect.Uint64, reflect.Uintptr:
		return fkey{u: *(*uint64)(p), isU: true}
	case reflect.Int32:
		return fkey{u: uint64(int64(*(*int32)(p))), isU: true}
	case reflect.Uint32:
		return fkey{u: uint64(*(*uint32)(p)), isU: true}
	case reflect.Int16:
		return fkey{u: uint64(int64(*(*int16)(p))), isU: true}
	case reflect.Uint16:
		return fkey{u: uint64(*(*uint16)(p)), isU: true}
	case reflect.Int8:
		return fkey{u: uint64(int64(*(*int8)(p))), isU: true}
	case reflect.Uint8:
		return fkey{u: uint64(*(*uint8)(p)), isU: true}
	}
	return fkey{s: fmt.Sprintf("%#v", k)}
}

// Do runs fn once for all the concurrent callers of key and returns its
// results to each of them, as Group.Do does.
func (g *KeyedGroup[K, V]) Do(key K, fn func() (V, error)) (v V, err error, shared bool) {
	if fn == nil {
		panic("singleflight: KeyedGroup.Do called with a nil fn")
	}
	h, err := g.h.get()
	if err != nil {
		return v, err, false
	}
	return do(h, keyOf(key), fn)
}

// DoChan is like Do but delivers the results on a channel, as Group.DoChan.
func (g *KeyedGroup[K, V]) DoChan(key K, fn func() (V, error)) <-chan TypedResult[V] {
	if fn == nil {
		panic("singleflight: KeyedGroup.DoChan called with a nil fn")
	}
	h, err := g.h.get()
	if err != nil {
		ch := make(chan TypedResult[V], 1)
		ch <- TypedResult[V]{Err: err}
		return ch
	}
	return doChan(h, keyOf(key), fn, func(v V, err error, shared bool) TypedResult[V] {
		return TypedResult[V]{v, err, shared}
	})
}

// DoContext is like Do with a context, as Group.DoContext: a caller whose
// ctx ends gets ctx.Err(), counted in Stats, with shared as there.
func (g *KeyedGroup[K, V]) DoContext(ctx context.Context, key K, fn func(context.Context) (V, error)) (v V, err error, shared bool) {
	if fn == nil {
		panic("singleflight: KeyedGroup.DoContext called with a nil fn")
	}
	if ctx == nil {
		panic("singleflight: KeyedGroup.DoContext called with a nil context")
	}
	h, err := g.h.get()
	if err != nil {
		return v, err, false
	}
	return doContext(h, ctx, keyOf(key), fn)
}

// Forget makes the next call for key start a new flight.
func (g *KeyedGroup[K, V]) Forget(key K) {
	if h, err := g.h.get(); err == nil {
		h.forget(keyOf(key))
	}
}

// Stats returns the engine's counters for the group.
func (g *KeyedGroup[K, V]) Stats() Stats {
	h, err := g.h.get()
	if err != nil {
		return Stats{}
	}
	return h.stats()
}

// Close stops the group, as Group.Close.
func (g *KeyedGroup[K, V]) Close() error {
	g.h.close()
	return nil
}

// Single deduplicates the loading of one shared resource: a group with a
// single, implicit key. Concurrent calls of Do share one run of fn. The zero
// value is ready to use; a Single must not be copied after first use.
type Single[V any] struct {
	h atomicHandle
}

// Do runs fn once for all concurrent callers and returns its results to
// each of them, as Group.Do does for one key.
func (s *Single[V]) Do(fn func() (V, error)) (v V, err error, shared bool) {
	if fn == nil {
		panic("singleflight: Single.Do called with a nil fn")
	}
	h, err := s.h.get()
	if err != nil {
		return v, err, false
	}
	return do(h, fkey{}, fn)
}

// DoChan is like Do but delivers the results on a channel.
func (s *Single[V]) DoChan(fn func() (V, error)) <-chan TypedResult[V] {
	if fn == nil {
		panic("singleflight: Single.DoChan called with a nil fn")
	}
	h, err := s.h.get()
	if err != nil {
		ch := make(chan TypedResult[V], 1)
		ch <- TypedResult[V]{Err: err}
		return ch
	}
	return doChan(h, fkey{}, fn, func(v V, err error, shared bool) TypedResult[V] {
		return TypedResult[V]{v, err, shared}
	})
}

// DoContext is like Do with a context, as Group.DoContext: a caller whose
// ctx ends gets ctx.Err(), counted in Stats, with shared as there.
func (s *Single[V]) DoContext(ctx context.Context, fn func(context.Context) (V, error)) (v V, err error, shared bool) {
	if fn == nil {
		panic("singleflight: Single.DoContext called with a nil fn")
	}
	if ctx == nil {
		panic("singleflight: Single.DoContext called with a nil context")
	}
	h, err := s.h.get()
	if err != nil {
		return v, err, false
	}
	return doContext(h, ctx, fkey{}, fn)
}

// Forget makes the next call start a new flight.
func (s *Single[V]) Forget() {
	if h, err := s.h.get(); err == nil {
		h.forget(fkey{})
	}
}

// Stats returns the engine's counters.
func (s *Single[V]) Stats() Stats {
	h, err := s.h.get()
	if err != nil {
		return Stats{}
	}
	return h.stats()
}

// Close stops the group, as Group.Close.
func (s *Single[V]) Close() error {
	s.h.close()
	return nil
}
