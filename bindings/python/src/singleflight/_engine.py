"""The binding's side of the engine glue (``_build.py``), shared by blocking
and asyncio callers: keys and timeouts, the handles the engine holds, a
leader's ending (``sf_finish``) and the reading of an outcome into a value
or an exception.

Outcomes carry the Python object itself as a *native value* of this
binding's ``sf_native_kind``: Python callers share the very object (the very
exception, with the leader's traceback). Beside it, ``bytes`` values are
handed to the engine without a copy (``sf_bytes_wrap`` over the object's
buffer) and ``str`` values as UTF-8, so Go, Rust and C callers of a named
group get bytes.
"""

from __future__ import annotations

import contextvars
import types
from typing import Any

from ._errors import (
    DeadlockError,
    NoBytesError,
    PanicError,
    SingleflightError,
    WorkError,
)
from ._raw import ffi, lib

_NULL = ffi.NULL
_new_handle = ffi.new_handle
_from_handle = ffi.from_handle
_from_buffer = ffi.from_buffer

_join = lib.sfpy_join
_finish_alone = lib.sfpy_finish_alone
_finish = lib.sfpy_finish
_finish_bytes = lib.sfpy_finish_bytes
_complete = lib.sfpy_complete
_handoff = lib.sfpy_handoff
_wait = lib.sfpy_wait
_leave = lib.sfpy_leave  # every ticket of a caller's sfpy_tickets (frees them)
_mark = lib.sfpy_mark
_unwind = lib.sfpy_unwind
_flight_of = lib.sfpy_flight_of
_count_giveup = lib.sf_group_count_giveup

_REL_NATIVE = lib.SFPY_REL_NATIVE
_REL_BYTES = lib.SFPY_REL_BYTES
_SHARED = lib.SFPY_SHARED
_CoroutineType = types.CoroutineType
# Values with a byte form, and coroutines (an async function given to do():
# an error, not a value): not plain objects (see _PLAIN).
_SLOW_VALUES = (bytes, str, bytearray, memoryview, types.CoroutineType)

# Types of values that are plain objects (not None, no byte form, not a
# coroutine): a set lookup on the leaders' path instead of isinstance() with
# a tuple of five types. Filled by _is_plain, bounded.
_PLAIN: set[type] = set()


def _is_plain(value: object) -> bool:
    """Whether ``value`` is shared as the object alone (no byte form), for a
    type not in _PLAIN yet (``type(value) in _PLAIN`` says so first)."""
    if value is None or isinstance(value, _SLOW_VALUES):
        return False
    if len(_PLAIN) < 256:
        _PLAIN.add(type(value))
    return True


_OK = lib.SF_OK
_EWORK = lib.SF_EWORK
_EPANIC = lib.SF_EPANIC
_EINVAL = lib.SF_EINVAL
_ENOMEM = lib.SF_ENOMEM
_EDEADLK = lib.SF_EDEADLK
_ETIMEDOUT = lib.SF_ETIMEDOUT
_ECANCELED = lib.SF_ECANCELED
_EHANDOFF = lib.SF_EHANDOFF
_ENOBYTES = lib.SF_ENOBYTES
_RUN_HERE = lib.SF_JOIN_RUN_HERE

# Handles (ffi.new_handle) the engine holds: native values and the owners of
# zero-copy bytes. The glue adds each handle it hands to the engine, and
# drops those the engine released during the glue call itself (see
# sfpy_init); a release elsewhere (another thread, another flight) comes
# through the _sfpy_release callback.
_keep: set[Any] = set()
_keep_discard = _keep.discard
lib.sfpy_init(id(_keep))


class _Flight:
    """A flight whose work an asyncio leader runs, while it runs: what a
    call that joins it checks to tell a cycle (the work waits, through
    tasks and flights, for the very task that joins) from a mere
    descendant of the work."""

    __slots__ = ("gid", "kb", "tickets_at", "rv", "task", "yielded", "first")

    def __init__(self, gid: int, kb: bytes, tickets_at: int, task: Any) -> None:
        self.gid = gid
        self.kb = kb
        self.tickets_at = tickets_at  # address of the leader's sfpy_tickets (first step)
        self.rv = 0  # the flight's identity (sfpy_flight_of), once known
        self.task = task  # the task that runs the work
        self.yielded: Any = None  # what the first step waits on, until the task steps
        self.first = True  # the work's first step runs inline now


