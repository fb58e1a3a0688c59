"""cffi build script (out-of-line API mode) for ``singleflight._singleflight``.

Run by setuptools through ``cffi_modules`` in ``setup.py``; it can also be run
directly (``python src/singleflight/_build.py``) to build the extension in
place while developing.

The extension links the shared engine, ``libsingleflight.so.0``, and never
compiles the core into itself: every user of the engine in a process must
reach the one library of that soname, or named groups would silently stop
being shared between languages. Which ``libsingleflight.so.0``:

- **installed** — an engine found through ``SF_INCLUDE_DIR`` and
  ``SF_LIB_DIR`` (both set), ``SF_PREFIX`` (``$SF_PREFIX/include`` and
  ``$SF_PREFIX/lib``) or ``pkg-config singleflight``. Its library directory
  is recorded as an rpath, so the module finds it without
  ``LD_LIBRARY_PATH``.
- **bundled** — the engine built here from the repository's sources with
  Meson (``setup.py``'s ``build_ext`` calls :func:`build_engine`) and
  shipped beside the extension in the package, which finds it through the
  rpath ``$ORIGIN``: the wheel is relocatable and needs no installed engine.
  The sources are ``SINGLEFLIGHT_SOURCE_DIR``, else the copy an sdist
  carries in ``_engine/`` (``setup.py``'s ``sdist`` puts it there), else the
  checkout this package sits in (``../..``).

``SINGLEFLIGHT_BUNDLED`` chooses: ``auto`` (or unset) links an installed
engine when one is found and bundles otherwise; ``always`` bundles even
when one is installed; ``never`` links an installed one or stops.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys

from cffi import FFI

HOW_TO_INSTALL = """\
singleflight (Python binding): no engine library libsingleflight to link, and
no engine sources to build one from.

Build from a clone of the singleflight repository (or its sdist), which
bundles the engine when none is installed:

    pip install ./bindings/python

or link an installed engine, found through pkg-config:

    scripts/setup             # builds the engine and installs it into .local
    . scripts/env.sh          # sets PKG_CONFIG_PATH (the build records an rpath)
    pip install ./bindings/python

or point the build at an installed prefix or at the sources explicitly:

    SF_PREFIX=/path/to/prefix pip install ./bindings/python
    SINGLEFLIGHT_SOURCE_DIR=/path/to/singleflight pip install ./bindings/python
"""

# The cdef mirrors include/singleflight.h and singleflight_binding.h. Numbers
# are left to the C compiler ("..."), so the module always agrees with the
# header it is compiled against.
CDEF = r"""
#define SF_VERSION_MAJOR ...
#define SF_VERSION_MINOR ...
#define SF_VERSION_PATCH ...
#define SF_VERSION_NUMBER ...
#define SF_JOIN_RUN_HERE ...

unsigned sf_version(void);
const char *sf_version_string(void);
const void *sf_engine_id(void);

typedef enum sf_status {
    SF_OK, SF_EWORK, SF_EPANIC, SF_EINVAL, SF_ENOMEM, SF_EDEADLK,
    SF_ETIMEDOUT, SF_ECANCELED, SF_EHANDOFF, SF_ENOBYTES, ...
} sf_status;

const char *sf_status_str(sf_status status);

/* 2. bytes */
typedef struct sf_bytes sf_bytes;
sf_bytes *sf_bytes_new(const void *data, size_t len);
sf_bytes *sf_bytes_wrap(void *data, size_t len, void (*release)(void *ctx), void *ctx);
sf_bytes *sf_bytes_retain(sf_bytes *bytes);
void sf_bytes_release(sf_bytes *bytes);
const void *sf_bytes_data(const sf_bytes *bytes);
size_t sf_bytes_len(const sf_bytes *bytes);

/* 3. groups */
typedef struct sf_group sf_group;
sf_group *sf_group_new(void);
sf_group *sf_group_open(const void *name, size_t name_len);
sf_group *sf_group_retain(sf_group *group);
void sf_group_release(sf_group *group);

typedef struct sf_stats {
    uint64_t flights;
    uint64_t followers;
    uint64_t forgets;
    uint64_t panics;
    uint64_t timeouts;
    uint64_t cancellations;
    uint64_t handoffs;
    uint64_t abandoned;
    uint64_t in_table;
    uint64_t live;
    ...;
} sf_stats;
sf_status sf_group_stats(const sf_group *group, sf_stats *stats, size_t stats_size);
sf_status sf_group_count_giveup(sf_group *group, sf_status reason);

