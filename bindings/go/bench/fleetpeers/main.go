// Command fleetpeers measures a stampede of P processes on one hot key, on
// loopback, against a private redis-server it starts: this binding's fleet
// group (OpenFleet), a SET NX PX lock with waiters polling every 10 ms and
// every 100 ms (the recipe written by hand), rueidislock, and a floor (a
// lock whose waiters one PUBLISH of the value wakes: no lease, no
// takeover, no fencing; no target is measured against it). The
// contenders take turns, one stampede each, in one run. It prints a Markdown
// table with the targets beside the figures and writes the figures as JSON
// (-json) for plot.py.
//
// The arrival model: in a stampede the first process (the leader) arrives
// at its start, each of the P-1 others at an offset drawn uniformly from
// [0, 20) ms after it, and the work lasts 50 ms plus a jitter drawn
// uniformly from [0, 10) ms. So the work's end is not in phase with the
// waiters' polls, and the waiters arrive while the work runs. The draws
// come from a PCG generator seeded with -seed and the stampede's index (P
// and the round): the work length first, then the offsets of processes 1
// to P-1 in order. Every contender of a round gets the same draws, so the
// contenders meet the same stampedes. A caller that starts more than 1 ms
// past its arrival time is named in the report (a busy machine).
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/redis/rueidis"
)

func main() {
	if addr := os.Getenv(workerEnv); addr != "" {
		if err := runWorker(addr); err != nil {
			fmt.Fprintln(os.Stderr, "fleetpeers worker:", err)
			os.Exit(1)
		}
		return
	}
	procs := flag.String("p", "2,8,32", "comma-separated numbers of processes")
	reps := flag.Int("reps", 21, "stampedes per contender and P (the figures are their median)")
	jsonOut := flag.String("json", "", "also write the figures to this JSON file")
	mdOut := flag.String("markdown", "", "also write the report (Markdown) to this file")
	command := flag.String("command", "", "the command the report names (default: this one)")
	seed := flag.Uint64("seed", 1, "the seed of the work lengths and arrival offsets")
	flag.Parse()
	if *command == "" {
		*command = strings.Join(os.Args, " ")
	}
	if err := run(*procs, *reps, *seed, *jsonOut, *mdOut, *command); err != nil {
		fmt.Fprintln(os.Stderr, "fleetpeers:", err)
		os.Exit(1)
	}
}

// settle is how long the driver waits after the last caller returned
// before it reads the command count: the fleet engine publishes a
// completion and rueidislock releases its keys in the background.
const settle = 100 * time.Millisecond

// The arrival model (see the package comment).
const (
	workBase    = 50 * time.Millisecond // the work's length, before its jitter
	workJitter  = 10 * time.Millisecond // the jitter's range: [0, workJitter)
	arrivalSpan = 20 * time.Millisecond // the offsets' range: [0, arrivalSpan)
	// startLead is how far ahead of its start the driver sends a stampede
	// to the workers, so that each can be waiting for its arrival time.
	startLead = 10 * time.Millisecond
)

// plan is a stampede's draws: the work's length and each process's
// arrival offset from the stampede's start (the leader's, 0, first).
type plan struct {
	work    time.Duration
	offsets []time.Duration
}

// drawPlan makes the plan of the stampede of round r (warm-ups included,
// from 0) with p processes. It depends on nothing else, so every
// contender of the round gets the same one.
func drawPlan(seed uint64, p, r int) plan {
	g := rand.New(rand.NewPCG(seed, uint64(p)<<32|uint64(r)))
	pl := plan{work: workBase + time.Duration(g.Int64N(int64(workJitter))), offsets: make([]time.Duration, p)}
	for i := 1; i < p; i++ {
		pl.offsets[i] = time.Duration(g.Int64N(int64(arrivalSpan)))
	}
	return pl
}

