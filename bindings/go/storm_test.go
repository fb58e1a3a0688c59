package singleflight

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// stormCallers is how many goroutines TestBindingContextStorm starts on
// one key, under -race too (test.sh): a few seconds under the detector on a
// shared 2-core machine.
const stormCallers = 100_000

// Goroutines and OS threads a finished storm may leave beyond the counts
// before it: goroutines of the runtime and of other tests that come and go;
// threads the runtime starts to keep its Ps busy while a few goroutines are
// in cgo calls, more on a loaded machine (up to 6 more measured with three
// storms at once on 2 cores), never one per waiting caller: nobody waits
// inside C. The runtime keeps the threads it started, so the count after
// the storm is also its peak.
const stormGoroutineSlack = 8

func stormThreadSlack() int { return 32 + 2*runtime.GOMAXPROCS(0) }

// Callers in many goroutines on one key call DoContext with contexts that
// end at random: short deadlines, cancels from timers, contexts ended
// before the call, and long deadlines that outlast the work. The work
// takes a random time, or stops when its context is cancelled (every caller
// left), which hands the flight off. Afterwards: every caller returned the
// value or its own context's error; the work ran once per flight, and
// beyond the runs that completed only as often as hand-offs made it start
// again; every give-up is counted; the group is idle; goroutines and OS
// threads are back to about what they were. The seed is logged; set
// SF_STORM_SEED to it to replay the same draws.
func TestBindingContextStorm(t *testing.T) {
	n := stormCallers
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("SF_STORM_SEED"); v != "" {
		var err error
		if seed, err = strconv.ParseUint(v, 10, 64); err != nil {
			t.Fatalf("SF_STORM_SEED=%q: %v", v, err)
		}
	}
	t.Logf("%d callers, seed %d", n, seed)

	runtime.GC()
	baseGoroutines := runtime.NumGoroutine()
	baseThreads := osThreads(t)

	var g Group
	var runs, completed, stopped atomic.Int64
	fn := func(ctx context.Context) (any, error) {
		r := runs.Add(1)
		rng := rand.New(rand.NewPCG(seed, uint64(r)))
		tm := time.NewTimer(time.Duration(rng.Int64N(int64(4 * time.Millisecond))))
		defer tm.Stop()
		select {
		case <-tm.C:
			completed.Add(1)
			return "v", nil
		case <-ctx.Done():
			stopped.Add(1) // a failed cancelled run: handed off
			return nil, ctx.Err()
		}
	}

	// The callers come in waves of random size, from one caller to tens of
	// thousands: within a wave they pile up on the flight; between two
	// waves every caller has returned, so the flight of the wave before is
	// often abandoned, and its work may still be stopping when the next
	// wave's first callers arrive.
	var values, timeouts, cancels, returned atomic.Int64
	call := func(ctx context.Context) {
		v, err, _ := g.DoContext(ctx, "k", fn)
		returned.Add(1)
		switch {
		case err == nil && v == "v":
			values.Add(1)
		case err != nil && err == ctx.Err() && errors.Is(err, context.DeadlineExceeded):
			timeouts.Add(1)
		case err != nil && err == ctx.Err() && errors.Is(err, context.Canceled):
			cancels.Add(1)
		default:
			t.Errorf("caller got %v, %v; its context says %v", v, err, ctx.Err())
		}
	}
	waves := rand.New(rand.NewPCG(seed, 0))
	for i := 0; i < n; {
		var wave sync.WaitGroup
		for end := min(n, i+1+waves.IntN(1<<waves.IntN(16))); i < end; i++ {
			rng := rand.New(rand.NewPCG(seed, uint64(n+i)))
			var ctx context.Context
			var cancel context.CancelFunc
			// Few callers outwait the work, so that many flights lose
			// every caller (abandoned, then handed off) and others not.
			switch p := rng.IntN(1000); {
			case p < 450: // a deadline within the work's time, or already past
				ctx, cancel = context.WithTimeout(context.Background(), time.Duration(rng.Int64N(int64(3*time.Millisecond))))
			case p < 900: // cancelled by a timer
				ctx, cancel = context.WithCancel(context.Background())
				time.AfterFunc(time.Duration(rng.Int64N(int64(3*time.Millisecond))), cancel)
			case p < 997: // cancelled before the call
				ctx, cancel = context.WithCancel(context.Background())
				cancel()
			default: // a deadline the work never reaches
				ctx, cancel = context.WithTimeout(context.Background(), time.Hour)
			}
			wave.Add(1)
			go func() {
				defer wave.Done()
				defer cancel()
				call(ctx)
			}()
		}
		wave.Wait() // every caller returned (a hang is the test binary's -timeout)
	}
	if r := returned.Load(); r != int64(n) {
		t.Fatalf("%d of %d callers returned", r, n)
	}
	total := struct{ values, timeouts, cancels int64 }{values.Load(), timeouts.Load(), cancels.Load()}

	idle(t, g.Stats)
	s := g.Stats()
	t.Logf("callers: %d values, %d deadlines, %d cancels; work: %d runs, %d completed, %d stopped; %+v",
		total.values, total.timeouts, total.cancels, runs.Load(), completed.Load(), stopped.Load(), s)
	if r := runs.Load(); uint64(r) != s.Flights {
		t.Errorf("the work ran %d times for %d flights; want once per flight", r, s.Flights)
	}
	if r, c := runs.Load(), completed.Load(); uint64(r) > uint64(c)+s.Handoffs {
		t.Errorf("the work ran %d times: more than its %d completed runs and %d hand-offs allow", r, c, s.Handoffs)
	}
	if st := stopped.Load(); uint64(st) != s.Handoffs || s.Handoffs > s.Abandoned {
		t.Errorf("%d runs stopped by their context, %d hand-offs, %d abandoned; want stopped == hand-offs <= abandoned",
			st, s.Handoffs, s.Abandoned)
	}
	if s.Timeouts != uint64(total.timeouts) || s.Cancellations != uint64(total.cancels) {
		t.Errorf("stats count %d timeouts and %d cancellations; callers gave up %d and %d times",
			s.Timeouts, s.Cancellations, total.timeouts, total.cancels)
	}

	// Nothing stays behind: the last flights' work goroutines and the
	// cancel timers finish within some scheduling rounds.
	goroutines := runtime.NumGoroutine()
	for i := 0; i < 10000 && goroutines > baseGoroutines+stormGoroutineSlack; i++ {
		time.Sleep(time.Millisecond)
		goroutines = runtime.NumGoroutine()
	}
	threads := osThreads(t)
	t.Logf("goroutines %d -> %d, OS threads %d -> %d", baseGoroutines, goroutines, baseThreads, threads)
	if goroutines > baseGoroutines+stormGoroutineSlack {
		t.Errorf("%d goroutines after the storm, %d before", goroutines, baseGoroutines)
	}
	if threads > baseThreads+stormThreadSlack() {
		t.Errorf("%d OS threads after the storm, %d before", threads, baseThreads)
	}
}
