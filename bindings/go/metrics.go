//go:build cgo

package singleflight

import (
	"expvar"
	"fmt"
	"strconv"
)

// Metric is one of the counters every binding exports under the same name
// (docs/metrics.md): its name, its help text, whether it is a gauge, and
// how to read it from Stats.
type Metric struct {
	Name  string
	Help  string
	Gauge bool
	Value func(Stats) uint64
}

// The names of the two latency histograms, in seconds (docs/metrics.md).
const (
	WaitSecondsName = "singleflight_wait_seconds"
	WorkSecondsName = "singleflight_work_seconds"
	WaitSecondsHelp = "How long followers waited for a flight's outcome, from their call to the outcome."
	WorkSecondsHelp = "How long the work of the flights this process led ran, from the leader's call to its end."
)

// Metrics lists the counters of docs/metrics.md, in its order.
func Metrics() []Metric {
	return []Metric{
		{"singleflight_flights_total", "Flights started (one per leader: the work ran).", false, func(s Stats) uint64 { return s.Flights }},
		{"singleflight_followers_total", "Callers that joined a flight already running.", false, func(s Stats) uint64 { return s.Followers }},
		{"singleflight_forgets_total", "Flights forgotten while running.", false, func(s Stats) uint64 { return s.Forgets }},
		{"singleflight_panics_total", "Flights whose work panicked.", false, func(s Stats) uint64 { return s.Panics }},
		{"singleflight_timeouts_total", "Callers that gave up at their deadline.", false, func(s Stats) uint64 { return s.Timeouts }},
		{"singleflight_cancellations_total", "Callers that were cancelled.", false, func(s Stats) uint64 { return s.Cancellations }},
		{"singleflight_handoffs_total", "Flights whose leader left without an outcome.", false, func(s Stats) uint64 { return s.Handoffs }},
		{"singleflight_abandoned_total", "Times a running flight was left by every caller.", false, func(s Stats) uint64 { return s.Abandoned }},
		{"singleflight_in_table", "Flights a new caller would join right now.", true, func(s Stats) uint64 { return s.InTable }},
		{"singleflight_live", "Flights still held by a caller (above 0 when idle: a leaked ticket).", true, func(s Stats) uint64 { return s.Live }},
		{"singleflight_fleet_led_total", "Fleet flights this process led.", false, func(s Stats) uint64 { return s.FleetLed }},
		{"singleflight_fleet_joined_total", "Fleet flights that ended with another process's outcome.", false, func(s Stats) uint64 { return s.FleetJoined }},
		{"singleflight_fleet_taken_over_total", "Leads won from a leader whose lease had run out.", false, func(s Stats) uint64 { return s.FleetTakenOver }},
		{"singleflight_fleet_fenced_total", "Completions the server refused: the lease was lost.", false, func(s Stats) uint64 { return s.FleetFenced }},
		{"singleflight_fleet_leases_lost_total", "Lease renewals refused.", false, func(s Stats) uint64 { return s.FleetLeasesLost }},
		{"singleflight_fleet_fallbacks_total", "Flights run locally because the server was unreachable, slow or failing.", false, func(s Stats) uint64 { return s.FleetFallbacks }},
		{"singleflight_fleet_too_large_total", "Values over the fleet's max value size.", false, func(s Stats) uint64 { return s.FleetTooLarge }},
		{"singleflight_fleet_reconnects_total", "Connections to the server made again after a loss.", false, func(s Stats) uint64 { return s.FleetReconnects }},
	}
}

// Cumulative returns h in the form Prometheus histograms take: the upper
// bounds in seconds of every bucket but the last (whose bound is +Inf),
// and the count of samples at or below each bound.
func (h Histogram) Cumulative() (bounds []float64, counts []uint64) {
	bounds = make([]float64, LatencyBuckets-1)
	counts = make([]uint64, LatencyBuckets-1)
	var n uint64
	for i := range bounds {
		n += h.Buckets[i]
		bounds[i] = LatencyBound(i).Seconds()
		counts[i] = n
	}
	return bounds, counts
}

// Expvar returns an expvar.Var of the groups' metrics under the names of
// docs/metrics.md, each a map from the group's label (the key of groups) to
// its value; the histograms are objects {"count", "sum" (seconds),
// "buckets": {le: cumulative count, ..., "+Inf": count}}. It turns latency
// recording on for every group (RecordLatency) and fails if that fails.
//
//	v, err := singleflight.Expvar(map[string]singleflight.Observable{"users": g})
//	expvar.Publish("singleflight", v)
func Expvar(groups map[string]Observable) (expvar.Func, error) {
	for label, g := range groups {
		if err := g.RecordLatency(true); err != nil {
			return nil, fmt.Errorf("singleflight: group %q: %w", label, err)
		}
	}
	metrics := Metrics()
	return expvar.Func(func() any {
		out := make(map[string]any, len(metrics)+2)
		waits, works := map[string]any{}, map[string]any{}
		for _, m := range metrics {
			out[m.Name] = map[string]uint64{}
		}
		for label, g := range groups {
			s := g.Stats()
			for _, m := range metrics {
				out[m.Name].(map[string]uint64)[label] = m.Value(s)
			}
			l := g.Latency()
			waits[label] = expvarHistogram(l.Wait)
			works[label] = expvarHistogram(l.Work)
		}
		out[WaitSecondsName] = waits
		out[WorkSecondsName] = works
		return out
	}), nil
}

func expvarHistogram(h Histogram) map[string]any {
	bounds, counts := h.Cumulative()
	buckets := make(map[string]uint64, len(bounds)+1)
	for i, b := range bounds {
		buckets[strconv.FormatFloat(b, 'g', -1, 64)] = counts[i]
	}
	buckets["+Inf"] = h.Count
	return map[string]any{"count": h.Count, "sum": h.Sum.Seconds(), "buckets": buckets}
}