/* latency histograms (singleflight.Group.latency) */
#define SF_LATENCY_BUCKETS ...
enum sf_latency_kind { SF_LATENCY_WAIT, SF_LATENCY_WORK, ... };
typedef struct sf_histogram {
    uint64_t count;
    uint64_t sum_ns;
    uint64_t buckets[...];
    ...;
} sf_histogram;
sf_status sf_group_record_latency(sf_group *group, int on);
sf_status sf_group_latency(const sf_group *group, int which, sf_histogram *out,
                           size_t out_size);

/* 4. sf_do */
typedef sf_status (*sf_work_fn)(void *userdata, sf_bytes **value, sf_bytes **error);
typedef struct sf_result {
    sf_bytes *value;
    sf_bytes *error;
    int shared;
    ...;
} sf_result;
sf_status sf_do(sf_group *group, const void *key, size_t key_len,
                sf_work_fn work, void *userdata, sf_result *result);
sf_status sf_forget(sf_group *group, const void *key, size_t key_len);
sf_status sf_forget_unshared(sf_group *group, const void *key, size_t key_len,
                             int *forgotten);

/* 5. split API */
typedef struct sf_ticket sf_ticket;
typedef struct sf_native_kind {
    const char *name;
    void (*release)(void *value);
    ...;
} sf_native_kind;
sf_status sf_join(sf_group *group, const void *key, size_t key_len,
                  unsigned flags, sf_ticket **wait, sf_ticket **work);
sf_status sf_complete(sf_ticket *work, sf_status status, sf_bytes *value,
                      sf_bytes *error);
sf_status sf_complete_native(sf_ticket *work, sf_status status, sf_bytes *value,
                             sf_bytes *error, const sf_native_kind *kind,
                             void *native);
sf_status sf_finish(sf_ticket *wait, sf_ticket *work, sf_status status,
                    sf_bytes *value, sf_bytes *error,
                    const sf_native_kind *kind, void *native,
                    sf_result *result);
int sf_finish_alone(sf_ticket *wait, sf_ticket *work, sf_status status,
                    int *shared);
sf_status sf_wait(sf_ticket *wait, int64_t timeout_ns, sf_result *result);
sf_status sf_wait_native(sf_ticket *wait, int64_t timeout_ns,
                         const sf_native_kind *kind, sf_result *result,
                         void **native);
typedef void (*sf_notify_fn)(void *userdata);
sf_status sf_subscribe(sf_ticket *wait, sf_notify_fn fn, void *userdata);
sf_status sf_cancel(sf_ticket *wait);
sf_status sf_on_abandoned(sf_ticket *work, sf_notify_fn fn, void *userdata);
int sf_abandoned(const sf_ticket *ticket);
sf_status sf_attach(sf_ticket *ticket, const sf_native_kind *kind, void *value,
                    void **current);
typedef struct sf_meeting sf_meeting;
sf_status sf_join_or_meet(sf_group *group, const void *key, size_t key_len,
                          unsigned flags, const sf_native_kind *kind,
                          sf_meeting **meeting, void **rendezvous,
                          sf_ticket **wait, sf_ticket **work);
void sf_meeting_end(sf_meeting *meeting, int joined);
void sf_leave(sf_ticket *ticket);

/* ---- the binding's own C glue (defined in _glue.c) ---------------------- */

/* One Python caller's tickets of a flight, and what it read through them.
   Allocated by sfpy_join() (or sfpy_join_async(), sfpy_split_work()), freed
   by the glue call that leaves its last ticket (sfpy_finish*, sfpy_leave,
   sfpy_complete, sfpy_handoff). */
typedef struct sfpy_tickets {
    intptr_t role;       /* 1 leader, 0 follower, < 0: join failed (-status);
                            > 1: sfpy_meet found its loop's waiters: their id() */
    sf_ticket *wait;
    sf_ticket *work;
    sf_result result;
    void *native;        /* borrowed native value read by sfpy_wait() */
    ...;
} sfpy_tickets;

#define SFPY_REL_NATIVE ...
#define SFPY_REL_BYTES ...
#define SFPY_SHARED ...

sfpy_tickets *sfpy_join(sf_group *group, const char *key, size_t key_len,
                     unsigned flags);
sfpy_tickets *sfpy_split_work(sfpy_tickets *tickets);
int sfpy_finish_alone(sfpy_tickets *tickets, sf_status status);
int sfpy_finish_alone_at(intptr_t tickets, sf_status status);
int sfpy_finish(sfpy_tickets *tickets, void *native, int want_shared);
int sfpy_finish_bytes(sfpy_tickets *tickets, sf_status status, void *native,
                      const char *data, size_t len, void *bytes_ctx,
                      int want_shared);
