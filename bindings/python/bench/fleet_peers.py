"""Fleet groups against the peers Python users pick today for a hot key
stampeded by many processes: P worker processes (one caller each) ask for
one key at once, on loopback, against a private redis-server this script
starts (TCP on 127.0.0.1, a free port).

Contenders, alternated stampede by stampede in one run:

* ``fleet``: ``singleflight.Group.fleet(name, url=..., linger=TTL).do(key,
  work)`` (the default lease, 5 s; ``linger`` keeps the outcome as long as
  the peers keep their value);
* ``dogpile``: ``dogpile.cache`` with its Redis backend and
  ``distributed_lock=True`` and ``thread_local_lock=False`` (which dogpile
  warns it wants with it), otherwise its defaults but ``lock_timeout`` (the
  lease) and ``redis_expiration_time`` (TTL): ``region.get_or_create``;
  its waiters poll redis-py's ``Lock`` every ``lock_sleep``, 0.1 s by
  default;
* ``redis-lock``: ``python-redis-lock`` in its cache recipe (read the value;
  if missing, take ``redis_lock.Lock(conn, key, expire=lease)`` blocking,
  read again, run the work, store the value with the TTL; its waiters block
  on BLPOP and the holder's release wakes one of them: a hand-over from
  waiter to waiter, not polling).

Arrivals: a stampede starts 10 ms after the driver begins to send it to
the workers (CLOCK_MONOTONIC, one machine), which is time for each of them
to read it. The first process arrives at the start and the others each at their own
offset after it, uniform in [0, 20) ms (``--arrival-ms``); the work lasts
50 ms (``--work-ms``) plus a jitter uniform in [0, 10) ms
(``--work-jitter-ms``), the same length whichever process runs it. So the
end of the work falls at no fixed phase of a polling waiter's interval. The
draws come from a generator seeded with ``--seed``, P and the stampede's
index, so every contender gets the same work length and offsets in its
stampede of that index.

Per contender and P: executions of the work per stampede, the time from the
end of the (first) execution, as the leader stamps it, to the last waiting
process's return (p50 and p99 over the stampedes), and Redis commands per
stampede: the delta of ``INFO commandstats`` from before the stampede to
once the server is idle after it, less the driver's own INFO (and PING,
which no contender sends here). Every worker process opens its contender
and runs two warm-up stampedes before the measured ones, so connections and
script loading are outside the counts, alike for all. A fresh key per
stampede: nothing is cached beforehand.

Usage (from a clone, after ``scripts/setup`` and ``bindings/python/test.sh``
installed the binding)::

    . scripts/env.sh
    $SF_VENV/bin/pip install redis dogpile.cache python-redis-lock matplotlib
    $SF_VENV/bin/python bindings/python/bench/fleet_peers.py [--procs 2,8,32]
        [--stampedes 30] [--work-ms 50] [--work-jitter-ms 10] [--arrival-ms 20]
        [--seed 1] [--plot bindings/python/bench/fleet_peers.png] [--markdown table.md]

scripts/bench-fleet-peers runs it (and the Go one) and puts the table in
bindings/python/README.md.

The peers (redis, dogpile.cache, python-redis-lock) and matplotlib are
benchmark-only dependencies: the ``bench`` extra of the package.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CONTENDERS = ("fleet", "dogpile", "redis-lock")
POLLING = ("dogpile",)  # the peers whose waiters poll
VALUE = b"v" * 100
LEASE = 5  # seconds: the fleet's lease (its default), the peers' lock expiry
TTL = 60  # seconds the value stays readable (the fleet's linger)
UNCOUNTED = ("info", "ping")  # the driver's own commands; keepalives
START_MS = 10  # from the driver's sending a stampede to its start: every worker reads it before


# ---- a worker process: one caller, one stampede per "go" line -------------------


def _worker(contender: str, url: str) -> None:
    def work() -> bytes:
        time.sleep(state["work_ms"] / 1000)
        state["work_end"] = time.monotonic_ns()
        return VALUE

    if contender == "fleet":
        import singleflight

        group = singleflight.Group.fleet("bench-peers", url=url, lease=LEASE, linger=TTL)

        def call(key: str) -> bytes:
            return group.do(key, work)

    elif contender == "dogpile":
        from dogpile.cache import make_region

        region = make_region().configure(
            "dogpile.cache.redis",
            arguments={
                "url": url,
                "distributed_lock": True,
                "thread_local_lock": False,  # what dogpile asks for with distributed_lock
                "lock_timeout": LEASE,
                "redis_expiration_time": TTL,
            },
        )

        def call(key: str) -> bytes:
            return region.get_or_create(key, work)

    elif contender == "redis-lock":
        import redis
        import redis_lock

        conn = redis.Redis.from_url(url)

        def call(key: str) -> bytes:
            v = conn.get(key)
            if v is None:
                with redis_lock.Lock(conn, key, expire=LEASE):
                    v = conn.get(key)
                    if v is None:
                        v = work()
                        conn.set(key, v, ex=TTL)
            return v

    else:
        raise SystemExit(f"unknown contender {contender!r}")
    print("ready", flush=True)
    for line in sys.stdin:
        cmd, *fields = line.split()
        if cmd != "go":
            break
        key, work_ms, arrival_ns = fields[0], float(fields[1]), int(fields[2])
        state = {"work_end": None, "work_ms": work_ms}
        time.sleep(max(0, arrival_ns - time.monotonic_ns()) / 1e9)
        ok = bytes(call(key)) == VALUE
        returned = time.monotonic_ns()
        print(
            json.dumps({"work_end": state["work_end"], "returned": returned, "ok": ok}), flush=True
        )


# ---- the driver ---------------------------------------------------------------------


class Redis:
    def __init__(self, directory: Path) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(directory),
                "--logfile",
                str(directory / "redis.log"),
                "--maxclients",
                "10000",
            ]
        )
        for _ in range(5000):
            try:
                if self.info("server"):
                    return
            except OSError:
                pass
            time.sleep(0.002)
        raise RuntimeError("redis-server does not answer")

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def info(self, section: str) -> str:
        with socket.create_connection(("127.0.0.1", self.port)) as s:
            s.sendall(f"*2\r\n$4\r\nINFO\r\n${len(section)}\r\n{section}\r\n".encode())
            f = s.makefile("rb")
            n = int(f.readline()[1:])
            return f.read(n).decode()

    def commands(self) -> dict[str, int]:
        """Calls the server ran so far per command, UNCOUNTED left out."""
        counts = {}
        for line in self.info("commandstats").splitlines():
            if line.startswith("cmdstat_"):
                name, _, rest = line[len("cmdstat_") :].partition(":")
                if name not in UNCOUNTED:
                    counts[name] = int(rest.split("calls=")[1].split(",")[0])
        return counts

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()


class Pool:
    """P worker processes of one contender."""

    def __init__(self, contender: str, procs: int, url: str) -> None:
        self.contender = contender
        self.procs = [
            subprocess.Popen(
                [
                    sys.executable,
                    __file__,
                    "--worker",
                    contender,
                    "--url",
                    url,
                ],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                bufsize=1,
            )
            for _ in range(procs)
        ]
        for p in self.procs:
            line = p.stdout.readline()
            if line.strip() != "ready":
                raise RuntimeError(f"a {contender} worker did not start: {line!r}")

    def stampede(self, key: str, work_ms: float, offsets_ms: list[float]) -> list[dict]:
        """One stampede: process i arrives offsets_ms[i] after its start."""
        start = time.monotonic_ns() + START_MS * 1_000_000
        for p, offset in zip(self.procs, offsets_ms, strict=True):
            p.stdin.write(f"go {key} {work_ms!r} {start + round(offset * 1e6)}\n")
            p.stdin.flush()
        return [json.loads(p.stdout.readline()) for p in self.procs]

    def close(self) -> None:
        for p in self.procs:
            p.stdin.close()
        for p in self.procs:
            p.wait()


def _settled(redis: Redis) -> dict[str, int]:
    """The command counts once the server is idle (the last publications of
    a stampede, a lock's release, can trail the callers' returns)."""
    last = redis.commands()
    for _ in range(100):
        time.sleep(0.01)
        now = redis.commands()
        if now == last:
            return now
        last = now
    return last


def arrivals(args: argparse.Namespace, procs: int, index: int) -> tuple[float, list[float]]:
    """Stampede `index`'s work length and each process's arrival offset, in
    ms: the same for every contender. The first process arrives at 0."""
    rng = random.Random(f"{args.seed}:{procs}:{index}")
    work_ms = args.work_ms + args.work_jitter_ms * rng.random()
    return work_ms, [0.0] + [args.arrival_ms * rng.random() for _ in range(procs - 1)]


def measure(redis: Redis, procs: int, args: argparse.Namespace) -> dict:
    pools = {c: Pool(c, procs, redis.url) for c in CONTENDERS}
    samples: dict[str, dict[str, list]] = {
        c: {"exec": [], "lat": [], "cmds": [], "per": []} for c in CONTENDERS
    }
    try:
        for i in range(-2, args.stampedes):  # two warm-up stampedes (connections, scripts)
            order = CONTENDERS[i % len(CONTENDERS) :] + CONTENDERS[: i % len(CONTENDERS)]
            work_ms, offsets_ms = arrivals(args, procs, i)
            for c in order:
                before = _settled(redis)
                rs = pools[c].stampede(f"{c}:{procs}:{i}", work_ms, offsets_ms)
                after = _settled(redis)
                assert all(r["ok"] for r in rs), (c, rs)
                ends = [r["work_end"] for r in rs if r["work_end"] is not None]
                waiters = [r["returned"] for r in rs if r["work_end"] is None]
                if i < 0:
                    continue
                per = {n: k - before.get(n, 0) for n, k in after.items() if k != before.get(n, 0)}
                samples[c]["exec"].append(len(ends))
                samples[c]["cmds"].append(sum(per.values()))
                samples[c]["per"].append(per)
                if waiters:
                    samples[c]["lat"].append((max(waiters) - min(ends)) / 1e6)
    finally:
        for p in pools.values():
            p.close()
    out = {}
    for c, s in samples.items():
        lat = sorted(s["lat"])
        by_cmds = sorted(range(len(s["cmds"])), key=lambda i: s["cmds"][i])
        out[c] = {
            "per_command": s["per"][by_cmds[len(by_cmds) // 2]],  # the median stampede's
            "exec": statistics.median(s["exec"]),
            "exec_max": max(s["exec"]),
            "p50": statistics.median(lat) if lat else float("nan"),
            "p99": lat[min(len(lat) - 1, int(len(lat) * 0.99))] if lat else float("nan"),
            "cmds": statistics.median(s["cmds"]),
        }
    return out


def table(results: dict[int, dict]) -> str:
    rows = [
        "| P | contender | executions per stampede (max) | leader's end → last waiter p50 | p99 "
        "| Redis commands per stampede |",
        "|---:|---|---:|---:|---:|---:|",
    ]
    for procs, res in results.items():
        for c in CONTENDERS:
            r = res[c]
            rows.append(
                f"| {procs} | {c} | {r['exec']:g} ({r['exec_max']}) | {r['p50']:.2f} ms | "
                f"{r['p99']:.2f} ms | {r['cmds']:g} |"
            )
    return "\n".join(rows)


def targets(results: dict[int, dict]) -> str:
    """The issue's targets for the fleet, per P, met or MISSED."""
    lines = []
    for procs, res in results.items():
        f = res["fleet"]
        poll = min(POLLING, key=lambda c: res[c]["p50"])
        best = min((c for c in CONTENDERS if c != "fleet"), key=lambda c: res[c]["cmds"])
        line = (
            f"- P={procs}: executions max {f['exec_max']} (target 1): "
            f"{'met' if f['exec_max'] == 1 else 'MISSED'}; "
            f"waiter p50 {f['p50']:.2f} ms against the best polling peer's ({poll}) "
            f"{res[poll]['p50']:.2f} ms, {res[poll]['p50'] / f['p50']:.1f}x lower (target 10x): "
            f"{'met' if f['p50'] * 10 <= res[poll]['p50'] else 'MISSED'}; "
            f"commands {f['cmds']:g} against the best peer's ({best}) {res[best]['cmds']:g}, "
            f"{res[best]['cmds'] / f['cmds']:.2f}x fewer"
        )
        if procs == 32:
            line += f" (target 2x): {'met' if f['cmds'] * 2 <= res[best]['cmds'] else 'MISSED'}"
        for c in CONTENDERS:
            if c not in ("fleet", best):
                line += f"; {res[c]['cmds'] / f['cmds']:.2f}x fewer than {c}'s {res[c]['cmds']:g}"
        lines.append(line)
    return "\n".join(lines)


