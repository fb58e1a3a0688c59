//go:build sftesthooks

package singleflight

// Callers of other languages, played by C threads (gosf_testcaller.c), in a
// named group with Go callers.

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// A Go leader's []byte or string reaches C followers as bytes: one engine
// buffer, the same memory for each of them.
func TestBindingGoLeaderBytesToForeign(t *testing.T) {
	for _, val := range []any{[]byte("payload\x00bytes"), "payload\x00bytes"} {
		t.Run(fmt.Sprintf("%T", val), func(t *testing.T) {
			g := openT(t)
			h := g.testHandle()
			release := make(chan struct{})
			res := g.DoChan("k", func() (any, error) { <-release; return val, nil })
			until(func() bool { return g.Stats().InTable == 1 })
			p1, p2 := cCallerJoin(h, "k"), cCallerJoin(h, "k")
			if p1.leads() || p2.leads() {
				t.Fatal("a C caller leads a running flight")
			}
			p1.waitAsync()
			p2.waitAsync()
			close(release)
			if r := <-res; fmt.Sprint(r.Val) != fmt.Sprint(val) || !r.Shared {
				t.Fatalf("Go leader got %+v", r)
			}
			o1, o2 := p1.finish(), p2.finish()
			defer o1.release()
			defer o2.release()
			for _, o := range []cOutcome{o1, o2} {
				if o.status != StatusOK || !bytes.Equal(o.val, []byte("payload\x00bytes")) || !o.shared {
					t.Fatalf("C follower got %v %q shared=%v", o.status, o.val, o.shared)
				}
			}
			if o1.valPtr != o2.valPtr {
				t.Fatal("C followers got two copies of the value; want one buffer")
			}
		})
	}
}

// A Go value with no byte form gives a C follower SF_ENOBYTES, not garbage;
// a Go error reaches it as its text, a Go panic as SF_EPANIC.
func TestBindingGoLeaderOutcomesToForeign(t *testing.T) {
	type opaque struct{ ch chan int }
	cases := []struct {
		name   string
		fn     func() (any, error)
		status Status
		text   string
	}{
		{"no byte form", func() (any, error) { return opaque{}, nil }, StatusNoBytes, "go"},
		{"error", func() (any, error) { return nil, errors.New("go work failed") }, StatusWork, "go work failed"},
		{"panic", func() (any, error) { panic("go leader boom") }, StatusPanic, "go leader boom"},
		{"nil", func() (any, error) { return nil, nil }, StatusOK, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := openT(t)
			release := make(chan struct{})
			done := make(chan any, 1)
			go func() {
				defer func() { done <- recover() }()
				g.Do("k", func() (any, error) { <-release; return tc.fn() })
			}()
			until(func() bool { return g.Stats().InTable == 1 })
			p := cCallerJoin(g.testHandle(), "k")
			p.waitAsync()
			close(release)
			<-done
			o := p.finish()
			defer o.release()
			if o.status != tc.status || !strings.Contains(o.msg, tc.text) {
				t.Fatalf("C follower got %v %q; want %v with %q", o.status, o.msg, tc.status, tc.text)
			}
			if tc.status == StatusOK && o.val != nil {
				t.Fatalf("C follower got value %q for nil", o.val)
			}
		})
	}
}

// A leader in another language: Go followers get its bytes, its error text
// as an *Error, its panic as a Go panic, its hand-off as a fresh run.
func TestBindingForeignLeaderToGo(t *testing.T) {
	cases := []struct {
		name   string
		status Status
		data   string
	}{
		{"bytes", StatusOK, "from C\x00!"},
		{"error", StatusWork, "C work failed"},
		{"panic", StatusPanic, "C leader boom"},
		{"handoff", StatusHandoff, ""},
		{"no byte form", -1, "c-test"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			name := testName(t)
			g, err := Open(name)
			if err != nil {
				t.Fatal(err)
			}
			defer g.Close()
			kg, err := OpenKeyed[string, string](name)
			if err != nil {
				t.Fatal(err)
			}
			defer kg.Close()
			p := cCallerJoin(g.testHandle(), "k")
			if !p.leads() {
				t.Fatal("the C caller does not lead a fresh key")
			}
			type out struct {
				v        any
				err      error
				shared   bool
				panicked any
			}
			outs := make(chan out, 2)
			go func() {
				var o out
				defer func() { o.panicked = recover(); outs <- o }()
				o.v, o.err, o.shared = g.Do("k", func() (any, error) { return "go ran", nil })
			}()
			go func() {
				var o out
				defer func() { o.panicked = recover(); outs <- o }()
				o.v, o.err, o.shared = kg.Do("k", func() (string, error) { return "go ran", nil })
			}()
			until(func() bool { return g.Stats().Followers == 2 })
			if tc.status == StatusHandoff {
				p.handoff()
			} else {
				p.completeAsync(tc.status, tc.data)
			}
			for i := 0; i < 2; i++ {
				o := <-outs
				switch tc.status {
				case StatusOK:
					if b, ok := o.v.([]byte); ok {
						o.v = string(b)
					}
					if o.v != tc.data || o.err != nil || !o.shared {
						t.Errorf("Go follower got %#v, %v, %v; want %q", o.v, o.err, o.shared, tc.data)
					}
				case StatusWork:
					if !errors.Is(o.err, ErrWork) || !strings.Contains(o.err.Error(), tc.data) {
						t.Errorf("Go follower got error %v; want ErrWork with %q", o.err, tc.data)
					}
				case StatusPanic:
					err, _ := o.panicked.(error)
					if !errors.Is(err, ErrPanic) || !strings.Contains(err.Error(), tc.data) {
						t.Errorf("Go follower panicked with %v; want ErrPanic with %q", o.panicked, tc.data)
					}
				case -1:
					if !errors.Is(o.err, ErrNoBytes) || !strings.Contains(o.err.Error(), tc.data) || (o.v != nil && o.v != "") {
						t.Errorf("Go follower got %v, %v; want ErrNoBytes naming %q", o.v, o.err, tc.data)
					}
				case StatusHandoff:
					if o.v != "go ran" || o.err != nil {
						t.Errorf("after a hand-off the Go follower got %v, %v; want its own run", o.v, o.err)
					}
				}
			}
			fo := p.finish()
			fo.release()
		})
	}
}

// A C leader's bytes as a typed value: V = []byte.
func TestBindingForeignBytesTyped(t *testing.T) {
	name := testName(t)
	kg, err := OpenKeyed[string, []byte](name)
	if err != nil {
		t.Fatal(err)
	}
	defer kg.Close()
	p := cCallerJoin(kg.h.p.Load(), "k")
	res := kg.DoChan("k", func() ([]byte, error) { return nil, nil })
	until(func() bool { return kg.Stats().Followers == 1 })
	p.completeAsync(StatusOK, "raw")
	if r := <-res; string(r.Val) != "raw" || r.Err != nil {
		t.Fatalf("got %+v", r)
	}
	fo := p.finish()
	fo.release()
	idle(t, kg.Stats)
}
