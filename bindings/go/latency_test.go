package singleflight

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"
)

// stampede runs n callers of one key of g at once, the work held until all
// of them joined, and returns after every caller returned.
func stampede(t *testing.T, g *Group, key string, n int, hold time.Duration) {
	t.Helper()
	release := make(chan struct{})
	var wg sync.WaitGroup
	before := g.Stats().Followers
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g.Do(key, func() (any, error) {
				<-release
				time.Sleep(hold)
				return "v", nil
			})
		}()
	}
	until(func() bool { return g.Stats().Followers-before == uint64(n-1) })
	close(release)
	wg.Wait()
}

func TestBindingLatencyOffUntilRecorded(t *testing.T) {
	var g Group
	stampede(t, &g, "k", 4, 0)
	if l := g.Latency(); l.Wait.Count != 0 || l.Work.Count != 0 {
		t.Fatalf("latency recorded while off: %+v", l)
	}
}

func TestBindingLatencyOfAStampede(t *testing.T) {
	var g Group
	if err := g.RecordLatency(true); err != nil {
		t.Fatal(err)
	}
	const n, hold = 8, 2 * time.Millisecond
	stampede(t, &g, "k", n, hold)
	idle(t, g.Stats)
	l := g.Latency()
	if l.Work.Count != 1 || l.Work.Sum < hold {
		t.Fatalf("work histogram %+v; want 1 run of at least %v", l.Work, hold)
	}
	if l.Wait.Count != n-1 || l.Wait.Sum < (n-1)*hold {
		t.Fatalf("wait histogram %+v; want %d waits of at least %v", l.Wait, n-1, hold)
	}
	var sum uint64
	for i, b := range l.Wait.Buckets {
		sum += b
		if b != 0 && i < LatencyBuckets-1 && LatencyBound(i) < hold {
			t.Fatalf("a wait of at least %v in bucket %d (bound %v)", hold, i, LatencyBound(i))
		}
	}
	if sum != l.Wait.Count {
		t.Fatalf("buckets sum to %d, count %d", sum, l.Wait.Count)
	}
}

// DoContext followers wait on the Go rendezvous: counted all the same.
func TestBindingLatencyOfDoContextFollowers(t *testing.T) {
	var g Group
	if err := g.RecordLatency(true); err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	var wg sync.WaitGroup
	const n = 5
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g.DoContext(context.Background(), "k", func(context.Context) (any, error) {
				<-release
				return 1, nil
			})
		}()
	}
	until(func() bool { return g.Stats().Followers == n-1 })
	close(release)
	wg.Wait()
	idle(t, g.Stats)
	if l := g.Latency(); l.Work.Count != 1 || l.Wait.Count != n-1 {
		t.Fatalf("latency %+v; want 1 run and %d waits", l, n-1)
	}
}

func TestBindingLatencyBounds(t *testing.T) {
	if LatencyBound(0) != 1024*time.Nanosecond || LatencyBound(LatencyBuckets-2) != time.Duration(1)<<40 {
		t.Fatalf("bounds %v .. %v", LatencyBound(0), LatencyBound(LatencyBuckets-2))
	}
	mustPanic(t, "no bound", func() { LatencyBound(LatencyBuckets - 1) })
	h := Histogram{Count: 3}
	h.Buckets[0], h.Buckets[2], h.Buckets[LatencyBuckets-1] = 1, 1, 1
	bounds, counts := h.Cumulative()
	if len(bounds) != LatencyBuckets-1 || bounds[2] != 4096e-9 || counts[0] != 1 || counts[1] != 1 ||
		counts[2] != 2 || counts[LatencyBuckets-2] != 2 {
		t.Fatalf("Cumulative() = %v, %v", bounds, counts)
	}
}

func TestBindingLatencyOfAClosedGroup(t *testing.T) {
	var g Group
	g.Close()
	if err := g.RecordLatency(true); err != ErrClosed {
		t.Fatalf("RecordLatency on a closed group: %v; want ErrClosed", err)
	}
}

func TestBindingExpvarExportsTheSharedNames(t *testing.T) {
	var g Group
	var kg KeyedGroup[string, int]
	v, err := Expvar(map[string]Observable{"plain": &g, "keyed": &kg})
	if err != nil {
		t.Fatal(err)
	}
	stampede(t, &g, "k", 3, time.Millisecond)
	idle(t, g.Stats)
	var got map[string]json.RawMessage
	if err := json.Unmarshal([]byte(v.String()), &got); err != nil {
		t.Fatalf("expvar output is not JSON: %v\n%s", err, v.String())
	}
	for _, m := range Metrics() {
		var per map[string]uint64
		if err := json.Unmarshal(got[m.Name], &per); err != nil {
			t.Fatalf("%s: %v", m.Name, err)
		}
		if per["plain"] != m.Value(g.Stats()) || per["keyed"] != 0 {
			t.Fatalf("%s = %v; want plain %d, keyed 0", m.Name, per, m.Value(g.Stats()))
		}
	}
	var waits map[string]struct {
		Count   uint64            `json:"count"`
		Sum     float64           `json:"sum"`
		Buckets map[string]uint64 `json:"buckets"`
	}
	if err := json.Unmarshal(got[WaitSecondsName], &waits); err != nil {
		t.Fatal(err)
	}
	w := waits["plain"]
	if w.Count != 2 || w.Buckets["+Inf"] != 2 || w.Buckets["1.024e-06"] != 0 || w.Sum < 0.002 {
		t.Fatalf("%s[plain] = %+v; want 2 waits of at least 1 ms", WaitSecondsName, w)
	}
	if len(w.Buckets) != LatencyBuckets {
		t.Fatalf("%d buckets; want %d", len(w.Buckets), LatencyBuckets)
	}
	if _, ok := got[WorkSecondsName]; !ok {
		t.Fatalf("no %s in %s", WorkSecondsName, v.String())
	}
}
