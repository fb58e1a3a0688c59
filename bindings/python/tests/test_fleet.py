"""Fleet groups (Group.fleet) across real processes, on a redis-server each
test starts on a unix socket in its temporary directory.

The other processes are Python worker processes: tests/cross/fleet/worker.py
(threads and asyncio callers of the installed binding, the worker protocol of
tests/cross/fleet/README.md), driven by the harness of the cross-language
fleet tests: the Redis, Fleet and Worker of examples/fleet/fleet_driver.py,
as tests/cross/test_fleet.py's Run (loaded here under a name of its own).
This process joins some flights itself, from threads and from asyncio.

The tests skip only where neither redis-server nor an engine with fleet
groups is there; one without the other is a broken setup and fails.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import shutil
import sys
import threading
from pathlib import Path

import pytest

import singleflight
from conftest import HANG_GUARD_S, run_threads, wait_until
from singleflight._raw import lib

ROOT = Path(__file__).resolve().parents[3]
# The harness is examples/fleet/fleet_driver.py's (tests/cross/conftest.py
# puts that directory on the path, as this does).
sys.path.insert(0, str(ROOT / "examples" / "fleet"))
import fleet_driver  # noqa: E402

_spec = importlib.util.spec_from_file_location(
    "sf_cross_fleet_harness", ROOT / "tests" / "cross" / "test_fleet.py"
)
cross = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cross)

SF_OK, SF_EWORK, SF_EPANIC, SF_ETIMEDOUT, SF_ENOBYTES = 0, 1, 2, 6, 9


def _engine_has_fleet() -> bool:
    """Whether the loaded engine speaks Redis: it links libhiredis."""
    with open("/proc/self/maps") as maps:
        return "libhiredis" in maps.read()


@pytest.fixture
def redis(tmp_path):
    server, fleet = shutil.which("redis-server") is not None, _engine_has_fleet()
    if not server and not fleet:
        pytest.skip("no redis-server and an engine built without fleet groups (hiredis)")
    if not server:
        pytest.fail("redis-server is not installed (scripts/bootstrap.sh installs it)")
    if not fleet:
        pytest.fail(
            "the engine was built without fleet groups "
            "(libhiredis-dev missing, or -Dfleet=disabled)"
        )
    r = fleet_driver.Redis(tmp_path)
    yield r
    r.stop()


@pytest.fixture
def run(redis, tmp_path):
    r = cross.Run(redis, tmp_path)
    yield r
    for w in r.workers:
        if w.proc.poll() is None:
            w.proc.kill()
            w.proc.wait()


def python_workers(run, n, **kw):
    return run.start({"python": n}, **kw)


def value_of(worker):
    return f"python {worker.pid}"


def group_of(run, **options):
    """This process's own opening of the run's fleet group."""
    return singleflight.Group.fleet(run.group, url=run.redis.url, **options)


class InThread:
    """A blocking call of this process on a thread of its own."""

    def __init__(self, fn):
        self.outcome = None
        self.thread = threading.Thread(target=self._run, args=(fn,), daemon=True)
        self.thread.start()

    def _run(self, fn):
        try:
            self.outcome = fn()
        except BaseException as exc:  # noqa: BLE001 - checked by the test
            self.outcome = exc

    def result(self):
        self.thread.join(HANG_GUARD_S)
        assert not self.thread.is_alive(), "the call hangs"
        return self.outcome


def lead_here_for_a_worker(run, g, value):
    """This process leads the key with ``value`` while a worker process
    joins; its callers' results (this process's caller got ``value``
    itself)."""
    release = threading.Event()

    def work():
        release.wait()
        return value

    mine = InThread(lambda: g.do("hot key", work))
    wait_until(lambda: g.stats().fleet_led == 1, "this process leads")
    follower = python_workers(run, 1)[0]
    run.all_joined(2)
    release.set()
    assert mine.result() is value
    return follower.results(4)[0]


# ---- options ------------------------------------------------------------------


@pytest.mark.parametrize(
    "options,error",
    [
        ({"url": 5}, TypeError),
        ({"url": "redis://a\0b"}, ValueError),
        ({"url": "http://nowhere"}, ValueError),  # the engine refuses it
        ({"key_prefix": "a:b"}, ValueError),
        ({"key_prefix": "{x}"}, ValueError),
        ({"key_prefix": ""}, ValueError),
        ({"lease": 0}, ValueError),
        ({"lease": -1.0}, ValueError),
        ({"lease": float("nan")}, ValueError),
        ({"lease": float("inf")}, ValueError),
        ({"lease": 5e6}, ValueError),  # over 2**32 ms
        ({"lease": "5"}, TypeError),
        ({"lease": True}, TypeError),
        ({"connect_timeout": 0}, ValueError),
        ({"command_timeout": -0.5}, ValueError),
        ({"cooldown": 0}, ValueError),
        ({"linger": -1}, ValueError),
        ({"max_value_bytes": 0}, ValueError),
        ({"max_value_bytes": 2**32}, ValueError),
        ({"max_value_bytes": 1.5}, TypeError),
        ({"codec": object()}, TypeError),
        ({"codec": "json"}, TypeError),
    ],
)
def test_bad_options_are_refused(options, error):
    with pytest.raises(error, match="singleflight"):
        singleflight.Group.fleet("options", **options)


def test_bad_names_and_unknown_options_are_refused():
    with pytest.raises(ValueError):
        singleflight.Group.fleet("")
    with pytest.raises(TypeError):
        singleflight.Group.fleet(3)
    with pytest.raises(TypeError):
        singleflight.Group.fleet("x", leese=1.0)


def test_a_fleet_group_is_a_group_apart_from_open(tmp_path):
    url = "unix://" + str(tmp_path / "none.sock")
    g = singleflight.Group.fleet(
        "apart",
        url=url,
        lease=0.25,
        linger=0,
        connect_timeout=0.05,
        command_timeout=0.5,
        cooldown=30,
        max_value_bytes=4096,
        key_prefix="pytest",
    )
    assert isinstance(g, singleflight.Group) and isinstance(g, singleflight.FleetGroup)
    assert g.name == b"apart" and g.codec is None and "FleetGroup" in repr(g)
    assert singleflight.FleetGroup("apart")._gid == g._gid  # one per name and process
    assert singleflight.Group.open("apart")._gid != g._gid
    assert singleflight.fence_token() == 0  # outside any work


# ---- the server unreachable -------------------------------------------------------


def test_unreachable_server_runs_flights_locally(tmp_path):
    """No error to the caller: flights run locally (each process dedups its
    own callers), threads and asyncio alike."""
    url = "unix://" + str(tmp_path / "nobody-listens.sock")
    g = singleflight.Group.fleet(
        f"unreachable-{os.getpid()}", url=url, connect_timeout=0.05, cooldown=600
    )
    assert g.do("k", lambda: b"first") == b"first"  # waits for the connection, then runs here
    if _engine_has_fleet():  # (else a fleet group is a local named group)
        assert g.stats().fleet_fallbacks >= 1
    assert g.do("k", singleflight.fence_token) == 0  # a local flight has no token

    n, runs = 8, []
    base = g.stats().followers

    def work():
        runs.append(1)
        wait_until(lambda: g.stats().followers - base >= n - 1, "every caller joined")
        return b"local"

    got = []
    run_threads(n, lambda i: got.append(g.do("stampede", work)))
    assert got == [b"local"] * n and len(runs) == 1

    async def stampede():
        base = g.stats().followers

        async def awork():
            runs.append(2)
            for _ in range(100000):
                if g.stats().followers - base >= n - 1:
                    return b"async local"
                await asyncio.sleep(0.001)
            raise AssertionError("the callers never joined")

        return await asyncio.gather(*(g.do_async("astampede", awork) for _ in range(n)))

    assert asyncio.run(stampede()) == [b"async local"] * n and runs.count(2) == 1
    assert g.stats().fleet_led == 0 and g.stats().fleet_joined == 0


# ---- processes --------------------------------------------------------------------


def test_processes_stampede_one_key_once(run):
    ws = python_workers(run, 4)
    leader, lead = run.leader(ws)
    assert lead["token"] > 0
    run.all_joined(len(ws))
    run.send("release")
    want = value_of(leader)
    for w in ws:
        rs, st = w.results(4)
        assert all(e["status"] == SF_OK and e["value"] == want and e["shared"] for e in rs), (w, rs)
        if w is leader:
            assert st["fleet_led"] == 1, st
        else:
            assert (st["fleet_led"], st["fleet_joined"]) == (0, 1), st
    assert run.executions() == [want]
    run.close()


@pytest.mark.parametrize(
    "mode,status,text", [("error", SF_EWORK, "work failed in"), ("panic", SF_EPANIC, "boom in")]
)
def test_remote_errors_and_panics(run, mode, status, text):
    """A Python leader's exception reaches the other processes' callers as
    WorkError, its PanicError as PanicError (status 2)."""
    ws = python_workers(run, 3, mode=mode)
    leader, _ = run.leader(ws)
    run.all_joined(len(ws))
    g = group_of(run)
    mine = InThread(lambda: g.do("hot key", lambda: b"never runs: the flight is led elsewhere"))
    run.all_joined(len(ws) + 1)
    run.send("release")
    want = f"{text} {value_of(leader)}"
    for w in ws:
        rs, _ = w.results(4)
        assert all(e["status"] == status and want in e["error"] for e in rs), (w, rs)
    exc = mine.result()
    assert isinstance(
        exc, singleflight.WorkError if mode == "error" else singleflight.PanicError
    ), exc
    assert want in str(exc)
    if mode == "error":
        assert exc.error == f"RuntimeError: {want}".encode()
    assert len(run.executions()) == 1
    run.close()


def test_a_waiters_deadline(run, monkeypatch):
    """Callers with a deadline give up at it, alone; the flight goes on
    and the others get its value."""
    leader = python_workers(run, 1)[0]
    run.leader([leader])
    monkeypatch.setenv("SF_FLEET_TIMEOUT_MS", "200")
    patient_not = python_workers(run, 1)[0]
    monkeypatch.delenv("SF_FLEET_TIMEOUT_MS")
    run.all_joined(2)
    rs = [patient_not.take("result") for _ in range(4)]  # before the release
    assert all(e["status"] == SF_ETIMEDOUT for e in rs), rs
    g = group_of(run)
    with pytest.raises(TimeoutError, match="within 0.1s"):
        g.do("hot key", lambda: b"never runs", timeout=0.1)

    async def late():
        return await g.do_async("hot key", asyncio.sleep, 0, timeout=0.1)

    with pytest.raises(TimeoutError):
        asyncio.run(late())
    assert g.stats().timeouts == 2
    patient_not.send("stats")
    assert patient_not.take("stats")["stats"]["timeouts"] == 4
    run.send("release")
    rs, _ = leader.results(4)
    assert all(e["status"] == SF_OK and e["value"] == value_of(leader) for e in rs), rs
    assert run.executions() == [value_of(leader)]
    run.close()


def test_leader_killed_another_process_takes_over(run):
    killed = python_workers(run, 1, lease_ms=500)[0]
    _, lead1 = run.leader([killed])
    rest = python_workers(run, 2, lease_ms=500)
    run.all_joined(3)
    killed.kill()
    new, lead2 = run.leader(rest)
    assert lead2["token"] > lead1["token"] > 0, (lead1, lead2)
    run.send("release")
    want = value_of(new)
    for w in rest:
        rs, st = w.results(4)
        assert all(e["status"] == SF_OK and e["value"] == want for e in rs), (w, rs)
        if w is new:
            assert st["fleet_taken_over"] == 1, st
    assert run.executions() == [value_of(killed), want]
    run.close()


def test_asyncio_and_threads_of_this_process_join_a_remote_flight(run):
    leader = python_workers(run, 1)[0]
    run.leader([leader])
    g = group_of(run)
    n = 6

    async def callers():
        calls = [g.do_async_shared("hot key", asyncio.sleep, 0) for _ in range(n)]
        threads = [InThread(lambda: g.do("hot key", lambda: b"never runs")) for _ in range(2)]
        wait_until(lambda: g.stats().followers >= n + 1, "this process's callers joined")
        run.all_joined(2)
        run.send("release")
        return await asyncio.gather(*calls), [t.result() for t in threads]

    outcomes, thread_values = asyncio.run(callers())
    want = value_of(leader).encode()
    assert outcomes == [(want, True)] * n
    assert all(type(v) is bytes for v, _ in outcomes)  # bytes, not a view of the engine's buffer
    assert thread_values == [want, want]
    st = g.stats()
    assert (st.fleet_led, st.fleet_joined) == (0, 1), st
    leader.results(4)
    run.close()


def test_a_codec_carries_typed_values(run, monkeypatch):
    monkeypatch.setenv("SF_FLEET_CODEC", "json")
    leader = python_workers(run, 1)[0]
    run.leader([leader])
    g = group_of(run, codec=singleflight.JsonCodec())
    mine = InThread(lambda: g.do("hot key", lambda: "never runs"))
    run.all_joined(2)
    run.send("release")
    assert mine.result() == value_of(leader)  # a str again, decoded from JSON
    leader.results(4)
    run.close()


def test_a_codec_carries_typed_values_from_this_process(run, monkeypatch):
    """This process leads: its callers share the object itself, the other
    processes get a decoded copy."""
    monkeypatch.setenv("SF_FLEET_CODEC", "json")
    value = {"list": [1, 2], "text": "é"}
    rs = lead_here_for_a_worker(run, group_of(run, codec=singleflight.JsonCodec()), value)
    assert all(e["status"] == SF_OK and e["value"] == value for e in rs), rs
    run.close()


def test_a_value_without_bytes_gives_other_processes_nobyteserror(run):
    rs = lead_here_for_a_worker(run, group_of(run), {"native": "only"})
    assert all(e["status"] == SF_ENOBYTES for e in rs), rs
    run.close()


def test_the_work_reads_its_fencing_token(run):
    g = group_of(run)
    tokens = [g.do("t", singleflight.fence_token), g.do("t", singleflight.fence_token)]
    assert 0 < tokens[0] < tokens[1]

    async def leads():
        async def work():
            before = singleflight.fence_token()
            await asyncio.sleep(0)
            return before, singleflight.fence_token()

        return await g.do_async("t", work)

    a, b = asyncio.run(leads())
    assert a == b > tokens[1]
    assert singleflight.fence_token() == 0
    assert g.stats().fleet_led == 3


def test_dedup_takes_a_fleet_group(run):
    leader = python_workers(run, 1)[0]
    run.leader([leader])
    g = group_of(run)
    ran = []

    @g.dedup(key="hot {0}")
    def load(what):
        ran.append(what)
        return b"never: the flight is led elsewhere"

    @g.dedup(key="hot {0}")
    async def aload(what):
        ran.append(what)
        return b"never"

    async def both():
        call = asyncio.ensure_future(aload("key"))
        await asyncio.sleep(0)  # its task joins
        sync = InThread(lambda: load("key"))
        wait_until(lambda: g.stats().followers >= 1, "both callers joined")
        run.all_joined(2)
        run.send("release")
        return await call, sync.result()

    want = value_of(leader).encode()
    assert asyncio.run(both()) == (want, want) and ran == []
    leader.results(4)
    run.close()
    assert lib.sfpy_live_tickets() == 0


def test_dedup_default_keys_of_a_fleet_group_cross_processes(tmp_path):
    """The default key names the function by module and qualified name, not
    by its identity (which no other process shares)."""
    url = "unix://" + str(tmp_path / "nobody-listens.sock")
    g = singleflight.Group.fleet(
        f"dedup-keys-{os.getpid()}", url=url, connect_timeout=0.05, cooldown=600
    )
    g.do("open the breaker", lambda: None)

    @g.dedup
    def load(what):
        return b"ran here"

    release = threading.Event()

    def leader():
        release.wait()
        return b"the leader's"

    key = (
        f"{__name__}.test_dedup_default_keys_of_a_fleet_group_cross_processes.<locals>.load:('x',)"
    )
    lead = InThread(lambda: g.do(key, leader))
    wait_until(lambda: g.stats().in_table == 1, "the leader runs")
    follow = InThread(lambda: load("x"))
    wait_until(lambda: g.stats().followers == 1, "the decorated call joined the leader's flight")
    release.set()
    assert lead.result() == follow.result() == b"the leader's"
