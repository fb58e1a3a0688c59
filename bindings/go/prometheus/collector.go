//go:build cgo

// Package prometheus exports singleflight groups to Prometheus under the
// names every binding uses (docs/metrics.md): a prometheus.Collector of the
// engine's counters and of the two latency histograms, one series per
// group, labelled group="<label>".
//
//	c, err := sfprom.NewCollector(map[string]singleflight.Observable{"users": g})
//	prometheus.MustRegister(c)
//
// It is a module of its own, so that the main singleflight module does not
// depend on client_golang.
package prometheus

import (
	"fmt"
	"sort"

	"github.com/prometheus/client_golang/prometheus"
	singleflight "github.com/singleflight/singleflight/bindings/go"
)

// Collector collects the metrics of a fixed set of groups.
type Collector struct {
	labels  []string // sorted
	groups  map[string]singleflight.Observable
	metrics []singleflight.Metric
	descs   []*prometheus.Desc
	wait    *prometheus.Desc
	work    *prometheus.Desc
}

var _ prometheus.Collector = (*Collector)(nil)

// NewCollector returns a collector of the groups, each labelled with its
// key, and turns latency recording on for each (RecordLatency). It fails if
// groups is empty, a label is empty, or recording cannot be turned on (a
// closed group).
func NewCollector(groups map[string]singleflight.Observable) (*Collector, error) {
	if len(groups) == 0 {
		return nil, fmt.Errorf("singleflight/prometheus: no group to collect")
	}
	c := &Collector{groups: make(map[string]singleflight.Observable, len(groups)), metrics: singleflight.Metrics()}
	for label, g := range groups {
		if label == "" {
			return nil, fmt.Errorf("singleflight/prometheus: a group with an empty label")
		}
		if g == nil {
			return nil, fmt.Errorf("singleflight/prometheus: group %q is nil", label)
		}
		if err := g.RecordLatency(true); err != nil {
			return nil, fmt.Errorf("singleflight/prometheus: group %q: %w", label, err)
		}
		c.groups[label] = g
		c.labels = append(c.labels, label)
	}
	sort.Strings(c.labels)
	for _, m := range c.metrics {
		c.descs = append(c.descs, prometheus.NewDesc(m.Name, m.Help, []string{"group"}, nil))
	}
	c.wait = prometheus.NewDesc(singleflight.WaitSecondsName, singleflight.WaitSecondsHelp, []string{"group"}, nil)
	c.work = prometheus.NewDesc(singleflight.WorkSecondsName, singleflight.WorkSecondsHelp, []string{"group"}, nil)
	return c, nil
}

// Describe sends the descriptors of every metric.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
	ch <- c.wait
	ch <- c.work
}

// Collect reads every group's counters and histograms now.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	for _, label := range c.labels {
		g := c.groups[label]
		s := g.Stats()
		for i, m := range c.metrics {
			t := prometheus.CounterValue
			if m.Gauge {
				t = prometheus.GaugeValue
			}
			ch <- prometheus.MustNewConstMetric(c.descs[i], t, float64(m.Value(s)), label)
		}
		l := g.Latency()
		ch <- histogram(c.wait, l.Wait, label)
		ch <- histogram(c.work, l.Work, label)
	}
}

func histogram(d *prometheus.Desc, h singleflight.Histogram, label string) prometheus.Metric {
	bounds, counts := h.Cumulative()
	buckets := make(map[float64]uint64, len(bounds))
	for i, b := range bounds {
		buckets[b] = counts[i]
	}
	return prometheus.MustNewConstHistogram(d, h.Count, h.Sum.Seconds(), buckets, label)
}
