"""Latency histograms, the prometheus_client collector (scraped with
generate_latest) and the "singleflight" logger's records."""

from __future__ import annotations

import asyncio
import logging
import threading
import time

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from singleflight import LATENCY_BOUNDS, Group, Stats
from singleflight._log import Observer
from singleflight.prometheus import COUNTERS, Collector

HOLD = 0.002


def stampede(g: Group, n: int, key: str = "k") -> None:
    """n threads call one key at once; the work runs until all joined."""
    release = threading.Event()
    before = g.stats().followers

    def work():
        release.wait()
        time.sleep(HOLD)
        return b"v"

    ts = [threading.Thread(target=g.do, args=(key, work)) for _ in range(n)]
    for t in ts:
        t.start()
    while g.stats().followers - before != n - 1:
        time.sleep(0.0001)
    release.set()
    for t in ts:
        t.join()


def test_latency_is_off_until_recorded():
    g = Group()
    stampede(g, 3)
    lat = g.latency()
    assert lat.wait.count == 0 and lat.work.count == 0


def test_latency_of_a_stampede():
    g = Group()
    g.record_latency()
    stampede(g, 5)
    lat = g.latency()
    assert lat.work.count == 1 and lat.work.sum >= HOLD
    assert lat.wait.count == 4 and lat.wait.sum >= 4 * HOLD
    assert sum(lat.wait.buckets) == 4
    # no wait of at least HOLD in a bucket whose bound is below HOLD
    for bound, n in zip(LATENCY_BOUNDS, lat.wait.buckets, strict=False):
        assert bound >= HOLD or n == 0
    g.record_latency(False)
    stampede(g, 3)
    assert g.latency().work.count == 1


def test_latency_bounds():
    assert len(LATENCY_BOUNDS) == 31
    assert LATENCY_BOUNDS[0] == 1.024e-06 and LATENCY_BOUNDS[-1] == 2**40 / 1e9


def test_asyncio_leader_work_is_recorded():
    g = Group()
    g.record_latency()

    async def work():
        await asyncio.sleep(HOLD)
        return b"v"

    async def main():
        return await asyncio.gather(*(g.do_async("k", work) for _ in range(4)))

    assert asyncio.run(main()) == [b"v"] * 4
    lat = g.latency()
    assert lat.work.count == 1 and lat.work.sum >= HOLD
    # the asyncio callers of one loop wait on one ticket: one wait sample at most
    assert lat.wait.count <= 1


def scrape(reg: CollectorRegistry) -> str:
    return generate_latest(reg).decode()


def test_collector_scraped_after_a_stampede():
    users, other = Group.open("py-prometheus-test"), Group()
    reg = CollectorRegistry()
    reg.register(Collector({"users": users, "other": other}))
    stampede(users, 6)
    text = scrape(reg)
    for line in [
        "# TYPE singleflight_flights_total counter",
        'singleflight_flights_total{group="users"} 1.0',
        'singleflight_flights_total{group="other"} 0.0',
        'singleflight_followers_total{group="users"} 5.0',
        "# TYPE singleflight_live gauge",
        'singleflight_live{group="users"} 0.0',
        'singleflight_fleet_fallbacks_total{group="users"} 0.0',
        "# TYPE singleflight_wait_seconds histogram",
        'singleflight_wait_seconds_count{group="users"} 5.0',
        'singleflight_wait_seconds_bucket{group="users",le="+Inf"} 5.0',
        'singleflight_wait_seconds_bucket{group="users",le="1.024e-06"} 0.0',
        'singleflight_wait_seconds_bucket{group="users",le="1099.511627776"} 5.0',
        'singleflight_work_seconds_count{group="users"} 1.0',
        'singleflight_work_seconds_bucket{group="users",le="0.001048576"} 0.0',
        'singleflight_work_seconds_count{group="other"} 0.0',
    ]:
        assert line + "\n" in text, line
    for name, *_ in COUNTERS:
        assert f'{name}{{group="users"}}' in text, name
    sum_line = next(
        ln
        for ln in text.splitlines()
        if ln.startswith('singleflight_wait_seconds_sum{group="users"}')
    )
    assert float(sum_line.split()[-1]) >= 5 * HOLD


