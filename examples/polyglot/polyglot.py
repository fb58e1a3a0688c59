"""The polyglot harness: callers in C, Go, Rust, Python and C++ in one process.

The host is this Python process. It loads the Python binding (cffi, over
libsingleflight.so), the C side (libsfcross.so), the Go callers (a c-shared
library built on bindings/go) and the Rust callers (a cdylib built on
bindings/rust) and the C++ callers (a shared library built on
include/singleflight.hpp). Every one of them links the same installed libsingleflight.so,
so a named group opened in any language is the same group.

`wave()` runs one stampede of one key of one named group and returns what
every caller got; demo.py prints it, tests/cross checks it.
"""
from __future__ import annotations

import asyncio
import os
import threading
import time
from dataclasses import dataclass, field

import cffi

import singleflight
from singleflight import _raw  # the binding's own cffi handles: its engine id

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
OUT = os.environ.get("SF_POLYGLOT_DIR", os.path.join(ROOT, "build-polyglot"))

C, GO, RUST, PYTHON, CPP = 0, 1, 2, 3, 4
LANGS = {C: "C", GO: "Go", RUST: "Rust", PYTHON: "Python", CPP: "C++"}
VALUE, ERROR, PANIC = 0, 1, 2

SF_OK, SF_EWORK, SF_EPANIC, SF_ETIMEDOUT, SF_ECANCELED, SF_ENOBYTES = 0, 1, 2, 6, 7, 9
STATUS = {0: "ok", 1: "work error", 2: "panic", 3: "invalid", 4: "no memory",
          5: "deadlock", 6: "timed out", 7: "cancelled", 8: "hand-off", 9: "no byte form"}

ffi = cffi.FFI()
ffi.cdef("""
typedef struct sf_bytes sf_bytes;
typedef struct sfx_entry {
  int lang; int status; uintptr_t addr; size_t len; int shared; char text[160];
} sfx_entry;
void sfx_gate_close(void); void sfx_gate_open(void);
void sfx_db_configure(const char *group_name, int followers);
void sfx_db_delay(int ms);
void sfx_db_hold(void);
void sfx_db_release(void);
long sfx_db_queries(void);
sf_bytes *sfx_db_query(const void *key, size_t key_len);
const void *sf_bytes_data(const sf_bytes *bytes);
size_t sf_bytes_len(const sf_bytes *bytes);
void sf_bytes_release(sf_bytes *bytes);
const void *sf_engine_id(void);
void sfx_log_reset(void);
void sfx_log(int lang, int status, const void *data, size_t len, int shared);
int sfx_log_count(void);
int sfx_log_get(int i, sfx_entry *out);
void sfx_log_wait(int n);
int sfx_c_stampede(const char *group_name, const char *key, int n, int work);
void sfx_c_join(void);

int GoStampede(char *group, char *key, int n, int work);
int GoStartCancellable(char *group, char *key);
void GoCancelAll(void);
void GoJoin(void);
uintptr_t GoEngineID(void);

int rust_stampede(const char *group, const char *key, int n, int work);
int rust_start_cancellable(const char *group, const char *key);
void rust_cancel_all(void);
void rust_join(void);
uintptr_t rust_engine_id(void);

int cpp_stampede(const char *group, const char *key, int n, int work, int timeout_ms);
int cpp_start_cancellable(const char *group, const char *key);
void cpp_cancel_all(void);
void cpp_join(void);
uintptr_t cpp_engine_id(void);
""")

cside = ffi.dlopen(os.path.join(OUT, "libsfcross.so"))
golib = ffi.dlopen(os.path.join(OUT, "libsfgo.so"))
_rust_path = os.path.join(OUT, "libsfrust.so")
rustlib = ffi.dlopen(_rust_path) if os.path.exists(_rust_path) else None
HAVE_RUST = rustlib is not None
_cpp_path = os.path.join(OUT, "libsfcpp.so")
cpplib = ffi.dlopen(_cpp_path) if os.path.exists(_cpp_path) else None
HAVE_CPP = cpplib is not None


def engine_ids() -> dict[str, int]:
    """The engine each language reaches: one value means one engine."""
    ids = {
        "C": int(ffi.cast("uintptr_t", cside.sf_engine_id())),
        "Go": int(golib.GoEngineID()),
        "Python": int(_raw.ffi.cast("uintptr_t", _raw.lib.sf_engine_id())),
    }
    if rustlib is not None:
        ids["Rust"] = int(rustlib.rust_engine_id())
    if cpplib is not None:
        ids["C++"] = int(cpplib.cpp_engine_id())
    return ids


@dataclass
class Entry:
    lang: int
    status: int
    addr: int
    text: str
    shared: bool


@dataclass
class Wave:
    entries: list[Entry]
    queries: int
    seconds: float
    counts: dict[int, int] = field(default_factory=dict)

    def by_lang(self, lang: int) -> list[Entry]:
        return [e for e in self.entries if e.lang == lang]


# ---- the Python callers -------------------------------------------------

def _query(key: str, work: int) -> bytes:
    row = cside.sfx_db_query(key.encode(), len(key.encode()))
    data = bytes(ffi.buffer(cside.sf_bytes_data(row), cside.sf_bytes_len(row)))
    cside.sf_bytes_release(row)
    if work in (ERROR, PANIC):  # Python has exceptions, not panics
        raise ValueError("Python work failed")
    return data


def _addr(value) -> int:
    if isinstance(value, (bytes, memoryview)) and len(value):
        return int(ffi.cast("uintptr_t", ffi.from_buffer(value)))
    return 0


