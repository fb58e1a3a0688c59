"""Bad input, the decorator, and the small parts of the API."""

from __future__ import annotations

import asyncio
import threading

import pytest

import singleflight
from conftest import wait_until


@pytest.mark.parametrize("key", [1, 1.5, None, ["k"], bytearray(b"k"), memoryview(b"k"), object()])
def test_bad_key_is_type_error(group, key):
    with pytest.raises(TypeError, match="key must be str or bytes"):
        group.do(key, lambda: 1)
    with pytest.raises(TypeError, match="key must be str or bytes"):
        group.do_shared(key, lambda: 1)
    with pytest.raises(TypeError, match="key must be str or bytes"):
        asyncio.run(group.do_async(key, asyncio.sleep, 0))
    with pytest.raises(TypeError):
        group.forget(key)
    assert group.stats().flights == 0


def test_surrogate_key_is_value_error(group):
    with pytest.raises(UnicodeEncodeError):  # a ValueError
        group.do("\udc80", lambda: 1)


@pytest.mark.parametrize("fn", [None, 1, "fn"])
def test_uncallable_fn_is_type_error(group, fn):
    with pytest.raises(TypeError, match="fn must be callable"):
        group.do("k", fn)
    with pytest.raises(TypeError, match="fn must be callable"):
        asyncio.run(group.do_async("k", fn))
    assert group.stats().flights == 0


@pytest.mark.parametrize(
    "timeout, exc",
    [(-1, ValueError), (float("nan"), ValueError), ("1", TypeError), (True, TypeError)],
)
def test_bad_timeout(group, timeout, exc):
    with pytest.raises(exc, match="timeout"):
        group.do("k", lambda: 1, timeout=timeout)
    with pytest.raises(exc, match="timeout"):
        asyncio.run(group.do_async("k", asyncio.sleep, 0, timeout=timeout))
    assert group.stats().flights == 0


def test_bad_group_names():
    with pytest.raises(ValueError, match="empty"):
        singleflight.Group.open("")
    with pytest.raises(TypeError):
        singleflight.Group.open(3)


def test_non_awaitable_from_do_async_fn_is_shared_type_error(group):
    async def main():
        return await group.do_async("k", lambda: 1)

    with pytest.raises(TypeError):
        asyncio.run(main())


def test_timeout_does_not_bound_a_leader(group):
    # A leader runs the work itself; the timeout only bounds waiting.
    assert group.do("k", lambda: "done", timeout=0) == "done"


def test_stats_and_repr(group):
    assert group.stats() == singleflight.Stats(0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    group.do("k", int)
    assert group.stats().flights == 1
    assert "private" in repr(group)
    assert group.name is None
    assert "name=b'x'" in repr(singleflight.Group.open("x"))
    assert singleflight.engine_version().count(".") == 2


def test_dedup_decorator_threads(group):
    runs = []
    gate = threading.Event()

    @group.dedup(key="user:{0}")
    def load_user(uid, *, verbose=False):
        """Loads a user."""
        runs.append(uid)
        gate.wait()
        return {"id": uid}

    assert load_user.__name__ == "load_user" and load_user.__doc__ == "Loads a user."
    out = []
    threads = [
        threading.Thread(daemon=True, target=lambda: out.append(load_user(7))) for _ in range(8)
    ]
    threads[0].start()
    wait_until(lambda: runs == [7])
    for t in threads[1:]:
        t.start()
    wait_until(lambda: group.stats().followers == 7)
    gate.set()
    for t in threads:
        t.join()
    assert runs == [7]
    assert all(o is out[0] for o in out)
    assert load_user(8, verbose=True) == {"id": 8}


def test_dedup_decorator_default_and_callable_keys(group):
    calls = []

    @group.dedup
    def plain(a, b=1):
        calls.append((a, b))
        return a + b

    @group.dedup(key=lambda a, b=1: f"sum:{a + b}")
    def by_sum(a, b=1):
        return (a, b)

    assert plain(1) == 2 and plain(1, b=2) == 3
    assert calls == [(1, 1), (1, 2)]
    assert by_sum(1, 2) == (1, 2)
    with pytest.raises(TypeError):
        group.dedup(key=3)
    with pytest.raises(ValueError):
        group.dedup(timeout=-1)

    @group.dedup(key=lambda: 5)
    def bad_key():
        return 1

    with pytest.raises(TypeError, match="key must be str or bytes"):
        bad_key()


def test_dedup_decorator_coroutines(group):
    runs = []

    @group.dedup(key=b"fixed", timeout=60)
    async def fetch(x):
        runs.append(x)
        await asyncio.sleep(0.01)
        return x * 2

    assert asyncio.iscoroutinefunction(fetch)

    async def main():
        return await asyncio.gather(*(fetch(i) for i in range(10)))

    out = asyncio.run(main())
    assert runs == [0]
    assert out == [0] * 10


def test_dedup_coroutine_with_its_own_timeout_argument(group):
    @group.dedup(key="user:{0}", timeout=60)
    async def fetch(user, timeout=1.0):
        await asyncio.sleep(0)
        return (user, timeout)

    async def main():
        return await asyncio.gather(fetch(1, timeout=2.5), fetch(1, timeout=2.5), fetch(2))

    assert asyncio.run(main()) == [(1, 2.5), (1, 2.5), (2, 1.0)]


def test_exceptions_hierarchy():
    assert issubclass(singleflight.WorkError, singleflight.SingleflightError)
    assert issubclass(singleflight.PanicError, singleflight.SingleflightError)
    assert issubclass(singleflight.NoBytesError, TypeError)
    assert issubclass(singleflight.DeadlockError, RuntimeError)


def test_missing_engine_at_import_says_what_to_do(tmp_path):
    """If the compiled module cannot load the engine, import fails with advice."""
    import os
    import shutil
    import subprocess
    import sys

    pkg = os.path.dirname(singleflight.__file__)
    copy = tmp_path / "singleflight"
    shutil.copytree(pkg, copy, ignore=shutil.ignore_patterns("*.so", "__pycache__"))
    (copy / "_singleflight.py").write_text(
        "raise ImportError('libsingleflight.so.0: cannot open shared object file')\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", "import singleflight"],
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert proc.returncode != 0
    assert "libsingleflight.so" in proc.stderr
    assert "scripts/setup" in proc.stderr and "pip install" in proc.stderr


def test_coroutine_function_given_to_do_is_type_error(group):
    async def coro_fn():
        return 1

    with pytest.raises(TypeError, match="do_async"):
        group.do("k", coro_fn)
    with pytest.raises(TypeError, match="do_async"):
        group.do_shared("k", coro_fn)


def test_a_join_the_engine_rejects_is_reported(group):
    from singleflight import _engine
    from singleflight._raw import ffi, lib

    c = lib.sfpy_join(ffi.NULL, b"k", 1, 0)  # a NULL group: SF_EINVAL
    assert c.role == -lib.SF_EINVAL
    assert isinstance(_engine._status_error(-c.role), ValueError)
    assert lib.sfpy_live_tickets() == 0
