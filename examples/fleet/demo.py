"""One key, a fleet of processes in every language, one execution.

Starts a private redis-server (a unix socket in a temporary directory,
stopped at the end, also on error), then:
  1. processes written in C, C++, Go, Rust (and Python, when its worker is
     there) stampede one key of one fleet group: the work runs once in the
     whole fleet and every caller of every process gets its bytes;
  2. a second stampede whose leading process is killed (kill -9) mid-work:
     once its lease runs out, a process of another language takes over.
Run it through the README's first command (./scripts/setup), or after
setup: ./scripts/demo-fleet [processes per language] [callers per process]
"""
from __future__ import annotations

import os
import signal
import sys
import tempfile
import time
from pathlib import Path

import fleet_driver as fl

LEASE_MS = 500  # the second stampede: a killed leader is taken over after it


def stampede(redis: fl.Redis, tmp: Path, procs: int, callers: int) -> bool:
    f = fl.Fleet(redis, tmp, f"demo-{os.getpid()}-1", "user:42")
    try:
        t0 = time.perf_counter()
        ws = f.start({lang: procs for lang in fl.WORKERS}, callers)
        leader, lead = f.leader(ws)
        f.all_waiting()
        f.release()
        want = f"{leader.lang} {leader.pid}"
        outcomes = {w: w.results() for w in ws}
        seconds = time.perf_counter() - t0
        print(f"{len(ws)} processes, {sum(w.callers for w in ws)} callers stampeded key 'user:42' "
              f"of the fleet group {f.group!r}:")
        ok = True
        for lang in fl.WORKERS:
            mine = [w for w in ws if w.lang == lang]
            got = sum(e["status"] == 0 and e["value"] == want for w in mine for e in outcomes[w][0])
            total = sum(w.callers for w in mine)
            asked = sum(outcomes[w][1]["fleet_led"] + outcomes[w][1]["fleet_joined"] for w in mine)
            note = f"  <- led it (pid {leader.pid}, fencing token {lead['token']})" if leader in mine else ""
            print(f"  {fl.NAMES[lang]:<7} {len(mine)} processes, {total:3} callers, {got:3} got "
                  f"{want!r}, {asked} fleet flight(s){note}")
            ok &= got == total and asked == len(mine)
        execs = f.executions()
        print(f"the database ran {len(execs)} time(s) in the whole fleet ({', '.join(execs)}); "
              f"{seconds * 1000:.0f} ms from start to the last caller")
        return ok and execs == [want]
    finally:
        f.close()


def takeover(redis: fl.Redis, tmp: Path, callers: int) -> bool:
    f = fl.Fleet(redis, tmp, f"demo-{os.getpid()}-2", "report:daily")
    langs = list(fl.WORKERS)
    try:
        first = f.start({langs[0]: 1}, callers, LEASE_MS)
        killed, lead1 = f.leader(first)
        rest = f.start({lang: 1 for lang in langs[1:]}, callers, LEASE_MS)
        f.all_waiting()
        print(f"\nsecond stampede, key 'report:daily', lease {LEASE_MS} ms: {killed} leads "
              f"(token {lead1['token']}), {len(rest)} processes of "
              f"{', '.join(fl.NAMES[w.lang] for w in rest)} wait")
        t0 = time.perf_counter()
        killed.kill()
        print(f"  kill -9 {killed.pid}: the leader is gone mid-work")
        new, lead2 = f.leader(rest)
        print(f"  {new} took over after {(time.perf_counter() - t0) * 1000:.0f} ms "
              f"(fencing token {lead2['token']} > {lead1['token']})")
        f.release()
        want = f"{new.lang} {new.pid}"
        got = total = 0
        for w in rest:
            rs, _ = w.results()
            total += len(rs)
            got += sum(e["status"] == 0 and e["value"] == want for e in rs)
        execs = f.executions()
        print(f"  {got}/{total} callers of the surviving processes got {want!r}; the database ran "
              f"{len(execs)} time(s): the killed leader's run and the new leader's")
        return (new.lang != killed.lang and got == total and lead2["token"] > lead1["token"]
                and execs == [f"{killed.lang} {killed.pid}", want])
    finally:
        f.close()


def main() -> int:
    procs = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    callers = int(sys.argv[2]) if len(sys.argv) > 2 else 8
    missing = fl.missing_workers()
    if missing:
        print("missing fleet workers (tests/cross/fleet/build.sh builds them): " + ", ".join(missing))
        return 1
    # A SIGTERM or SIGHUP ends the demo through the finally clauses below,
    # which stop every worker and the server.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda *_: sys.exit(1))
    with tempfile.TemporaryDirectory(prefix="sf-fleet-demo-") as d:
        redis = fl.Redis(Path(d))
        try:
            print(f"a private redis-server on {redis.url}; languages: "
                  + ", ".join(fl.NAMES[l] for l in fl.WORKERS) + "\n")
            ok = stampede(redis, Path(d), procs, callers)
            ok &= takeover(redis, Path(d), callers)
        finally:
            redis.stop()
    print("\nOK: one execution per stampede across processes and languages" if ok else "\nFAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
