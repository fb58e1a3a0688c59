"""asyncio callers: Group.do_async, cancellation, hand-off, mixing with threads."""

from __future__ import annotations

import asyncio
import contextvars
import gc
import os
import threading
import traceback

import pytest

import singleflight
from conftest import INLINE_FIRST_STEP, inline_first_step, wait_until
from singleflight import _aio


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
        a = group.do_async("k", work)
        await until(lambda: runs == [1])
        a.cancel()  # a leaves: abandoned, its work task is cancelled ...
        b = group.do_async("k", work)  # ... as b joins
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

    async def call():
        return await group.do_async("k", work)

    loop = asyncio.new_event_loop()
    task = loop.create_task(call())
    loop.run_until_complete(asyncio.sleep(0))
    loop.run_until_complete(asyncio.sleep(0))
    assert started.is_set()
    # A thread joins the flight of the asyncio work, then the loop goes away.
    t = threading.Thread(
        daemon=True, target=lambda: out.append(group.do("k", lambda: "thread ran it"))
    )
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
    assert not _aio._runners


# ---- the leader's first step runs inline (no task unless the work suspends)


@inline_first_step
def test_work_that_never_suspends_completes_without_a_task(group):
    class Value:
        pass

    made = []
    value = Value()

    async def work(x):
        made.append(x)
        return value

    async def main():
        before = asyncio.all_tasks()
        fut = group.do_async_shared("k", work, 1)
        assert fut.done()  # resolved at the call: awaiting it does not suspend
        out = await fut
        assert not _aio._runners
        assert await group.do_async("k", work, 2) is value  # not cached: runs again
        # At most one standby task per turn of the loop, gone the turn after.
        assert len(asyncio.all_tasks() - before) <= 1
        await asyncio.sleep(0)
        assert asyncio.all_tasks() == before
        return out

    out = asyncio.run(main())
    assert out == (value, False)
    assert made == [1, 2]
    s = group.stats()
    assert (s.flights, s.followers, s.live, s.in_table) == (2, 0, 0, 0)


def test_work_failing_before_it_suspends(group):
    err = Boom("at once")

    async def work():
        raise err

    async def main():
        with pytest.raises(Boom) as info:
            await group.do_async("k", work)
        assert info.value is err
        names = [f.name for f in traceback.extract_tb(info.value.__traceback__)]
        assert "work" in names

        async def ok():
            return "fine"

        return await group.do_async("k", ok)  # a failure does not poison the key

    assert asyncio.run(main()) == "fine"
    assert group.stats().flights == 2


@inline_first_step
def test_work_cancelling_itself_before_it_suspends_hands_off(group):
    runs = []

    async def work():
        runs.append(1)
        if len(runs) == 1:
            raise asyncio.CancelledError()  # not an outcome
        return "second"

    async def main():
        with pytest.raises(asyncio.CancelledError):
            await group.do_async("k", work)
        assert group.stats().live == 0
        return await group.do_async("k", work)

    assert asyncio.run(main()) == "second"
    assert len(runs) == 2


def test_first_step_then_suspension_leader_cancel_keeps_the_work(group):
    # The first step runs in the leader's task; after it suspends, cancelling
    # that caller must still only remove the caller.
    steps = []
    gate = []

    async def work():
        steps.append("first step")
        await until(lambda: gate)
        steps.append("rest")
        return "done"

    async def main():
        leader = asyncio.create_task(group.do_async("k", work))
        await until(lambda: steps == ["first step"])
        follower = asyncio.create_task(group.do_async("k", work))
        await until(lambda: group.stats().followers == 1)
        leader.cancel()
        with pytest.raises(asyncio.CancelledError):
            await leader
        gate.append(1)
        return await follower

    assert asyncio.run(main()) == "done"
    assert steps == ["first step", "rest"]
    assert group.stats().abandoned == 0


