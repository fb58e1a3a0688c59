#!/usr/bin/env python3
"""Checks that a shared library exports exactly the symbols listed in a file.

Usage: check_symbols.py LIBRARY EXPECTED_LIST
"""
import subprocess
import sys


def exported(lib):
    out = subprocess.run(["nm", "-D", "--defined-only", lib], check=True,
                         capture_output=True, text=True).stdout
    names = set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] in "TDBRVWiu":
            names.add(parts[2].split("@")[0])
    return names


def main():
    lib, listing = sys.argv[1], sys.argv[2]
    want = {l.strip() for l in open(listing) if l.strip() and not l.startswith("#")}
    got = exported(lib)
    extra, missing = sorted(got - want), sorted(want - got)
    for name in extra:
        print(f"exported but not listed: {name}")
    for name in missing:
        print(f"listed but not exported: {name}")
    if extra or missing:
        return 1
    print(f"{len(got)} symbols, all sf_* and all listed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
