"""Cross-language fleet tests: processes written in different languages
stampede one key of one fleet group on a private redis-server, and the work
runs once in the whole fleet.

Each language has a worker program that speaks the protocol of
fleet/README.md; fleet_driver.WORKERS (examples/fleet/) maps a language to
the command that starts one (built by fleet/build.sh, which test.sh runs).
Adding a language is adding its worker program and one line to WORKERS:
every test below runs with every language in it.
"""
import os
import shutil

import pytest

# The worker programs, the private redis-server (a unix socket of the
# test's own) and the processes' driver are the fleet demo's
# (examples/fleet/fleet_driver.py).
import fleet_driver as fl

LANGS = sorted(fl.WORKERS)

SF_OK, SF_EWORK, SF_EPANIC = 0, 1, 2


def test_every_worker_is_built():
    assert "python" in fl.WORKERS, f"the Python worker {fl.PY_WORKER} is missing"
    for lang, cmd in fl.WORKERS.items():
        assert shutil.which(cmd[0]), f"the {lang} worker {cmd[0]} is missing: run tests/cross/fleet/build.sh"


@pytest.fixture
def redis(tmp_path):
    if not shutil.which("redis-server"):
        pytest.skip("redis-server is not installed (scripts/bootstrap.sh installs it): "
                    "the fleet tests need a real server")
    r = fl.Redis(tmp_path)
    yield r
    r.stop()


class Run(fl.Fleet):
    """Worker processes of several languages on one fleet group, one key."""
    names = 0

    def __init__(self, redis, tmp_path):
        Run.names += 1
        super().__init__(redis, tmp_path, f"cross-{os.getpid()}-{Run.names}", "hot key")

    def start(self, spec, mode="value", callers=4, lease_ms=0):
        return super().start(spec, callers, lease_ms, mode)

    def close(self):
        """Every live worker exits cleanly, no lead left unreported."""
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
    run.all_waiting()
    return leader, lead, rest


# ---- the tests --------------------------------------------------------------

def test_one_execution_across_languages(run):
    ws = run.start({lang: 2 for lang in LANGS})
    leader, _ = run.leader(ws)
    run.all_waiting()
    run.send("release")
    want = f"{leader.lang} {leader.pid}"
    outcomes = {w: w.results() for w in ws}
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
        rs, _ = w.results()
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
        rs, _ = w.results()
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
        rs, st = w.results()
        assert all(e["status"] == SF_OK and e["value"] == want for e in rs), (w, rs)
        if w is new:
            assert st["fleet_taken_over"] == 1, st
    assert run.executions() == [f"{killed_lang} {killed.pid}", want]
    run.close()
