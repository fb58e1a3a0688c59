"""The Python worker of the cross-language fleet tests: a process that opens
a fleet group with ``singleflight.Group.fleet`` and stampedes one key from
several callers, half of them threads (``Group.do``), half asyncio tasks of
one event loop (``Group.do_async``). It speaks the worker protocol of
README.md: configuration in ``SF_FLEET_*`` variables, commands on stdin
(``go``, ``release``, ``stats``, ``exit``), one JSON event per line on stdout.
Beyond that protocol, ``SF_FLEET_TIMEOUT_MS`` (if set) bounds each caller's
wait (``timeout=``), and ``SF_FLEET_CODEC=json`` gives the group a
``JsonCodec`` (the value is then the JSON string ``"<lang> <pid>"``).

Run it with the Python that has the binding installed:
``python tests/cross/fleet/worker.py`` (with the variables set).
"""

import asyncio
import json
import os
import sys
import threading
import time

import singleflight

LANG = "python"
PID = os.getpid()

_out = threading.Lock()


def emit(event, **fields):
    line = json.dumps({"event": event, "pid": PID, "lang": LANG, **fields})
    with _out:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def env(name, default):
    return os.environ.get(name) or default


class Commands:
    """The flags the commands on stdin raise."""

    def __init__(self):
        self.go, self.release, self.stats, self.exit = (threading.Event() for _ in range(4))

    def read(self):
        for line in sys.stdin:
            cmd = line.strip()
            if cmd == "go":
                self.go.set()
            elif cmd == "release":
                self.release.set()
            elif cmd == "stats":
                self.stats.set()
            elif cmd == "exit":
                break
        # "exit", or the end of stdin (the driver is gone): let everything go.
        for flag in (self.go, self.release, self.stats, self.exit):
            flag.set()


def result_fields(outcome):
    """A ``result`` event's fields for a caller's (value, shared) or exception."""
    if not isinstance(outcome, BaseException):
        value, shared = outcome
        if isinstance(value, (bytes, bytearray, memoryview)):
            value = bytes(value).decode("utf-8", "replace")
        return {"status": 0, "value": value, "error": None, "shared": shared}
    if isinstance(outcome, singleflight.PanicError):
        status = 2  # SF_EPANIC
    elif isinstance(outcome, TimeoutError):
        status = 6  # SF_ETIMEDOUT
    elif isinstance(outcome, singleflight.NoBytesError):
        status = 9  # SF_ENOBYTES
    elif isinstance(outcome, singleflight.SingleflightError) and not isinstance(outcome, singleflight.WorkError):
        status = outcome.status
    else:
        status = 1  # SF_EWORK: another process's error, or this one's own
    return {"status": status, "value": None, "error": str(outcome), "shared": False}


def main():
    name = env("SF_FLEET_GROUP", "cross")
    key = env("SF_FLEET_KEY", "hot key")
    mode = env("SF_FLEET_MODE", "value")
    exec_file = env("SF_FLEET_EXEC_FILE", os.devnull)
    callers = int(env("SF_FLEET_CALLERS", "4"))
    lease_ms = int(env("SF_FLEET_LEASE_MS", "0"))
    timeout_ms = os.environ.get("SF_FLEET_TIMEOUT_MS")
    timeout = int(timeout_ms) / 1000 if timeout_ms else None
    codec = singleflight.JsonCodec() if env("SF_FLEET_CODEC", "") == "json" else None
    try:
        group = singleflight.Group.fleet(
            name, url=os.environ.get("SF_FLEET_URL") or None,
            lease=lease_ms / 1000 if lease_ms > 0 else None, codec=codec)
    except (ValueError, TypeError) as exc:
        print(f"python worker: {exc}", file=sys.stderr)
        return 2
    if callers < 1:
        print(f"python worker: {callers} callers", file=sys.stderr)
        return 2
    commands = Commands()
    threading.Thread(target=commands.read, daemon=True).start()
    emit("ready")
    commands.go.wait()

    def begin():
        with open(exec_file, "a") as f:
            f.write(f"{LANG} {PID}\n")
        emit("leading", token=singleflight.fence_token())

    def end():
        if mode == "error":
            raise RuntimeError(f"work failed in {LANG} {PID}")
        if mode == "panic":
            raise singleflight.PanicError(f"boom in {LANG} {PID}")
        text = f"{LANG} {PID}"
        return text if codec is not None else text.encode()

    def work():
        begin()
        commands.release.wait()
        return end()

    async def async_work():
        begin()
        await asyncio.get_running_loop().run_in_executor(None, commands.release.wait)
        return end()

    entered = 0
    entered_lock = threading.Lock()

    def enter():
        nonlocal entered
        with entered_lock:
            entered += 1

    def thread_caller():
        enter()
        try:
            outcome = group.do_shared(key, work, timeout=timeout)
        except Exception as exc:
            outcome = exc
        emit("result", **result_fields(outcome))

    async def task_caller():
        enter()
        try:
            outcome = await group.do_async_shared(key, async_work, timeout=timeout)
        except Exception as exc:
            outcome = exc
        emit("result", **result_fields(outcome))

    async def tasks(n):
        await asyncio.gather(*(task_caller() for _ in range(n)))

    n_async = callers // 2
    threads = [threading.Thread(target=thread_caller) for _ in range(callers - n_async)]
    if n_async:
        threads.append(threading.Thread(target=asyncio.run, args=(tasks(n_async),)))
    for t in threads:
        t.start()
    # "joined": every caller has entered and joined this process's flight.
    for _ in range(100000):
        with entered_lock:
            all_in = entered == callers
        if all_in and group.stats().followers + 1 >= callers:
            break
        time.sleep(0.001)
    else:
        print(f"python worker: the callers never joined: {group.stats()}", file=sys.stderr)
        return 3
    emit("joined")
    for t in threads:
        t.join()
    commands.stats.wait()
    emit("stats", stats=group.stats()._asdict())
    commands.exit.wait()
    # The last reference: the I/O thread publishes what is queued, then stops.
    del group
    return 0


if __name__ == "__main__":
    sys.exit(main())