def test_collector_rejects_bad_groups():
    with pytest.raises(ValueError):
        Collector({})
    with pytest.raises(ValueError):
        Collector({"": Group()})
    with pytest.raises(TypeError):
        Collector({"g": object()})  # type: ignore[dict-item]


def test_handoffs_are_logged(caplog):
    g = Group()
    started = threading.Event()
    follower_joined = threading.Event()

    def leader():
        def work():
            started.set()
            follower_joined.wait()
            raise KeyboardInterrupt  # no outcome: a hand-off

        with pytest.raises(KeyboardInterrupt):
            g.do("k", work)

    with caplog.at_level(logging.DEBUG, logger="singleflight"):
        t = threading.Thread(target=leader)
        t.start()
        started.wait()
        result = []
        f = threading.Thread(target=lambda: result.append(g.do("k", lambda: b"second")))
        f.start()
        while g.stats().followers != 1:
            time.sleep(0.0001)
        follower_joined.set()
        t.join()
        f.join()
    assert result == [b"second"]
    msgs = [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "singleflight"]
    assert (
        logging.INFO,
        "key 'k': the work raised KeyboardInterrupt, which is no outcome: "
        "the flight is handed off to its other callers",
    ) in msgs
    assert (
        logging.DEBUG,
        "key 'k': the leader left without an outcome (a hand-off); joining again",
    ) in msgs


def stats(**kw) -> Stats:
    base = dict.fromkeys(Stats._fields, 0)
    base.update(kw)
    return Stats(**base)


def test_leaked_tickets_are_logged_once(caplog):
    o = Observer("users")
    with caplog.at_level(logging.WARNING, logger="singleflight"):
        o.observe(stats(flights=3, live=1))
        assert not caplog.records  # one look: maybe a follower on its way out
        o.observe(stats(flights=4, live=1))
        assert not caplog.records  # not idle: flights started in between
        o.observe(stats(flights=4, live=1))
        o.observe(stats(flights=4, live=1))
    warnings = [r.getMessage() for r in caplog.records]
    assert warnings == [
        "group users: 1 finished flights still held by a ticket while the group "
        "was idle: a leaked ticket (a caller that never left its flight)"
    ]


def test_a_real_leaked_ticket_is_logged_at_scrape(caplog):
    from singleflight._raw import ffi, lib

    g = Group()
    reg = CollectorRegistry()
    reg.register(Collector({"leaky": g}))
    wait, work = ffi.new("sf_ticket **"), ffi.new("sf_ticket **")
    assert lib.sf_join(g._g, b"k", 1, 0, wait, work) == lib.SF_OK
    assert lib.sf_complete(work[0], lib.SF_OK, ffi.NULL, ffi.NULL) == lib.SF_OK
    lib.sf_leave(work[0])  # the wait ticket is never left: a leak
    with caplog.at_level(logging.WARNING, logger="singleflight"):
        scrape(reg)
        scrape(reg)
    lib.sf_leave(wait[0])
    assert [r.getMessage() for r in caplog.records] == [
        "group leaky: 1 finished flights still held by a ticket while the group was idle: "
        "a leaked ticket (a caller that never left its flight)"
    ]


def test_fleet_fallbacks_are_logged(caplog):
    class FleetStats:  # a fleet group's counters (Python opens no fleet group yet)
        def __init__(self, fallbacks):
            self.fleet_fallbacks = fallbacks
            self.flights = self.followers = self.live = self.in_table = 0

    o = Observer("orders")
    with caplog.at_level(logging.WARNING, logger="singleflight"):
        o.observe(FleetStats(0))
        o.observe(FleetStats(0))
        o.observe(FleetStats(7))
    assert [r.getMessage() for r in caplog.records] == [
        "group orders: 7 flights ran locally since the last look: the fleet server was "
        "unreachable, slow or failing (the circuit breaker was open)"
    ]
