package prometheus

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/client_golang/prometheus/testutil"
	singleflight "github.com/singleflight/singleflight/bindings/go"
)

// stampede runs n callers of one key at once, the work held until all of
// them joined.
func stampede(g *singleflight.Group, n int, hold time.Duration) {
	release := make(chan struct{})
	var wg sync.WaitGroup
	before := g.Stats().Followers
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g.Do("k", func() (any, error) {
				<-release
				time.Sleep(hold)
				return "v", nil
			})
		}()
	}
	for g.Stats().Followers-before != uint64(n-1) {
		time.Sleep(100 * time.Microsecond)
	}
	close(release)
	wg.Wait()
	for s := g.Stats(); s.Live != 0; s = g.Stats() {
		time.Sleep(100 * time.Microsecond) // followers between wake-up and leave
	}
}

func TestCollectorScrapedAfterAStampede(t *testing.T) {
	g, err := singleflight.Open("prometheus-test")
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	var other singleflight.KeyedGroup[string, int]
	c, err := NewCollector(map[string]singleflight.Observable{"users": g, "other": &other})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(c); err != nil {
		t.Fatal(err)
	}
	const n, hold = 6, 2 * time.Millisecond
	stampede(g, n, hold)

	// Every shared name is there, with one series per group.
	want := []string{singleflight.WaitSecondsName, singleflight.WorkSecondsName}
	for _, m := range singleflight.Metrics() {
		want = append(want, m.Name)
	}
	if got, err := testutil.GatherAndCount(reg, want...); err != nil || got != 2*len(want) {
		t.Fatalf("GatherAndCount = %d, %v; want %d series", got, err, 2*len(want))
	}
	expected := `
# HELP singleflight_flights_total Flights started (one per leader: the work ran).
# TYPE singleflight_flights_total counter
singleflight_flights_total{group="other"} 0
singleflight_flights_total{group="users"} 1
# HELP singleflight_followers_total Callers that joined a flight already running.
# TYPE singleflight_followers_total counter
singleflight_followers_total{group="other"} 0
singleflight_followers_total{group="users"} 5
# HELP singleflight_live Flights still held by a caller (above 0 when idle: a leaked ticket).
# TYPE singleflight_live gauge
singleflight_live{group="other"} 0
singleflight_live{group="users"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(expected),
		"singleflight_flights_total", "singleflight_followers_total", "singleflight_live"); err != nil {
		t.Fatal(err)
	}

	// The histograms, as an HTTP scrape shows them.
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	text := string(body)
	for _, line := range []string{
		`# TYPE singleflight_wait_seconds histogram`,
		`singleflight_wait_seconds_count{group="users"} 5`,
		`singleflight_wait_seconds_bucket{group="users",le="+Inf"} 5`,
		`singleflight_wait_seconds_bucket{group="users",le="1.024e-06"} 0`,
		`singleflight_wait_seconds_bucket{group="users",le="1099.511627776"} 5`,
		`singleflight_work_seconds_count{group="users"} 1`,
		`singleflight_work_seconds_bucket{group="users",le="0.001048576"} 0`,
		`singleflight_work_seconds_count{group="other"} 0`,
	} {
		if !strings.Contains(text, line+"\n") {
			t.Fatalf("scrape has no line %q:\n%s", line, text)
		}
	}
	if l := g.Latency(); l.Wait.Sum < (n-1)*hold || l.Work.Sum < hold {
		t.Fatalf("latency %+v; want waits and work of at least %v", l, hold)
	}
}

func TestCollectorRejectsBadGroups(t *testing.T) {
	var closed singleflight.Group
	closed.Close()
	for name, groups := range map[string]map[string]singleflight.Observable{
		"none":   {},
		"empty":  {"": new(singleflight.Group)},
		"nil":    {"g": nil},
		"closed": {"g": &closed},
	} {
		if _, err := NewCollector(groups); err == nil {
			t.Errorf("%s: NewCollector succeeded", name)
		}
	}
}
