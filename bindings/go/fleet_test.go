package singleflight

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// The fleet tests start their own redis-server (redis_test.go) and several
// processes of this test binary (fleetworker_test.go).

func TestMain(m *testing.M) {
	if cfg := os.Getenv("SF_FLEET_WORKER"); cfg != "" {
		os.Exit(fleetWorker(cfg))
	}
	code := m.Run()
	stopSharedRedis()
	os.Exit(code)
}

// worker is a running fleet worker process, seen from the test.
type worker struct {
	t      *testing.T
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	events chan workerEvent
	pid    int
	group  string
	killed bool
	// the "leading" event read while waiting for "joined"
	leadEvent workerEvent
	pending   []workerEvent // events read ahead, for next
}

func startWorker(t *testing.T, cfg workerConfig) *worker {
	t.Helper()
	text, _ := json.Marshal(cfg)
	w := &worker{t: t, group: cfg.Group, events: make(chan workerEvent, 4*cfg.Callers+16)}
	w.cmd = exec.Command(os.Args[0], "-test.run=^$")
	w.cmd.Env = append(os.Environ(), "SF_FLEET_WORKER="+string(text))
	w.cmd.Stderr = os.Stderr
	var err error
	if w.stdin, err = w.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := w.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := w.cmd.Start(); err != nil {
		t.Fatalf("starting a worker: %v", err)
	}
	w.pid = w.cmd.Process.Pid
	go func() {
		defer close(w.events)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var e workerEvent
			if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
				t.Errorf("worker %d: bad line %q: %v", w.pid, sc.Text(), err)
				continue
			}
			w.events <- e
		}
	}()
	t.Cleanup(func() {
		w.stdin.Close()
		if !w.killed {
			w.cmd.Wait()
		}
	})
	return w
}

func (w *worker) send(line string) {
	if _, err := io.WriteString(w.stdin, line+"\n"); err != nil && !w.killed {
		w.t.Errorf("worker %d: %v", w.pid, err)
	}
}

// next returns the worker's next event (it must have one).
func (w *worker) next() workerEvent {
	w.t.Helper()
	if len(w.pending) > 0 {
		e := w.pending[0]
		w.pending = w.pending[1:]
		return e
	}
	e, ok := <-w.events
	if !ok {
		err := w.cmd.Wait()
		w.killed = true // waited for
		w.t.Fatalf("worker %d ended early: %v (see its stderr above)", w.pid, err)
	}
	return e
}

func (w *worker) expect(event string) workerEvent {
	w.t.Helper()
	e := w.next()
	if e.Event != event {
		w.t.Fatalf("worker %d: got %+v, want a %q event", w.pid, e, event)
	}
	return e
}

// skip reads the events a and b, in either order, before the next result
// (a one-caller worker may report "joined" after its result: then it is
// left for results to skip).
func (w *worker) skip(a, b string) {
	w.t.Helper()
	for seen := 0; seen < 2; seen++ {
		e := w.next()
		if e.Event == "result" {
			w.pending = append(w.pending, e)
			return
		}
		if e.Event != a && e.Event != b {
			w.t.Fatalf("worker %d: got %+v, want %q or %q", w.pid, e, a, b)
		}
	}
}

func (w *worker) kill() {
	w.killed = true
	w.cmd.Process.Signal(syscall.SIGKILL)
	w.cmd.Wait()
}

// results collects the worker's callers' outcomes and then its stats.
func (w *worker) results(n int) ([]workerEvent, Stats) {
	w.t.Helper()
	var rs []workerEvent
	for len(rs) < n {
		e := w.next()
		if e.Event == "joined" {
			continue // a one-caller worker's, late
		}
		if e.Event != "result" {
			w.t.Fatalf("worker %d: got %+v (stats %v), want a result", w.pid, e, e.Stats)
		}
		rs = append(rs, e)
	}
	w.send("stats")
	st := w.next()
	if st.Event == "joined" {
		st = w.next()
	}
	if st.Event != "stats" {
		w.t.Fatalf("worker %d: got %+v, want its stats", w.pid, st)
	}
	return rs, *st.Stats
}

// fleetRun is a stampede of one key by several worker processes.
type fleetRun struct {
	t       *testing.T
	redis   *testRedis
	workers []*worker
	exec    string
}

