"""A ``prometheus_client`` collector of singleflight groups, under the names
every binding uses (docs/metrics.md): the engine's counters and the two
latency histograms, one series per group, labelled ``group="<label>"``.

Needs the ``prometheus`` extra (``pip install singleflight-engine[prometheus]``)::

    from prometheus_client import REGISTRY
    from singleflight.prometheus import Collector

    REGISTRY.register(Collector({"users": users_group}))

Every scrape also passes the counters to the ``"singleflight"`` logger's
checks (fleet fallbacks, tickets leaked in an idle group: see _log.py).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector as _Collector

from ._group import Group
from ._latency import Histogram
from ._log import Observer

__all__ = ["Collector", "COUNTERS", "WAIT_SECONDS", "WORK_SECONDS"]

#: (metric name, Stats field, help, is a gauge), in docs/metrics.md's order.
COUNTERS: tuple[tuple[str, str, str, bool], ...] = (
    (
        "singleflight_flights_total",
        "flights",
        "Flights started (one per leader: the work ran).",
        False,
    ),
    (
        "singleflight_followers_total",
        "followers",
        "Callers that joined a flight already running.",
        False,
    ),
    ("singleflight_forgets_total", "forgets", "Flights forgotten while running.", False),
    ("singleflight_panics_total", "panics", "Flights whose work panicked.", False),
    ("singleflight_timeouts_total", "timeouts", "Callers that gave up at their deadline.", False),
    ("singleflight_cancellations_total", "cancellations", "Callers that were cancelled.", False),
    (
        "singleflight_handoffs_total",
        "handoffs",
        "Flights whose leader left without an outcome.",
        False,
    ),
    (
        "singleflight_abandoned_total",
        "abandoned",
        "Times a running flight was left by every caller.",
        False,
    ),
    ("singleflight_in_table", "in_table", "Flights a new caller would join right now.", True),
    (
        "singleflight_live",
        "live",
        "Flights still held by a caller (above 0 when idle: a leaked ticket).",
        True,
    ),
    ("singleflight_fleet_led_total", "fleet_led", "Fleet flights this process led.", False),
    (
        "singleflight_fleet_joined_total",
        "fleet_joined",
        "Fleet flights that ended with another process's outcome.",
        False,
    ),
    (
        "singleflight_fleet_taken_over_total",
        "fleet_taken_over",
        "Leads won from a leader whose lease had run out.",
        False,
    ),
    (
        "singleflight_fleet_fenced_total",
        "fleet_fenced",
        "Completions the server refused: the lease was lost.",
        False,
    ),
    ("singleflight_fleet_leases_lost_total", "fleet_leases_lost", "Lease renewals refused.", False),
    (
        "singleflight_fleet_fallbacks_total",
        "fleet_fallbacks",
        "Flights run locally because the server was unreachable, slow or failing.",
        False,
    ),
    (
        "singleflight_fleet_too_large_total",
        "fleet_too_large",
        "Values over the fleet's max value size.",
        False,
    ),
    (
        "singleflight_fleet_reconnects_total",
        "fleet_reconnects",
        "Connections to the server made again after a loss.",
        False,
    ),
)
WAIT_SECONDS = (
    "singleflight_wait_seconds",
    "How long followers waited for a flight's outcome, from their call to the outcome.",
)
WORK_SECONDS = (
    "singleflight_work_seconds",
    "How long the work of the flights this process led ran, from the leader's call to its end.",
)


class Collector(_Collector):
    """Collects the metrics of a fixed set of groups, each labelled with its
    key in ``groups``. Turns latency recording on for each."""

    def __init__(self, groups: Mapping[str, Group]) -> None:
        if not groups:
            raise ValueError("singleflight.prometheus: no group to collect")
        for label, g in groups.items():
            if not isinstance(label, str) or not label:
                raise ValueError(f"singleflight.prometheus: bad group label {label!r}")
            if not isinstance(g, Group):
                raise TypeError(f"singleflight.prometheus: {label!r} is not a singleflight.Group")
        self._groups = dict(sorted(groups.items()))
        self._observers = {label: Observer(label) for label in self._groups}
        for g in self._groups.values():
            g.record_latency(True)

    def collect(self) -> Iterator[Metric]:
        stats = {label: g.stats() for label, g in self._groups.items()}
        for label, s in stats.items():
            self._observers[label].observe(s)
        for name, field, doc, gauge in COUNTERS:
            family = (GaugeMetricFamily if gauge else CounterMetricFamily)(
                name, doc, labels=["group"]
            )
            for label, s in stats.items():
                # Python groups are never fleet groups yet: their fleet fields read 0.
                family.add_metric([label], getattr(s, field, 0))
            yield family
        latencies = {label: g.latency() for label, g in self._groups.items()}
        for (name, doc), pick in ((WAIT_SECONDS, 0), (WORK_SECONDS, 1)):
            family = HistogramMetricFamily(name, doc, labels=["group"])
            for label, lat in latencies.items():
                h: Histogram = lat[pick]
                buckets = [(repr(b), n) for b, n in h.cumulative()] + [("+Inf", h.count)]
                family.add_metric([label], buckets, h.sum)
            yield family
