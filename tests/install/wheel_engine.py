"""Run by python_wheel.sh in a fresh venv holding only the wheel (and cffi):
which libsingleflight.so.0 the package loads, a stampede on it, and the
one-engine rule when a second copy of the engine is in the process.

    python wheel_engine.py stampede EXPECTED_LIB
    python wheel_engine.py wheel-first LIBOTHER WHEEL_LIB
    python wheel_engine.py other-first LIBOTHER OTHER_LIB
    python wheel_engine.py by-path OTHER_LIB WHEEL_LIB

LIBOTHER is other_engine.c built against another copy of the engine (OTHER_LIB,
through its rpath); *_LIB are paths of libsingleflight.so.0 files. Each mode
prints what it saw and exits non-zero when the rule does not hold.
"""

from __future__ import annotations

import ctypes
import os
import sys
import threading
import time

HANG_GUARD_S = 60.0  # a broken stampede fails instead of hanging the suite


def fail(msg: str) -> None:
    sys.exit(f"wheel_engine.py: FAIL: {msg}")


def engines_mapped() -> list[str]:
    """The engine files mapped into this process (an installed one is mapped
    as the file its libsingleflight.so.0 symlink names)."""
    with open("/proc/self/maps") as f:
        paths = {line.split(None, 5)[5].strip() for line in f if len(line.split(None, 5)) == 6}
    return sorted(p for p in paths if os.path.basename(p).startswith("libsingleflight.so"))


def same_file(a: str, b: str) -> bool:
    return os.path.samefile(a, b)


def python_engine_id() -> int:
    from singleflight._raw import ffi, lib

    return int(ffi.cast("uintptr_t", lib.sf_engine_id()))


def load_other(path: str) -> ctypes.CDLL:
    other = ctypes.CDLL(path)
    other.other_engine_id.restype = ctypes.c_size_t
    other.other_flights.restype = ctypes.c_uint64
    other.other_flights.argtypes = [ctypes.c_char_p]
    return other


def stampede(name: str, callers: int = 32):
    """`callers` threads call do() on one key of the named group `name`; the
    work waits until all the others have joined, so it runs once. Returns the
    group (the named group lives while it is held)."""
    import singleflight

    group = singleflight.Group.open(name)
    runs = []

    def work():
        runs.append(1)
        deadline = time.monotonic() + HANG_GUARD_S
        while group.stats().followers < callers - 1:
            if time.monotonic() > deadline:
                raise RuntimeError("the followers never joined")
            time.sleep(0.001)
        return object()

    got = []
    threads = [
        threading.Thread(target=lambda: got.append(group.do("user:42", work)))
        for _ in range(callers)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if len(runs) != 1 or len(got) != callers or any(v is not got[0] for v in got):
        fail(f"stampede: work ran {len(runs)} times for {len(got)} callers")
    print(f"stampede: {callers} callers, the work ran once, one object for all")
    return group


def main() -> None:
    mode, *args = sys.argv[1:]
    if mode == "stampede":
        (expected,) = args
        import singleflight

        group = stampede("wheel-stampede")
        mapped = engines_mapped()
        if len(mapped) != 1 or not same_file(mapped[0], expected):
            fail(f"the package loaded {mapped}, not {expected}")
        print(f"singleflight from {os.path.dirname(singleflight.__file__)}; engine {mapped[0]}")
        del group
    elif mode == "wheel-first":
        libother, wheel_lib = args
        group = stampede("one-engine")
        ours = python_engine_id()
        other = load_other(libother)  # its DT_NEEDED libsingleflight.so.0 is already loaded
        mapped = engines_mapped()
        if len(mapped) != 1 or not same_file(mapped[0], wheel_lib):
            fail(f"after loading {libother}: {mapped} mapped, expected only {wheel_lib}")
        if other.other_engine_id() != ours:
            fail(f"two engines: {ours:#x} (Python) and {other.other_engine_id():#x} ({libother})")
        flights = other.other_flights(b"one-engine")
        if flights != 1:
            fail(f"{libother} counts {flights} flights of the Python stampede's group, not 1")
        print(f"wheel first: one engine {ours:#x} ({mapped[0]}); the other library sees the flight")
        del group
    elif mode == "other-first":
        libother, other_lib = args
        other = load_other(libother)  # loads other_lib through its rpath
        group = stampede("one-engine")  # the extension's libsingleflight.so.0 is the loaded one
        ours = python_engine_id()
        mapped = engines_mapped()
        if len(mapped) != 1 or not same_file(mapped[0], other_lib):
            fail(f"after importing singleflight: {mapped} mapped, expected only {other_lib}")
        if other.other_engine_id() != ours:
            fail(f"two engines: {ours:#x} (Python) and {other.other_engine_id():#x} ({libother})")
        if other.other_flights(b"one-engine") != 1:
            fail("the other library does not see the Python stampede's flight")
        print(f"other first: one engine {ours:#x} ({mapped[0]}); the wheel's copy is not loaded")
        del group
    elif mode == "by-path":
        other_lib, wheel_lib = args
        ours = python_engine_id()
        by_name = ctypes.CDLL("libsingleflight.so.0")  # the soname: the loaded object
        by_name.sf_engine_id.restype = ctypes.c_size_t
        if by_name.sf_engine_id() != ours:
            fail("dlopen('libsingleflight.so.0') gave another engine")
        by_path = ctypes.CDLL(os.path.abspath(other_lib))  # a path: glibc compares files
        by_path.sf_engine_id.restype = ctypes.c_size_t
        mapped = engines_mapped()
        if by_path.sf_engine_id() == ours or len(mapped) != 2:
            fail(
                f"dlopen({other_lib}) by path: engine {by_path.sf_engine_id():#x} "
                f"(Python: {ours:#x}), {mapped} mapped; expected a second copy"
            )
        print(
            "by soname: the loaded engine; by the path of another file: a second engine "
            f"{by_path.sf_engine_id():#x} beside {ours:#x}"
        )
    else:
        fail(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
