//go:build sftesthooks

package singleflight

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// Go followers take the engine path (subscription, native value) when the
// leader's slot is not the rendezvous; values, errors, panics and Goexit
// still arrive as themselves.
func TestBindingEnginePathFollowers(t *testing.T) {
	setNoAttach(true)
	defer setNoAttach(false)
	var g Group
	type payload struct{ n int }
	want := &payload{42}
	someErr := errors.New("work error")
	cases := []struct {
		name string
		fn   func() (any, error)
		ctx  bool
	}{
		{"value", func() (any, error) { return want, nil }, false},
		{"error", func() (any, error) { return nil, someErr }, false},
		{"panic", func() (any, error) { panic("engine path boom") }, false},
		{"ctx value", func() (any, error) { return want, nil }, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			release := make(chan struct{})
			fn := func() (any, error) { <-release; return tc.fn() }
			type out struct {
				r        Result
				panicked any
			}
			call := func(ch chan<- out) {
				var o out
				defer func() { o.panicked = recover(); ch <- o }()
				if tc.ctx {
					o.r.Val, o.r.Err, o.r.Shared = g.DoContext(context.Background(), tc.name,
						func(context.Context) (any, error) { return fn() })
				} else {
					o.r.Val, o.r.Err, o.r.Shared = g.Do(tc.name, fn)
				}
			}
			before := g.Stats().Followers
			const n = 4
			outs := make(chan out, n)
			for i := 0; i < n; i++ {
				go call(outs)
				if i == 0 {
					until(func() bool { return g.Stats().InTable == 1 })
				}
			}
			until(func() bool { return g.Stats().Followers == before+n-1 })
			close(release)
			for i := 0; i < n; i++ {
				o := <-outs
				switch tc.name {
				case "value", "ctx value":
					if o.r.Val != want || o.r.Err != nil || !o.r.Shared {
						t.Errorf("got %+v; want the same pointer, shared", o.r)
					}
				case "error":
					if o.r.Err != someErr {
						t.Errorf("got %+v; want the very error value", o.r)
					}
				case "panic":
					if !strings.Contains(fmt.Sprint(o.panicked), "engine path boom") {
						t.Errorf("panicked with %v", o.panicked)
					}
				}
			}
			idle(t, g.Stats)
		})
	}
}
