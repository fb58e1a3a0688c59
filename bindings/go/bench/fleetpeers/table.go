package main

import (
	"fmt"
	"io"
	"sort"
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
	// PerCommand: the median stampede's calls per command.
	PerCommand map[string]int64 `json:"per_command"`
}

func summarize(name string, p int, ss []stampede) row {
	r := row{Contender: name, Procs: p, Stampedes: len(ss)}
	var ex, cmds, lat []float64
	for _, s := range ss {
		ex = append(ex, float64(s.executions))
		cmds = append(cmds, float64(s.commands))
		lat = append(lat, float64(s.lastWaiter)/float64(time.Millisecond))
		r.ExecutionsMax = max(r.ExecutionsMax, s.executions)
		r.Fallbacks += s.fallbacks
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

func printTable(w io.Writer, rows []row, reps int) {
	fmt.Fprintf(w, "Median of %d stampedes per cell; work %v; waiters of setnx poll every %v.\n\n", reps, workTime, pollEvery)
	fmt.Fprintln(w, "| P | contender | executions (median · max) | last waiter after the work ends, p50 · p99 | Redis commands per stampede |")
	fmt.Fprintln(w, "|---|---|---|---|---|")
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
	fmt.Fprintln(w, "Commands of the median stampede:")
	for _, r := range rows {
		names := make([]string, 0, len(r.PerCommand))
		for n := range r.PerCommand {
			names = append(names, n)
		}
		sort.Strings(names)
		fmt.Fprintf(w, "- P=%d %s:", r.Procs, r.Contender)
		for _, n := range names {
			fmt.Fprintf(w, " %s %d", n, r.PerCommand[n])
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Targets (fleet against the best peer):")
	for _, p := range ps {
		var fleet *row
		var peers []row
		for i, r := range byP[p] {
			if r.Contender == "fleet" {
				fleet = &byP[p][i]
			} else {
				peers = append(peers, r)
			}
		}
		if fleet == nil || len(peers) == 0 {
			continue
		}
		if fleet.Fallbacks != 0 {
			fmt.Fprintf(w, "- P=%d: WARNING: %d fleet flights ran locally (Redis not reached)\n", p, fleet.Fallbacks)
		}
		fmt.Fprintf(w, "- P=%d executions: target 1 in every stampede; fleet %s (max %d)\n", p,
			verdict(fleet.ExecutionsMax == 1), fleet.ExecutionsMax)
		for _, pr := range peers {
			if pr.Contender == "setnx" {
				limit := pr.LastWaiterP50 / 10
				fmt.Fprintf(w, "- P=%d waiter latency: target p50 <= %.2f ms (1/10 of setnx's %.2f ms); fleet %.2f ms: %s (%.1fx faster)\n",
					p, limit, pr.LastWaiterP50, fleet.LastWaiterP50, verdict(fleet.LastWaiterP50 <= limit), pr.LastWaiterP50/fleet.LastWaiterP50)
			}
		}
		if p == 32 || p == ps[len(ps)-1] {
			best := peers[0]
			for _, pr := range peers[1:] {
				if pr.Commands < best.Commands {
					best = pr
				}
			}
			limit := best.Commands / 2
			fmt.Fprintf(w, "- P=%d commands: target <= %g (half of %s's %g); fleet %g: %s\n",
				p, limit, best.Contender, best.Commands, fleet.Commands, verdict(fleet.Commands <= limit))
		}
	}
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}