int sfpy_complete(sfpy_tickets *work, sf_status status, void *native,
                  const char *data, size_t len, void *bytes_ctx);
void sfpy_handoff(sfpy_tickets *work);
sf_status sfpy_wait(sfpy_tickets *tickets, int64_t timeout_ns);
sf_status sfpy_poll(sfpy_tickets *tickets);
int sfpy_leave(sfpy_tickets *tickets);
sf_status sfpy_poll_subscribe(sfpy_tickets *tickets, void *userdata);
int sfpy_on_abandoned(sfpy_tickets *work, void *userdata);
intptr_t sfpy_join_async(sf_group *group, const char *key, size_t key_len,
                         intptr_t loop);
sfpy_tickets *sfpy_meet(sfpy_tickets *tickets, intptr_t loop);
int sfpy_register(sfpy_tickets *tickets, intptr_t loop, intptr_t waiters);
intptr_t sfpy_flight_of(sfpy_tickets *tickets);
intptr_t sfpy_flight_of_at(intptr_t tickets);
void sfpy_init(intptr_t keep);
intptr_t sfpy_mark(void);
int sfpy_unwind(intptr_t mark);
long sfpy_live_tickets(void);

/* Callbacks into Python. */
extern "Python" void _sfpy_release(void *handle);
extern "Python" void _sfpy_notify(void *userdata);
extern "Python" void _sfpy_abandoned(void *userdata);
"""


# ---- fleet groups (include/singleflight.h, section 6) ----------------------
# Declarations only: the fleet API is used from Python (_fleet.py), with no C
# glue of its own. The fleet counters of sf_stats are read by _fleet.py too
# (they follow `live` in the struct, every field a uint64_t).
FLEET_CDEF = r"""
#define SF_FLEET_OPTIONS_VERSION ...
typedef struct sf_fleet_options {
    unsigned version;
    const char *url;
    const char *key_prefix;
    uint32_t lease_ms;
    uint32_t max_value_bytes;
    uint32_t connect_timeout_ms;
    uint32_t command_timeout_ms;
    uint32_t linger_ms;
    uint32_t cooldown_ms;
    ...;
} sf_fleet_options;
sf_group *sf_group_open_fleet(const void *name, size_t name_len,
                              const sf_fleet_options *options);
sf_status sf_fence_token(const sf_ticket *work, uint64_t *token);
"""
# ---- end of fleet groups ----------------------------------------------------


def _pkg_config(*args: str) -> list[str] | None:
    exe = os.environ.get("PKG_CONFIG", "pkg-config")
    if shutil.which(exe) is None:
        return None
    try:
        out = subprocess.run(
            [exe, *args, "singleflight"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    return shlex.split(out)


def locate() -> tuple[list[str], list[str]] | None:
    """(include_dirs, library_dirs) of an installed engine, or None."""
    inc, lib = os.environ.get("SF_INCLUDE_DIR"), os.environ.get("SF_LIB_DIR")
    if inc and lib:
        return [inc], [lib]
    prefix = os.environ.get("SF_PREFIX")
    if prefix and os.path.exists(os.path.join(prefix, "include", "singleflight.h")):
        return [os.path.join(prefix, "include")], [os.path.join(prefix, "lib")]
    cflags = _pkg_config("--cflags-only-I")
    libs = _pkg_config("--libs-only-L")
    if cflags is None or libs is None:
        return None
    include_dirs = [f[2:] for f in cflags if f.startswith("-I")]
    library_dirs = [f[2:] for f in libs if f.startswith("-L")]
    libdir = _pkg_config("--variable=libdir")
    if libdir and libdir[0] not in library_dirs:
        library_dirs.append(libdir[0])
    includedir = _pkg_config("--variable=includedir")
    if includedir and includedir[0] not in include_dirs:
        include_dirs.append(includedir[0])
    return include_dirs, library_dirs


# ---- the bundled engine -------------------------------------------------------
PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# What the repository's meson.build reads with tests and benchmarks off: the
# files setup.py's sdist copies into the sdist's _engine/ folder.
ENGINE_SOURCES = [
    "meson.build",
    "meson_options.txt",
    "include",
    "lib",
    "packaging",
    "examples/meson.build",
    "examples/stampede.c",
    "examples/stampede.cpp",
]
SONAME = "libsingleflight.so.0"
# Meson's build directory for the bundled engine (under setuptools' build/).
ENGINE_BUILD = os.path.join(PACKAGE_ROOT, "build", "engine")
MESON_OPTIONS = [
    "--buildtype=release",
    "-Ddefault_library=shared",
    "-Dtests=disabled",
    "-Dbenchmarks=false",
    "-Dpkgconfig_rpath=disabled",
]


def _is_engine_source(root: str) -> bool:
    return all(
        os.path.isfile(os.path.join(root, f))
        for f in ("meson.build", "lib/abi.cc", "include/singleflight.h")
    )


def engine_sources() -> str | None:
    """The root of the engine's sources to bundle, or None."""
    explicit = os.environ.get("SINGLEFLIGHT_SOURCE_DIR")
    if explicit:
        if not _is_engine_source(explicit):
            raise SystemExit(
                f"singleflight: SINGLEFLIGHT_SOURCE_DIR={explicit} holds no engine sources "
                "(meson.build, lib/abi.cc, include/singleflight.h)"
            )
        return os.path.abspath(explicit)
    for root in (os.path.join(PACKAGE_ROOT, "_engine"), os.path.join(PACKAGE_ROOT, "..", "..")):
        if _is_engine_source(root):
            return os.path.abspath(root)
    return None


