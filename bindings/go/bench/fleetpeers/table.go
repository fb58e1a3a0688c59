package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"sort"
	"strings"
	"time"
)

// row is one contender at one P: medians over the stampedes, and the
// p50/p99 of the last waiter's latency over them.
type row struct {
	Contender     string  `json:"contender"`
	Procs         int     `json:"procs"`
	Stampedes     int     `json:"stampedes"`
	Executions    float64 `json:"executions_median"`
	ExecutionsMax int     `json:"executions_max"`
	LastWaiterP50 float64 `json:"last_waiter_p50_ms"`
	LastWaiterP99 float64 `json:"last_waiter_p99_ms"`
	Commands      float64 `json:"commands_median"`
	Fallbacks     uint64  `json:"fleet_fallbacks"`
	// LateMax: the largest delay of a caller past its arrival time.
	LateMax float64 `json:"arrival_late_max_ms"`
	// PerCommand: the median stampede's calls per command.
	PerCommand map[string]int64 `json:"per_command"`
}

func summarize(name string, p int, ss []stampede) row {
	r := row{Contender: name, Procs: p, Stampedes: len(ss)}
	var ex, cmds, lat []float64
	for _, s := range ss {
		ex = append(ex, float64(s.executions))
		cmds = append(cmds, float64(s.commands))
		if s.waited {
			lat = append(lat, float64(s.lastWaiter)/float64(time.Millisecond))
		}
		r.ExecutionsMax = max(r.ExecutionsMax, s.executions)
		r.Fallbacks += s.fallbacks
		r.LateMax = max(r.LateMax, float64(s.late)/float64(time.Millisecond))
	}
	r.Executions = quantile(ex, 0.5)
	r.Commands = quantile(cmds, 0.5)
	bycmds := append([]stampede(nil), ss...)
	sort.Slice(bycmds, func(i, j int) bool { return bycmds[i].commands < bycmds[j].commands })
	r.PerCommand = bycmds[len(bycmds)/2].perCommand
	r.LastWaiterP50 = quantile(lat, 0.5)
	r.LastWaiterP99 = quantile(lat, 0.99)
	return r
}

// quantile of xs (linear between the closest ranks).
func quantile(xs []float64, q float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s) == 0 {
		return 0
	}
	pos := q * float64(len(s)-1)
	i := int(pos)
	if i+1 >= len(s) {
		return s[len(s)-1]
	}
	return s[i] + (pos-float64(i))*(s[i+1]-s[i])
}

// lateWarning: a caller that starts later than this past its arrival time
// is named in the report, as the stampede was not the one drawn.
const lateWarning = 1.0 // ms

// printReport writes the Markdown of a run: what ran, the command, the
// table, the targets and the commands of the median stampedes.
func printReport(w io.Writer, rows []row, reps int, seed uint64, command, serverVersion string) {
	fmt.Fprintf(w, "P processes (one caller each) stampede one key; work %v + U[0, %v); the leader arrives at 0, "+
		"the others at U[0, %v); seed %d; %d stampedes per contender and P, "+
		"the contenders alternated; %s, redis-server %s, rueidis %s; %d CPUs. Command:\n\n",
		workBase, workJitter, arrivalSpan, seed, reps, runtime.Version(), serverVersion, rueidisVersion(), runtime.NumCPU())
	fmt.Fprintf(w, "```sh\n%s\n```\n\n", command)
	fmt.Fprintln(w, "| P | contender | executions (median · max) | leader's end → last waiter, p50 · p99 | Redis commands per stampede |")
	fmt.Fprintln(w, "|---:|---|---:|---:|---:|")
	byP := map[int][]row{}
	var ps []int
	for _, r := range rows {
		if byP[r.Procs] == nil {
			ps = append(ps, r.Procs)
		}
		byP[r.Procs] = append(byP[r.Procs], r)
	}
	for _, r := range rows {
		fmt.Fprintf(w, "| %d | %s | %g · %d | %.2f ms · %.2f ms | %g |\n", r.Procs, r.Contender,
			r.Executions, r.ExecutionsMax, r.LastWaiterP50, r.LastWaiterP99, r.Commands)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Targets (fleet):")
	fmt.Fprintln(w)
	for _, p := range ps {
		var fleet *row
		var poll, best *row // the polling peer with the lowest p50, the peer with the fewest commands
		for i := range byP[p] {
			r := &byP[p][i]
			switch {
			case r.Contender == "fleet":
				fleet = r
			case notPeers[r.Contender]:
			default:
				if polling[r.Contender] && (poll == nil || r.LastWaiterP50 < poll.LastWaiterP50) {
					poll = r
				}
				if best == nil || r.Commands < best.Commands {
					best = r
				}
			}
		}
		if fleet == nil || poll == nil || best == nil {
			continue
		}
		var late []string
		for _, r := range byP[p] {
			if r.LateMax > lateWarning {
				late = append(late, fmt.Sprintf("%.2f ms (%s)", r.LateMax, r.Contender))
			}
		}
		if len(late) > 0 {
			fmt.Fprintf(w, "- P=%d: WARNING: callers started up to %s past their arrival time (a busy machine)\n",
				p, strings.Join(late, ", "))
		}
		if fleet.Fallbacks != 0 {
			fmt.Fprintf(w, "- P=%d: WARNING: %d fleet flights ran locally (Redis not reached)\n", p, fleet.Fallbacks)
		}
		fmt.Fprintf(w, "- P=%d: executions max %d (target 1): %s; waiter p50 %.2f ms against the best polling peer's (%s) "+
			"%.2f ms, %.1fx lower (target 10x): %s; commands %g against the best peer's (%s) %g, %.2fx fewer",
			p, fleet.ExecutionsMax, verdict(fleet.ExecutionsMax == 1), fleet.LastWaiterP50, poll.Contender,
			poll.LastWaiterP50, poll.LastWaiterP50/fleet.LastWaiterP50, verdict(fleet.LastWaiterP50*10 <= poll.LastWaiterP50),
			fleet.Commands, best.Contender, best.Commands, best.Commands/fleet.Commands)
		if p == 32 {
			fmt.Fprintf(w, " (target 2x): %s", verdict(fleet.Commands*2 <= best.Commands))
		}
		for _, r := range byP[p] {
			if r.Contender != "fleet" && r.Contender != best.Contender && !notPeers[r.Contender] {
				fmt.Fprintf(w, "; %.2fx fewer than %s's %g", r.Commands/fleet.Commands, r.Contender, r.Commands)
			}
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Redis commands of the median stampede:")
	fmt.Fprintln(w)
	for _, r := range rows {
		names := make([]string, 0, len(r.PerCommand))
		for n := range r.PerCommand {
			names = append(names, n)
		}
		sort.Strings(names)
		parts := make([]string, len(names))
		for i, n := range names {
			parts[i] = fmt.Sprintf("%s %d", n, r.PerCommand[n])
		}
		fmt.Fprintf(w, "- P=%d %s: %s\n", r.Procs, r.Contender, strings.Join(parts, ", "))
	}
}

// rueidisVersion is the version of rueidis this program was built with.
func rueidisVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, m := range bi.Deps {
			if m.Path == "github.com/redis/rueidis" {
				return m.Version
			}
		}
	}
	return "(unknown)"
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}
