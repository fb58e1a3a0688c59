package singleflight

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// A fleet worker is this test binary re-executed with SF_FLEET_WORKER set
// to a JSON workerConfig (TestMain runs it instead of the tests). It opens a
// fleet group and, told "go" on stdin, stampedes one key with Callers
// goroutines (alternately DoContext and Do), and reports "joined" once they
// have all joined the process's flight. The work appends a line to
// ExecFile, reports "leading", and returns (a value, an error or a panic,
// as Mode says) once told "release". It reports each caller's outcome and
// its group's Stats (once told "stats") as JSON lines on stdout, then waits
// for "exit" (or the end of stdin): a fleet process that lives on, as a
// service does, so that its I/O thread has published its completion.
type workerConfig struct {
	URL       string `json:"url"`
	Group     string `json:"group"`
	Key       string `json:"key"`
	Mode      string `json:"mode"` // "value", "error" or "panic"
	Callers   int    `json:"callers"`
	Typed     bool   `json:"typed"`   // a KeyedGroup[string, string]
	CtxOnly   bool   `json:"ctxonly"` // every caller uses DoContext
	LeaseMs   int    `json:"lease_ms"`
	ExecFile  string `json:"exec_file"`
	Deadline  string `json:"deadline"`   // a time.Duration: the first caller's DoContext deadline
	ConnectMs int    `json:"connect_ms"` // FleetOptions.ConnectTimeout
	Rounds    int    `json:"rounds"`     // stampedes, each after "next" (0: one)
	QuitEarly bool   `json:"quit_early"` // Close the group and exit once the callers returned
}

// workerEvent is one line of a worker's report.
type workerEvent struct {
	Event  string `json:"event"` // ready, joined, leading, result, stats
	Pid    int    `json:"pid"`
	Token  uint64 `json:"token,omitempty"` // leading (DoContext's work)
	Caller int    `json:"caller,omitempty"`
	Val    string `json:"val,omitempty"`
	ValGo  string `json:"val_type,omitempty"` // the Go type of the value
	Err    string `json:"err,omitempty"`
	ErrIs  string `json:"err_is,omitempty"` // work, deadline, or "" (another error)
	Panic  string `json:"panic,omitempty"`
	Shared bool   `json:"shared,omitempty"`
	Stats  *Stats `json:"stats,omitempty"`
}

type workerOut struct {
	mu  sync.Mutex
	enc *json.Encoder
}

func (w *workerOut) emit(e workerEvent) {
	w.mu.Lock()
	defer w.mu.Unlock()
	e.Pid = os.Getpid()
	w.enc.Encode(e)
}

func fleetWorker(cfgText string) int {
	var cfg workerConfig
	if err := json.Unmarshal([]byte(cfgText), &cfg); err != nil {
		fmt.Fprintln(os.Stderr, "fleet worker: bad config:", err)
		return 2
	}
	out := &workerOut{enc: json.NewEncoder(os.Stdout)}
	opts := FleetOptions{URL: cfg.URL, Lease: time.Duration(cfg.LeaseMs) * time.Millisecond,
		ConnectTimeout: time.Duration(cfg.ConnectMs) * time.Millisecond}
	var g *Group
	var kg *KeyedGroup[string, string]
	var err error
	if cfg.Typed {
		kg, err = OpenFleetKeyed[string, string](cfg.Group, opts)
	} else {
		g, err = OpenFleet(cfg.Group, opts)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "fleet worker: OpenFleet:", err)
		return 2
	}
	start, release, exit := make(chan struct{}), make(chan struct{}), make(chan struct{})
	next, statsAsked := make(chan struct{}, 16), make(chan struct{}, 16)
	go func() {
		var startOnce, releaseOnce sync.Once
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			switch sc.Text() {
			case "go":
				startOnce.Do(func() { close(start) })
			case "release":
				releaseOnce.Do(func() { close(release) })
			case "next":
				next <- struct{}{}
			case "stats":
				statsAsked <- struct{}{}
			case "exit":
				close(exit)
				return
			}
		}
		// The end of stdin (the test ended): let everything go.
		releaseOnce.Do(func() { close(release) })
		close(next)
		close(statsAsked)
		close(exit)
	}()
	out.emit(workerEvent{Event: "ready"})
	<-start

	stats := func() Stats {
		if cfg.Typed {
			return kg.Stats()
		}
		return g.Stats()
	}
	work := func(ctx context.Context) (string, error) {
		f, err := os.OpenFile(cfg.ExecFile, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err == nil {
			fmt.Fprintf(f, "%d\n", os.Getpid())
			f.Close()
		}
		var token uint64
		if ctx != nil {
			token = FenceToken(ctx)
		}
		st := stats()
		out.emit(workerEvent{Event: "leading", Token: token, Stats: &st})
		<-release
		switch cfg.Mode {
		case "error":
			return "", fmt.Errorf("work failed in %d", os.Getpid())
		case "panic":
			panic(fmt.Sprintf("boom in %d", os.Getpid()))
		}
		return fmt.Sprintf("value from %d", os.Getpid()), nil
	}
	deadline, _ := time.ParseDuration(cfg.Deadline)
	var entered atomic.Int32
	rounds := max(cfg.Rounds, 1)
	for round := 0; round < rounds; round++ {
		if round > 0 {
			<-next
		}
		if cfg.QuitEarly {
			// A short-lived process: its callers returned, it closes the
			// group and exits at once.
			stampedeOnce(cfg, out, g, kg, work, deadline, stats, &entered, nil)
			if cfg.Typed {
				kg.Close()
			} else {
				g.Close()
			}
			return 0
		}
		stampedeOnce(cfg, out, g, kg, work, deadline, stats, &entered, statsAsked)
	}
	<-exit
	return 0
}

