#!/usr/bin/env python3
"""Runs the peers benchmark several times and prints, for each scenario, this
binding's time over the best peer's time in each run, and their median.

On a shared, noisy machine single figures move by tens of percent between
runs; a ratio taken within one run moves much less, and the median of a few
of them less again.

Usage (from bindings/rust, engine installed, env.sh sourced):

    python3 bench/ratios.py [RUNS] [FILTER]

RUNS defaults to 3; FILTER is criterion's regular expression (default: every
scenario). Each run is `cargo bench -p singleflight-bench --bench peers` with
a shorter warm-up and measurement (1 s and 3 s) than criterion's defaults.
"""

import re
import statistics
import subprocess
import sys

UNITS = {"ps": 1e-6, "ns": 1e-3, "µs": 1.0, "us": 1.0, "ms": 1e3, "s": 1e6}
PEERS = ("async_singleflight", "singleflight-async")


def run_once(pattern):
    """One run: {benchmark id: point estimate in µs}."""
    cmd = ["cargo", "bench", "-q", "-p", "singleflight-bench", "--bench", "peers", "--",
           pattern, "--warm-up-time", "1", "--measurement-time", "3", "--noplot"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    times, name = {}, None
    for line in out.splitlines():
        if line and not line[0].isspace():
            name = line.split()[0]
        m = re.search(r"time:\s+\[\S+ \S+ (\S+) (\S+) ", line)
        if m and name and "%" not in line:
            times[name] = float(m.group(1)) * UNITS[m.group(2)]
            name = None
    return times


def main():
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    pattern = sys.argv[2] if len(sys.argv) > 2 else "."
    results = [run_once(pattern) for _ in range(runs)]
    scenarios = sorted({k.split("/")[0] for r in results for k in r})
    print(f"{runs} runs of: cargo bench -p singleflight-bench --bench peers -- {pattern} "
          "--warm-up-time 1 --measurement-time 3")
    for sc in scenarios:
        ratios = []
        for r in results:
            ours = [v for k, v in r.items() if k.split("/")[:2] == [sc, "singleflight"]]
            peers = [v for k, v in r.items() if k.split("/")[0] == sc and k.split("/")[1] in PEERS]
            if ours and peers:
                ratios.append(ours[0] / min(peers))
        if not ratios:
            continue
        each = " ".join(f"{x:.2f}" for x in ratios)
        print(f"{sc}: this / best peer, median {statistics.median(ratios):.2f}x (runs: {each})")
        for k in sorted({k for r in results for k in r if k.split("/")[0] == sc}):
            med = statistics.median(r[k] for r in results if k in r)
            print(f"    {k:<44} median {med:10.3f} µs")


if __name__ == "__main__":
    main()
