"""@group.dedup: which callables it takes, how it tells them apart."""

from __future__ import annotations

import asyncio
import threading

import pytest

from conftest import wait_until


def test_two_closures_of_one_factory_do_not_share_flights(group):
    gate = {}

    def make(tag):
        def load(x):
            gate[tag] = gate.get(tag, 0) + 1
            if tag == "a":
                wait_until(lambda: second.is_set() or group.stats().followers >= 1)
            return (tag, x)

        return group.dedup(load)

    second = threading.Event()
    a, b = make("a"), make("b")
    assert a.__qualname__ == b.__qualname__  # one name, two functions
    out = []
    t = threading.Thread(daemon=True, target=lambda: out.append(a(1)))
    t.start()
    wait_until(lambda: gate.get("a") == 1)
    got_b = b(1)
    second.set()
    t.join()
    assert got_b == ("b", 1)
    assert out == [("a", 1)]
    assert gate == {"a": 1, "b": 1}


def test_two_functions_of_one_name_on_one_group_do_not_share(group):
    ran = []
    second = threading.Event()

    def first_def():
        def fetch(x):
            ran.append("first")
            wait_until(lambda: second.is_set() or group.stats().followers >= 1)
            return "first"

        return fetch

    def second_def():
        def fetch(x):
            ran.append("second")
            return "second"

        return fetch

    # Two functions called "fetch" (say, redefined in one module).
    fetch1, fetch2 = first_def(), second_def()
    fetch1.__qualname__ = fetch2.__qualname__ = "fetch"
    f1 = group.dedup(fetch1)
    f2 = group.dedup(fetch2)
    out = []
    t = threading.Thread(daemon=True, target=lambda: out.append(f1(1)))
    t.start()
    wait_until(lambda: ran == ["first"])
    assert f2(1) == "second"
    second.set()
    t.join()
    assert out == ["first"]


def test_an_object_with_an_async_call_is_deduplicated_as_async(group):
    runs = []

    class Fetcher:
        async def __call__(self, x):
            runs.append(x)
            await asyncio.sleep(0)
            return x * 2

    fetch = group.dedup(Fetcher())
    assert asyncio.iscoroutinefunction(fetch)

    async def main():
        return await asyncio.gather(*(fetch(3) for _ in range(5)))

    assert asyncio.run(main()) == [6] * 5
    assert runs == [3]


def test_generator_functions_are_refused_at_decoration(group):
    def gen():
        yield 1

    async def agen():
        yield 1

    class GenCall:
        def __call__(self):
            yield 1

    for fn in (gen, agen, GenCall()):
        with pytest.raises(TypeError, match="generator"):
            group.dedup(fn)
        with pytest.raises(TypeError, match="generator"):
            group.dedup(key="k")(fn)
