"""The Pythonic API over the engine's split API (see include/singleflight.h).

How a call maps onto the engine:

* Blocking callers (threads) ``sf_join`` with ``SF_JOIN_RUN_HERE``. The leader
  runs ``fn`` on its own thread and completes the flight with its outcome; the
  followers block in ``sf_wait_native`` with the GIL released. A leader that
  re-enters its own key is told ``SF_EDEADLK`` by the engine and gets a
  :class:`DeadlockError`.
* Asyncio callers ``sf_join`` without flags. The leader runs its coroutine
  at once, in its own task and a copy of its context, up to the first
  suspension: work that completes without suspending ends the flight there
  (one ``sf_finish``), with no task and no turn of the loop. Work that
  suspends goes on as a task of its own; from then on every caller, the one
  who started it included, only waits: it subscribes a completion callback
  that wakes its future. Cancelling a caller's task leaves its wait ticket;
  when the last one leaves, the engine reports the flight abandoned and the
  task is cancelled, which hands the flight off (the work ticket is left
  without completing) so that a caller who joined meanwhile leads a fresh
  run. (If the first step kept a reference to the caller's task, as
  ``asyncio.timeout()`` or a ``TaskGroup`` entered before the first await
  do, the work goes on in the caller's task instead: see ``_do_async``.)
* Outcomes carry the Python object itself as a *native value* of this
  binding's ``sf_native_kind``: Python callers share the very object (the
  very exception, with the leader's traceback). Beside it, ``bytes`` values
  are handed to the engine without a copy (``sf_bytes_wrap`` over the object's
  buffer) and ``str`` values as UTF-8, so Go, Rust and C callers of a named
  group get bytes.
"""

from __future__ import annotations

import asyncio
import collections.abc
import contextvars
import functools
import inspect
import sys
import threading
import time
import types
from typing import (
    Any,
    Awaitable,
    Callable,
    Coroutine,
    NamedTuple,
    ParamSpec,
    TypeVar,
    Union,
    overload,
)

from ._errors import (
    DeadlockError,
    NoBytesError,
    PanicError,
    SingleflightError,
    WorkError,
)
from ._raw import ffi, lib

__all__ = ["Group", "Stats", "Key"]

P = ParamSpec("P")
R = TypeVar("R")

#: A flight key: ``str`` (encoded as UTF-8) or ``bytes`` (taken as is).
Key = Union[str, bytes]

_NULL = ffi.NULL
_new_handle = ffi.new_handle
_from_handle = ffi.from_handle
_from_buffer = ffi.from_buffer
_get_ident = threading.get_ident
_copy_context = contextvars.copy_context
_current_task = asyncio.current_task
_getrefcount = sys.getrefcount
_CoroutineType = types.CoroutineType
# The loop -> current task map of asyncio (3.10-3.13); read directly, it
# saves a Python-level call on the asyncio leader's path.
_current_tasks: dict[Any, Any] | None = getattr(asyncio.tasks, "_current_tasks", None)
if not isinstance(_current_tasks, dict):
    _current_tasks = None
_TASK_CONTEXT = sys.version_info >= (3, 11)  # loop.create_task(..., context=)

_join = lib.sfpy_join
_finish = lib.sfpy_finish
_finish_bytes = lib.sfpy_finish_bytes
_complete = lib.sfpy_complete
_handoff = lib.sfpy_handoff
_wait = lib.sfpy_wait
_leave = lib.sfpy_leave

_REL_NATIVE = lib.SFPY_REL_NATIVE
_REL_BYTES = lib.SFPY_REL_BYTES
_SHARED = lib.SFPY_SHARED
# Values the blocking fast path hands to _lead_value: byte-like ones, and
# coroutines (an async function given to do(): an error, not a value).
_SLOW_VALUES = (bytes, str, bytearray, memoryview, types.CoroutineType)
_BYTE_VALUES = (bytes, str, bytearray, memoryview)

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
# zero-copy bytes. Each stays here until the engine releases it: during the
# glue call that expected it (the call's return bits say so), or else through
# the _sfpy_release callback (another thread, another flight).
_keep: set[Any] = set()
_keep_add = _keep.add
_keep_discard = _keep.discard

# Asyncio runners whose work ticket is still held (strong references: the
# event loop keeps only weak ones to tasks).
_runners: set["_Runner"] = set()

