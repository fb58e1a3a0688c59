"""What a leader's work may end with, seen by its callers."""

from __future__ import annotations

import asyncio

import pytest

from singleflight import _aio


def test_generator_exit_after_suspending_goes_up_in_the_leader_once(group):
    runs = []

    async def work():
        runs.append(1)
        await asyncio.sleep(0)
        if len(runs) == 1:
            raise GeneratorExit()
        return "rerun"

    async def main():
        leader = group.do_async("k", work)
        follower = group.do_async("k", work)
        got = await asyncio.gather(leader, follower, return_exceptions=True)
        return got

    got = asyncio.run(main())
    assert isinstance(got[0], GeneratorExit)
    assert got[1] == "rerun"  # the flight was handed off to the follower
    assert runs == [1, 1]
    s = group.stats()
    assert s.handoffs == 1


def test_generator_exit_alone_ends_the_call(group):
    runs = []

    async def work():
        runs.append(1)
        await asyncio.sleep(0)
        if len(runs) > 3:  # a rerun loop, stopped for the test
            return "reran"
        raise GeneratorExit()

    async def main():
        with pytest.raises(GeneratorExit):
            await group.do_async("k", work)

    asyncio.run(main())
    assert runs == [1]


def test_cancelled_in_the_turn_of_its_call_logs_nothing(group):
    errors = []

    async def work():
        await asyncio.sleep(0)
        return "never"

    async def main():
        asyncio.get_running_loop().set_exception_handler(lambda loop, ctx: errors.append(ctx))
        f = group.do_async("k", work)
        f.cancel()
        for _ in range(5):
            await asyncio.sleep(0)

    asyncio.run(main())
    import gc

    gc.collect()
    assert errors == []
    s = group.stats()
    assert (s.live, s.in_table) == (0, 0)
    assert not _aio._runners
