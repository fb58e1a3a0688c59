#!/usr/bin/env python3
"""Compares two builds of this binding: runs their `interleaved` benchmark
binaries alternately (the order swapped every repetition, so the machine's
load touches both alike) and prints, per scenario, the median over the
repetitions of this binding's per-round median time, and new over old.

Build the old binary from a copy of the old tree, e.g.

    git archive OLD bindings/rust | tar x -C /tmp/old
    (cd /tmp/old/bindings/rust && cargo bench -p singleflight-bench --bench interleaved --no-run)

and the new one here (`cargo bench ... --no-run` prints each executable).
Usage (engine installed, env.sh sourced):

    python3 bench/alternate.py OLD_BINARY NEW_BINARY [REPS [ROUNDS]]

REPS defaults to 10, ROUNDS (the `interleaved` rounds per run) to 20.
"""

import re
import statistics
import subprocess
import sys

from ratios import UNITS


def run_once(binary, rounds):
    """One run: {scenario: this binding's median time in µs}."""
    out = subprocess.run([binary, "--bench", rounds], capture_output=True, text=True, check=True).stdout
    times, scenario = {}, None
    for line in out.splitlines():
        if line and not line[0].isspace() and ":" in line:
            scenario = line.split(":")[0]
        m = re.match(r"\s+singleflight\s+median\s+([\d.]+)(\S+)", line)
        if m and scenario:
            times[scenario] = float(m.group(1)) * UNITS[m.group(2)]
    return times


def main():
    old, new = sys.argv[1], sys.argv[2]
    reps = int(sys.argv[3]) if len(sys.argv) > 3 else 10
    rounds = sys.argv[4] if len(sys.argv) > 4 else "20"
    results = {"old": [], "new": []}
    for i in range(reps):
        order = [("old", old), ("new", new)] if i % 2 == 0 else [("new", new), ("old", old)]
        for name, binary in order:
            results[name].append(run_once(binary, rounds))
    print(f"{reps} alternating runs of each: BINARY --bench {rounds}")
    print("| scenario | old (µs) | new (µs) | new / old |")
    print("|---|---|---|---|")
    for sc in results["old"][0]:
        o = statistics.median(r[sc] for r in results["old"])
        n = statistics.median(r[sc] for r in results["new"])
        print(f"| {sc} | {o:.3f} | {n:.3f} | {n / o:.3f} |")


if __name__ == "__main__":
    main()
