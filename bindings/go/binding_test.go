package singleflight

// The binding's own tests. x/sync's singleflight_test.go joins the package
// at test time (test.sh adds it with -overlay as xsync_singleflight_test.go)
// and uses the names Test{Do,DoErr,DoDupSuppress,Forget,DoChan,PanicDo,
// GoexitDo,PanicDoChan,PanicDoSharedByDoChan,PanicErrorUnwrap},
// ExampleGroup, errValue and executable; the tests here are all named
// TestBinding*.

import (
	"context"
	"encoding/json"
	"errors"
	"expvar"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// until polls cond, yielding, until it holds. No deadline: the test
// binary's own -timeout catches a hang.
func until(cond func() bool) {
	for !cond() {
		time.Sleep(100 * time.Microsecond)
	}
}

// idle checks that a group has no flight left and no ticket held.
func idle(t *testing.T, st func() Stats) {
	t.Helper()
	var s Stats
	// A follower may still be between its wake-up and its leave.
	for i := 0; i < 10000; i++ {
		if s = st(); s.Live == 0 && s.InTable == 0 {
			return
		}
		time.Sleep(100 * time.Microsecond)
	}
	t.Fatalf("group not idle after the test: %+v (leaked tickets?)", s)
}

func mustPanic(t *testing.T, want string, f func()) {
	t.Helper()
	defer func() {
		t.Helper()
		r := recover()
		if r == nil {
			t.Fatalf("no panic; want one mentioning %q", want)
		}
		if !strings.Contains(fmt.Sprint(r), want) {
			t.Fatalf("panic %v; want one mentioning %q", r, want)
		}
	}()
	f()
}

func TestBindingNilFnPanics(t *testing.T) {
	var g Group
	var kg KeyedGroup[string, int]
	var s Single[int]
	ctx := context.Background()
	mustPanic(t, "nil fn", func() { g.Do("k", nil) })
	mustPanic(t, "nil fn", func() { g.DoChan("k", nil) })
	mustPanic(t, "nil fn", func() { g.DoContext(ctx, "k", nil) })
	mustPanic(t, "nil fn", func() { kg.Do("k", nil) })
	mustPanic(t, "nil fn", func() { kg.DoContext(ctx, "k", nil) })
	mustPanic(t, "nil fn", func() { s.Do(nil) })
	mustPanic(t, "nil context", func() {
		//lint:ignore SA1012 testing the nil check
		g.DoContext(nil, "k", func(context.Context) (any, error) { return nil, nil }) //nolint:staticcheck
	})
	idle(t, g.Stats)
}

// Keys are bytes: NUL is an ordinary byte and the empty key is a key.
func TestBindingKeysAreBytes(t *testing.T) {
	var g Group
	for _, k := range []string{"a\x00b", "a\x00c", "", "a"} {
		v, err, _ := g.Do(k, func() (any, error) { return "v:" + k, nil })
		if err != nil || v != "v:"+k {
			t.Fatalf("Do(%q) = %v, %v", k, v, err)
		}
	}
	// Two keys that differ after a NUL run apart.
	block := make(chan struct{})
	c1 := g.DoChan("x\x00y", func() (any, error) { <-block; return 1, nil })
	c2 := g.DoChan("x\x00z", func() (any, error) { <-block; return 2, nil })
	close(block)
	r1, r2 := <-c1, <-c2
	if r1.Val != 1 || r2.Val != 2 || r1.Shared || r2.Shared {
		t.Fatalf("got %+v %+v; want 1 and 2, unshared", r1, r2)
	}
	if s := g.Stats(); s.Flights != 6 || s.Followers != 0 {
		t.Fatalf("stats %+v; want 6 flights, 0 followers", s)
	}
	idle(t, g.Stats)
}

// Every caller gets the very same value (a pointer), fn runs once, and all
// of them are told it was shared.
func TestBindingDedupExact(t *testing.T) {
	var g Group
	const n = 200
	var runs atomic.Int32
	release := make(chan struct{})
	type big struct{ x [64]byte }
	want := &big{}
	var wg sync.WaitGroup
	got := make([]any, n)
	shared := make([]bool, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err, sh := g.Do("hot", func() (any, error) {
				runs.Add(1)
				<-release
				return want, nil
			})
			if err != nil {
				t.Errorf("Do: %v", err)
			}
			got[i], shared[i] = v, sh
		}()
	}
	until(func() bool { return g.Stats().Followers == n-1 })
	close(release)
	wg.Wait()
	if r := runs.Load(); r != 1 {
		t.Fatalf("fn ran %d times; want 1", r)
	}
	for i := range got {
		if got[i] != want || !shared[i] {
			t.Fatalf("caller %d got %p shared=%v; want %p shared", i, got[i], shared[i], want)
		}
	}
	idle(t, g.Stats)
}

