"""asyncio callers: Group.do_async, cancellation, hand-off, mixing with threads."""

from __future__ import annotations

import asyncio
import threading
import traceback

import pytest

import singleflight
from singleflight import _group
from conftest import wait_until


async def until(pred, what="condition"):
    """Yields to the loop until pred() holds (the hang guard is wait_until's)."""
    for _ in range(10_000_000):
        if pred():
            return
        await asyncio.sleep(0.0005 if _ > 1000 else 0)
    raise AssertionError(f"never reached: {what}")


def test_1000_tasks_one_key_run_once(group):
    n = 1000
    runs = []

    async def work():
        runs.append(1)
        await until(lambda: group.stats().followers == n - 1, "all tasks joined")
        return object()

    async def main():
        return await asyncio.gather(*(group.do_async_shared("hot", work) for _ in range(n)))

    out = asyncio.run(main())
    assert len(runs) == 1
    assert all(v is out[0][0] for v, _ in out)
    assert all(shared for _, shared in out)


def test_async_value_args_and_shared_flag(group):
    async def add(a, b=0):
        return a + b

    async def main():
        assert await group.do_async("k", add, 1, b=2) == 3
        assert await group.do_async_shared(b"k", add, 5) == (5, False)

    asyncio.run(main())


class Boom(Exception):
    pass


def test_async_exception_same_object(group):
    async def failing_work():
        await until(lambda: group.stats().followers == 9)
        raise Boom("async no luck")

    async def main():
        return await asyncio.gather(
            *(group.do_async("k", failing_work) for _ in range(10)), return_exceptions=True
        )

    out = asyncio.run(main())
    assert all(isinstance(e, Boom) and e is out[0] for e in out)
    names = [f.name for f in traceback.extract_tb(out[0].__traceback__)]
    assert "failing_work" in names


def test_cancelling_the_leaders_caller_keeps_the_work(group):
    runs = []

    async def work():
        runs.append(1)
        await asyncio.sleep(0.01)
        return "done"

    async def main():
        leader = asyncio.create_task(group.do_async("k", work))
        await until(lambda: runs == [1])
        followers = [asyncio.create_task(group.do_async("k", work)) for _ in range(5)]
        await until(lambda: group.stats().followers == 5)
        leader.cancel()
        with pytest.raises(asyncio.CancelledError):
            await leader
        return await asyncio.gather(*followers)

    assert asyncio.run(main()) == ["done"] * 5
    assert runs == [1]
    assert group.stats().abandoned == 0


def test_last_waiter_leaving_cancels_the_work_and_does_not_poison(group):
    state = []

    async def work():
        state.append("started")
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            state.append("cancelled")
            raise

    async def main():
        tasks = [asyncio.create_task(group.do_async("k", work)) for _ in range(3)]
        await until(lambda: state == ["started"] and group.stats().followers == 2)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await until(lambda: state == ["started", "cancelled"], "work cancelled")
        await until(lambda: group.stats().live == 0)

        async def ok():
            return "fresh"

        return await group.do_async("k", ok)

    assert asyncio.run(main()) == "fresh"
    s = group.stats()
    assert s.abandoned == 1
    assert s.flights == 2


def test_cancelled_run_hands_off_to_a_newcomer(group):
    runs = []

    async def work():
        runs.append(1)
        if len(runs) == 1:
            await asyncio.Event().wait()  # until cancelled
        return len(runs)

    async def main():
        a = asyncio.create_task(group.do_async("k", work))
        await until(lambda: runs == [1])
        a.cancel()  # a leaves: abandoned, its work task is cancelled ...
        b = asyncio.create_task(group.do_async("k", work))  # ... as b joins
        with pytest.raises(asyncio.CancelledError):
            await a
        return await b

    assert asyncio.run(main()) == 2
    s = group.stats()
    assert s.abandoned == 1
    assert s.handoffs == 1
    assert len(runs) == 2


def test_async_timeout_leaves_the_flight_to_the_others(group):
    gate = asyncio.Event

    async def main():
        ev = gate()
        runs = []

        async def work():
            runs.append(1)
            await ev.wait()
            return "late"

        patient = asyncio.create_task(group.do_async("k", work))
        await until(lambda: runs == [1])
        with pytest.raises(TimeoutError):
            await group.do_async("k", work, timeout=0.01)
        with pytest.raises(TimeoutError):
            await group.do_async("k", work, timeout=0)
        ev.set()
        assert await patient == "late"
        assert runs == [1]

    asyncio.run(main())