# The flights whose first step runs in the current context, innermost last
# (the tasks such a step creates inherit them, and run after it: by then the
# marks are spent, ``first`` is False).
_first_steps: contextvars.ContextVar[tuple[_Flight, ...]] = contextvars.ContextVar(
    "singleflight_first_steps", default=()
)

# The flights whose work runs as a task, by identity (sfpy_flight_of).
_flights: dict[int, _Flight] = {}


def _key_text(kb: bytes) -> str:
    """A key for a message: its repr, shortened beyond 64 bytes (keys may be
    large, or sensitive)."""
    if len(kb) <= 64:
        return repr(kb)
    return f"{kb[:64]!r}…({len(kb)} bytes)"


def _deadlock_error(kb: bytes, where: str) -> DeadlockError:
    return DeadlockError(
        f"singleflight: key {_key_text(kb)} is being computed by {where}; waiting would never end"
    )


@ffi.def_extern()
def _sfpy_release(handle: Any) -> None:
    """The engine dropped a native value or a bytes owner on a thread that is
    not inside a Python call into the engine."""
    _keep_discard(handle)


def _key_bytes(key: object) -> bytes:
    t = type(key)
    if t is bytes:
        return key  # type: ignore[return-value]
    if t is str:
        return key.encode()  # type: ignore[attr-defined]
    if isinstance(key, bytes):
        return bytes(key)
    if isinstance(key, str):
        return str(key).encode()
    raise TypeError(f"singleflight: a key must be str or bytes, not {type(key).__name__}")


def _timeout_ns(timeout: float | None) -> int:
    if timeout is None:
        return -1
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(
            "singleflight: timeout must be a number of seconds or None, "
            f"not {type(timeout).__name__}"
        )
    if not timeout >= 0:  # also NaN
        raise ValueError(f"singleflight: timeout must be >= 0 seconds, got {timeout!r}")
    return min(int(timeout * 1e9), 2**63 - 1)


def _callable(fn: Any) -> Any:
    if not callable(fn):
        raise TypeError(f"singleflight: fn must be callable, not {type(fn).__name__}")
    return fn


def _timeout_s(timeout: float | None) -> float | None:
    """A validated ``timeout=`` in seconds (asyncio's unit), or None."""
    if timeout is None:
        return None
    _timeout_ns(timeout)
    return float(timeout)


def _describe(exc: BaseException) -> bytes:
    """The error bytes other languages get for a Python exception: its type
    and message, or for a :class:`PanicError` (an abort, maybe relayed from
    another leader) its message alone."""
    t = type(exc)
    try:
        text = str(exc)
    except Exception:  # a broken __str__ must not break the flight
        text = "<unprintable>"
    if isinstance(exc, PanicError):
        return text.encode("utf-8", "replace")
    name = t.__qualname__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__qualname__}"
    return (f"{name}: {text}" if text else name).encode("utf-8", "replace")


def _status_error(st: int) -> BaseException:
    if st == _EINVAL:
        return ValueError("singleflight: the engine rejected an argument (SF_EINVAL)")
    if st == _ENOMEM:
        return MemoryError("singleflight: the engine is out of memory (SF_ENOMEM)")
    msg = ffi.string(lib.sf_status_str(st)).decode("utf-8", "replace")
    err = SingleflightError(f"singleflight: {msg}")
    err.status = st
    return err


def _prepare(value: object) -> tuple[Any, Any, Any]:
    """(native handle, value bytes, bytes owner handle) for a value outcome.

    Python callers get the object itself (the native handle). Other languages
    get bytes: a ``bytes`` value without a copy (its own buffer, kept alive by
    the owner handle until the engine releases it), a ``str`` as UTF-8, a
    ``bytearray`` or ``memoryview`` as a snapshot; anything else has no byte
    form. ``None`` is no value at all (NULL bytes, no native value).
    """
    if value is None:
        return _NULL, _NULL, _NULL
    h = _new_handle(value)
    if isinstance(value, bytes):
        buf = _from_buffer(value)
        return h, buf, _new_handle(buf)
    if isinstance(value, str):
        try:
            return h, value.encode(), _NULL
        except UnicodeEncodeError:  # lone surrogates: no byte form
            return h, _NULL, _NULL
    if isinstance(value, (bytearray, memoryview)):
        try:
            return h, bytes(value), _NULL
        except (ValueError, TypeError):  # a released view
            return h, _NULL, _NULL
    return h, _NULL, _NULL


