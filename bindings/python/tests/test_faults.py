"""Faults driven through the binding: an exception from a signal handler at
every step of a thread leader's ending, a cancellation storm, an event loop
shut down with calls pending, fork() while a flight runs. Each ends with the
group idle (live == 0, in_table == 0)."""

from __future__ import annotations

import asyncio
import os
import random
import sys
import threading
import warnings

import pytest

import singleflight
from conftest import HANG_GUARD_S, idle, wait_until
from singleflight import _aio, _engine
from singleflight._raw import lib

_PACKAGE_DIR = os.path.dirname(singleflight.__file__)


class Interrupt(BaseException):
    """What a signal handler raises (KeyboardInterrupt, say)."""


class _InjectAt:
    """A trace function that raises Interrupt at the n-th step (a line or an
    opcode) of the binding's own code once ``armed`` is set. CPython runs a
    signal handler between bytecodes, so an exception at any of these steps
    is what a handler that raises can do there (and more: handlers only run
    at some of them). Tracing stops once it raised."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.steps = 0
        self.armed = False
        self.fired = False

    def __call__(self, frame, event, arg):
        if not frame.f_code.co_filename.startswith(_PACKAGE_DIR):
            return None
        frame.f_trace_opcodes = True
        if self.armed and event in ("line", "opcode"):
            self.steps += 1
            if self.steps == self.n:
                self.fired = True
                raise Interrupt()
        return self


def _leader_interrupted_at(group, n, make_value):
    """A leader in this thread whose ending gets Interrupt at step n, with a
    follower thread waiting; returns (fired, follower outcome)."""
    inject = _InjectAt(n)
    follower_out = []

    def follower():
        try:
            follower_out.append(group.do("k", lambda: "handed off"))
        except Boom as exc:
            follower_out.append(exc)

    t = threading.Thread(daemon=True, target=follower)
    followers = group.stats().followers

    def work():
        t.start()
        wait_until(lambda: group.stats().followers == followers + 1, "the follower joined")
        # Trace the binding's frames from here: the caller's frame now, the
        # ending's frames as they are called.
        caller = sys._getframe(1)
        while caller is not None:
            if caller.f_code.co_filename.startswith(_PACKAGE_DIR):
                caller.f_trace = inject
                caller.f_trace_opcodes = True
            caller = caller.f_back
        sys.settrace(inject)
        inject.armed = True
        return make_value()

    try:
        group.do("k", work)
    except (Interrupt, Boom):
        pass  # the leader's own end; what the follower saw is checked
    finally:
        sys.settrace(None)
    t.join(HANG_GUARD_S)
    assert not t.is_alive(), f"step {n}: the follower never got an outcome"
    return inject.fired, follower_out[0]


def _interrupt_every_step(group, make_value):
    """Interrupts a leader's ending at step 1, 2, ... until a run ends with
    no step left to interrupt; after each, the group is idle and nothing of
    the binding's is left. Returns what the follower saw, per kind."""
    outcomes = set()
    for n in range(1, 10_000):
        fired, out = _leader_interrupted_at(group, n, make_value)
        wait_until(lambda: idle(group), f"group idle after an interrupt at step {n}")
        assert lib.sfpy_live_tickets() == 0, n
        assert len(_engine._keep) == 0, n
        outcomes.add("handoff" if out == "handed off" else type(out).__name__)
        if not fired:
            break
    else:
        pytest.fail("the ending never ran to its end")
    assert n > 3  # it did step through the ending
    return outcomes


@pytest.mark.parametrize(
    "make_value",
    [lambda: object(), lambda: b"bytes value", lambda: "text", lambda: None],
    ids=["object", "bytes", "str", "none"],
)
def test_interrupt_at_every_step_of_a_thread_leaders_ending(group, make_value):
    outcomes = _interrupt_every_step(group, make_value)
    assert "handoff" in outcomes and len(outcomes) == 2  # and the value's type


class Boom(Exception):
    pass


def _fail():
    raise Boom("the work failed")


def test_interrupt_at_every_step_of_a_failing_leaders_ending(group):
    assert _interrupt_every_step(group, _fail) == {"handoff", "Boom"}


def test_cancellation_storm_over_10000_tasks(group):
    n = 10_000
    rng = random.Random(17)
    runs = []

    async def work(i):
        runs.append(i)
        for _ in range(rng.randrange(1, 4)):
            await asyncio.sleep(0)
        return i

    calls = []

    async def caller(i):
        call = group.do_async(f"k{i % 7}", work, i)
        calls.append(call)
        return await call

    async def main():
        tasks = [asyncio.ensure_future(caller(i)) for i in range(n)]
        for _ in range(20):
            for t in rng.sample(tasks, n // 40):
                t.cancel()
            await asyncio.sleep(0)
        got = await asyncio.gather(*tasks, return_exceptions=True)
        return got

    got = asyncio.run(main())
    cancelled = sum(isinstance(g, asyncio.CancelledError) for g in got)
    assert 0 < cancelled < n
    assert all(isinstance(g, (int, asyncio.CancelledError)) for g in got)
    s = group.stats()
    assert (s.live, s.in_table) == (0, 0)
    # Each call cancelled while it waited counts once (a task cancelled
    # before it called, or after its call's outcome came, gave up nothing).
    assert s.cancellations == sum(c.cancelled() for c in calls) > 0
    assert not _aio._runners and not _aio._waiting


def test_loop_shutdown_with_calls_pending(group):
    n = 200

    async def slow():
        await asyncio.sleep(3600)

    async def main():
        for i in range(n):
            call = group.do_async(f"k{i % 10}", slow)
            if i % 2:
                asyncio.ensure_future(call)
        await asyncio.sleep(0)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        asyncio.run(main())
    s = group.stats()
    assert (s.live, s.in_table) == (0, 0)
    assert s.cancellations == n
    assert all(group.do(f"k{i}", lambda: i) == i for i in range(10))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_fork_while_a_flight_runs(group):
    named = singleflight.Group.open(b"fork-test")
    gate = threading.Event()
    started = threading.Event()

    def work():
        started.set()
        gate.wait()
        return "parent"

    t = threading.Thread(daemon=True, target=lambda: group.do("k", work))
    t.start()
    started.wait()
    tn = threading.Thread(daemon=True, target=lambda: named.do("k", work))
    tn.start()
    wait_until(lambda: named.stats().in_table == 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads
        pid = os.fork()
    if pid == 0:  # the child: the inherited flights have no leader here
        code = 1
        try:
            ok = group.do("k", lambda: "child") == "child"
            ok = ok and named.do("k", lambda: "child") == "child"
            ok = ok and group.do("other", lambda: 7) == 7

            async def main():
                return await group.do_async("k", lambda: asyncio.sleep(0, "child async"))

            ok = ok and asyncio.run(main()) == "child async"
            s = group.stats()
            ok = ok and (s.live, s.in_table) == (0, 0)
            code = 0 if ok else 2
        finally:
            os._exit(code)
    try:
        status = None
        for _ in range(int(HANG_GUARD_S / 0.001)):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            threading.Event().wait(0.001)
        else:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            pytest.fail("the forked child hangs on a flight it inherited")
    finally:
        gate.set()
        t.join()
        tn.join()
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    for g in (group, named):
        s = g.stats()
        assert (s.live, s.in_table) == (0, 0)