# The flights whose work the current context is running as an asyncio leader,
# as (group address, key bytes): joining one of them from inside is a cycle.
_inflight: contextvars.ContextVar[tuple[tuple[int, bytes], ...]] = (
    contextvars.ContextVar("singleflight_inflight", default=())
)


@ffi.def_extern()
def _sfpy_release(handle: Any) -> None:
    """The engine dropped a native value or a bytes owner on a thread that is
    not inside a Python call into the engine."""
    _keep_discard(handle)


@ffi.def_extern()
def _sfpy_notify(userdata: Any) -> None:
    """Completion (or hand-off) of a flight an asyncio caller waits on."""
    fut, tid = _from_handle(userdata)
    try:
        if _get_ident() == tid:
            if not fut.done():
                fut.set_result(None)
        else:
            fut.get_loop().call_soon_threadsafe(_wake, fut)
    except RuntimeError:  # the loop is closed: nobody is waiting any more
        pass


@ffi.def_extern()
def _sfpy_abandoned(userdata: Any) -> None:
    """Every waiter left the flight of an asyncio leader: cancel its task."""
    runner = _from_handle(userdata)
    task = runner.task
    if task is None:
        return
    try:
        if _get_ident() == runner.tid:
            task.cancel()
        else:
            runner.loop.call_soon_threadsafe(task.cancel)
    except RuntimeError:  # the loop is closed; its tasks are gone already
        pass