// The leader's caller gives up: it gets ctx.Err() at once, the work goes on
// with a live context, and the follower gets the value.
func TestBindingDoContextCallerLeaves(t *testing.T) {
	var g Group
	leaderCtx, cancelLeader := context.WithCancel(context.Background())
	started := make(chan context.Context, 1)
	release := make(chan struct{})
	var runs atomic.Int32
	fn := func(ctx context.Context) (any, error) {
		runs.Add(1)
		started <- ctx
		<-release
		return "done", ctx.Err()
	}
	leaderErr := make(chan error, 1)
	go func() {
		_, err, _ := g.DoContext(leaderCtx, "k", fn)
		leaderErr <- err
	}()
	workCtx := <-started
	followerRes := make(chan Result, 1)
	go func() {
		v, err, sh := g.DoContext(context.Background(), "k", fn)
		followerRes <- Result{v, err, sh}
	}()
	until(func() bool { return g.Stats().Followers == 1 })
	cancelLeader()
	if err := <-leaderErr; !errors.Is(err, context.Canceled) {
		t.Fatalf("leader's caller got %v; want context.Canceled", err)
	}
	if err := workCtx.Err(); err != nil {
		t.Fatalf("work context ended with the first caller (%v); the follower still waits", err)
	}
	close(release)
	r := <-followerRes
	if r.Val != "done" || r.Err != nil || !r.Shared {
		t.Fatalf("follower got %+v; want done, shared", r)
	}
	if n := runs.Load(); n != 1 {
		t.Fatalf("fn ran %d times; want 1", n)
	}
	idle(t, g.Stats)
}

// When every caller leaves, the work's context is cancelled; the cancelled
// run poisons nothing: the next caller runs afresh.
func TestBindingDoContextAllLeave(t *testing.T) {
	var g Group
	started := make(chan context.Context, 1)
	stopped := make(chan struct{})
	fn := func(ctx context.Context) (any, error) {
		started <- ctx
		<-ctx.Done()
		defer close(stopped)
		return nil, ctx.Err()
	}
	ctx1, cancel1 := context.WithCancel(context.Background())
	ctx2, cancel2 := context.WithCancel(context.Background())
	errs := make(chan error, 2)
	go func() { _, err, _ := g.DoContext(ctx1, "k", fn); errs <- err }()
	workCtx := <-started
	go func() { _, err, _ := g.DoContext(ctx2, "k", fn); errs <- err }()
	until(func() bool { return g.Stats().Followers == 1 })
	cancel1()
	if err := <-errs; !errors.Is(err, context.Canceled) {
		t.Fatalf("first caller got %v", err)
	}
	if workCtx.Err() != nil {
		t.Fatal("work cancelled while a caller still waits")
	}
	cancel2()
	if err := <-errs; !errors.Is(err, context.Canceled) {
		t.Fatalf("second caller got %v", err)
	}
	<-stopped // the work saw its context end
	if s := g.Stats(); s.Abandoned != 1 {
		t.Fatalf("stats %+v; want abandoned 1", s)
	}
	idle(t, g.Stats)
	v, err, _ := g.DoContext(context.Background(), "k", func(ctx context.Context) (any, error) { return "fresh", ctx.Err() })
	if v != "fresh" || err != nil {
		t.Fatalf("after a cancelled run: %v, %v; want fresh", v, err)
	}
	idle(t, g.Stats)
}

