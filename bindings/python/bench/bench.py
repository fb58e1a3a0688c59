#!/usr/bin/env python3
"""Per-call cost of singleflight (this binding) against the PyPI peers, in one run.

    . scripts/env.sh && pip install ./bindings/python
    python bindings/python/bench/bench.py [--quick] [--markdown]

Peers are installed here, for the benchmark only (never runtime dependencies):

* ``coalescer`` and ``oneflight`` with pip into the running environment;
* PyPI's ``singleflight`` 0.1.3 with ``pip install --target`` into
  ``bindings/python/build/bench-peers``: it has our import name, so it is
  loaded from there under another name (its modules import only the stdlib).

Scenarios (each figure is the best of several repeats, in ns per call):

* ``unique keys``: one thread, every call a new key (no sharing): the bare
  overhead of a call that leads its own flight;
* ``hot key, 64 threads``: 64 threads call the same key in a loop; trivial
  work, so this measures coordination under contention (wall time / calls);
* ``... work yields the GIL``: the same with work that sleeps(0), so that
  callers really pile up behind each run (dozens of followers per flight):
  the cost is then mostly waking threads, for every implementation;
* ``asyncio unique keys``: one task awaiting calls with new keys in turn;
* ``asyncio hot key, 1000 tasks``: rounds of 1000 tasks gathered on one key,
  whose work awaits once (wall time / calls).

The ratio is this binding's time over the best peer's (lower is better); the
target is at most 0.5 in the three scenarios the issue names (unique keys, hot
key with 64 threads, 1,000 asyncio tasks); the other two rows are ours and
say "(not a target)". The last column, "no dedup (floor)", calls the work
directly (every caller runs it): not a peer, but the cost that Python and
asyncio themselves put under any implementation.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib.util
import os
import platform
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
PEERS_DIR = os.path.join(os.path.dirname(HERE), "build", "bench-peers")
PYPI_SINGLEFLIGHT = "singleflight==0.1.3"
TARGET = 0.5


def pip(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", *args], check=True)


def load_peers() -> dict[str, Any]:
    """Installs (if needed) and imports the peers."""
    if (
        importlib.util.find_spec("coalescer") is None
        or importlib.util.find_spec("oneflight") is None
    ):
        pip("coalescer", "oneflight")
    target = os.path.join(PEERS_DIR, "pypi-singleflight")
    if not os.path.exists(os.path.join(target, "singleflight", "basic.py")):
        pip("--no-deps", "--target", target, PYPI_SINGLEFLIGHT)

    def from_file(alias: str, path: str) -> Any:
        spec = importlib.util.spec_from_file_location(alias, path)
        assert spec and spec.loader
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod

    basic = from_file("pypi_singleflight_basic", os.path.join(target, "singleflight", "basic.py"))
    asyn = from_file(
        "pypi_singleflight_async", os.path.join(target, "singleflight", "asynchronous.py")
    )
    import coalescer
    import coalescer.sync
    import oneflight

    return {
        "basic": basic,
        "asyn": asyn,
        "coalescer": coalescer,
        "coalescer_sync": coalescer.sync,
        "oneflight": oneflight,
    }


# --------------------------------------------------------------------------
# Adapters: (name, version, sync call(key, fn) factory, async call factory)


def adapters(
    peers: dict[str, Any],
) -> list[tuple[str, Callable[[], Any], Callable[[], Any] | None]]:
    import singleflight

    def ours_sync():
        g = singleflight.Group()
        return lambda key, fn: g.do(key, fn)

    def ours_async():
        g = singleflight.Group()
        return lambda key, fn: g.do_async(key, fn)

    def pypi_sync():
        s = peers["basic"].SingleFlight()
        return lambda key, fn: s.call(fn, key)

    def pypi_async():
        s = peers["asyn"].SingleFlightAsync()
        return lambda key, fn: s.call(fn, key)

    def coal_sync():
        c = peers["coalescer_sync"].Coalescer()
        return lambda key, fn: c.do(key, fn)

    def coal_async():
        c = peers["coalescer"].Coalescer()
        return lambda key, fn: c.do(key, fn)

    def one_sync():
        o = peers["oneflight"].OneFlight()
        return lambda key, fn: o.do(key, fn)

    def one_async():
        o = peers["oneflight"].AsyncOneFlight()
        return lambda key, fn: o.do(key, fn)

    def plain():
        return lambda key, fn: fn()

    return [
        (f"singleflight (this, engine {singleflight.engine_version()})", ours_sync, ours_async),
        ("PyPI singleflight 0.1.3", pypi_sync, pypi_async),
        (f"coalescer {peers['coalescer'].__version__}", coal_sync, coal_async),
        (f"oneflight {peers['oneflight'].__version__}", one_sync, one_async),
        # Not a peer: every caller runs the work itself. The floor that
        # Python and asyncio set (a call, a task) for any implementation.
        ("no dedup (floor)", plain, plain),
    ]


# --------------------------------------------------------------------------
# Scenarios: each returns ns per call


VALUE = object()


def work() -> object:
    return VALUE


async def awork() -> object:
    await asyncio.sleep(0)
    return VALUE


async def awork_now() -> object:
    return VALUE


def unique_keys(make: Callable[[], Any], n: int) -> float:
    call = make()
    keys = [f"user:{i}" for i in range(n)]
    t0 = time.perf_counter_ns()
    for k in keys:
        call(k, work)
    return (time.perf_counter_ns() - t0) / n


def yielding_work() -> object:
    time.sleep(0)  # gives up the GIL, as real work (I/O) would: callers pile up
    return VALUE


def hot_key_threads(
    make: Callable[[], Any], threads: int, per_thread: int, fn: Callable[[], object] = work
) -> float:
    call = make()
    barrier = threading.Barrier(threads + 1)

    def body() -> None:
        barrier.wait()
        for _ in range(per_thread):
            call("hot", fn)

    ts = [threading.Thread(target=body) for _ in range(threads)]
    for t in ts:
        t.start()
    barrier.wait()
    t0 = time.perf_counter_ns()
    for t in ts:
        t.join()
    return (time.perf_counter_ns() - t0) / (threads * per_thread)


def async_unique_keys(make: Callable[[], Any], n: int) -> float:
    async def main() -> float:
        call = make()
        keys = [f"user:{i}" for i in range(n)]
        t0 = time.perf_counter_ns()
        for k in keys:
            await call(k, awork_now)
        return (time.perf_counter_ns() - t0) / n

    return asyncio.run(main())


def async_hot_key(make: Callable[[], Any], tasks: int, rounds: int) -> float:
    async def main() -> float:
        call = make()
        t0 = time.perf_counter_ns()
        for _ in range(rounds):
            await asyncio.gather(*(call("hot", awork) for _ in range(tasks)))
        return (time.perf_counter_ns() - t0) / (tasks * rounds)

    return asyncio.run(main())


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--quick", action="store_true", help="fewer calls and repeats (a smoke run)")
    ap.add_argument("--markdown", action="store_true", help="print the README table only")
    args = ap.parse_args()
    scale = 10 if args.quick else 1
    repeats = 2 if args.quick else 5

    peers = load_peers()
    libs = adapters(peers)
    # (title, run, whether the issue names the scenario with its target)
    scenarios: list[
        tuple[str, Callable[[Callable[[], Any], Callable[[], Any] | None], float], bool]
    ] = [
        ("unique keys, 1 thread", lambda s, a: unique_keys(s, 200_000 // scale), True),
        ("hot key, 64 threads", lambda s, a: hot_key_threads(s, 64, 1000 // scale), True),
        (
            "hot key, 64 threads, work yields the GIL",
            lambda s, a: hot_key_threads(s, 64, 300 // scale, yielding_work),
            False,
        ),
        ("asyncio unique keys", lambda s, a: async_unique_keys(a, 50_000 // scale), False),
        (
            "asyncio hot key, 1000 tasks",
            lambda s, a: async_hot_key(a, 1000, 20 // scale or 1),
            True,
        ),
    ]

    # Repeats are interleaved (every library once, then again) so that a burst
    # of load on a shared machine hits every library alike; each figure is the
    # best of its repeats.
    rows = []
    for title, run, targeted in scenarios:
        times = [float("inf")] * len(libs)
        for _ in range(repeats):
            for i, (_name, s, a) in enumerate(libs):
                # As timeit does: no cyclic GC pause inside a measurement.
                gc.collect()
                gc.disable()
                try:
                    times[i] = min(times[i], run(s, a))
                finally:
                    gc.enable()
        if not args.markdown:
            for (name, _, _), t in zip(libs, times, strict=True):
                print(f"  {title:30} {name:40} {t:10.0f} ns/call", file=sys.stderr)
        rows.append((title, times, targeted))

    head = (
        [f"scenario (ns per call, best of {repeats})"]
        + [n for n, _, _ in libs]
        + ["ratio vs best peer", f"≤ {TARGET}×?"]
    )
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for title, times, targeted in rows:
        ratio = times[0] / min(times[1:-1])
        verdict = ("yes" if ratio <= TARGET else "**no**") if targeted else "(not a target)"
        lines.append(
            "| "
            + " | ".join([title] + [f"{t:,.0f}" for t in times] + [f"{ratio:.2f}×", verdict])
            + " |"
        )
    print(
        f"\nPython {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs "
        f"({time.strftime('%Y-%m-%d')})\n"
    )
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
