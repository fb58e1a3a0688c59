#!/usr/bin/env python3
"""Checks that a shared library exports exactly the symbols listed in a file,
and that each is declared (SF_EXTERN) in exactly one of the given headers:
the stable core (singleflight.h) or the binding header
(singleflight_binding.h).

Usage: check_symbols.py LIBRARY EXPECTED_LIST [HEADER...]
"""
import re
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


def declared(header):
    text = open(header).read()
    return set(re.findall(r"SF_EXTERN\([^)]*\)\s*(sf_\w+)\s*\(", text))


def main():
    lib, listing, headers = sys.argv[1], sys.argv[2], sys.argv[3:]
    want = {l.strip() for l in open(listing) if l.strip() and not l.startswith("#")}
    got = exported(lib)
    extra, missing = sorted(got - want), sorted(want - got)
    for name in extra:
        print(f"exported but not listed: {name}")
    for name in missing:
        print(f"listed but not exported: {name}")
    bad = bool(extra or missing)
    where = {h: declared(h) for h in headers}
    for name in sorted(got) if headers else []:
        homes = [h for h, names in where.items() if name in names]
        if len(homes) != 1:
            print(f"{name}: declared in {len(homes)} of the headers {headers}")
            bad = True
    if bad:
        return 1
    counts = ", ".join(f"{len(names)} in {h.rsplit('/', 1)[-1]}" for h, names in where.items())
    print(f"{len(got)} symbols, all sf_* and all listed" + (f" ({counts})" if counts else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