func run(procList string, reps int, seed uint64, jsonOut, mdOut, command string) error {
	var ps []int
	for _, f := range strings.Split(procList, ",") {
		p, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || p < 1 {
			return fmt.Errorf("bad -p entry %q", f)
		}
		ps = append(ps, p)
	}
	if reps < 1 {
		return fmt.Errorf("-reps must be at least 1")
	}
	srv, err := startRedis()
	if err != nil {
		return err
	}
	defer srv.stop()
	admin, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{srv.addr}, DisableCache: true})
	if err != nil {
		return err
	}
	defer admin.Close()

	var rows []row
	for _, p := range ps {
		ws, err := startWorkers(p, srv.addr)
		if err != nil {
			return err
		}
		samples := map[string][]stampede{}
		// Two warm-up stampedes per contender (connections, scripts), then
		// reps each, the contenders taking turns, each round starting with
		// the next one.
		for r := -2; r < reps; r++ {
			n := len(contenderNames)
			pl := drawPlan(seed, p, r+2)
			for i := range contenderNames {
				name := contenderNames[(i+r+n*2)%n]
				key := fmt.Sprintf("%s-p%d-r%d", name, p, r+2) // fresh: nothing stored yet
				s, err := runStampede(admin, ws, name, key, pl)
				if err != nil {
					stopWorkers(ws)
					return fmt.Errorf("P=%d %s: %w", p, name, err)
				}
				if r >= 0 {
					samples[name] = append(samples[name], s)
				}
			}
		}
		stopWorkers(ws)
		for _, name := range contenderNames {
			rows = append(rows, summarize(name, p, samples[name]))
		}
	}
	version, err := serverVersion(context.Background(), admin)
	if err != nil {
		return err
	}
	var md strings.Builder
	printReport(&md, rows, reps, seed, command, version)
	fmt.Print(md.String())
	if mdOut != "" {
		if err := os.WriteFile(mdOut, []byte(md.String()), 0o644); err != nil {
			return err
		}
	}
	if jsonOut != "" {
		b, err := json.MarshalIndent(rows, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(jsonOut, append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	return nil
}

type worker struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Scanner
}

func startWorkers(p int, addr string) ([]*worker, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	var ws []*worker
	for i := 0; i < p; i++ {
		cmd := exec.Command(self)
		cmd.Env = append(os.Environ(), workerEnv+"="+addr)
		cmd.Stderr = os.Stderr
		in, err := cmd.StdinPipe()
		if err != nil {
			stopWorkers(ws)
			return nil, err
		}
		out, err := cmd.StdoutPipe()
		if err != nil {
			stopWorkers(ws)
			return nil, err
		}
		if err := cmd.Start(); err != nil {
			stopWorkers(ws)
			return nil, err
		}
		ws = append(ws, &worker{cmd: cmd, in: in, out: bufio.NewScanner(out)})
	}
	return ws, nil
}

func stopWorkers(ws []*worker) {
	for _, w := range ws {
		w.in.Close() // the worker returns at the end of its input
	}
	for _, w := range ws {
		w.cmd.Wait()
	}
}

// stampede is what one stampede measured.
type stampede struct {
	executions int
	lastWaiter time.Duration // from the first execution's end to the last waiter's return
	waited     bool          // some caller waited (lastWaiter is a measure)
	commands   int64
	fallbacks  uint64        // fleet flights that ran locally (must be 0)
	late       time.Duration // the latest caller's delay past its arrival time
	perCommand map[string]int64
}

// runStampede sends worker i "<contender> <key> <arrivalNs> <workNs>": it
// calls at the stampede's start plus pl.offsets[i], with work of length
// pl.work.
func runStampede(admin rueidis.Client, ws []*worker, name, key string, pl plan) (stampede, error) {
	ctx := context.Background()
	before, err := commandCounts(ctx, admin)
	if err != nil {
		return stampede{}, err
	}
	start := time.Now().Add(startLead).UnixNano()
	for i, w := range ws {
		req := fmt.Sprintf("%s %s %d %d\n", name, key, start+int64(pl.offsets[i]), int64(pl.work))
		if _, err := io.WriteString(w.in, req); err != nil {
			return stampede{}, err
		}
	}
	var s stampede
	var firstEnd, lastReturn int64 // lastReturn: of the callers that did not run the work
	for _, w := range ws {
		if !w.out.Scan() {
			return stampede{}, fmt.Errorf("a worker ended: %v", w.out.Err())
		}
		f := strings.Fields(w.out.Text())
		if len(f) != 6 || f[0] != "ok" {
			return stampede{}, fmt.Errorf("worker: %s", w.out.Text())
		}
		ran, _ := strconv.Atoi(f[1])
		end, _ := strconv.ParseInt(f[2], 10, 64)
		ret, _ := strconv.ParseInt(f[3], 10, 64)
		fb, _ := strconv.ParseUint(f[4], 10, 64)
		late, _ := strconv.ParseInt(f[5], 10, 64)
		s.executions += ran
		s.fallbacks += fb
		s.late = max(s.late, time.Duration(late))
		if ran > 0 && (firstEnd == 0 || end < firstEnd) {
			firstEnd = end
		}
		if ran == 0 && ret > lastReturn {
			lastReturn = ret
		}
	}
	if s.executions == 0 {
		return stampede{}, fmt.Errorf("nobody ran the work")
	}
	if lastReturn != 0 { // (every caller ran the work: no waiter, no latency)
		s.lastWaiter, s.waited = time.Duration(lastReturn-firstEnd), true
	}
	time.Sleep(settle)
	after, err := commandCounts(ctx, admin)
	if err != nil {
		return stampede{}, err
	}
	s.commands, s.perCommand = commandsBetween(before, after)
	return s, nil
}
