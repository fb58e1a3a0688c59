"""Cross-language fleet tests: processes written in different languages
stampede one key of one fleet group on a private redis-server, and the work
runs once in the whole fleet.

Each language has a worker program that speaks the protocol of
fleet/README.md; WORKERS maps a language to the command that starts one
(built by fleet/build.sh, which test.sh runs). Adding a language is adding
its worker program and one line to WORKERS: every test below runs with every
language in it.
"""
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FLEET_BIN = ROOT / "build-polyglot" / "fleet"

# language -> the command that starts one worker process
WORKERS = {
    "c": [str(FLEET_BIN / "worker-c")],
    "cpp": [str(FLEET_BIN / "worker-cpp")],
    "go": [str(FLEET_BIN / "worker-go")],
    "rust": [str(FLEET_BIN / "worker-rust")],
    "python": [sys.executable, str(ROOT / "tests" / "cross" / "fleet" / "worker.py")],
}
LANGS = sorted(WORKERS)

SF_OK, SF_EWORK, SF_EPANIC = 0, 1, 2


def test_every_worker_is_built():
    for lang, cmd in WORKERS.items():
        assert shutil.which(cmd[0]), f"the {lang} worker {cmd[0]} is missing: run tests/cross/fleet/build.sh"


# ---- a private redis-server ---------------------------------------------

# The private server: a redis-server on a unix socket of the test's own
# (examples/fleet/fleet_driver.py, which the fleet demo uses too).
from fleet_driver import Redis  # noqa: E402


@pytest.fixture
def redis(tmp_path):
    if not shutil.which("redis-server"):
        pytest.skip("redis-server is not installed (scripts/bootstrap.sh installs it): "
                    "the fleet tests need a real server")
    r = Redis(tmp_path)
    yield r
    r.stop()


# ---- worker processes -----------------------------------------------------

class Worker:
    def __init__(self, run, lang, callers, mode, lease_ms):
        self.run, self.lang, self.inbox, self.killed = run, lang, [], False
        env = dict(os.environ, SF_FLEET_URL=run.redis.url, SF_FLEET_GROUP=run.group,
                   SF_FLEET_KEY="hot key", SF_FLEET_CALLERS=str(callers), SF_FLEET_MODE=mode,
                   SF_FLEET_LEASE_MS=str(lease_ms), SF_FLEET_EXEC_FILE=str(run.exec_file))
        self.proc = subprocess.Popen(WORKERS[lang], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     env=env, text=True, bufsize=1)
        self.pid = self.proc.pid
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.run.events.put((self, json.loads(line)))
        self.run.events.put((self, None))

    def send(self, line):
        if not self.killed:
            self.proc.stdin.write(line + "\n")
            self.proc.stdin.flush()

    def take(self, kind):
        """The worker's next event of this kind, in the order it came."""
        while True:
            for i, e in enumerate(self.inbox):
                if e is None:
                    raise AssertionError(f"{self} ended early (exit {self.proc.wait()})")
                if e["event"] == kind:
                    return self.inbox.pop(i)
            self.run.pump()

    def results(self, n):
        """n callers' outcomes, then the worker's counters (asked for once
        its callers returned)."""
        rs = [self.take("result") for _ in range(n)]
        self.send("stats")
        return rs, self.take("stats")["stats"]

    def kill(self):
        self.killed = True
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def __repr__(self):
        return f"{self.lang} worker {self.pid}"