// stampedeOnce runs one stampede of the worker's callers and reports
// "joined", each caller's outcome, and the stats.
func stampedeOnce(cfg workerConfig, out *workerOut, g *Group, kg *KeyedGroup[string, string],
	work func(context.Context) (string, error), deadline time.Duration, stats func() Stats, entered *atomic.Int32,
	statsAsked <-chan struct{}) {
	entered.Store(0)
	followers := stats().Followers
	// "joined": every caller has entered and joined this process's flight
	// (the first holds it, the others follow it), so none can come late.
	var joined sync.WaitGroup
	joined.Add(1)
	go func() {
		defer joined.Done()
		for i := 0; entered.Load() < int32(cfg.Callers) || stats().Followers-followers < uint64(cfg.Callers-1); i++ {
			if i == 100000 {
				fmt.Fprintf(os.Stderr, "fleet worker: the callers never joined: %v\n", stats())
				os.Exit(3)
			}
			time.Sleep(time.Millisecond)
		}
		out.emit(workerEvent{Event: "joined"})
	}()
	var wg sync.WaitGroup
	for i := 0; i < cfg.Callers; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			e := workerEvent{Event: "result", Caller: i}
			defer func() {
				if r := recover(); r != nil {
					if v, _, ok := PanicValue(r); ok {
						if fe, ok := v.(*Error); ok && fe.Status == StatusPanic {
							// Another process's panic: its message, not its stack.
							msg, _, _ := strings.Cut(fe.Msg, "\n")
							e.Panic = "remote: " + msg
						} else {
							e.Panic = fmt.Sprint(v)
						}
					} else {
						e.Panic = fmt.Sprintf("unexpected panic value %T: %v", r, r)
					}
				}
				out.emit(e)
			}()
			var v any
			var err error
			ctx := context.Background()
			if i == 0 && deadline > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, deadline)
				defer cancel()
			}
			useCtx := cfg.CtxOnly || i%2 == 0
			entered.Add(1)
			switch {
			case cfg.Typed && useCtx:
				v, err, e.Shared = kg.DoContext(ctx, cfg.Key, work)
			case cfg.Typed:
				v, err, e.Shared = kg.Do(cfg.Key, func() (string, error) { return work(nil) })
			case useCtx:
				v, err, e.Shared = g.DoContext(ctx, cfg.Key, func(ctx context.Context) (any, error) { return work(ctx) })
			default:
				v, err, e.Shared = g.Do(cfg.Key, func() (any, error) { return work(nil) })
			}
			switch x := v.(type) {
			case string:
				e.Val, e.ValGo = x, "string"
			case []byte:
				e.Val, e.ValGo = string(x), "[]byte"
			}
			if err != nil {
				e.Err = err.Error()
				switch {
				case errors.Is(err, ErrWork):
					e.ErrIs = "work"
				case errors.Is(err, context.DeadlineExceeded):
					e.ErrIs = "deadline"
				}
			}
		}(i)
	}
	wg.Wait()
	joined.Wait() // "joined" comes before "stats"
	if statsAsked == nil {
		return
	}
	<-statsAsked
	st := stats()
	out.emit(workerEvent{Event: "stats", Stats: &st})
}