def _log_python(status: int, value, shared: bool) -> None:
    if isinstance(value, str):
        value = value.encode()
    buf = ffi.from_buffer(value) if isinstance(value, (bytes, memoryview)) else ffi.NULL
    cside.sfx_log(PYTHON, status, buf, len(value) if buf != ffi.NULL else 0, int(shared))


def _python_call(group: singleflight.Group, key: str, work: int, timeout: float | None,
                 native: bool) -> None:
    def fn():
        data = _query(key, work)
        return {"row": data} if native else data  # a dict has no byte form
    try:
        value, shared = group.do_shared(key, fn, timeout=timeout)
        if isinstance(value, dict):
            value = value["row"]
        _log_python(SF_OK, value, shared)
    except singleflight.WorkError as e:
        _log_python(SF_EWORK, str(e), False)
    except singleflight.PanicError as e:
        _log_python(SF_EPANIC, str(e), False)
    except singleflight.NoBytesError as e:
        _log_python(SF_ENOBYTES, str(e), False)
    except TimeoutError as e:
        _log_python(SF_ETIMEDOUT, str(e) or "timed out", False)
    except Exception as e:  # the Python leader's own exception
        _log_python(SF_EWORK, f"{type(e).__name__}: {e}", False)


def start_python(group_name: str, key: str, n: int, work: int = VALUE,
                 timeout: float | None = None, native: bool = False) -> list[threading.Thread]:
    group = singleflight.Group.open(group_name)

    def caller():
        from_gate.wait()
        _python_call(group, key, work, timeout, native)
    threads = [threading.Thread(target=caller) for _ in range(n)]
    for t in threads:
        t.start()
    return threads


class _Gate:
    """Python threads wait here; C, Go and Rust callers at sfx_gate_wait."""

    def __init__(self) -> None:
        self._ev = threading.Event()
        self._ev.set()

    def close(self) -> None:
        self._ev.clear()
        cside.sfx_gate_close()

    def open(self) -> None:
        cside.sfx_gate_open()
        self._ev.set()

    def wait(self) -> None:
        self._ev.wait()


from_gate = _Gate()


def start(lang: int, group: str, key: str, n: int, work: int = VALUE, *,
          cpp_timeout: float | None = None, **kw):
    g, k = group.encode(), key.encode()
    if lang == C:
        assert cside.sfx_c_stampede(g, k, n, work) == 0
    elif lang == GO:
        assert golib.GoStampede(ffi.new("char[]", g), ffi.new("char[]", k), n, work) == 0
    elif lang == RUST:
        assert rustlib is not None, "the Rust piece was not built"
        assert rustlib.rust_stampede(g, k, n, work) == 0
    elif lang == CPP:
        assert cpplib is not None, "the C++ piece was not built"
        ms = -1 if cpp_timeout is None else int(cpp_timeout * 1000)
        assert cpplib.cpp_stampede(g, k, n, work, ms) == 0
    else:
        return start_python(group, key, n, work, **kw)
    return []


def join_all(python_threads) -> None:
    for t in python_threads:
        t.join()
    cside.sfx_c_join()
    golib.GoJoin()
    if rustlib is not None:
        rustlib.rust_join()
    if cpplib is not None:
        cpplib.cpp_join()


def flight_started(group: singleflight.Group) -> None:
    """Waits until the group has a flight in its table (a leader is running)."""
    while group.stats().in_table == 0:
        time.sleep(0.0005)


def entries() -> list[Entry]:
    out, e = [], ffi.new("sfx_entry *")
    for i in range(cside.sfx_log_count()):
        cside.sfx_log_get(i, e)
        out.append(Entry(e.lang, e.status, int(e.addr), ffi.string(e.text).decode("utf-8", "replace"),
                         bool(e.shared)))
    return out


def wave(counts: dict[int, int], *, group: str = "polyglot", key: str = "user:42",
         leader: int | None = None, work: int = VALUE, python_timeout: float | None = None,
         python_native: bool = False, cpp_timeout: float | None = None) -> Wave:
    """One stampede: counts[lang] callers in each language on one key.

    With `leader`, that language's first caller starts alone and leads; the
    rest join while its query is held open. Otherwise all start together
    behind the gate and whoever is first leads. The database holds the query
    until every other caller has joined, so exactly one query is expected.
    """
    total = sum(counts.values())
    grp = singleflight.Group.open(group)
    followers_before = grp.stats().followers
    expected = followers_before + total - 1
    if python_timeout is not None:
        expected -= counts.get(PYTHON, 0)  # they may leave before the query ends
    if cpp_timeout is not None:
        expected -= counts.get(CPP, 0)
    cside.sfx_db_configure(group.encode(), expected)
    cside.sfx_log_reset()
    threads = []
    t0 = time.perf_counter()
    if leader is not None:
        from_gate.open()
        threads += start(leader, group, key, 1, work, native=python_native) if leader == PYTHON \
            else start(leader, group, key, 1, work)
        flight_started(grp)
        rest = dict(counts)
        rest[leader] -= 1
    else:
        from_gate.close()
        rest = counts
    for lang, n in rest.items():
        if n:
            if lang == PYTHON:
                threads += start_python(group, key, n, work, timeout=python_timeout,
                                        native=python_native)
            else:
                start(lang, group, key, n, work, cpp_timeout=cpp_timeout)
    from_gate.open()
    cside.sfx_log_wait(total)
    seconds = time.perf_counter() - t0
    join_all(threads)
    return Wave(entries(), int(cside.sfx_db_queries()), seconds, dict(counts))
