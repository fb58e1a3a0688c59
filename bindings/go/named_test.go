package singleflight

import (
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
)

var nameSeq atomic.Int64

// testName is a group name of the test's own, fresh for each run of it
// (-count): named groups are process-wide, and their counters with them.
func testName(t *testing.T) string {
	return fmt.Sprintf("go-test/%s/%d", t.Name(), nameSeq.Add(1))
}

// openT opens a group of the test's own.
func openT(t *testing.T) *Group {
	t.Helper()
	g, err := Open(testName(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { idle(t, g.Stats); g.Close() })
	return g
}

func TestBindingOpenRejectsEmptyName(t *testing.T) {
	if _, err := Open(""); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Open(\"\") = %v; want ErrInvalid", err)
	}
	if _, err := OpenKeyed[string, int](""); !errors.Is(err, ErrInvalid) {
		t.Fatalf("OpenKeyed(\"\") = %v; want ErrInvalid", err)
	}
}

func TestBindingOneEngine(t *testing.T) {
	if EngineID() == 0 || EngineID() != EngineID() {
		t.Fatal("EngineID is not a stable address")
	}
	if !strings.HasPrefix(EngineVersion(), "0.") {
		t.Fatalf("EngineVersion %q", EngineVersion())
	}
}

// Two Opens of one name are one group: their callers share a flight, and the
// Go value itself.
func TestBindingOpenSharesFlights(t *testing.T) {
	name := testName(t)
	a, err := Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	release := make(chan struct{})
	type v struct{ n int }
	want := &v{1}
	ca := a.DoChan("k", func() (any, error) { <-release; return want, nil })
	until(func() bool { return a.Stats().InTable == 1 })
	cb := b.DoChan("k", func() (any, error) { return &v{2}, nil })
	until(func() bool { return b.Stats().Followers == 1 })
	close(release)
	if ra, rb := <-ca, <-cb; ra.Val != want || rb.Val != want || !ra.Shared || !rb.Shared {
		t.Fatalf("got %+v and %+v; want the same pointer, shared", ra, rb)
	}
}