def per_command(results: dict[int, dict]) -> str:
    lines = []
    for procs, res in results.items():
        for c in CONTENDERS:
            per = res[c]["per_command"]
            lines.append(f"- P={procs} {c}: " + ", ".join(f"{n} {per[n]}" for n in sorted(per)))
    return "\n".join(lines)


def report(results: dict[int, dict], args: argparse.Namespace) -> str:
    """The Markdown of a run: what ran, the command, the table, the targets."""
    import dogpile
    import redis as redis_py
    import redis_lock

    server = args.server_version
    return f"""\
P processes (one caller each) stampede one key; work {args.work_ms:g} ms + U[0, \
{args.work_jitter_ms:g}) ms; the first process arrives at 0, the others at U[0, \
{args.arrival_ms:g}) ms (seed {args.seed}); {args.stampedes} stampedes per contender and P, \
the contenders alternated; Python \
{sys.version.split()[0]}, redis-server {server}, dogpile.cache {dogpile.__version__}, \
python-redis-lock {redis_lock.__version__}, redis-py {redis_py.__version__}; \
{os.cpu_count()} CPUs. Command:

```sh
{args.command}
```

{table(results)}

Targets (fleet):

{targets(results)}

Redis commands of the median stampede:

{per_command(results)}
"""


def plot(results: dict[int, dict], path: str, args: argparse.Namespace) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ps = list(results)
    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    for c, marker, color in zip(
        CONTENDERS, "os^", ("tab:blue", "tab:orange", "tab:green"), strict=True
    ):
        axes[0].plot(ps, [results[p][c]["exec"] for p in ps], marker=marker, color=color, label=c)
        axes[1].plot(
            ps, [results[p][c]["p50"] for p in ps], marker=marker, color=color, label=f"{c} p50"
        )
        axes[1].plot(
            ps,
            [results[p][c]["p99"] for p in ps],
            marker=marker,
            color=color,
            linestyle=":",
            alpha=0.5,
            label=f"{c} p99",
        )
        axes[2].plot(ps, [results[p][c]["cmds"] for p in ps], marker=marker, color=color, label=c)
    titles = (
        "executions per stampede",
        "leader's end → last waiter (ms)",
        "Redis commands per stampede",
    )
    for ax, title in zip(axes, titles, strict=True):
        ax.set_title(title)
        ax.set_xlabel("processes (P)")
        ax.set_xscale("log", base=2)
        ax.set_xticks(ps, [str(p) for p in ps])
        ax.grid(True, alpha=0.3)
    axes[1].set_yscale("log")
    axes[2].set_yscale("log")
    axes[0].set_ylim(bottom=0)
    axes[0].legend()
    axes[1].legend(fontsize=7)
    fig.suptitle(
        f"Python: P processes stampede one hot key on loopback Redis (work {args.work_ms:g} ms "
        f"+ U[0, {args.work_jitter_ms:g}) ms, arrivals U[0, {args.arrival_ms:g}) ms, "
        f"median of {args.stampedes} stampedes)"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--procs", default="2,8,32")
    ap.add_argument("--stampedes", type=int, default=30)
    ap.add_argument("--work-ms", type=float, default=50.0, help="the work's length, before jitter")
    ap.add_argument(
        "--work-jitter-ms",
        type=float,
        default=10.0,
        help="each stampede's work lasts --work-ms plus U[0, this) ms",
    )
    ap.add_argument(
        "--arrival-ms",
        type=float,
        default=20.0,
        help="each process but the first arrives U[0, this) ms after a stampede's start",
    )
    ap.add_argument("--seed", type=int, default=1, help="seeds the work lengths and arrivals")
    ap.add_argument("--plot", default=None, help="write a PNG plot of the table there")
    ap.add_argument("--markdown", default=None, help="write the report (Markdown) there too")
    ap.add_argument(
        "--command",
        default=None,
        help="the command the report names (default: this one's arguments)",
    )
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--url", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        _worker(args.worker, args.url)
        return
    if not shutil.which("redis-server"):
        raise SystemExit("fleet_peers.py needs redis-server (scripts/bootstrap.sh installs it)")
    if args.command is None:
        args.command = "python " + " ".join(sys.argv)
    with tempfile.TemporaryDirectory() as d:
        redis = Redis(Path(d))
        try:
            args.server_version = next(
                line.split(":", 1)[1]
                for line in redis.info("server").splitlines()
                if line.startswith("redis_version:")
            )
            results = {}
            for procs in (int(p) for p in args.procs.split(",")):
                results[procs] = measure(redis, procs, args)
                print(f"P={procs} done", file=sys.stderr, flush=True)
        finally:
            redis.stop()
    text = report(results, args)
    print(text)
    if args.markdown:
        Path(args.markdown).write_text(text)
    if args.plot:
        plot(results, args.plot, args)
        print(f"plot: {args.plot}")


if __name__ == "__main__":
    main()