// newcomerOfAbandoned starts a DoContext flight on g whose first run waits
// for its context to end, abandons it (its only caller gives up), joins it
// with a newcomer once the run was told to stop, and then lets the first
// run return last(ctx). It returns what the newcomer got; a later run
// returns "second run".
func newcomerOfAbandoned(t *testing.T, g *Group, last func(ctx context.Context) (any, error)) Result {
	t.Helper()
	var runs atomic.Int32
	cancelled := make(chan struct{})
	finishFirst := make(chan struct{})
	fn := func(ctx context.Context) (any, error) {
		if runs.Add(1) == 1 {
			<-ctx.Done()
			close(cancelled)
			<-finishFirst
			return last(ctx)
		}
		return "second run", nil
	}
	ctx1, cancel1 := context.WithCancel(context.Background())
	errs := make(chan error, 1)
	go func() { _, err, _ := g.DoContext(ctx1, "k", fn); errs <- err }()
	until(func() bool { return runs.Load() == 1 })
	cancel1()
	if err := <-errs; !errors.Is(err, context.Canceled) {
		t.Fatalf("the first caller got %v; want context.Canceled", err)
	}
	<-cancelled // the flight is abandoned and its work told to stop
	res := make(chan Result, 1)
	go func() {
		v, err, sh := g.DoContext(context.Background(), "k", fn)
		res <- Result{v, err, sh}
	}()
	until(func() bool { return g.Stats().Followers == 1 }) // joined the old flight
	close(finishFirst)
	return <-res
}

// A caller who joins an abandoned flight whose work was already cancelled
// gets a fresh run, never the cancelled run's context.Canceled; a run that
// succeeds although every caller had left delivers its value to him: the
// newcomer kept the flight alive.
func TestBindingDoContextNewcomerOfAbandoned(t *testing.T) {
	for _, c := range []struct {
		name              string
		last              func(ctx context.Context) (any, error) // the first run's return
		want              string
		flights, handoffs uint64
	}{
		{"AfterCancelledRun", func(ctx context.Context) (any, error) { return "stale", ctx.Err() }, "second run", 2, 1},
		{"KeepsFlight", func(context.Context) (any, error) { return "kept", nil }, "kept", 1, 0}, // ignores the cancellation
	} {
		t.Run(c.name, func(t *testing.T) {
			var g Group
			if r := newcomerOfAbandoned(t, &g, c.last); r.Val != c.want || r.Err != nil {
				t.Fatalf("newcomer got %+v; want %q", r, c.want)
			}
			if s := g.Stats(); s.Flights != c.flights || s.Handoffs != c.handoffs {
				t.Fatalf("stats %+v; want %d flights, %d hand-offs", s, c.flights, c.handoffs)
			}
			idle(t, g.Stats)
		})
	}
}

// A Do caller may join a DoContext flight and the other way round.
func TestBindingDoContextMixedWithDo(t *testing.T) {
	var g Group
	release := make(chan struct{})
	res := make(chan Result, 2)
	go func() {
		v, err, sh := g.DoContext(context.Background(), "k", func(context.Context) (any, error) {
			<-release
			return 7, nil
		})
		res <- Result{v, err, sh}
	}()
	until(func() bool { return g.Stats().InTable == 1 })
	go func() {
		v, err, sh := g.Do("k", func() (any, error) { return 8, nil })
		res <- Result{v, err, sh}
	}()
	until(func() bool { return g.Stats().Followers == 1 })
	close(release)
	for i := 0; i < 2; i++ {
		if r := <-res; r.Val != 7 || r.Err != nil || !r.Shared {
			t.Fatalf("got %+v; want 7 shared", r)
		}
	}
	idle(t, g.Stats)
}

func TestBindingDoContextPanicAndGoexit(t *testing.T) {
	var g Group
	mustPanic(t, "ctx boom", func() {
		g.DoContext(context.Background(), "p", func(context.Context) (any, error) { panic("ctx boom") })
	})
	_, err, _ := g.DoContext(context.Background(), "g", func(context.Context) (any, error) {
		runtime.Goexit()
		return nil, nil
	})
	if !errors.Is(err, ErrGoexit) {
		t.Fatalf("Goexit in DoContext's fn: %v; want ErrGoexit", err)
	}
	idle(t, g.Stats)
}

func TestBindingDoChanGoexit(t *testing.T) {
	var g Group
	r := <-g.DoChan("k", func() (any, error) {
		runtime.Goexit()
		return nil, nil
	})
	if !errors.Is(r.Err, ErrGoexit) {
		t.Fatalf("DoChan with Goexit: %+v; want ErrGoexit", r)
	}
	idle(t, g.Stats)
}