def test_lone_waiter_timing_out_cancels_the_work(group):
    cancelled = []

    async def work():
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append(1)
            raise

    async def main():
        with pytest.raises(TimeoutError):
            await group.do_async("k", work, timeout=0.01)
        await until(lambda: cancelled == [1], "work cancelled")

    asyncio.run(main())
    assert group.stats().abandoned == 1


def test_threads_follow_an_async_leader(group):
    release = threading.Event()
    out = []

    async def work():
        await asyncio.get_running_loop().run_in_executor(None, release.wait)
        return "from asyncio"

    def follower():
        out.append(group.do("k", lambda: "never"))

    async def main():
        task = asyncio.create_task(group.do_async("k", work))
        await until(lambda: group.stats().flights == 1)
        threads = [threading.Thread(daemon=True, target=follower) for _ in range(4)]
        for t in threads:
            t.start()
        await until(lambda: group.stats().followers == 4)
        release.set()
        value = await task
        for t in threads:
            t.join()
        return value

    assert asyncio.run(main()) == "from asyncio"
    assert out == ["from asyncio"] * 4


def test_tasks_follow_a_thread_leader(group):
    release = threading.Event()
    leader_out = []

    def leader():
        leader_out.append(group.do("k", lambda: release.wait() and "from a thread"))

    t = threading.Thread(daemon=True, target=leader)
    t.start()
    wait_until(lambda: group.stats().flights == 1)

    async def never():
        raise AssertionError("a follower ran the work")

    async def main():
        tasks = [asyncio.create_task(group.do_async("k", never)) for _ in range(50)]
        await until(lambda: group.stats().followers == 50)
        release.set()  # completes on the leader's thread: wakes via call_soon_threadsafe
        return await asyncio.gather(*tasks)

    assert asyncio.run(main()) == ["from a thread"] * 50
    t.join()
    assert leader_out == ["from a thread"]


def test_two_event_loops_share_a_flight(group):
    runs = []
    out = []
    barrier = threading.Barrier(2)

    async def work():
        runs.append(1)
        await until(lambda: group.stats().followers == 1)
        return "shared across loops"

    def loop_thread():
        async def main():
            barrier.wait()
            return await group.do_async("k", work)

        out.append(asyncio.run(main()))

    threads = [threading.Thread(daemon=True, target=loop_thread) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert runs == [1]
    assert out == ["shared across loops"] * 2


def test_async_work_reentering_its_key_is_deadlock_error(group):
    async def work():
        return await group.do_async("k", work)

    def blocking_inside():
        return group.do("k2", lambda: "never")

    async def work2():
        return blocking_inside()

    async def main():
        with pytest.raises(singleflight.DeadlockError):
            await group.do_async("k", work)
        with pytest.raises(singleflight.DeadlockError):
            await group.do_async("k2", work2)

    asyncio.run(main())


def test_thread_leader_reentering_through_a_nested_loop(group):
    async def inner():
        return await group.do_async("k", lambda: asyncio.sleep(0))

    def work():
        return asyncio.run(inner())

    with pytest.raises(singleflight.DeadlockError):
        group.do("k", work)


def test_loop_shutdown_hands_off_pending_work(group):
    started = threading.Event()
    out = []

    async def work():
        started.set()
        await asyncio.Event().wait()

    loop = asyncio.new_event_loop()
    task = loop.create_task(group.do_async("k", work))
    loop.run_until_complete(asyncio.sleep(0))
    loop.run_until_complete(asyncio.sleep(0))
    assert started.is_set()
    # A thread joins the flight of the asyncio work, then the loop goes away.
    t = threading.Thread(daemon=True, target=lambda: out.append(group.do("k", lambda: "thread ran it")))
    t.start()
    wait_until(lambda: group.stats().followers == 1)
    task.cancel()
    loop.run_until_complete(asyncio.gather(task, return_exceptions=True))
    # asyncio.run's cleanup: the remaining tasks (the work) are cancelled.
    pending = asyncio.all_tasks(loop)
    for p in pending:
        p.cancel()
    loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    loop.close()
    t.join()
    assert out == ["thread ran it"]
    assert not _group._runners