def test_first_step_runs_in_a_context_of_its_own(group):
    var = contextvars.ContextVar("var", default="caller")

    async def quick():
        var.set("work")
        return var.get()

    async def slow():
        var.set("work")
        await asyncio.sleep(0)
        return var.get()  # the task that goes on has the first step's context

    async def main():
        assert await group.do_async("a", quick) == "work"
        assert var.get() == "caller"
        assert await group.do_async("b", slow) == "work"
        assert var.get() == "caller"

    asyncio.run(main())


@pytest.mark.skipif(not hasattr(asyncio, "timeout"), reason="asyncio.timeout is 3.11+")
def test_asyncio_timeout_entered_in_the_first_step_times_the_work_out(group):
    # asyncio.timeout() binds to the current task when entered: before the
    # work's first suspension that is the leader's task, so the work goes on
    # in it. Its expiry must end the work with TimeoutError for everyone,
    # not cancel the caller.
    release = []

    async def work():
        async with asyncio.timeout(0.01):
            await until(lambda: release)  # only if the timeout went astray

    async def main():
        leader = asyncio.create_task(group.do_async("k", work))
        await asyncio.sleep(0)
        followers = [asyncio.create_task(group.do_async("k", work)) for _ in range(3)]
        first = await asyncio.gather(leader, return_exceptions=True)
        release.append(1)  # lets a work whose timeout cancelled the caller end
        return first + await asyncio.gather(*followers, return_exceptions=True)

    out = asyncio.run(main())
    assert all(type(e) is TimeoutError for e in out), out
    assert all(e is out[0] for e in out)
    s = group.stats()
    assert s.flights == 1 and s.handoffs == 0


def test_work_task_cancelled_before_its_first_step_hands_off(group):
    # The leader's caller leaves (and the loop shuts down) before the loop
    # ever runs the task that carries on the suspended work: the flight must
    # still be handed off, not keep its key blocked.
    closed = []

    async def work():
        try:
            await asyncio.sleep(0)
        finally:
            closed.append(1)

    async def settle(*tasks):
        return await asyncio.gather(*tasks, return_exceptions=True)

    async def call():
        return await group.do_async("k", work)

    loop = asyncio.new_event_loop()
    try:
        loop.create_task(call())
        loop.call_soon(loop.stop)
        loop.run_forever()  # one turn: the caller leads, the work suspends
        pending = asyncio.all_tasks(loop)
        assert len(pending) == 2 and len(_aio._runners) == 1
        # As asyncio.run's shutdown does: the work task never ran a step.
        for p in pending:
            p.cancel()
        loop.run_until_complete(settle(*pending))
    finally:
        loop.close()
    s = group.stats()
    assert (s.live, s.in_table, s.handoffs) == (0, 0, 1)
    # Its first step ran inline (it entered its try); from a task of its own
    # the work never started.
    assert closed == ([1] if INLINE_FIRST_STEP else [])
    assert not _aio._runners


# ---- do_async is eager and returns each caller's own future


def test_do_async_without_a_running_loop_is_runtime_error(group):
    async def work():
        return 1

    with pytest.raises(RuntimeError, match="running event loop"):
        group.do_async("k", work)
    assert group.stats().flights == 0  # nothing was joined


def test_the_loop_of_the_last_call_is_not_taken_once_it_stopped(group):
    async def work():
        return 1

    async def main():
        return await group.do_async("k", work)

    assert asyncio.run(main()) == 1
    with pytest.raises(RuntimeError, match="running event loop"):
        group.do_async("k", work)  # the last call's loop is closed
    errors = []

    def other_thread():
        try:
            group.do_async("k", work)
        except RuntimeError as exc:
            errors.append(exc)

    async def while_running():
        t = threading.Thread(target=other_thread)
        t.start()
        t.join()  # (blocks the loop: it runs, in another thread)
        return await group.do_async("k", work)

    assert asyncio.run(while_running()) == 1
    assert len(errors) == 1 and "running event loop" in str(errors[0])
    assert group.stats().flights == 2


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_has_no_running_loop_as_asyncio_says(group):
    async def work():
        return 1

    async def main():
        assert await group.do_async("k", work) == 1
        pid = os.fork()
        if pid == 0:  # the child, inside the loop's callback as the parent is
            code = 3
            try:
                group.do_async("k", work)
            except RuntimeError:
                code = 0
            except BaseException:
                code = 4
            os._exit(code)
        _, status = os.waitpid(pid, 0)
        return os.waitstatus_to_exitcode(status)

    assert asyncio.run(main()) == 0