func newFleetRun(t *testing.T, redis *testRedis, n int, cfg workerConfig) *fleetRun {
	r := &fleetRun{t: t, redis: redis, exec: filepath.Join(t.TempDir(), "executions")}
	cfg.URL = redis.url()
	cfg.ExecFile = r.exec
	if cfg.Group == "" {
		cfg.Group = uniqueName(t)
	}
	if cfg.Key == "" {
		cfg.Key = "hot key"
	}
	for i := 0; i < n; i++ {
		c := cfg
		c.Typed = cfg.Typed || (cfg.Mode == "value" && i%2 == 1) // mix both Go forms
		r.workers = append(r.workers, startWorker(t, c))
	}
	for _, w := range r.workers {
		w.expect("ready")
	}
	return r
}

// executions lists the pids that ran the work, one per run.
func (r *fleetRun) executions() []string {
	b, err := os.ReadFile(r.exec)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		r.t.Fatal(err)
	}
	return strings.Fields(string(b))
}

// leading waits for the one worker of ws that reports leading.
func (r *fleetRun) leading(ws []*worker) (*worker, workerEvent) {
	r.t.Helper()
	type lead struct {
		w *worker
		e workerEvent
	}
	ch := make(chan lead, len(ws))
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, w := range ws {
		wg.Add(1)
		go func(w *worker) {
			defer wg.Done()
			select {
			case e, ok := <-w.events:
				if ok {
					ch <- lead{w, e}
				}
			case <-stop:
			}
		}(w)
	}
	l := <-ch
	close(stop)
	wg.Wait()
	close(ch)
	for other := range ch {
		r.t.Fatalf("worker %d reported %+v while worker %d leads", other.w.pid, other.e, l.w.pid)
	}
	if l.e.Event != "leading" {
		r.t.Fatalf("worker %d: got %+v, want leading", l.w.pid, l.e)
	}
	return l.w, l.e
}

