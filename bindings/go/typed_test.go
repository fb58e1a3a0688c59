package singleflight

import (
	"context"
	"errors"
	"sync"
	"testing"
)

func TestBindingKeyedGroupTyped(t *testing.T) {
	var g KeyedGroup[int, string]
	release := make(chan struct{})
	var wg sync.WaitGroup
	res := make([]string, 5)
	for i := range res {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err, _ := g.Do(7, func() (string, error) { <-release; return "seven", nil })
			if err != nil {
				t.Error(err)
			}
			res[i] = v
		}()
	}
	until(func() bool { return g.Stats().Followers == 4 })
	// A different key runs apart while 7 is in flight.
	if v, _, shared := g.Do(8, func() (string, error) { return "eight", nil }); v != "eight" || shared {
		t.Fatalf("key 8: %q shared=%v", v, shared)
	}
	close(release)
	wg.Wait()
	for _, v := range res {
		if v != "seven" {
			t.Fatalf("got %q; want seven", v)
		}
	}
	if s := g.Stats(); s.Flights != 2 {
		t.Fatalf("flights %d; want 2", s.Flights)
	}
	idle(t, g.Stats)
}

// Keys of other comparable types: structs, named strings, negative ints.
func TestBindingKeyedGroupKeyKinds(t *testing.T) {
	type pt struct{ X, Y int }
	var gs KeyedGroup[pt, int]
	a, _, _ := gs.Do(pt{1, 2}, func() (int, error) { return 12, nil })
	b, _, _ := gs.Do(pt{2, 1}, func() (int, error) { return 21, nil })
	if a != 12 || b != 21 {
		t.Fatalf("struct keys: %d %d", a, b)
	}
	type name string
	var gn KeyedGroup[name, int]
	if v, _, _ := gn.Do("n", func() (int, error) { return 1, nil }); v != 1 {
		t.Fatalf("named string key: %d", v)
	}
	var gi KeyedGroup[int8, int]
	if v, _, _ := gi.Do(-1, func() (int, error) { return -1, nil }); v != -1 {
		t.Fatalf("int8 key: %d", v)
	}
	gs.Forget(pt{1, 2})
	idle(t, gs.Stats)
}

// Integer keys cross as 8 little-endian bytes, whatever their Go type.
func TestBindingIntKeysMeetAcrossTypes(t *testing.T) {
	name := testName(t)
	g1, err := OpenKeyed[int, int](name)
	if err != nil {
		t.Fatal(err)
	}
	defer g1.Close()
	g2, err := OpenKeyed[uint32, int](name)
	if err != nil {
		t.Fatal(err)
	}
	defer g2.Close()
	release := make(chan struct{})
	c1 := g1.DoChan(5, func() (int, error) { <-release; return 1, nil })
	until(func() bool { return g1.Stats().InTable == 1 })
	c2 := g2.DoChan(5, func() (int, error) { return 2, nil })
	until(func() bool { return g1.Stats().Followers == 1 })
	close(release)
	if r1, r2 := <-c1, <-c2; r1.Val != 1 || r2.Val != 1 {
		t.Fatalf("got %d %d; want 1 1", r1.Val, r2.Val)
	}
	idle(t, g1.Stats)
}

// Two Go views of one name with different value types: the follower is told.
func TestBindingTypeMismatch(t *testing.T) {
	name := testName(t)
	gi, _ := OpenKeyed[string, int](name)
	gs, _ := OpenKeyed[string, string](name)
	defer gi.Close()
	defer gs.Close()
	release := make(chan struct{})
	ci := gi.DoChan("k", func() (int, error) { <-release; return 1, nil })
	until(func() bool { return gi.Stats().InTable == 1 })
	cs := gs.DoChan("k", func() (string, error) { return "s", nil })
	until(func() bool { return gi.Stats().Followers == 1 })
	close(release)
	<-ci
	if r := <-cs; !errors.Is(r.Err, ErrTypeMismatch) {
		t.Fatalf("got %+v; want ErrTypeMismatch", r)
	}
	idle(t, gi.Stats)
}

func TestBindingSingle(t *testing.T) {
	var s Single[*int]
	x := 3
	release := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < 3; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err, shared := s.DoContext(context.Background(), func(context.Context) (*int, error) { <-release; return &x, nil })
			if v != &x || err != nil || !shared {
				t.Errorf("got %v %v %v", v, err, shared)
			}
		}()
	}
	until(func() bool { return s.Stats().Followers == 2 })
	close(release)
	wg.Wait()
	if v, _, shared := s.Do(func() (*int, error) { return nil, nil }); v != nil || shared {
		t.Fatal("a later call must run afresh")
	}
	r := <-s.DoChan(func() (*int, error) { return &x, nil })
	if r.Val != &x {
		t.Fatal("DoChan")
	}
	s.Forget()
	idle(t, s.Stats)
}

// The typed API allocates nothing in steady state: a fresh flight per call,
// led by Go, with no follower (the fast path).
func TestBindingTypedZeroAlloc(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	var g KeyedGroup[string, int]
	var gi KeyedGroup[uint64, int]
	var s Single[int]
	fn := func() (int, error) { return 1, nil }
	keys := []string{"a", "b", "c", "d"}
	i := 0
	for name, f := range map[string]func(){
		"KeyedGroup[string,int]": func() { g.Do(keys[i%4], fn); i++ },
		"KeyedGroup[uint64,int]": func() { gi.Do(uint64(i), fn); i++ },
		"Single[int]":            func() { s.Do(fn) },
	} {
		f() // warm the slot cache
		if n := testing.AllocsPerRun(1000, f); n != 0 {
			t.Errorf("%s: %v allocs per Do; want 0", name, n)
		}
	}
}
