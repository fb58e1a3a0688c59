"""No leak after 100,000 calls: Python memory (tracemalloc), the binding's
sfpy_tickets and handles, and the engine's own counters."""

from __future__ import annotations

import asyncio
import gc
import tracemalloc

from singleflight import _engine
from singleflight._raw import lib

CALLS = 100_000
# Any leak of one byte or more per call over CALLS calls exceeds this.
SLACK_BYTES = CALLS // 2


class Boom(Exception):
    pass


def _mixed_calls(group, n):
    payload = b"p" * 64
    obj = object()
    for i in range(n):
        kind = i % 5
        if kind == 0:
            group.do(f"k{i}", lambda: obj)  # unique keys
        elif kind == 1:
            group.do("hot", lambda: payload)  # zero-copy bytes
        elif kind == 2:
            group.do_shared(b"s", lambda: "text")
        elif kind == 3:
            try:
                group.do("err", _raise)
            except Boom:
                pass
        else:
            try:
                group.do("t", lambda: None, timeout=0)
            except TimeoutError:
                pass


def _raise():
    raise Boom("x")


async def _async_calls(group, n):
    async def work(i):
        return i

    async def suspending(i):
        await asyncio.sleep(0)
        return i

    for i in range(n // 2):  # leaders whose work completes at once
        assert await group.do_async("a", work, i) == i
    for i in range(n // 20):  # flights of 10 callers: a leader, 9 followers
        calls = [group.do_async("b", suspending, i) for _ in range(10)]
        assert await asyncio.gather(*calls) == [i] * 10


def test_no_leak_after_100000_calls(group):
    _mixed_calls(group, 1000)  # warm caches, interned strings, free lists
    asyncio.run(_async_calls(group, 100))
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        _mixed_calls(group, CALLS - CALLS // 10)
        asyncio.run(_async_calls(group, CALLS // 10))
        gc.collect()
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    stats = after.compare_to(before, "filename")
    growth = sum(s.size_diff for s in stats if s.size_diff > 0)
    top = "\n".join(str(s) for s in stats[:5])
    assert growth < SLACK_BYTES, f"grew by {growth} bytes:\n{top}"
    s = group.stats()
    assert s.live == 0 and s.in_table == 0
    assert s.flights + s.followers >= CALLS
    assert lib.sfpy_live_tickets() == 0
    assert len(_engine._keep) == 0