def _wake(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


def _expire(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_exception(TimeoutError())


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
    raise TypeError(
        f"singleflight: a key must be str or bytes, not {type(key).__name__}"
    )


def _timeout_ns(timeout: float | None) -> int:
    if timeout is None:
        return -1
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(
            "singleflight: timeout must be a number of seconds or None, "
            f"not {type(timeout).__name__}"
        )
    if not timeout >= 0:  # also NaN
        raise ValueError(
            f"singleflight: timeout must be >= 0 seconds, got {timeout!r}"
        )
    return min(int(timeout * 1e9), 2**63 - 1)


def _describe(exc: BaseException) -> bytes:
    """The error bytes other languages get for a Python exception."""
    t = type(exc)
    try:
        text = str(exc)
    except Exception:  # a broken __str__ must not break the flight
        text = "<unprintable>"
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
    (frees ``c``): one sf_finish."""
    h, data, hb = _prepare(value)
    if h != _NULL:
        _keep_add(h)
    if data == _NULL:
        r = _finish(c, h, want_shared)
    else:
        if hb != _NULL:
            _keep_add(hb)
        r = _finish_bytes(c, _OK, h, data, len(data), hb, want_shared)
        if r & _REL_BYTES:
            _keep_discard(hb)
    if r & _REL_NATIVE:
        _keep_discard(h)
    return r


def _lead_error(c: Any, exc: BaseException, want_shared: int) -> int:
    """A blocking leader completes with the exception ``exc`` and leaves."""
    h = _new_handle((exc, exc.__traceback__))
    msg = _describe(exc)
    _keep_add(h)
    r = _finish_bytes(c, _EWORK, h, msg, len(msg), _NULL, want_shared)
    if r & _REL_NATIVE:
        _keep_discard(h)
    return r


def _leave_call(c: Any) -> None:
    """Leaves every ticket ``c`` holds (frees it); drops the native value it
    read if this was the flight's last ticket."""
    native = c.native
    if _leave(c) & _REL_NATIVE:
        _keep_discard(native)


def _take_bytes(c: Any, which: str) -> memoryview:
    """Takes the call's value (or error) bytes as a read-only memoryview over
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
    if st == _EWORK:
        native = c.native
        if native != _NULL:
            exc, tb = _from_handle(native)
            raise exc.with_traceback(tb)
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
        raise DeadlockError(
            f"singleflight: key {key!r} is being computed by this very caller "
            "(a function re-entered its own key); waiting would never end"
        )
    raise _status_error(st)


class Stats(NamedTuple):
    """Counters of a group since it was created (``sf_stats``)."""

    flights: int
    followers: int
    forgets: int
    panics: int
    timeouts: int
    cancellations: int
    handoffs: int
    abandoned: int
    in_table: int
    live: int


class _Runner:
    """The work ticket of an asyncio leader and the task that runs its work."""

    __slots__ = ("call", "task", "loop", "tid", "handle", "__weakref__")

    def __init__(self, call: Any, loop: asyncio.AbstractEventLoop) -> None:
        self.call = call
        self.loop = loop
        self.tid = _get_ident()
        self.task: asyncio.Task[None] | None = None
        self.handle: Any = None


def _first_step(
    fn: Callable[..., Awaitable[Any]],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    flight: tuple[int, bytes],
) -> tuple[Any, Any]:
    """An asyncio leader's work up to its first suspension, run in the
    flight's own context (a copy of the caller's, as a task would have).

    Returns ``(None, value)`` when the work completed without suspending, or
    ``(awaitable, yielded)`` when it suspended: ``yielded`` is what it handed
    to the event loop (a future, or None for a bare yield). Exceptions from
    the work propagate."""
    _inflight.set(_inflight.get() + (flight,))
    aw = fn(*args, **kwargs)
    if type(aw) is not _CoroutineType:
        aw = _await_iter(aw)
    try:
        return aw, aw.send(None)
    except StopIteration as stop:
        return None, stop.value


def _await_iter(aw: Any) -> Any:
    """What ``await aw`` iterates, for an awaitable that is not a native
    coroutine (a generator-based coroutine, a future, an object with
    ``__await__``)."""
    if isinstance(aw, types.GeneratorType) and aw.gi_code.co_flags & inspect.CO_ITERABLE_COROUTINE:
        return aw
    meth = getattr(type(aw), "__await__", None)
    if meth is None:
        raise TypeError(
            f"singleflight: fn must return an awaitable, got {type(aw).__name__}"
        )
    return meth(aw)


@types.coroutine
def _resume(aw: Any, yielded: Any) -> Any:
    """Continues, in a task of its own, a work that suspended in its first
    step. The task's first step runs a turn of the loop later: for a bare
    yield (``yielded`` None) that is what the work asked for; a future is
    handed to the task to wait on first."""
    if yielded is not None:
        while True:
            try:
                yield yielded
            except GeneratorExit:
                aw.close()
                raise
            except BaseException as exc:  # cancellation: the work's to handle
                try:
                    yielded = aw.throw(exc)
                except StopIteration as stop:
                    return stop.value
            else:
                break
    return (yield from aw)


@types.coroutine
def _resume_inline(aw: Any, yielded: Any, ctx: contextvars.Context) -> Any:
    """Continues a work that suspended in its first step in the caller's own
    task (see _do_async), each step in the flight's context."""
    run = ctx.run
    while True:
        try:
            sent = yield yielded
        except GeneratorExit:
            aw.close()
            raise
        except BaseException as exc:
            try:
                yielded = run(aw.throw, exc)
            except StopIteration as stop:
                return stop.value
        else:
            try:
                yielded = run(aw.send, sent)
            except StopIteration as stop:
                return stop.value


class _Start(collections.abc.Coroutine):  # type: ignore[type-arg]
    """The coroutine of a work task: ``_run``, and what ``_run`` cannot do
    itself. A task cancelled (or closed) before its first step throws into a
    coroutine that never started, whose ``finally`` clauses therefore never
    run: without this, the work ticket would be kept and the key blocked for
    good (every waiter left before the loop ran the task once, or the loop
    shut down first)."""

    __slots__ = ("_coro", "_runner", "_aw", "_started")

    def __init__(self, runner: _Runner, aw: Any, yielded: Any) -> None:
        self._coro = _run(runner, aw, yielded)
        self._runner = runner
        self._aw = aw
        self._started = False

    def send(self, value: Any) -> Any:
        self._started = True
        return self._coro.send(value)

    def throw(self, *exc: Any) -> Any:
        if not self._started:
            self._unstarted()
        return self._coro.throw(*exc)

    def close(self) -> None:
        if not self._started:
            self._unstarted()
        self._coro.close()

    def __await__(self) -> Any:  # pragma: no cover - only tasks drive it
        return self._coro.__await__()

    def _unstarted(self) -> None:
        """Never started: hand the flight off and end the work here."""
        self._started = True
        runner = self._runner
        if runner in _runners:
            _handoff(runner.call)
            _runners.discard(runner)
            runner.handle = None
            runner.task = None
        self._aw.close()


async def _run(runner: _Runner, aw: Any, yielded: Any) -> None:
    """The task that runs the rest of an asyncio leader's work (after its
    first suspension) and completes its flight."""
    w = runner.call
    settled = False
    try:
        try:
            value = await _resume(aw, yielded)
        except Exception as exc:
            h, data, hb = _new_handle((exc, exc.__traceback__)), _describe(exc), _NULL
            status = _EWORK
        else:
            h, data, hb = _prepare(value)
            status = _OK
        # A BaseException that is not an Exception (cancelled because every
        # waiter left, or because the loop shuts down; KeyboardInterrupt) is
        # not an outcome: the finally clause hands the flight off, so that
        # whoever waits now leads a fresh run.
        if h != _NULL:
            _keep_add(h)
        if hb != _NULL:
            _keep_add(hb)
        settled = True
        r = _complete(w, status, h, data, len(data) if data != _NULL else 0, hb)
        if r & _REL_NATIVE:
            _keep_discard(h)
        if r & _REL_BYTES:
            _keep_discard(hb)
    finally:
        if not settled:
            _handoff(w)
        _runners.discard(runner)
        runner.handle = None
        runner.task = None


class Group:
    """A namespace of flights: concurrent calls with the same key run once.

    ``Group()`` is private to its creator; ``Group.open(name)`` is the
    process-wide group of that name, shared with every other caller of
    ``sf_group_open`` in the process (Go, Rust, C, other Python code).

    Thread-safe, and usable from any number of threads and event loops at
    once: threads and asyncio tasks asking for the same key share one flight.
    """

    __slots__ = ("_g", "_gid", "_name", "__weakref__")

    def __init__(self) -> None:
        g = lib.sf_group_new()
        if g == _NULL:
            raise MemoryError("singleflight: sf_group_new failed")
        self._g = ffi.gc(g, lib.sf_group_release)
        self._gid = int(ffi.cast("uintptr_t", g))
        self._name: bytes | None = None

    @classmethod
    def open(cls, name: Key) -> "Group":
        """The process-wide group called ``name`` (a non-empty str or bytes),
        created on first open. Every opener in the process, whatever its
        language, shares its flights."""
        nb = _key_bytes(name)
        if not nb:
            raise ValueError("singleflight: a group name must not be empty")
        g = lib.sf_group_open(nb, len(nb))
        if g == _NULL:
            raise MemoryError("singleflight: sf_group_open failed")
        self = cls.__new__(cls)
        self._g = ffi.gc(g, lib.sf_group_release)
        self._gid = int(ffi.cast("uintptr_t", g))
        self._name = nb
        return self

    @property
    def name(self) -> bytes | None:
        """The name this group was opened with, or None for a private group."""
        return self._name

    def __repr__(self) -> str:
        kind = f"name={self._name!r}" if self._name is not None else "private"
        return f"<singleflight.Group {kind} at 0x{self._gid:x}>"

    # ------------------------------------------------------------------ threads

    def do(
        self,
        key: Key,
        fn: Callable[..., R],
        /,
        *args: Any,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> R:
        """Runs ``fn(*args, **kwargs)`` once for all concurrent callers of ``key``.

        The first caller (the leader) runs ``fn`` on its own thread; callers
        that arrive while it runs wait, with the GIL released, and get the very
        object it returned, or the very exception it raised (with the leader's
        traceback). Nothing is cached: once the outcome is delivered, the next
        call runs ``fn`` again.

        :param key: ``str`` (UTF-8) or ``bytes``; any bytes, NULs included.
        :param timeout: seconds a follower waits at most before it raises
            :class:`TimeoutError`; the flight goes on for the others. A leader
            runs ``fn`` to its end (``timeout`` bounds waiting, not work).
        :raises DeadlockError: ``fn`` (or something it calls) asked for its own
            key again.
        :raises WorkError, PanicError, NoBytesError: a leader in another
            language failed, aborted, or returned a value with no byte form.

        ``key`` and ``fn`` are positional-only and ``timeout`` is taken by
        this method; wrap ``fn`` in a lambda to pass it a ``timeout`` argument.
        If ``fn`` raises a ``BaseException`` that is not an ``Exception``
        (``KeyboardInterrupt``, ``SystemExit``), it is not shared: it goes up
        in the leader alone and the flight is handed off to a waiting caller.
        """
        if type(key) is str:
            kb = key.encode()
        elif type(key) is bytes:
            kb = key
        else:
            kb = _key_bytes(key)
        if timeout is not None or not callable(fn):
            return self._do(kb, fn, args, kwargs, timeout, False)
        c = _join(self._g, kb, len(kb), _RUN_HERE)
        if c.role != 1:
            return self._follow(c, kb, fn, args, kwargs, -1, False)
        # The fast path: this thread leads and runs the work.
        try:
            value = fn(*args, **kwargs)
        except Exception as exc:
            _lead_error(c, exc, 0)
            raise
        except BaseException:
            _leave(c)  # a hand-off: a waiting caller leads a new run
            raise
        if value is None or isinstance(value, _SLOW_VALUES):
            _lead_value(c, value, 0)
        else:
            h = _new_handle(value)
            _keep_add(h)
            if _finish(c, h, 0) & _REL_NATIVE:
                _keep_discard(h)
        return value

    def do_shared(
        self,
        key: Key,
        fn: Callable[..., R],
        /,
        *args: Any,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> tuple[R, bool]:
        """Like :meth:`do`, and also tells whether the outcome went to more
        than one caller: returns ``(value, shared)``."""
        return self._do(_key_bytes(key), fn, args, kwargs, timeout, True)

    def _do(
        self,
        kb: bytes,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        timeout: float | None,
        want_shared: bool,
    ) -> Any:
        if not callable(fn):
            raise TypeError(
                f"singleflight: fn must be callable, not {type(fn).__name__}"
            )
        timeout_ns = _timeout_ns(timeout)
        c = _join(self._g, kb, len(kb), _RUN_HERE)
        return self._follow(c, kb, fn, args, kwargs, timeout_ns, want_shared)

    def _follow(
        self,
        c: Any,
        kb: bytes,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        timeout_ns: int,
        want_shared: bool,
    ) -> Any:
        """The general blocking path: lead or follow, rejoin after a hand-off."""
        deadline = time.monotonic_ns() + timeout_ns if timeout_ns >= 0 else None
        ws = 1 if want_shared else 0
        while True:
            role = c.role
            if role < 0:
                raise _status_error(-role)
            if role == 1:
                try:
                    value = fn(*args, **kwargs)
                except Exception as exc:
                    _lead_error(c, exc, ws)
                    raise
                except BaseException:
                    _leave(c)
                    raise
                r = _lead_value(c, value, ws)
                return (value, bool(r & _SHARED)) if want_shared else value
            try:
                if (self._gid, kb) in _inflight.get():
                    raise DeadlockError(
                        f"singleflight: key {kb!r} is being computed by the "
                        "asyncio task this call comes from; waiting would never end"
                    )
                if deadline is None:
                    st = _wait(c, -1)
                else:
                    left = deadline - time.monotonic_ns()
                    st = _wait(c, left) if left > 0 else lib.sfpy_poll(c)
                if st == _ETIMEDOUT:
                    raise TimeoutError(
                        f"singleflight: no outcome for key {kb!r} within "
                        f"{timeout_ns / 1e9:g}s; the flight goes on for the others"
                    )
                if st != _EHANDOFF:
                    return _outcome(c, st, kb, want_shared)
            finally:
                _leave_call(c)
            # The leader left without completing: join again, maybe to lead.
            c = _join(self._g, kb, len(kb), _RUN_HERE)

    # ------------------------------------------------------------------ asyncio

    def do_async(
        self,
        key: Key,
        fn: Callable[..., Awaitable[R]],
        /,
        *args: Any,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> Coroutine[Any, Any, R]:
        """Awaits ``fn(*args, **kwargs)`` once for all concurrent callers of ``key``.

        The first caller (the leader) runs ``fn`` at once up to its first
        suspension; work that completes without suspending costs no task.
        Work that suspends goes on as a task of its own, and every caller,
        the leader included, awaits a future woken by the engine when the
        outcome is ready (no thread per waiter). Threads calling :meth:`do`
        and tasks of any event loop share the same flight.

        Cancelling a caller's task only removes that caller; the work is
        cancelled when the last caller leaves, and a cancelled run never
        poisons the key: a caller who joined meanwhile leads a fresh run.
        (One exception: work that enters ``asyncio.timeout()`` or a
        ``TaskGroup`` before its first ``await`` binds them to the leader's
        task, so it goes on in that task, and cancelling the leader then
        cancels the work, which hands the flight off to the other callers.)

        :param timeout: seconds this caller waits at most before it raises
            :class:`TimeoutError`; the work goes on while others wait.

        (A plain method that returns the coroutine to await: one coroutine
        per call instead of two.)
        """
        return self._do_async(key, fn, args, kwargs, timeout, False)

    def do_async_shared(
        self,
        key: Key,
        fn: Callable[..., Awaitable[R]],
        /,
        *args: Any,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> Coroutine[Any, Any, tuple[R, bool]]:
        """Like :meth:`do_async`; the coroutine returns ``(value, shared)``."""
        return self._do_async(key, fn, args, kwargs, timeout, True)

    async def _do_async(
        self,
        key: Key,
        fn: Callable[..., Awaitable[Any]],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        timeout: float | None,
        want_shared: bool,
    ) -> Any:
        t = type(key)
        kb = key if t is bytes else key.encode() if t is str else _key_bytes(key)
        if not callable(fn):
            raise TypeError(
                f"singleflight: fn must be callable, not {type(fn).__name__}"
            )
        if timeout is None:
            deadline = None
        else:
            timeout_ns = _timeout_ns(timeout)
            deadline = time.monotonic_ns() + timeout_ns
        loop = asyncio.get_running_loop()
        while True:
            c = _join(self._g, kb, len(kb), 0)
            role = c.role
            if role == 1:
                # Lead. The work runs at once, in this task, up to its first
                # suspension: work that completes without suspending (a
                # cache hit, say) costs no task and no turn of the loop.
                ws = 1 if want_shared else 0
                ctx = _copy_context()
                me = _current_task(loop) if _current_tasks is None else _current_tasks.get(loop)
                refs = _getrefcount(me)
                try:
                    aw, out = ctx.run(_first_step, fn, args, kwargs, (self._gid, kb))
                except Exception as exc:
                    _lead_error(c, exc, ws)
                    raise
                except BaseException:
                    _leave(c)  # not an outcome: hand off to a waiting caller
                    raise
                if aw is None:  # done without suspending: one sf_finish
                    if out is None or isinstance(out, _BYTE_VALUES):
                        r = _settle(c, out, ws)
                    else:  # no byte form: the object alone
                        h = _new_handle(out)
                        _keep_add(h)
                        r = _finish(c, h, ws)
                        if r & _REL_NATIVE:
                            _keep_discard(h)
                    return (out, bool(r & _SHARED)) if want_shared else out
                if me is not None and _getrefcount(me) != refs:
                    # The first step kept a reference to this task (an
                    # asyncio.timeout() or TaskGroup entered before the first
                    # await binds to the current task): the work must go on
                    # in this very task, or those would act on the wrong one.
                    # Cancelling this caller then cancels the work, which
                    # hands the flight off to the others (see the README).
                    try:
                        value = await _resume_inline(aw, out, ctx)
                    except Exception as exc:
                        _lead_error(c, exc, ws)
                        raise
                    except BaseException:
                        _leave(c)
                        raise
                    r = _settle(c, value, ws)
                    return (value, bool(r & _SHARED)) if want_shared else value
                # The work suspended: the rest runs as a task of its own, with
                # the work ticket; this caller only waits, like any other.
                w = lib.sfpy_split_work(c)
                if w == _NULL:
                    aw.close()
                    _leave(c)
                    raise MemoryError("singleflight: out of memory")
                runner = _Runner(w, loop)
                runner.handle = _new_handle(runner)
                _runners.add(runner)
                lib.sfpy_on_abandoned(w, runner.handle)
                if _TASK_CONTEXT:
                    runner.task = loop.create_task(_Start(runner, aw, out), context=ctx)
                else:  # 3.10: the task copies the current context
                    runner.task = ctx.run(loop.create_task, _Start(runner, aw, out))
            elif role < 0:
                raise _status_error(-role)
            elif (self._gid, kb) in _inflight.get():
                _leave(c)
                raise DeadlockError(
                    f"singleflight: key {kb!r} is being computed by the task this "
                    "call comes from; waiting would never end"
                )
            timer = None
            fut = loop.create_future()
            handle = _new_handle((fut, _get_ident()))
            try:
                # The outcome if it is there already (or SF_EDEADLK if this
                # thread runs the flight's work); else the engine calls
                # _sfpy_notify when it is.
                st = lib.sfpy_poll_subscribe(c, handle)
                if st == _ETIMEDOUT:
                    if deadline is not None:
                        timer = loop.call_at(
                            loop.time() + max(0, deadline - time.monotonic_ns()) / 1e9,
                            _expire,
                            fut,
                        )
                    try:
                        await fut
                    except TimeoutError:
                        raise TimeoutError(
                            f"singleflight: no outcome for key {kb!r} within "
                            f"{timeout_ns / 1e9:g}s; the flight goes on for the others"
                        ) from None
                    st = _wait(c, 0)
                if st != _EHANDOFF:
                    return _outcome(c, st, kb, want_shared)
            finally:
                if timer is not None:
                    timer.cancel()
                _leave_call(c)  # after this, the subscription never fires
                handle = None

    # ----------------------------------------------------------------- the rest

    def forget(self, key: Key) -> None:
        """Makes the next caller of ``key`` start a new flight; callers already
        in the running flight still get its outcome."""
        kb = _key_bytes(key)
        st = lib.sf_forget(self._g, kb, len(kb))
        if st != _OK:
            raise _status_error(st)

    def forget_unshared(self, key: Key) -> bool:
        """Forgets ``key`` only if nobody but its leader has joined its flight.
        Returns True when the key is now free (forgotten, or no flight)."""
        kb = _key_bytes(key)
        out = ffi.new("int *")
        st = lib.sf_forget_unshared(self._g, kb, len(kb), out)
        if st != _OK:
            raise _status_error(st)
        return bool(out[0])

    def stats(self) -> Stats:
        """The group's counters (``sf_group_stats``)."""
        s = ffi.new("sf_stats *")
        st = lib.sf_group_stats(self._g, s, ffi.sizeof("sf_stats"))
        if st != _OK:
            raise _status_error(st)
        return Stats(*(getattr(s, f) for f in Stats._fields))

    # --------------------------------------------------------------- decorator

    @overload
    def dedup(
        self, fn: Callable[P, R], /
    ) -> Callable[P, R]: ...

    @overload
    def dedup(
        self,
        fn: None = None,
        /,
        *,
        key: Key | Callable[..., Key] | None = None,
        timeout: float | None = None,
    ) -> Callable[[Callable[P, R]], Callable[P, R]]: ...

    def dedup(
        self,
        fn: Callable[..., Any] | None = None,
        /,
        *,
        key: Key | Callable[..., Key] | None = None,
        timeout: float | None = None,
    ) -> Any:
        """Decorates a function or a coroutine function so that concurrent
        calls with the same key run it once.

        ``key`` says which calls are "the same":

        * a callable: called with the function's arguments, returns the key;
        * a ``str`` template: ``key.format(*args, **kwargs)``
          (``"user:{0}"``, ``"user:{user_id}"``); ``bytes`` are a fixed key;
        * ``None`` (default): the function's qualified name and the ``repr``
          of its arguments.

        Usable bare (``@group.dedup``) or with options
        (``@group.dedup(key="user:{0}", timeout=1.0)``).
        """
        if timeout is not None:
            _timeout_ns(timeout)  # validate once, early
        keyfn = _key_function(key)

        def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
            if not callable(func):
                raise TypeError("singleflight: dedup() decorates a callable")
            prefix = f"{getattr(func, '__module__', '')}.{getattr(func, '__qualname__', repr(func))}"
            if inspect.iscoroutinefunction(func):

                @functools.wraps(func)
                async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                    kb = _key_bytes(keyfn(prefix, args, kwargs))
                    return await self._do_async(kb, func, args, kwargs, timeout, False)

                return async_wrapper

            @functools.wraps(func)
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                kb = _key_bytes(keyfn(prefix, args, kwargs))
                return self._do(kb, func, args, kwargs, timeout, False)

            return wrapper

        if fn is not None:
            return decorate(fn)
        return decorate


def _key_function(
    key: Key | Callable[..., Key] | None,
) -> Callable[[str, tuple[Any, ...], dict[str, Any]], Key]:
    if key is None:

        def default(prefix: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Key:
            if kwargs:
                return f"{prefix}:{args!r}:{sorted(kwargs.items())!r}"
            return f"{prefix}:{args!r}"

        return default
    if isinstance(key, str):
        template = key
        return lambda prefix, args, kwargs: template.format(*args, **kwargs)
    if isinstance(key, bytes):
        fixed = bytes(key)
        return lambda prefix, args, kwargs: fixed
    if callable(key):
        func = key
        return lambda prefix, args, kwargs: func(*args, **kwargs)
    raise TypeError(
        "singleflight: dedup(key=...) takes a str template, bytes, a callable "
        f"or None, not {type(key).__name__}"
    )