def _meson() -> list[str]:
    exe = shutil.which("meson")
    if exe:
        return [exe]
    try:
        import mesonbuild  # noqa: F401
    except ImportError:
        raise SystemExit(
            "singleflight: bundling the engine needs Meson and Ninja (pip install meson ninja)"
        ) from None
    return [sys.executable, "-m", "mesonbuild.mesonmain"]


def build_engine(source: str) -> str:
    """Builds libsingleflight.so.0 from ``source`` with Meson into ENGINE_BUILD
    (set up afresh when the sources or the options changed); returns its path."""
    meson = _meson()
    setup = "\n".join([source, *MESON_OPTIONS])
    stamp = os.path.join(ENGINE_BUILD, ".sf-setup")
    try:
        with open(stamp) as f:
            same = f.read() == setup
    except OSError:
        same = False
    if not same:
        shutil.rmtree(ENGINE_BUILD, ignore_errors=True)
        subprocess.run([*meson, "setup", ENGINE_BUILD, source, *MESON_OPTIONS], check=True)
        with open(stamp, "w") as f:
            f.write(setup)
    target = "lib/singleflight:shared_library"
    subprocess.run([*meson, "compile", "-C", ENGINE_BUILD, target], check=True)
    return os.path.join(ENGINE_BUILD, "lib", SONAME)


def _mode() -> str:
    mode = os.environ.get("SINGLEFLIGHT_BUNDLED", "auto") or "auto"
    if mode not in ("auto", "always", "never"):
        raise SystemExit(f"singleflight: SINGLEFLIGHT_BUNDLED={mode}: use auto, always or never")
    return mode


def choose() -> tuple[str | None, list[str], list[str], list[str]]:
    """(bundled sources or None, include_dirs, library_dirs, rpaths)."""
    mode = _mode()
    installed = None if mode == "always" else locate()
    if installed is not None:
        include_dirs, library_dirs = installed
        return None, include_dirs, library_dirs, library_dirs
    source = None if mode == "never" else engine_sources()
    if source is None:
        sys.stderr.write(HOW_TO_INSTALL)
        raise SystemExit(
            "singleflight: pkg-config cannot find singleflight.pc"
            + ("" if mode == "never" else ", and no engine sources are at hand")
        )
    include_dirs = [os.path.join(source, "include")]
    return source, include_dirs, [os.path.join(ENGINE_BUILD, "lib")], ["$ORIGIN"]


# The glue's C source is a file of its own beside this script; the generated
# module includes it (so a compiler message names _glue.c and its line).
GLUE_DIR = os.path.dirname(os.path.abspath(__file__))
GLUE = os.path.join(GLUE_DIR, "_glue.c")

BUNDLED_SOURCE, include_dirs, library_dirs, rpaths = choose()

ffibuilder = FFI()
ffibuilder.cdef(CDEF)
ffibuilder.cdef(FLEET_CDEF)
ffibuilder.set_source(
    "singleflight._singleflight",
    '#include "_glue.c"\n',
    libraries=["singleflight"],
    include_dirs=[GLUE_DIR, *include_dirs],
    depends=[GLUE],
    library_dirs=library_dirs,
    extra_link_args=[f"-Wl,-rpath,{d}" for d in rpaths],
    extra_compile_args=["-O2"],
    # A build from source targets this very interpreter: no need for abi3.
    py_limited_api=False,
)

if __name__ == "__main__":
    if BUNDLED_SOURCE is not None:
        shutil.copyfile(build_engine(BUNDLED_SOURCE), os.path.join(GLUE_DIR, SONAME))
    ffibuilder.compile(tmpdir=os.path.dirname(GLUE_DIR), verbose=True)