@inline_first_step
def test_calls_are_eager_futures_and_gather_makes_no_task_per_caller(group):
    n = 1000
    runs = []
    tasks_seen = []

    async def work():
        runs.append(1)
        await until(lambda: group.stats().followers == n - 1, "all callers joined")
        tasks_seen.append(len(asyncio.all_tasks()))
        return "v"

    async def main():
        calls = [group.do_async("k", work) for _ in range(n)]
        assert runs == [1]  # the work started at the call, before any await
        assert all(isinstance(c, asyncio.Future) for c in calls)
        assert len({id(c) for c in calls}) == n  # one future per caller
        return await asyncio.gather(*calls)

    assert asyncio.run(main()) == ["v"] * n
    # main and the work's task: no task per caller
    assert tasks_seen == [2]


def test_one_waiters_object_per_flight_and_loop(group):
    n = 100
    seen = []

    async def work():
        await until(lambda: group.stats().followers == n - 1)
        seen.append(len(_aio._waiting))
        return "v"

    async def main():
        return await asyncio.gather(*(group.do_async("k", work) for _ in range(n)))

    assert asyncio.run(main()) == ["v"] * n
    assert seen == [1]


def test_two_loops_wait_with_a_waiters_object_each(group):
    n = 20
    release = threading.Event()
    seen = []

    async def work():
        await asyncio.get_running_loop().run_in_executor(None, release.wait)
        return "v"

    async def never():
        raise AssertionError("a follower ran the work")

    def loop_thread(out):
        async def main():
            return await asyncio.gather(*(group.do_async("k", never) for _ in range(n)))

        out.extend(asyncio.run(main()))

    async def main():
        leader = group.do_async("k", work)
        outs = [[], []]
        threads = [threading.Thread(daemon=True, target=loop_thread, args=(o,)) for o in outs]
        for t in threads:
            t.start()
        await until(lambda: group.stats().followers == 2 * n)
        seen.append(len(_aio._waiting))
        release.set()
        value = await leader
        for t in threads:
            t.join()
        return value, outs

    value, outs = asyncio.run(main())
    assert value == "v" and outs == [["v"] * n, ["v"] * n]
    assert seen == [3]  # this loop's and one per other loop


def test_create_task_and_task_group_take_the_call(group):
    async def work(x):
        await asyncio.sleep(0)
        return x

    async def main():
        a = asyncio.create_task(group.do_async("k", work, 1))
        b = asyncio.ensure_future(group.do_async("k", work, 2))
        out = [await a, await b]
        if hasattr(asyncio, "TaskGroup"):
            async with asyncio.TaskGroup() as tg:
                c = tg.create_task(group.do_async("k2", work, 3))
            out.append(c.result())
        return out

    out = asyncio.run(main())
    assert out[:2] == [1, 1]  # b joined a's flight
    assert out[2:] in ([], [3])


def test_cancelling_one_followers_future_leaves_the_others(group):
    async def work():
        await until(lambda: group.stats().followers == 3)
        await asyncio.sleep(0.01)
        return "v"

    async def main():
        calls = [group.do_async("k", work) for _ in range(4)]
        await until(lambda: group.stats().followers == 3)
        assert calls[2].cancel()
        out = await asyncio.gather(*calls, return_exceptions=True)
        assert isinstance(out[2], asyncio.CancelledError)
        return out[:2] + out[3:]

    assert asyncio.run(main()) == ["v"] * 3
    assert group.stats().abandoned == 0