def _lead_value(c: Any, value: object, want_shared: int) -> int:
    """A blocking leader completes with ``value`` and leaves (frees ``c``)."""
    if isinstance(value, types.CoroutineType):
        value.close()
        exc = TypeError(
            "singleflight: do() got a coroutine from fn; await "
            "group.do_async(...) for coroutine functions"
        )
        _lead_error(c, exc, want_shared)
        raise exc
    return _settle(c, value, want_shared)


def _settle(c: Any, value: object, want_shared: int) -> int:
    """A leader holding both tickets completes with ``value`` and leaves
    (frees ``c``): sf_finish_alone when nobody joined (then nothing is built
    for others), else one sf_finish (_share)."""
    if _finish_alone(c, _OK):
        return 0
    return _share(c, value, want_shared)


def _share(c: Any, value: object, want_shared: int) -> int:
    """A leader ends with ``value`` handed to its followers: the object
    itself, and its byte form for other languages (see _prepare); one
    sf_finish."""
    if type(value) in _PLAIN or _is_plain(value):
        # no byte form: the object alone (fast path)
        return _finish(c, _new_handle(value), want_shared)
    h, data, hb = _prepare(value)
    if data == _NULL:
        return _finish(c, h, want_shared)
    return _finish_bytes(c, _OK, h, data, len(data), hb, want_shared)


def _error_status(exc: BaseException) -> int:
    """The status of a flight whose work raised ``exc``: SF_EPANIC for a
    :class:`PanicError` (the work aborts: Go, Rust, C and other processes
    see a panic), else SF_EWORK."""
    return _EPANIC if isinstance(exc, PanicError) else _EWORK


def _lead_error(c: Any, exc: BaseException, want_shared: int) -> int:
    """A leader completes with the exception ``exc`` and leaves (frees
    ``c``); when nobody joined, nothing is built for others."""
    status = _error_status(exc)
    if _finish_alone(c, status):
        return 0
    msg = _describe(exc)
    return _finish_bytes(
        c, status, _new_handle((exc, exc.__traceback__)), msg, len(msg), _NULL, want_shared
    )


def _take_bytes(c: Any, which: str) -> memoryview:
    """Takes the value (or error) bytes ``c`` read as a read-only memoryview over
    the engine's buffer; the reference is released when the view goes."""
    res = c.result
    b = getattr(res, which)
    setattr(res, which, _NULL)
    n = lib.sf_bytes_len(b)
    p = ffi.gc(ffi.cast("char *", lib.sf_bytes_data(b)), lambda _p, b=b: lib.sf_bytes_release(b))
    return memoryview(ffi.buffer(p, n)).toreadonly()


def _outcome(c: Any, st: int, key: bytes, want_shared: bool) -> Any:
    """Turns the outcome read by sfpy_wait into a value or an exception."""
    if st == _OK:
        native = c.native
        if native != _NULL:
            value = _from_handle(native)
        elif c.result.value != _NULL:
            value = _take_bytes(c, "value")
        else:
            value = None
        return (value, bool(c.result.shared)) if want_shared else value
    if st in (_EWORK, _EPANIC):
        native = c.native
        if native != _NULL:  # a Python leader's exception itself
            exc, tb = _from_handle(native)
            raise exc.with_traceback(tb)
    if st == _EWORK:
        data = bytes(_take_bytes(c, "error")) if c.result.error != _NULL else None
        text = data.decode("utf-8", "replace") if data is not None else "the work failed"
        raise WorkError(text, data)
    if st in (_EPANIC, _ENOBYTES):
        text = (
            bytes(_take_bytes(c, "error")).decode("utf-8", "replace")
            if c.result.error != _NULL
            else ffi.string(lib.sf_status_str(st)).decode()
        )
        raise (PanicError if st == _EPANIC else NoBytesError)(text)
    if st == _EDEADLK:
        raise _deadlock_error(key, "this very caller (a function re-entered its own key)")
    raise _status_error(st)
