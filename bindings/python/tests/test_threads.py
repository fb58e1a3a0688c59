"""Blocking callers: threads sharing flights through Group.do."""

from __future__ import annotations

import sys
import threading
import traceback

import pytest

import singleflight
from conftest import in_thread, run_threads, wait_until


def held(group, key, value):
    """A thread leads the flight of ``key`` and holds it until the returned
    event is set: returns the event and the thread's join(), which returns
    ``value``."""
    gate = threading.Event()
    flights = group.stats().flights
    join = in_thread(lambda: group.do(key, lambda: gate.wait() and value))
    wait_until(lambda: group.stats().flights == flights + 1, "the thread leads")
    return gate, join


def test_value_and_args(group):
    assert group.do("k", lambda a, b=0: a + b, 1, b=2) == 3
    assert group.do(b"k", divmod, 7, 2) == (3, 1)
    assert group.do_shared("k", lambda: "v") == ("v", False)
    s = group.stats()
    assert s.flights == 3 and s.followers == 0


def test_nothing_is_cached(group):
    calls = []
    for i in range(3):
        assert group.do("k", lambda i=i: calls.append(i) or i) == i
    assert calls == [0, 1, 2]


@pytest.mark.parametrize("n", [64])
def test_64_threads_one_key_run_once(group, n):
    runs = []
    results = [None] * n
    shared = [None] * n

    def work():
        runs.append(threading.get_ident())
        # Hold the flight until every other thread has joined it.
        wait_until(lambda: group.stats().followers == n - 1, "all threads joined")
        return object()

    def call(i):
        results[i], shared[i] = group.do_shared("hot", work)

    run_threads(n, call)
    assert len(runs) == 1
    assert all(r is results[0] for r in results)  # the very same object
    assert all(shared)
    s = group.stats()
    assert (s.flights, s.followers) == (1, n - 1)


def test_distinct_keys_run_apart(group):
    runs = []
    run_threads(16, lambda i: group.do(f"k{i}", lambda: runs.append(i)))
    assert sorted(runs) == list(range(16))


def test_keys_are_bytes_with_nuls(group):
    gate = threading.Event()
    runs = []

    def work(tag):
        runs.append(tag)
        gate.wait()
        return tag

    # "a\0b" and "a\0c" are different keys: both run while the other waits.
    b = in_thread(lambda: group.do(b"a\0b", work, "b"))
    wait_until(lambda: runs == ["b"])
    c = in_thread(lambda: group.do("a\0c", work, "c"))
    wait_until(lambda: sorted(runs) == ["b", "c"], "both keys ran")
    gate.set()
    assert (b(), c()) == ("b", "c")
    # str keys are their UTF-8 bytes: "é" and b"\xc3\xa9" are one key.
    assert group.do("é", lambda: 1) == 1
    assert group.do(b"", lambda: "empty key") == "empty key"


def test_str_and_bytes_key_share_a_flight(group):
    gate, leader = held(group, "é", "x")
    follower = in_thread(lambda: group.do("\u00e9".encode(), lambda: "never"))
    wait_until(lambda: group.stats().followers == 1)
    gate.set()
    assert (leader(), follower()) == ("x", "x")


class Boom(Exception):
    pass


def test_exception_is_the_same_object_with_leaders_traceback(group):
    n = 8
    caught = [None] * n
    runs = []

    def failing_work():
        runs.append(1)
        wait_until(lambda: group.stats().followers == n - 1)
        raise Boom("no luck")

    def call(i):
        try:
            group.do("k", failing_work)
        except Boom as exc:
            caught[i] = exc

    run_threads(n, call)
    assert len(runs) == 1
    assert all(e is caught[0] for e in caught)
    frames = [f.name for f in traceback.extract_tb(caught[0].__traceback__)]
    assert "failing_work" in frames
    # The key is not poisoned: the next caller runs normally.
    assert group.do("k", lambda: "fine") == "fine"


def test_timeout_raises_while_flight_goes_on(group):
    gate, leader = held(group, "k", "late")
    with pytest.raises(TimeoutError):
        group.do("k", lambda: "never", timeout=0.01)
    with pytest.raises(TimeoutError):
        group.do("k", lambda: "never", timeout=0)
    assert group.stats().timeouts >= 1
    # A patient follower still gets the outcome.
    patient = in_thread(lambda: group.do("k", lambda: "never", timeout=3600))
    wait_until(lambda: group.stats().followers == 3)
    gate.set()
    assert (leader(), patient()) == ("late", "late")


def test_reentering_own_key_is_deadlock_error(group):
    def work():
        return group.do("k", work)

    with pytest.raises(singleflight.DeadlockError) as info:
        group.do("k", work)
    assert isinstance(info.value, RuntimeError)
    # Other keys from inside the work are fine.
    assert group.do("outer", lambda: group.do("inner", lambda: 5)) == 5


class Interrupt(BaseException):
    """Stands for KeyboardInterrupt: not an outcome of the work."""


def test_base_exception_hands_off_to_a_waiter(group):
    runs = []

    def interrupted():
        runs.append("first")
        wait_until(lambda: group.stats().followers == 1)
        raise Interrupt()

    leader = in_thread(lambda: group.do("k", interrupted))
    wait_until(lambda: runs == ["first"])
    follower = in_thread(lambda: group.do("k", lambda: runs.append("second") or "second"))
    with pytest.raises(Interrupt):
        leader()
    assert follower() == "second"
    assert runs == ["first", "second"]
    assert group.stats().handoffs == 1


def test_forget_starts_a_new_flight(group):
    gate, leader = held(group, "k", "old")
    assert group.forget_unshared("k") is True  # nobody joined: forgotten
    assert group.do("k", lambda: "new") == "new"
    group.forget("k")
    group.forget("nothing")
    gate.set()
    assert leader() == "old"


def test_forget_unshared_keeps_a_shared_flight(group):
    gate, leader = held(group, "k", 1)
    follower = in_thread(lambda: group.do("k", lambda: 2))
    wait_until(lambda: group.stats().followers == 1)
    assert group.forget_unshared("k") is False
    gate.set()
    assert (leader(), follower()) == (1, 1)


def test_named_groups_are_shared(group):
    a = singleflight.Group.open("test-named-shared")
    b = singleflight.Group.open(b"test-named-shared")
    assert a.name == b"test-named-shared"
    gate, leader = held(a, "k", "a")
    follower = in_thread(lambda: b.do("k", lambda: "b"))
    wait_until(lambda: b.stats().followers == 1)
    gate.set()
    assert (leader(), follower()) == ("a", "a")
    # A private group is a different namespace.
    assert group.do("k", lambda: "private") == "private"


def test_values_of_every_kind_are_the_objects_themselves(group):
    for value in (None, 0, "s", b"b", bytearray(b"ba"), memoryview(b"mv"), [1], {"a": 1}):
        assert group.do("k", lambda: value) is value


def test_switch_interval_does_not_matter(group):
    # Many threads, many keys, a tiny GIL switch interval: every caller gets
    # the result of its own key.
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:

        def call(i):
            for j in range(200):
                key = f"k{j % 7}"
                assert group.do(key, lambda: key) == key

        run_threads(8, call)
    finally:
        sys.setswitchinterval(old)
