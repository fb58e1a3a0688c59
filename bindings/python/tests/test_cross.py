"""Named groups shared with C callers.

"C callers" here are the engine's C ABI called with no Python binding in
between: ``sf_do`` through ctypes with a C-level work callback (a blocking C
caller on its own thread), and the raw split API through the cffi module's
``lib`` (``sf_join``/``sf_complete``/``sf_wait``, no native kind: exactly
what a C program sees).
"""

from __future__ import annotations

import asyncio
import ctypes
import itertools
import threading

import pytest

import singleflight
from conftest import in_thread, wait_until
from singleflight._raw import ffi, lib

SF_OK, SF_EWORK, SF_EPANIC, SF_ENOBYTES = 0, 1, 2, 9

_names = itertools.count()


class Result(ctypes.Structure):
    _fields_ = [("value", ctypes.c_void_p), ("error", ctypes.c_void_p), ("shared", ctypes.c_int)]


WORK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.c_void_p, ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(ctypes.c_void_p)
)


def load_c():
    c = ctypes.CDLL("libsingleflight.so.0")
    c.sf_engine_id.restype = ctypes.c_void_p
    c.sf_group_open.restype = ctypes.c_void_p
    c.sf_group_open.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
    c.sf_group_release.argtypes = [ctypes.c_void_p]
    c.sf_do.argtypes = [
        ctypes.c_void_p,
        ctypes.c_char_p,
        ctypes.c_size_t,
        WORK,
        ctypes.c_void_p,
        ctypes.POINTER(Result),
    ]
    c.sf_bytes_new.restype = ctypes.c_void_p
    c.sf_bytes_new.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
    c.sf_bytes_data.restype = ctypes.c_void_p
    c.sf_bytes_data.argtypes = [ctypes.c_void_p]
    c.sf_bytes_len.restype = ctypes.c_size_t
    c.sf_bytes_len.argtypes = [ctypes.c_void_p]
    c.sf_bytes_release.argtypes = [ctypes.c_void_p]
    return c


C = load_c()


def c_bytes(res_ptr):
    return ctypes.string_at(C.sf_bytes_data(res_ptr), C.sf_bytes_len(res_ptr))


class CCaller:
    """A C caller of ``sf_do`` on a named group, on a thread of its own."""

    def __init__(self, name: bytes, key: bytes, work=None):
        self.group = C.sf_group_open(name, len(name))
        assert self.group
        self.key = key
        self.status = None
        self.value = self.error = None
        self.value_addr = None
        self.ran = False
        self._work = WORK(work or self._never)
        self.thread = threading.Thread(daemon=True, target=self._run)

    def _never(self, userdata, value, error):
        self.ran = True
        return SF_OK

    def _run(self):
        res = Result()
        self.status = C.sf_do(
            self.group, self.key, len(self.key), self._work, None, ctypes.byref(res)
        )
        if res.value:
            self.value_addr = C.sf_bytes_data(res.value)
            self.value = c_bytes(res.value)
        if res.error:
            self.error = c_bytes(res.error)
        C.sf_bytes_release(res.value)
        C.sf_bytes_release(res.error)
        C.sf_group_release(self.group)

    def start(self):
        self.thread.start()
        return self

    def follow(self, g: singleflight.Group) -> None:
        """Starts it in the work of a flight of ``g``: returns once it joined."""
        followers = g.stats().followers
        self.start()
        wait_until(lambda: g.stats().followers == followers + 1, "the C caller joined")

    def join(self):
        self.thread.join()
        return self


@pytest.fixture
def named():
    name = f"py-cross-{next(_names)}".encode()
    g = singleflight.Group.open(name)
    yield name, g
    wait_until(lambda: g.stats().live == 0)


def test_one_engine_per_process():
    assert C.sf_engine_id() == int(ffi.cast("uintptr_t", lib.sf_engine_id()))


def test_python_bytes_reach_c_without_a_copy(named):
    name, g = named
    payload = b"zero-copy payload " * 10
    addr = int(ffi.cast("uintptr_t", ffi.from_buffer(payload)))
    c = CCaller(name, b"k")
    value, shared = g.do_shared("k", lambda: c.follow(g) or payload)
    c.join()
    assert value is payload and shared
    assert (c.status, c.value, c.ran) == (SF_OK, payload, False)
    assert c.value_addr == addr  # the C caller read the bytes object's own buffer


def test_python_str_reaches_c_as_utf8(named):
    name, g = named
    c = CCaller(name, b"k")
    assert g.do("k", lambda: c.follow(g) or "héllo") == "héllo"
    c.join()
    assert (c.status, c.value) == (SF_OK, "héllo".encode())


def test_python_object_without_bytes_is_enobytes_for_c(named):
    name, g = named
    c = CCaller(name, b"k")
    obj = {"not": "bytes"}
    assert g.do("k", lambda: c.follow(g) or obj) is obj
    c.join()
    assert c.status == SF_ENOBYTES
    assert b"python" in c.error


