"""singleflight — suppress duplicate concurrent work, across threads, asyncio
tasks and languages.

When many callers ask for the same key at once, one of them runs the work and
the others wait for it and share its outcome: the very object it returned, or
the very exception it raised. Nothing is cached: once the outcome is out, the
next call runs the work again.

This package binds the singleflight engine (``libsingleflight.so``), so
Python threads, asyncio tasks, and Go, Rust or C callers in the same process
share flights, above all through named groups (:meth:`Group.open`)::

    import singleflight

    group = singleflight.Group()
    user = group.do(f"user:{uid}", load_user, uid)            # threads
    user = await group.do_async(f"user:{uid}", fetch_user, uid)  # asyncio

A fleet group (:meth:`Group.fleet`) shares its flights through a Redis
server with every process that opened the same name, on any machine and in
any language: the work of a key runs once in the whole fleet.
"""

from __future__ import annotations

from ._errors import (
    DeadlockError,
    NoBytesError,
    PanicError,
    SingleflightError,
    WorkError,
)
from ._fleet import Codec, FleetGroup, JsonCodec, PickleCodec, fence_token
from ._group import Group, Key, Stats
from ._latency import LATENCY_BOUNDS, Histogram, Latency
from ._raw import ffi as _ffi
from ._raw import lib as _lib

__all__ = [
    "Group",
    "FleetGroup",
    "Codec",
    "JsonCodec",
    "PickleCodec",
    "fence_token",
    "Key",
    "Stats",
    "Histogram",
    "Latency",
    "LATENCY_BOUNDS",
    "SingleflightError",
    "WorkError",
    "PanicError",
    "NoBytesError",
    "DeadlockError",
    "engine_version",
    "__version__",
]

__version__ = "0.1.0"


def engine_version() -> str:
    """The version of the loaded engine library, e.g. ``"0.1.0"``."""
    return _ffi.string(_lib.sf_version_string()).decode()
