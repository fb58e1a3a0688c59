"""Drives fleet workers: processes of several languages on one fleet group
of a private redis-server.

The workers are the programs of the cross-language fleet tests
(tests/cross/fleet/, built by its build.sh into build-polyglot/fleet/); they
speak the protocol of tests/cross/fleet/README.md. WORKERS maps a language
to the command that starts one; the Python worker joins it when
tests/cross/fleet/worker.py exists.
"""
from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FLEET_BIN = ROOT / "build-polyglot" / "fleet"
PY_WORKER = ROOT / "tests" / "cross" / "fleet" / "worker.py"

# language -> the command that starts one worker process
WORKERS = {
    "c": [str(FLEET_BIN / "worker-c")],
    "cpp": [str(FLEET_BIN / "worker-cpp")],
    "go": [str(FLEET_BIN / "worker-go")],
    "rust": [str(FLEET_BIN / "worker-rust")],
}
if PY_WORKER.exists():
    WORKERS["python"] = [sys.executable, str(PY_WORKER)]
NAMES = {"c": "C", "cpp": "C++", "go": "Go", "rust": "Rust", "python": "Python"}


def missing_workers() -> list[str]:
    return [cmd[0] for cmd in WORKERS.values() if not shutil.which(cmd[0])]


class Redis:
    """A redis-server of our own on a unix socket in `directory`."""

    def __init__(self, directory: Path) -> None:
        self.sock = str(directory / "redis.sock")
        self.proc = subprocess.Popen(
            ["redis-server", "--port", "0", "--unixsocket", self.sock, "--unixsocketperm", "700",
             "--save", "", "--appendonly", "no", "--dir", str(directory),
             "--logfile", str(directory / "redis.log")])
        for _ in range(5000):  # ready when it answers PING
            try:
                if self.command("PING") == "PONG":
                    return
            except OSError:
                pass
            time.sleep(0.002)
        self.stop()
        raise RuntimeError("redis-server does not answer on " + self.sock)

    @property
    def url(self) -> str:
        return "unix://" + self.sock

    def command(self, *args: str):
        """Sends one command; returns a simple or bulk string reply."""
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(self.sock)
            s.sendall(("*%d\r\n" % len(args) + "".join(
                "$%d\r\n%s\r\n" % (len(a.encode()), a) for a in args)).encode())
            f = s.makefile("rb")
            line = f.readline().rstrip(b"\r\n")
            if line[:1] == b"+":
                return line[1:].decode()
            if line[:1] == b"$":
                n = int(line[1:])
                return f.read(n + 2)[:n].decode() if n >= 0 else None
            raise RuntimeError("redis: %r" % line)

    def clients_with_last_command(self, cmd: str) -> int:
        return sum(("cmd=" + cmd) in l.split() for l in self.command("CLIENT", "LIST").splitlines())

    def waiting_processes(self) -> int:
        """Clients whose last command was a join script (EVALSHA): each
        process that asked the server about the key and now waits."""
        return self.clients_with_last_command("evalsha")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


class Worker:
    """One worker process; its events arrive on the fleet's queue."""

    def __init__(self, fleet: "Fleet", lang: str, callers: int, lease_ms: int, mode: str) -> None:
        self.fleet, self.lang, self.callers, self.inbox, self.killed = fleet, lang, callers, [], False
        env = dict(os.environ, SF_FLEET_URL=fleet.redis.url, SF_FLEET_GROUP=fleet.group,
                   SF_FLEET_KEY=fleet.key, SF_FLEET_CALLERS=str(callers), SF_FLEET_MODE=mode,
                   SF_FLEET_LEASE_MS=str(lease_ms), SF_FLEET_EXEC_FILE=str(fleet.exec_file))
        self.proc = subprocess.Popen(WORKERS[lang], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     env=env, text=True, bufsize=1)
        self.pid = self.proc.pid
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.fleet.events.put((self, json.loads(line)))
        self.fleet.events.put((self, None))

    def send(self, line: str) -> None:
        if not self.killed and self.proc.poll() is None:
            self.proc.stdin.write(line + "\n")
            self.proc.stdin.flush()

    def take(self, kind: str) -> dict:
        """The next event of this kind, in the order they came."""
        while True:
            for i, e in enumerate(self.inbox):
                if e is None:
                    raise RuntimeError(f"{self} ended early (exit {self.proc.wait()})")
                if e["event"] == kind:
                    return self.inbox.pop(i)
            self.fleet.pump()

    def results(self, n: int | None = None) -> tuple[list[dict], dict]:
        """n (all its) callers' outcomes, then its counters (asked for once
        they returned)."""
        rs = [self.take("result") for _ in range(self.callers if n is None else n)]
        self.send("stats")
        return rs, self.take("stats")["stats"]

    def kill(self) -> None:
        self.killed = True
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def __repr__(self) -> str:
        return f"{NAMES[self.lang]} process {self.pid}"


class Fleet:
    """Worker processes of several languages on one fleet group and key."""

    def __init__(self, redis: Redis, directory: Path, group: str, key: str) -> None:
        self.redis, self.group, self.key = redis, group, key
        self.exec_file = directory / f"executions-{group}"
        self.events: queue.Queue = queue.Queue()
        self.workers: list[Worker] = []

    def start(self, spec: dict[str, int], callers: int, lease_ms: int = 0,
              mode: str = "value") -> list[Worker]:
        """Starts {lang: processes}, waits until they are ready, tells them
        to go and waits until each one's callers joined its local flight.
        ``mode`` is what the work does (tests/cross/fleet/README.md): return
        its value, fail ("error") or abort ("panic")."""
        ws = [Worker(self, lang, callers, lease_ms, mode) for lang, n in spec.items() for _ in range(n)]
        self.workers += ws
        for w in ws:
            w.take("ready")
        for w in ws:
            w.send("go")
        for w in ws:
            w.take("joined")
        return ws

    def pump(self) -> None:
        w, e = self.events.get()
        w.inbox.append(e)

    def leader(self, among: list[Worker]) -> tuple[Worker, dict]:
        """The one worker of `among` that reports leading, and its event."""
        while True:
            leading = [w for w in among if any(e and e["event"] == "leading" for e in w.inbox)]
            if len(leading) > 1:
                raise RuntimeError(f"more than one process leads: {leading}")
            if leading:
                return leading[0], leading[0].take("leading")
            self.pump()

    def all_joined(self, n: int) -> None:
        """Waits until n processes asked the server (each runs its join
        script, EVALSHA, on its command connection; a waiter nothing else)."""
        for _ in range(100000):
            if self.redis.waiting_processes() >= n:
                return
            time.sleep(0.002)
        raise RuntimeError(f"not {n} processes asked the server")

    def all_waiting(self) -> None:
        """Waits until every live worker asked the server."""
        self.all_joined(sum(not w.killed for w in self.workers))

    def send(self, line: str) -> None:
        """One line to every live worker."""
        for w in self.workers:
            w.send(line)

    def release(self) -> None:
        self.send("release")

    def executions(self) -> list[str]:
        return self.exec_file.read_text().split("\n")[:-1] if self.exec_file.exists() else []

    def close(self) -> None:
        for w in self.workers:
            if w.proc.poll() is None:
                w.send("exit")
                try:
                    w.proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    w.proc.kill()
                    w.proc.wait()