// The panic value reaches every caller with the leader's stack.
func TestBindingPanicCarriesValueAndStack(t *testing.T) {
	var g Group
	type myErr struct{ error }
	sentinel := myErr{errors.New("sentinel")}
	defer func() {
		r := recover()
		v, stack, ok := PanicValue(r)
		if !ok || v != sentinel {
			t.Fatalf("recovered %v; want the panic value", r)
		}
		if !strings.Contains(string(stack), "panickingWork") {
			t.Fatalf("stack does not show the leader's frame:\n%s", stack)
		}
		if err, _ := r.(error); !errors.Is(err, sentinel) {
			t.Fatalf("recovered %v does not unwrap to the panic error", r)
		}
	}()
	g.Do("k", func() (any, error) { return panickingWork(sentinel) })
}

//go:noinline
func panickingWork(v any) (any, error) { panic(v) }

// Stats is an expvar.Var as it is.
var _ expvar.Var = Stats{}

func TestBindingStatsAndClose(t *testing.T) {
	var g Group
	for i := 0; i < 3; i++ {
		g.Do(strconv.Itoa(i), func() (any, error) { return nil, nil })
	}
	s := g.Stats()
	var back Stats
	if err := json.Unmarshal([]byte(s.String()), &back); err != nil || back != s {
		t.Fatalf("Stats.String() = %s (%v); want JSON of %+v", s.String(), err, s)
	}
	if s.Flights != 3 {
		t.Fatalf("flights %d; want 3", s.Flights)
	}
	g.Close()
	if _, err, _ := g.Do("k", func() (any, error) { return nil, nil }); !errors.Is(err, ErrClosed) {
		t.Fatalf("Do after Close: %v; want ErrClosed", err)
	}
	if r := <-g.DoChan("k", func() (any, error) { return nil, nil }); !errors.Is(r.Err, ErrClosed) {
		t.Fatalf("DoChan after Close: %v; want ErrClosed", r.Err)
	}
	var never Group
	never.Close()
	if _, err, _ := never.Do("k", func() (any, error) { return nil, nil }); !errors.Is(err, ErrClosed) {
		t.Fatalf("Do after Close of an unused group: %v; want ErrClosed", err)
	}
}

func TestBindingForgetUnshared(t *testing.T) {
	var g Group
	if !g.ForgetUnshared("none") {
		t.Fatal("a key with no flight is free")
	}
	release := make(chan struct{})
	c1 := g.DoChan("k", func() (any, error) { <-release; return 1, nil })
	until(func() bool { return g.Stats().InTable == 1 })
	c2 := g.DoChan("k", func() (any, error) { return 2, nil })
	until(func() bool { return g.Stats().Followers == 1 })
	if g.ForgetUnshared("k") {
		t.Fatal("ForgetUnshared forgot a flight with a follower")
	}
	close(release)
	if r1, r2 := <-c1, <-c2; r1.Val != 1 || r2.Val != 1 {
		t.Fatalf("got %v %v; want 1 1", r1.Val, r2.Val)
	}
	idle(t, g.Stats)
}

// Ten thousand followers wait on one key with few OS threads: they are
// parked by the Go scheduler, not blocked in cgo calls.
func TestBindingFollowersDoNotPinThreads(t *testing.T) {
	var g Group
	const n = 10000
	release := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(n + 1)
	go func() {
		defer wg.Done()
		g.Do("k", func() (any, error) { <-release; return 1, nil })
	}()
	until(func() bool { return g.Stats().InTable == 1 })
	for i := 0; i < n; i++ {
		go func() {
			defer wg.Done()
			if v, _, _ := g.Do("k", func() (any, error) { return 2, nil }); v != 1 {
				t.Errorf("follower got %v", v)
			}
		}()
	}
	until(func() bool { return g.Stats().Followers == n })
	threads := osThreads(t)
	close(release)
	wg.Wait()
	t.Logf("%d followers waiting, %d OS threads", n, threads)
	if threads >= 50 {
		t.Fatalf("%d OS threads with %d followers waiting; want < 50", threads, n)
	}
	idle(t, g.Stats)
}

func osThreads(t *testing.T) int {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skipf("no /proc/self/status: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Threads:"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Skip("no Threads line in /proc/self/status")
	return 0
}