def test_python_exception_reaches_c_as_work_error(named):
    name, g = named
    c = CCaller(name, b"k")

    def work():
        c.follow(g)
        raise ValueError("bad thing")

    with pytest.raises(ValueError, match="bad thing"):
        g.do("k", work)
    c.join()
    assert c.status == SF_EWORK
    assert c.error == b"ValueError: bad thing"


def _c_leader(
    name: bytes, g: singleflight.Group, status: int, value: bytes | None, error: bytes | None
):
    """A C caller that leads and holds its flight until `go` is set."""
    go = threading.Event()

    def work(userdata, value_out, error_out):
        go.wait()
        if value is not None:
            value_out[0] = C.sf_bytes_new(value, len(value))
        if error is not None:
            error_out[0] = C.sf_bytes_new(error, len(error))
        return status

    flights = g.stats().flights
    caller = CCaller(name, b"k", work).start()
    try:
        wait_until(lambda: g.stats().flights == flights + 1, "the C caller leads")
    except BaseException:
        go.set()
        raise
    return caller, go


def test_c_leader_bytes_reach_python_as_a_readonly_memoryview(named):
    name, g = named
    caller, go = _c_leader(name, g, SF_OK, b"from C", None)
    follower = in_thread(lambda: g.do_shared("k", lambda: "never"))
    wait_until(lambda: g.stats().followers == 1)
    go.set()
    value, shared = follower()
    caller.join()
    assert isinstance(value, memoryview) and value.readonly and shared
    assert value == b"from C"
    assert caller.value == b"from C"
    del value  # drops the engine reference


def test_c_leader_errors_reach_python(named):
    name, g = named
    for status, error, exc_type in (
        (SF_EWORK, b"c says no", singleflight.WorkError),
        (SF_EWORK, None, singleflight.WorkError),
        (42, None, singleflight.PanicError),  # a bad status: the flight panics
    ):
        followers = g.stats().followers
        caller, go = _c_leader(name, g, status, None, error)
        follower = in_thread(lambda: g.do("k", lambda: "never"))
        try:
            wait_until(lambda: g.stats().followers == followers + 1)
        finally:
            go.set()
        with pytest.raises(exc_type) as info:
            follower()
        caller.join()
        if status == SF_EWORK:
            assert info.value.error == error
        wait_until(lambda: g.stats().live == 0)


def test_c_leader_wakes_asyncio_followers(named):
    name, g = named
    caller, go = _c_leader(name, g, SF_OK, b"to the loop", None)

    async def never():
        raise AssertionError("ran")

    async def main():
        tasks = [asyncio.create_task(g.do_async("k", never)) for _ in range(20)]
        while g.stats().followers < 20:
            await asyncio.sleep(0.001)
        go.set()  # completes on the C caller's thread
        return await asyncio.gather(*tasks)

    out = asyncio.run(main())
    caller.join()
    assert all(bytes(v) == b"to the loop" for v in out)
    # Every follower holds a view of one engine buffer, not a copy.
    addrs = {int(ffi.cast("uintptr_t", ffi.from_buffer(v))) for v in out}
    assert len(addrs) == 1
    del out


def test_raw_split_api_leader_and_python_follower(named):
    """A C-style leader using the raw ABI: sf_join, then sf_complete."""
    name, g = named
    raw = lib.sf_group_open(name, len(name))
    wait_t, work_t = ffi.new("sf_ticket **"), ffi.new("sf_ticket **")
    assert lib.sf_join(raw, b"k", 1, 0, wait_t, work_t) == SF_OK
    assert work_t[0] != ffi.NULL
    follower = in_thread(lambda: g.do("k", lambda: "never"))
    wait_until(lambda: g.stats().followers == 1)
    value = lib.sf_bytes_new(b"raw", 3)
    assert lib.sf_complete(work_t[0], SF_OK, value, ffi.NULL) == SF_OK
    lib.sf_leave(work_t[0])
    lib.sf_leave(wait_t[0])
    assert bytes(follower()) == b"raw"
    lib.sf_group_release(raw)


def test_raw_split_api_follower_of_python_leader(named):
    name, g = named
    raw = lib.sf_group_open(name, len(name))
    got = {}

    def c_follower():
        wait_t, work_t = ffi.new("sf_ticket **"), ffi.new("sf_ticket **")
        assert lib.sf_join(raw, b"k", 1, 0, wait_t, work_t) == SF_OK
        got["led"] = work_t[0] != ffi.NULL
        res = ffi.new("sf_result *")
        got["status"] = lib.sf_wait(wait_t[0], -1, res)
        got["value"] = ffi.unpack(
            ffi.cast("char *", lib.sf_bytes_data(res.value)), lib.sf_bytes_len(res.value)
        )
        lib.sf_bytes_release(res.value)
        lib.sf_bytes_release(res.error)
        lib.sf_leave(wait_t[0])

    t = threading.Thread(daemon=True, target=c_follower)

    def work():
        t.start()
        wait_until(lambda: g.stats().followers == 1)
        return b"python made it"

    assert g.do("k", work) == b"python made it"
    t.join()
    lib.sf_group_release(raw)
    assert got == {"led": False, "status": SF_OK, "value": b"python made it"}
