"""Fixtures and helpers shared by the binding's tests."""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

import singleflight
from singleflight import _aio, _asyncio_shim, _engine
from singleflight._raw import lib

# A hang guard, not a performance limit: a condition that a correct binding
# reaches in microseconds fails the test instead of hanging the suite.
HANG_GUARD_S = 60.0


# A leader's first step runs inline, as a task of its own, only where the
# binding can make a task current (asyncio's private current-task map);
# the public-API fallback runs the work as a task from its start.
INLINE_FIRST_STEP = _asyncio_shim.CURRENT_TASKS is not None
inline_first_step = pytest.mark.skipif(
    not INLINE_FIRST_STEP,
    reason="tests the inline first step; the public-API fallback "
    "(SINGLEFLIGHT_ASYNCIO=public) runs a leader's work as a task from its start",
)

# The cycle check follows what other tasks wait on only where asyncio shows
# it (a task's private _fut_waiter); see _asyncio_shim.task_waiter.
follows_tasks = pytest.mark.skipif(
    _asyncio_shim.PUBLIC_ONLY,
    reason="a cycle through another task is detected only where asyncio shows what "
    "a task waits on; the public-API fallback (SINGLEFLIGHT_ASYNCIO=public) cannot",
)


def wait_until(pred: Callable[[], bool], what: str = "condition") -> None:
    """Polls ``pred`` until it holds (hang guard: HANG_GUARD_S)."""
    end = time.monotonic() + HANG_GUARD_S
    while not pred():
        if time.monotonic() > end:
            raise AssertionError(f"never reached: {what}")
        time.sleep(0.0005)


def idle(group: singleflight.Group) -> bool:
    s = group.stats()
    return s.live == 0 and s.in_table == 0


@pytest.fixture
def group() -> singleflight.Group:
    """A fresh private group, checked idle (no leaked ticket) at the end."""
    g = singleflight.Group()
    yield g
    wait_until(lambda: idle(g), "group idle after the test")
    assert g.stats().live == 0


@pytest.fixture(autouse=True)
def no_leaks():
    """After every test: no sfpy_tickets and no handle left in the binding."""
    yield
    gc.collect()
    wait_until(lambda: lib.sfpy_live_tickets() == 0, "every sfpy_tickets freed")
    wait_until(lambda: len(_engine._keep) == 0, "every native handle released")
    assert not _aio._runners
    assert not _aio._waiting


def in_thread(fn: Callable[[], Any]) -> Callable[[], Any]:
    """Starts fn() on a daemon thread; returns join(), which waits for the
    thread and returns what fn returned, or raises what it raised (the
    outcome is handed over, not kept here)."""
    out: list[tuple[bool, Any]] = []

    def body() -> None:
        try:
            out.append((True, fn()))
        except BaseException as exc:  # noqa: BLE001 - raised by join()
            out.append((False, exc))

    t = threading.Thread(daemon=True, target=body)
    t.start()

    def join() -> Any:
        t.join()
        ok, value = out.pop()
        if not ok:
            raise value
        return value

    return join


def run_threads(n: int, target: Callable[[int], None]) -> None:
    """Runs target(i) on n threads started behind a barrier; re-raises the
    first failure."""
    barrier = threading.Barrier(n)
    errors: list[BaseException] = []

    def body(i: int) -> None:
        try:
            barrier.wait()
            target(i)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(daemon=True, target=body, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