// allJoined waits until n processes have asked the server about the flight:
// each fleet process runs its join script (EVALSHA) on its command
// connection when its first caller arrives, and a waiter runs nothing else
// there, so once n connections show evalsha as their last command, every
// process is leading or waiting, and a completion now reaches them all.
func (r *fleetRun) allJoined(n int) {
	r.t.Helper()
	for i := 0; r.redis.clientsWithLastCommand(r.t, "evalsha") < n; i++ {
		if i == 100000 {
			r.t.Fatalf("only %d of %d processes asked the server", r.redis.clientsWithLastCommand(r.t, "evalsha"), n)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// eachResult reads every live worker's n results (and its stats) and checks
// each result.
func (r *fleetRun) eachResult(n int, check func(w *worker, e workerEvent)) {
	r.t.Helper()
	for _, w := range r.workers {
		if w.killed {
			continue
		}
		rs, _ := w.results(n)
		for _, e := range rs {
			check(w, e)
		}
	}
}

// close tells every worker to exit and waits for it: a worker that dies
// (a signal, a crash) fails the test.
func (r *fleetRun) close() {
	r.t.Helper()
	for _, w := range r.workers {
		if w.killed {
			continue
		}
		w.send("exit")
		err := w.cmd.Wait()
		w.killed = true // waited for
		if err != nil {
			r.t.Errorf("worker %d: %v", w.pid, err)
		}
	}
}

func (r *fleetRun) send(line string) {
	for _, w := range r.workers {
		if !w.killed {
			w.send(line)
		}
	}
}

// stampede starts every worker's callers, waits for one leader and for
// every process to have joined, and releases the work.
func (r *fleetRun) stampede() *worker {
	r.send("go")
	leader := r.joined(r.workers)
	if leader == nil {
		leader, _ = r.leading(r.workers)
	}
	r.allJoined(len(r.workers))
	r.send("release")
	return leader
}

// joined waits for every worker of ws to report that its callers joined,
// and returns the one that reported leading meanwhile, if any.
func (r *fleetRun) joined(ws []*worker) (leader *worker) {
	r.t.Helper()
	for _, w := range ws {
		e := w.next()
		if e.Event == "leading" {
			if leader != nil {
				r.t.Fatalf("workers %d and %d both lead", leader.pid, w.pid)
			}
			leader = w
			w.leadEvent = e
			e = w.next()
		}
		if e.Event != "joined" {
			r.t.Fatalf("worker %d: got %+v, want joined", w.pid, e)
		}
	}
	return leader
}

const fleetProcesses, fleetCallers = 4, 8

var fleetNames atomic.Int64

// uniqueName is a fleet group name of its own for each run of a test: a
// process keeps a fleet group's first options (its server) for good.
func uniqueName(t *testing.T) string {
	return fmt.Sprintf("%s-%d-%d", t.Name(), os.Getpid(), fleetNames.Add(1))
}

func TestFleetStampedeRunsOnce(t *testing.T) {
	redis := startRedis(t)
	r := newFleetRun(t, redis, fleetProcesses, workerConfig{Mode: "value", Callers: fleetCallers})
	leader := r.stampede()
	want := fmt.Sprintf("value from %d", leader.pid)
	var total Stats
	for _, w := range r.workers {
		rs, st := w.results(fleetCallers)
		for _, e := range rs {
			if e.Val != want || e.Err != "" || e.Panic != "" || !e.Shared {
				t.Errorf("worker %d caller %d: %+v, want %q, shared", w.pid, e.Caller, e, want)
			}
		}
		if w == leader && st.FleetLed != 1 {
			t.Errorf("leader %d: FleetLed %d, want 1 (%v)", w.pid, st.FleetLed, st)
		}
		if w != leader && st.FleetJoined != 1 {
			t.Errorf("worker %d: FleetJoined %d, want 1 (%v)", w.pid, st.FleetJoined, st)
		}
		total.FleetLed += st.FleetLed
		total.FleetJoined += st.FleetJoined
		total.FleetFallbacks += st.FleetFallbacks
	}
	if got := r.executions(); len(got) != 1 {
		t.Fatalf("the work ran %d times (%v), want once in the fleet", len(got), got)
	}
	if total.FleetLed != 1 || total.FleetJoined != fleetProcesses-1 || total.FleetFallbacks != 0 {
		t.Errorf("fleet counters summed over the processes: %+v", total)
	}
	r.close()
}

// failingStampede runs a stampede of fleetProcesses processes whose work
// fails (mode "error" or "panic"), hands every caller's result to check,
// with the process that led, and checks that the work ran once in the
// fleet. The run is closed on return.
func failingStampede(t *testing.T, redis *testRedis, mode string, check func(leader, w *worker, e workerEvent)) *fleetRun {
	t.Helper()
	r := newFleetRun(t, redis, fleetProcesses, workerConfig{Mode: mode, Callers: fleetCallers})
	leader := r.stampede()
	r.eachResult(fleetCallers, func(w *worker, e workerEvent) { check(leader, w, e) })
	if got := r.executions(); len(got) != 1 {
		t.Fatalf("the work ran %d times (%v), want once", len(got), got)
	}
	r.close()
	return r
}

func TestFleetRemoteErrorReachesEveryProcess(t *testing.T) {
	redis := startRedis(t)
	r := failingStampede(t, redis, "error", func(leader, w *worker, e workerEvent) {
		want := fmt.Sprintf("work failed in %d", leader.pid)
		if !strings.Contains(e.Err, want) || e.Val != "" || e.Panic != "" {
			t.Errorf("worker %d caller %d: %+v, want the error %q", w.pid, e.Caller, e, want)
		}
		if w != leader && e.ErrIs != "work" {
			t.Errorf("worker %d caller %d: %q does not match ErrWork", w.pid, e.Caller, e.Err)
		}
	})

	// The error poisoned nothing: the next stampede runs the work afresh.
	r2 := newFleetRun(t, redis, 2, workerConfig{Group: r.workers[0].group, Mode: "value", Callers: 2})
	leader2 := r2.stampede()
	r2.eachResult(2, func(w *worker, e workerEvent) {
		if e.Val != fmt.Sprintf("value from %d", leader2.pid) {
			t.Errorf("after the error, worker %d caller %d: %+v", w.pid, e.Caller, e)
		}
	})
	r2.close()
}

func TestFleetRemotePanicReachesEveryProcess(t *testing.T) {
	redis := startRedis(t)
	failingStampede(t, redis, "panic", func(leader, w *worker, e workerEvent) {
		want := fmt.Sprintf("boom in %d", leader.pid)
		if !strings.Contains(e.Panic, want) || e.Val != "" || e.Err != "" {
			t.Errorf("worker %d caller %d: %+v, want a panic with %q", w.pid, e.Caller, e, want)
		}
		// Another process's panic is an *Error matching ErrPanic (the
		// leader's own callers get its Go value, or, when they joined again
		// after it finished, the same *Error).
		if w != leader && !strings.HasPrefix(e.Panic, "remote: ") {
			t.Errorf("worker %d caller %d: panic %q (leader %d): want an *Error matching ErrPanic",
				w.pid, e.Caller, e.Panic, leader.pid)
		}
	})
}

func TestFleetWaiterDeadline(t *testing.T) {
	redis := startRedis(t)
	// One process leads and holds the work.
	r := newFleetRun(t, redis, 1, workerConfig{Mode: "value", Callers: 1, CtxOnly: true})
	r.send("go")
	leader := r.joined(r.workers)
	if leader == nil {
		leader, _ = r.leading(r.workers)
	}
	// Another waits with two callers, the first with a deadline.
	w := startWorker(t, workerConfig{URL: redis.url(), Group: r.workers[0].group, Key: "hot key", Mode: "value",
		Callers: 2, CtxOnly: true, ExecFile: r.exec, Deadline: "50ms"})
	w.expect("ready")
	w.send("go")
	r.joined([]*worker{w})
	e := w.expect("result")
	if e.Caller != 0 || e.ErrIs != "deadline" {
		t.Fatalf("the caller with a deadline got %+v, want context.DeadlineExceeded while the leader works", e)
	}
	// Its deadline ended its own wait only: the other caller gets the value.
	r.workers = append(r.workers, w)
	r.allJoined(2)
	r.send("release")
	want := fmt.Sprintf("value from %d", leader.pid)
	rs, st := w.results(1)
	if rs[0].Val != want || !rs[0].Shared {
		t.Errorf("the waiter without a deadline got %+v, want %q", rs[0], want)
	}
	if st.FleetJoined != 1 {
		t.Errorf("waiter's stats %+v: want FleetJoined 1", st)
	}
	if rs, _ := leader.results(1); rs[0].Val != want {
		t.Errorf("leader got %+v", rs[0])
	}
	if got := r.executions(); len(got) != 1 {
		t.Fatalf("the work ran %d times (%v), want once", len(got), got)
	}
	r.close()
}

func TestFleetLeaderKilledIsTakenOver(t *testing.T) {
	redis := startRedis(t)
	const lease = 500
	r := newFleetRun(t, redis, 3, workerConfig{Mode: "value", Callers: 4, CtxOnly: true, LeaseMs: lease})
	r.send("go")
	first := r.joined(r.workers)
	var lead1 workerEvent
	if first == nil {
		first, lead1 = r.leading(r.workers)
	} else {
		lead1 = first.leadEvent
	}
	r.allJoined(len(r.workers))
	if lead1.Token == 0 {
		t.Fatalf("the leader's FenceToken is 0 in a fleet flight")
	}
	first.kill()
	var rest []*worker
	for _, w := range r.workers {
		if w != first {
			rest = append(rest, w)
		}
	}
	// Its lease runs out; exactly one other process takes over.
	second, lead2 := r.leading(rest)
	if lead2.Token <= lead1.Token {
		t.Errorf("the new leader's token %d is not above the killed one's %d", lead2.Token, lead1.Token)
	}
	r.send("release")
	want := fmt.Sprintf("value from %d", second.pid)
	for _, w := range rest {
		rs, st := w.results(4)
		for _, e := range rs {
			if e.Val != want || e.Err != "" || e.Panic != "" {
				t.Errorf("worker %d caller %d: %+v, want %q", w.pid, e.Caller, e, want)
			}
		}
		if w == second && st.FleetTakenOver != 1 {
			t.Errorf("the new leader's FleetTakenOver is %d, want 1 (%+v)", st.FleetTakenOver, st)
		}
		if w != second && st.FleetJoined != 1 {
			t.Errorf("worker %d: FleetJoined %d, want 1 (%+v)", w.pid, st.FleetJoined, st)
		}
	}
	got := r.executions()
	if len(got) != 2 || got[0] != fmt.Sprint(first.pid) || got[1] != fmt.Sprint(second.pid) {
		t.Fatalf("executions %v, want the killed leader's (%d) then the new one's (%d)", got, first.pid, second.pid)
	}
	r.close()
}

func TestFleetUnreachableServerFallsBack(t *testing.T) {
	// A socket path with no server behind it.
	url := "unix://" + filepath.Join(t.TempDir(), "nobody.sock")
	g, err := OpenFleet(uniqueName(t), FleetOptions{URL: url, ConnectTimeout: 50 * time.Millisecond, Cooldown: time.Hour})
	if err != nil {
		t.Fatalf("an unreachable server is no error: %v", err)
	}
	defer g.Close()
	// The first call finds the server unreachable: the breaker opens and its
	// flight runs locally. The stampede after it runs on local flights from
	// its start, so the process dedups its own callers exactly. (Callers of a
	// held flight handed to a local leader at the moment the breaker opens
	// join again; one that joins only after that leader finished runs the
	// work again: the README's limits say so.)
	if v, err, _ := g.DoContext(context.Background(), "first", func(context.Context) (any, error) { return "first value", nil }); err != nil || v != "first value" {
		t.Fatalf("the first call: %v, %v; want its own value and no error", v, err)
	}
	const callers = 16
	var runs, returned sync.WaitGroup
	release := make(chan struct{})
	var execs int32
	var mu sync.Mutex
	returned.Add(callers)
	runs.Add(1)
	for i := 0; i < callers; i++ {
		go func(i int) {
			defer returned.Done()
			fn := func(ctx context.Context) (any, error) {
				mu.Lock()
				execs++
				if execs == 1 {
					runs.Done()
				}
				mu.Unlock()
				if FenceToken(ctx) != 0 {
					t.Errorf("a local flight's fencing token is %d, want 0", FenceToken(ctx))
				}
				<-release
				return "local value", nil
			}
			v, err, _ := g.DoContext(context.Background(), "k", fn)
			if err != nil || v != "local value" {
				t.Errorf("caller %d: %v, %v; want the local value and no error", i, v, err)
			}
		}(i)
	}
	runs.Wait()
	// Every caller has joined (the first waited for the server, then the
	// flight was handed to a local leader and they joined again).
	for i := 0; g.Stats().Followers < callers-1; i++ {
		if i == 100000 {
			t.Fatalf("the callers never settled on the local flight: %v", g.Stats())
		}
		time.Sleep(time.Millisecond)
	}
	close(release)
	returned.Wait()
	st := g.Stats()
	if execs != 1 {
		t.Errorf("the work ran %d times; the process still dedups its own callers", execs)
	}
	if st.FleetFallbacks == 0 || st.FleetLed != 0 || st.FleetJoined != 0 {
		t.Errorf("stats %+v: want FleetFallbacks counted, no fleet flight", st)
	}
}

func TestFleetOptionsErrors(t *testing.T) {
	for _, c := range []struct {
		opts FleetOptions
		want string
	}{
		{FleetOptions{URL: "http://example.com"}, "URL"},
		{FleetOptions{URL: "redis://host:99999"}, "URL"},
		{FleetOptions{URL: "redis://a\x00b"}, "NUL"},
		{FleetOptions{KeyPrefix: "a:b"}, "KeyPrefix"},
		{FleetOptions{KeyPrefix: "{x}"}, "KeyPrefix"},
		{FleetOptions{Lease: -time.Second}, "Lease is negative"},
		{FleetOptions{Linger: 50 * 24 * time.Hour}, "Linger is too long"},
		{FleetOptions{MaxValueBytes: -1}, "MaxValueBytes"},
	} {
		g, err := OpenFleet("options", c.opts)
		if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("OpenFleet(%+v) = %v, %v; want an ErrInvalid naming %q", c.opts, g, err, c.want)
		}
	}
	if _, err := OpenFleet("", FleetOptions{}); !errors.Is(err, ErrInvalid) {
		t.Errorf("an empty name: %v, want ErrInvalid", err)
	}
	if _, err := OpenFleetKeyed[string, string]("options", FleetOptions{Lease: -1}); !errors.Is(err, ErrInvalid) {
		t.Errorf("OpenFleetKeyed with a bad lease: %v, want ErrInvalid", err)
	}
	// Sub-millisecond durations round up rather than meaning "the default".
	if ms, err := millis("x", "Lease", time.Microsecond); err != nil || ms != 1 {
		t.Errorf("millis(1µs) = %d, %v; want 1", ms, err)
	}
}

func TestFleetFenceTokenOutsideFleetWork(t *testing.T) {
	if tok := FenceToken(context.Background()); tok != 0 {
		t.Errorf("FenceToken of a plain context = %d", tok)
	}
	var g Group
	g.DoContext(context.Background(), "k", func(ctx context.Context) (any, error) {
		if tok := FenceToken(ctx); tok != 0 {
			t.Errorf("FenceToken in a local group's work = %d", tok)
		}
		return nil, nil
	})
}

func TestFleetTokensGrowAcrossLeads(t *testing.T) {
	// A group of this process outlives its test: its server must too (see
	// sharedRedis).
	redis := sharedRedis(t)
	g, err := OpenFleet(uniqueName(t), FleetOptions{URL: redis.url()})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	var last uint64
	for i := 0; i < 3; i++ {
		var tok uint64
		v, err, _ := g.DoContext(context.Background(), "k", func(ctx context.Context) (any, error) {
			tok = FenceToken(ctx)
			return []byte("v"), nil
		})
		if err != nil || string(v.([]byte)) != "v" {
			t.Fatalf("call %d: %v, %v", i, v, err)
		}
		if tok <= last {
			t.Fatalf("call %d: token %d, the previous lead's %d: want a larger one (%v)", i, tok, last, g.Stats())
		}
		last = tok
		// The completion is published by the I/O thread after the call
		// returned; until then the lease is held, and a new caller would
		// wait for (and get) this outcome. Let it be published first.
		redis.waitNoLease(t)
	}
	if st := g.Stats(); st.FleetLed != 3 {
		t.Errorf("FleetLed %d after three sequential calls, want 3 (%+v)", st.FleetLed, st)
	}
}

// A worker whose server goes away while its group is open keeps working:
// its flights fall back to local ones, and the process survives (the
// engine's I/O thread must not die of SIGPIPE writing to the closed
// connection: in a Go program a SIGPIPE on a C thread ends the process).
func TestFleetServerGoneProcessSurvives(t *testing.T) {
	redis := startRedis(t)
	exec := filepath.Join(t.TempDir(), "executions")
	w := startWorker(t, workerConfig{URL: redis.url(), Group: uniqueName(t), Key: "k", Mode: "value",
		Callers: 1, ExecFile: exec, Rounds: 2, ConnectMs: 100})
	w.expect("ready")
	w.send("go")
	w.send("release")
	w.skip("joined", "leading")
	if rs, _ := w.results(1); rs[0].Val != fmt.Sprintf("value from %d", w.pid) {
		t.Fatalf("round 1: %+v", rs[0])
	}
	redis.cmd.Process.Kill()
	redis.cmd.Wait()
	w.send("next")
	w.skip("joined", "leading")
	rs, st := w.results(1)
	if rs[0].Val != fmt.Sprintf("value from %d", w.pid) || rs[0].Err != "" {
		t.Fatalf("round 2, the server gone: %+v, want the local value", rs[0])
	}
	if st.FleetFallbacks == 0 {
		t.Errorf("round 2 did not fall back: %v", st)
	}
	w.send("exit")
	if err := w.cmd.Wait(); err != nil {
		t.Fatalf("the worker died once its server was gone: %v", err)
	}
	w.killed = true // waited for
}

// A short-lived process leads a flight, closes its group and exits as soon
// as its callers returned: Close lets the engine publish the completion
// first, so the process waiting on it gets the value (it does not wait for
// the lease to run out and run the work again).
func TestFleetCloseThenExitPublishes(t *testing.T) {
	redis := startRedis(t)
	exec := filepath.Join(t.TempDir(), "executions")
	group := uniqueName(t)
	cfg := workerConfig{URL: redis.url(), Group: group, Key: "k", Mode: "value", Callers: 2,
		CtxOnly: true, ExecFile: exec, LeaseMs: 3000}
	lcfg := cfg
	lcfg.QuitEarly = true
	leader := startWorker(t, lcfg)
	leader.expect("ready")
	leader.send("go")
	leader.skip("joined", "leading")
	waiter := startWorker(t, cfg)
	waiter.expect("ready")
	waiter.send("go")
	waiter.expect("joined")
	r := &fleetRun{t: t, redis: redis, workers: []*worker{leader, waiter}, exec: exec}
	r.allJoined(2)
	leader.send("release")
	if err := leader.cmd.Wait(); err != nil {
		t.Fatalf("the leader: %v", err)
	}
	leader.killed = true   // waited for
	waiter.send("release") // in case it has to run the work itself
	rs, st := waiter.results(2)
	want := fmt.Sprintf("value from %d", leader.pid)
	for _, e := range rs {
		if e.Val != want {
			t.Errorf("the waiter got %+v, want %q from the leader that exited", e, want)
		}
	}
	if got := r.executions(); len(got) != 1 || st.FleetTakenOver != 0 {
		t.Errorf("executions %v, waiter's stats %v: the exited leader's completion was not published", got, st)
	}
	r.close()
}