class Run:
    """Worker processes of several languages on one fleet group."""
    names = 0

    def __init__(self, redis, tmp_path):
        Run.names += 1
        self.redis, self.group = redis, f"cross-{os.getpid()}-{Run.names}"
        self.exec_file = tmp_path / f"executions-{Run.names}"
        self.events, self.workers = queue.Queue(), []

    def start(self, spec, mode="value", callers=4, lease_ms=0):
        """Starts {lang: processes} workers, waits for them to be ready and
        tells them to go; returns them."""
        ws = [Worker(self, lang, callers, mode, lease_ms) for lang, n in spec.items() for _ in range(n)]
        self.workers += ws
        for w in ws:
            w.take("ready")
        for w in ws:
            w.send("go")
        for w in ws:
            w.take("joined")
        return ws

    def pump(self):
        w, e = self.events.get()
        w.inbox.append(e)

    def leader(self, among):
        """The one worker of `among` that reports leading."""
        while True:
            leading = [w for w in among if any(e and e["event"] == "leading" for e in w.inbox)]
            if leading:
                assert len(leading) == 1, leading
                return leading[0], leading[0].take("leading")
            self.pump()

    def all_joined(self, n):
        """Waits until n processes have asked the server (each runs its join
        script, EVALSHA, on its command connection; a waiter nothing else)."""
        for _ in range(100000):
            if self.redis.clients_with_last_command("evalsha") >= n:
                return
            time.sleep(0.002)
        raise AssertionError("not every process asked the server")

    def send(self, line):
        for w in self.workers:
            w.send(line)

    def executions(self):
        return self.exec_file.read_text().split("\n")[:-1] if self.exec_file.exists() else []

    def close(self):
        for w in self.workers:
            if not w.killed:
                w.send("exit")
                assert w.proc.wait() == 0, w
            assert not any(e and e["event"] == "leading" for e in w.inbox), (w, w.inbox)


@pytest.fixture
def run(redis, tmp_path):
    r = Run(redis, tmp_path)
    yield r
    for w in r.workers:
        if w.proc.poll() is None:
            w.proc.kill()
            w.proc.wait()


def lead_then_join(run, leader_lang, others, **kw):
    """A worker of leader_lang leads; then `others` ({lang: n}) join."""
    first = run.start({leader_lang: 1}, **kw)[0]
    leader, lead = run.leader([first])
    rest = run.start(others, **kw)
    run.all_joined(len(run.workers))
    return leader, lead, rest


# ---- the tests --------------------------------------------------------------

def test_one_execution_across_languages(run):
    ws = run.start({lang: 2 for lang in LANGS})
    leader, _ = run.leader(ws)
    run.all_joined(len(ws))
    run.send("release")
    want = f"{leader.lang} {leader.pid}"
    outcomes = {w: w.results(4) for w in ws}
    assert run.executions() == [want]
    for w, (rs, st) in outcomes.items():
        for e in rs:
            assert e["status"] == SF_OK and e["value"] == want and e["shared"], (w, e)
        if w is leader:
            assert st["fleet_led"] == 1, (w, st)
        else:
            assert (st["fleet_led"], st["fleet_joined"]) == (0, 1), (w, st)
    run.close()


@pytest.mark.parametrize("leader_lang", LANGS)
def test_each_language_leads(run, leader_lang):
    leader, _, rest = lead_then_join(run, leader_lang, {lang: 1 for lang in LANGS})
    run.send("release")
    want = f"{leader_lang} {leader.pid}"
    for w in [leader] + rest:
        rs, _ = w.results(4)
        assert all(e["status"] == SF_OK and e["value"] == want for e in rs), (w, rs)
    assert run.executions() == [want]
    run.close()


@pytest.mark.parametrize("mode,status,text", [("error", SF_EWORK, "work failed in"),
                                              ("panic", SF_EPANIC, "boom in")])
@pytest.mark.parametrize("leader_lang", LANGS)
def test_errors_and_panics_cross_languages(run, leader_lang, mode, status, text):
    leader, _, rest = lead_then_join(run, leader_lang, {lang: 1 for lang in LANGS}, mode=mode)
    run.send("release")
    want = f"{text} {leader_lang} {leader.pid}"
    for w in [leader] + rest:
        rs, _ = w.results(4)
        for e in rs:
            assert e["status"] == status and want in (e["error"] or ""), (w, e)
    assert len(run.executions()) == 1
    run.close()


@pytest.mark.parametrize("killed_lang", LANGS)
def test_leader_killed_another_language_takes_over(run, killed_lang):
    others = {lang: 1 for lang in LANGS if lang != killed_lang}
    killed, lead1, rest = lead_then_join(run, killed_lang, others, lease_ms=500)
    killed.kill()
    new, lead2 = run.leader(rest)
    assert new.lang != killed_lang
    assert lead2["token"] > lead1["token"] > 0, (lead1, lead2)
    run.send("release")
    want = f"{new.lang} {new.pid}"
    for w in rest:
        rs, st = w.results(4)
        assert all(e["status"] == SF_OK and e["value"] == want for e in rs), (w, rs)
        if w is new:
            assert st["fleet_taken_over"] == 1, st
    assert run.executions() == [f"{killed_lang} {killed.pid}", want]
    run.close()
