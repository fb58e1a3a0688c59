"""An event loop that shuts down (asyncio.run) with calls still pending
leaves the group idle and says so."""

from __future__ import annotations

import asyncio
import logging
import threading
import warnings

import pytest

from conftest import wait_until
from singleflight import _aio


def _slow_forever(started):
    async def slow():
        started.append(1)
        await asyncio.sleep(3600)

    return slow


def test_asyncio_run_with_a_call_left_pending_leaves_the_key_free(group, caplog):
    started = []

    async def main():
        asyncio.ensure_future(group.do_async("k", _slow_forever(started)))
        group.do_async("k2", _slow_forever(started))  # never awaited
        await asyncio.sleep(0)
        await asyncio.sleep(0)

    with caplog.at_level(logging.WARNING, logger="singleflight"):
        with pytest.warns(ResourceWarning, match="pending"):
            asyncio.run(main())
    assert len(started) >= 2
    s = group.stats()
    assert (s.live, s.in_table) == (0, 0)
    assert not _aio._runners and not _aio._waiting
    dropped = [r for r in caplog.records if r.name == "singleflight"]
    assert len(dropped) == 2
    assert {"'k'" in r.getMessage() or "'k2'" in r.getMessage() for r in dropped} == {True}
    # Later calls, from this thread and from another loop, run.
    assert group.do("k", lambda: "thread") == "thread"

    async def again():
        return await group.do_async("k2", lambda: asyncio.sleep(0, "loop"))

    assert asyncio.run(again()) == "loop"


def test_asyncio_run_shutdown_hands_the_flight_to_a_waiting_thread(group):
    started = []
    out = []

    async def main():
        asyncio.ensure_future(group.do_async("k", _slow_forever(started)))
        await asyncio.sleep(0)
        t = threading.Thread(
            daemon=True, target=lambda: out.append(group.do("k", lambda: "thread ran it"))
        )
        t.start()
        while group.stats().followers < 1:
            await asyncio.sleep(0.001)
        return t

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        t = asyncio.run(main())
    t.join()
    assert out == ["thread ran it"]
    s = group.stats()
    assert (s.live, s.in_table) == (0, 0) and s.handoffs >= 1


def test_a_call_made_during_shutdown_does_not_wedge_its_key(group):
    started = []

    async def cleanup_caller():
        try:
            await asyncio.sleep(3600)
        finally:
            # A finally clause that calls again as the loop shuts down.
            group.do_async("k", _slow_forever(started))

    async def main():
        asyncio.ensure_future(cleanup_caller())
        await asyncio.sleep(0)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        asyncio.run(main())
    wait_until(lambda: group.stats().live == 0, "the flight started at shutdown ended")
    s = group.stats()
    assert (s.live, s.in_table) == (0, 0)
