"""A mixed, seeded stress run: threads and event loops on a few keys, with
timeouts, cancellations, failures and hand-offs. Checks that every caller
ends, that outcomes are consistent, and that nothing leaks."""

from __future__ import annotations

import asyncio
import random
import threading
import time

import pytest

from conftest import wait_until


class Boom(Exception):
    pass


class Stop(BaseException):
    """Not an outcome: the flight is handed off."""


SEEDS = [1, 2]
KEYS = [f"k{i}" for i in range(4)]


def make_work(rng: random.Random, runs: list):
    kind = rng.random()

    def work(key):
        runs.append(key)
        time.sleep(rng.random() * 0.0005)
        if kind < 0.1:
            raise Boom(key)
        if kind < 0.15:
            raise Stop()
        return (key, "value")

    return work


def make_async_work(rng: random.Random, runs: list):
    kind = rng.random()

    async def work(key):
        runs.append(key)
        await asyncio.sleep(rng.random() * 0.0005)
        if kind < 0.1:
            raise Boom(key)
        return (key, "value")

    return work


def check(key, value):
    assert value == (key, "value")


@pytest.mark.parametrize("seed", SEEDS)
def test_mixed_stress(group, seed):
    errors: list[BaseException] = []
    runs: list[str] = []

    def blocking(tid: int) -> None:
        rng = random.Random(seed * 1000 + tid)
        try:
            for _ in range(150):
                key = rng.choice(KEYS)
                timeout = rng.choice([None, None, 0, 0.0005])
                try:
                    check(key, group.do(key, make_work(rng, runs), key, timeout=timeout))
                except (Boom, TimeoutError, Stop):
                    pass
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    def loop_thread(lid: int) -> None:
        rng = random.Random(seed * 2000 + lid)

        async def one() -> None:
            key = rng.choice(KEYS)
            timeout = rng.choice([None, None, 0, 0.0005])
            try:
                check(
                    key, await group.do_async(key, make_async_work(rng, runs), key, timeout=timeout)
                )
            except (Boom, TimeoutError):
                pass

        async def main() -> None:
            for _ in range(30):
                tasks = [asyncio.create_task(one()) for _ in range(8)]
                await asyncio.sleep(rng.random() * 0.0005)
                for t in tasks:
                    if rng.random() < 0.2:
                        t.cancel()
                for r in await asyncio.gather(*tasks, return_exceptions=True):
                    if not isinstance(r, (type(None), asyncio.CancelledError)):
                        raise r

        try:
            asyncio.run(main())
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(daemon=True, target=blocking, args=(i,)) for i in range(6)]
    threads += [threading.Thread(daemon=True, target=loop_thread, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[0]
    wait_until(lambda: group.stats().live == 0, "every flight left")
    s = group.stats()
    assert s.in_table == 0
    # At most one run per flight (a flight abandoned early may never run).
    assert 0 < len(runs) <= s.flights