def test_the_first_step_runs_as_the_works_own_task(group):
    tasks = []

    async def work():
        tasks.append(asyncio.current_task())
        await asyncio.sleep(0)
        tasks.append(asyncio.current_task())
        return "v"

    async def main():
        me = asyncio.current_task()
        assert await group.do_async("k", work) == "v"
        assert asyncio.current_task() is me
        return me

    me = asyncio.run(main())
    assert tasks[0] is tasks[1] and tasks[0] is not me


def test_waiters_handed_off_by_a_thread_leader_run_it_once(group):
    class Stop(BaseException):
        pass

    started = threading.Event()
    release = threading.Event()
    runs = []

    def leader():
        def fn():
            started.set()
            release.wait()
            raise Stop()  # not an outcome: the flight is handed off

        with pytest.raises(Stop):
            group.do("k", fn)

    async def work():
        runs.append(1)
        await asyncio.sleep(0)
        return "rerun"

    t = threading.Thread(daemon=True, target=leader)
    t.start()
    started.wait()

    async def main():
        calls = [group.do_async("k", work) for _ in range(10)]
        await until(lambda: group.stats().followers == 10)
        release.set()
        return await asyncio.gather(*calls)

    assert asyncio.run(main()) == ["rerun"] * 10
    t.join()
    assert runs == [1]
    assert group.stats().handoffs == 1


@inline_first_step
def test_an_unused_standby_task_is_no_warning_when_the_loop_closes(group):
    async def now():
        return 1

    calls = []
    reported = []
    loop = asyncio.new_event_loop()
    loop.set_exception_handler(lambda _loop, context: reported.append(context))

    def in_a_callback():
        calls.append(group.do_async("k", now))  # makes the loop's standby
        loop.stop()  # ... which never gets its turn

    loop.call_soon(in_a_callback)
    loop.run_forever()
    assert calls[0].result() == 1
    pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
    assert len(pending) == 1  # the standby
    loop.close()
    del pending
    gc.collect()
    assert reported == []

    async def main():
        return await group.do_async("k", now)

    assert asyncio.run(main()) == 1  # another loop's standby ...
    assert loop not in _aio._standby  # ... and the closed one is forgotten


@inline_first_step
def test_leaders_whose_work_ends_at_once_share_one_standby_task(group):
    async def fails():
        raise Boom("at once")

    async def ok():
        return "v"

    async def main():
        before = len(asyncio.all_tasks())
        for i in range(100):
            with pytest.raises(Boom):
                await group.do_async(f"e{i}", fails)
            assert await group.do_async(f"k{i}", ok) == "v"
        # one standby made ahead for the whole turn of the loop, not a task
        # per call
        return len(asyncio.all_tasks()) - before

    assert asyncio.run(main()) == 1


def test_asyncio_helpers_take_the_future_as_it_is(group):
    async def work(x):
        await asyncio.sleep(0)
        return x

    async def main():
        call = group.do_async("a", work, 1)
        assert asyncio.ensure_future(call) is call  # no task around it
        out = [await asyncio.wait_for(call, 60)]
        out += [await f for f in asyncio.as_completed([group.do_async("b", work, 2)])]
        out.append(await asyncio.shield(group.do_async("c", work, 3)))
        return out

    assert asyncio.run(main()) == [1, 2, 3]


def test_a_leader_inside_a_leaders_first_step_has_a_task_of_its_own(group):
    seen = {}

    async def inner(suspend):
        seen.setdefault("inner", []).append(asyncio.current_task())
        if suspend:
            await asyncio.sleep(0)
        return "inner"

    async def outer():
        seen["outer"] = asyncio.current_task()
        a = await group.do_async("i1", inner, False)  # completes at once
        b = await group.do_async("i2", inner, True)  # suspends
        assert asyncio.current_task() is seen["outer"]
        return a + b

    async def main():
        me = asyncio.current_task()
        assert await group.do_async("o", outer) == "innerinner"
        return me

    me = asyncio.run(main())
    tasks = [me, seen["outer"], *seen["inner"]]
    assert len({id(t) for t in tasks}) == 4  # the caller, and a task per work
