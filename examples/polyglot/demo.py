"""One key, five languages, one query.

Callers written in C, Go, Rust, Python and C++ stampede the same key of one named
group in one process; the "database" runs once and every caller receives the
same bytes. Run it through the README's first command (./scripts/setup), or
after setup: python examples/polyglot/demo.py [callers per language]
"""
import sys

import polyglot as pg


def main() -> int:
    per_lang = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    langs = [pg.C, pg.GO, pg.PYTHON] + ([pg.RUST] if pg.HAVE_RUST else []) + ([pg.CPP] if pg.HAVE_CPP else [])
    ids = pg.engine_ids()
    print(f"engine seen from each language: "
          + ", ".join(f"{k} {v:#x}" for k, v in ids.items())
          + ("  -> one engine" if len(set(ids.values())) == 1 else "  -> MORE THAN ONE ENGINE"))
    w = pg.wave({lang: per_lang for lang in langs})
    print(f"\n{len(w.entries)} callers stampeded key 'user:42' of the named group 'polyglot':")
    ok = True
    engine_addrs = set()
    for lang in langs:
        es = w.by_lang(lang)
        good = [e for e in es if e.status == pg.SF_OK and e.text == "row user:42"]
        addrs = {e.addr for e in good}
        note = ""
        if lang == pg.GO:
            note = " (Go copies into Go memory: its GC cannot own the engine's buffer)"
        else:
            engine_addrs |= addrs
        print(f"  {pg.LANGS[lang]:<7} {len(es):4} callers, {len(good):4} got the row, "
              f"{len(addrs)} distinct buffer address(es){note}")
        ok &= len(good) == len(es) == per_lang
    print(f"\nthe database ran {w.queries} time(s)")
    print(f"C, Rust, Python and C++ callers saw {len(engine_addrs)} buffer address(es): "
          + ", ".join(f"{a:#x}" for a in sorted(engine_addrs)))
    print(f"shared flag set for {sum(e.shared for e in w.entries)}/{len(w.entries)} callers")
    print(f"the wave took {w.seconds * 1000:.1f} ms")
    ok &= w.queries == 1 and len(engine_addrs) == 1 and len(set(ids.values())) == 1
    print("\nOK: one execution across languages" if ok else "\nFAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
