"""Callers that give up waiting are counted: stats.timeouts and
stats.cancellations, once each."""

from __future__ import annotations

import asyncio
import threading

from conftest import wait_until


def test_asyncio_callers_that_give_up_are_counted(group):
    gate = []

    async def work():
        await gate[0].wait()
        return "v"

    async def main():
        gate.append(asyncio.Event())
        keep = group.do_async("k", work)  # the leader's caller stays
        timed = [group.do_async("k", work, timeout=0.001) for _ in range(50)]
        cancelled = [group.do_async("k", work) for _ in range(50)]
        for f in cancelled:
            f.cancel()
        got = await asyncio.gather(*timed, *cancelled, return_exceptions=True)
        gate[0].set()
        assert await keep == "v"
        return got

    got = asyncio.run(main())
    assert sum(isinstance(g, TimeoutError) for g in got) == 50
    assert sum(isinstance(g, asyncio.CancelledError) for g in got) == 50
    s = group.stats()
    assert (s.timeouts, s.cancellations) == (50, 50)


def test_a_cancelled_task_awaiting_a_call_counts_once(group):
    async def work():
        await asyncio.sleep(3600)

    async def caller():
        return await group.do_async("k", work)

    async def main():
        t = asyncio.ensure_future(caller())
        await asyncio.sleep(0)
        t.cancel()
        await asyncio.gather(t, return_exceptions=True)

    asyncio.run(main())
    s = group.stats()
    assert (s.timeouts, s.cancellations) == (0, 1)


def test_thread_followers_that_time_out_count_once(group):
    gate = threading.Event()

    def work():
        gate.wait()
        return 1

    t = threading.Thread(daemon=True, target=lambda: group.do("k", work))
    t.start()
    wait_until(lambda: group.stats().flights == 1)
    errors = []
    for timeout in (0, 0.001, 0.002):
        try:
            group.do("k", work, timeout=timeout)
        except TimeoutError as exc:
            errors.append(exc)
    gate.set()
    t.join()
    assert len(errors) == 3
    assert group.stats().timeouts == 3
