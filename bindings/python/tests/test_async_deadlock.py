"""Re-entry in asyncio: a cycle is refused with DeadlockError, a mere
descendant of a flight's work is not."""

from __future__ import annotations

import asyncio

import pytest

import singleflight
from conftest import HANG_GUARD_S, follows_tasks


def _second_flight(state):
    """The work of a later flight of "k": it waits until the child task
    joined it (so that the child follows it)."""

    async def second_work():
        await state["child_joined"].wait()
        return "second"

    return second_work


async def _join_and_say(state, work):
    call = group_of(state).do_async("k", work)
    state["child_joined"].set()
    return await call


def group_of(state):
    return state["group"]


def test_a_task_the_work_started_follows_a_later_flight_of_its_key(group):
    # A refresh task started by a loader joins the next flight of the key.
    state = {"group": group}

    async def refresh():
        await state["first_done"].wait()  # after the first flight ended
        return await _join_and_say(state, _second_flight(state))

    async def loader():
        state["refresh"] = asyncio.ensure_future(refresh())
        await asyncio.sleep(0)
        return "first"

    async def main():
        state["first_done"] = asyncio.Event()
        state["child_joined"] = asyncio.Event()
        assert await group.do_async("k", loader) == "first"
        second = group.do_async("k", _second_flight(state))  # leads the next flight
        state["first_done"].set()
        got = await asyncio.wait_for(state["refresh"], HANG_GUARD_S)
        return got, await second

    assert asyncio.run(main()) == ("second", "second")
    assert group.stats().followers == 1


def test_a_task_the_work_started_follows_the_flight_that_replaced_it(group):
    state = {"group": group}

    async def child():
        # Joins the flight of "k" that main() started after forgetting the
        # first one: not the flight whose work started this task.
        await state["second_started"].wait()
        return await _join_and_say(state, _second_flight(state))

    async def first_work():
        state["child"] = asyncio.ensure_future(child())
        await state["release_first"].wait()
        return "first"

    async def main():
        state["second_started"] = asyncio.Event()
        state["release_first"] = asyncio.Event()
        state["child_joined"] = asyncio.Event()
        first = group.do_async("k", first_work)
        await asyncio.sleep(0)
        group.forget("k")
        second = group.do_async("k", _second_flight(state))  # leads the new flight
        state["second_started"].set()
        got_child = await asyncio.wait_for(state["child"], HANG_GUARD_S)
        state["release_first"].set()
        return await first, await second, got_child

    assert asyncio.run(main()) == ("first", "second", "second")
    assert group.stats().followers == 1


@follows_tasks
def test_work_returning_a_task_that_awaits_its_key_is_deadlock_error(group):
    holder = []

    async def joins_later():
        await asyncio.sleep(0)
        return await group.do_async("k", lambda: holder[0])

    async def main():
        holder.append(asyncio.ensure_future(joins_later()))
        call = group.do_async("k", lambda: holder[0])  # the work is that task
        with pytest.raises(singleflight.DeadlockError):
            await asyncio.wait_for(call, HANG_GUARD_S)

    asyncio.run(main())


@follows_tasks
def test_work_returning_the_task_of_its_own_caller_is_deadlock_error(group):
    holder = []

    async def caller():
        return await group.do_async("k", lambda: holder[0])

    async def main():
        holder.append(asyncio.ensure_future(caller()))
        with pytest.raises(singleflight.DeadlockError):
            await asyncio.wait_for(holder[0], HANG_GUARD_S)

    asyncio.run(main())


def test_re_entry_after_the_first_suspension_is_deadlock_error(group):
    async def work():
        await asyncio.sleep(0)
        return await group.do_async("k", work)

    async def blocking_reentry():
        await asyncio.sleep(0)
        return group.do("k2", lambda: "never")

    async def main():
        with pytest.raises(singleflight.DeadlockError):
            await asyncio.wait_for(group.do_async("k", work), HANG_GUARD_S)
        with pytest.raises(singleflight.DeadlockError):
            await asyncio.wait_for(group.do_async("k2", blocking_reentry), HANG_GUARD_S)

    asyncio.run(main())


def test_deadlock_messages_shorten_long_keys(group):
    key = b"x" * 10_000

    async def work():
        return await group.do_async(key, work)

    async def main():
        with pytest.raises(singleflight.DeadlockError) as info:
            await group.do_async(key, work)
        return str(info.value)

    msg = asyncio.run(main())
    assert "10000 bytes" in msg and len(msg) < 300

    def blocking():
        return group.do(key, blocking)

    with pytest.raises(singleflight.DeadlockError) as info:
        group.do(key, blocking)
    assert "10000 bytes" in str(info.value) and len(str(info.value)) < 300
