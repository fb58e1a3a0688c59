"""The Pythonic API: ``Group`` over the engine's split API (see
include/singleflight.h).

* Blocking callers (threads) ``sf_join`` with ``SF_JOIN_RUN_HERE``. The leader
  runs ``fn`` on its own thread and completes the flight with its outcome; the
  followers block in ``sf_wait_native`` with the GIL released. A leader that
  re-enters its own key is told ``SF_EDEADLK`` by the engine and gets a
  :class:`DeadlockError`.
* Asyncio callers: see ``_aio.py``.
* Outcomes, handles and bytes: see ``_engine.py``.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import (
    TYPE_CHECKING,
    Any,
    NamedTuple,
    ParamSpec,
    TypeVar,
    overload,
)

from . import _aio, _latency, _log
from ._engine import (
    _EHANDOFF,
    _ETIMEDOUT,
    _NULL,
    _OK,
    _RUN_HERE,
    _SHARED,
    _callable,
    _CoroutineType,
    _deadlock_error,
    _finish_alone,
    _first_steps,
    _flight_of,
    _flights,
    _join,
    _key_bytes,
    _key_text,
    _lead_error,
    _lead_value,
    _leave,
    _mark,
    _outcome,
    _status_error,
    _timeout_ns,
    _unwind,
    _wait,
)
from ._raw import ffi, lib

if TYPE_CHECKING:
    from ._fleet import FleetGroup

__all__ = ["Group", "Stats", "Key"]

P = ParamSpec("P")
R = TypeVar("R")

#: A flight key: ``str`` (encoded as UTF-8) or ``bytes`` (taken as is).
Key = str | bytes


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
    # Fleet groups (Group.fleet); 0 for every other group (and by default).
    fleet_led: int = 0
    fleet_joined: int = 0
    fleet_taken_over: int = 0
    fleet_fenced: int = 0
    fleet_leases_lost: int = 0
    fleet_fallbacks: int = 0
    fleet_too_large: int = 0
    fleet_reconnects: int = 0


# sf_stats is uint64_t fields only, appended in order (the header's rule):
# the counters are read as one array, the fleet ones too (their fields are
# not in the base cdef).
_U64 = ffi.sizeof("uint64_t")
_N_STATS = len(Stats._fields)
if ffi.offsetof("sf_stats", "live") != 9 * _U64 or ffi.sizeof("sf_stats") < _N_STATS * _U64:
    raise ImportError(  # pragma: no cover - a header older than the binding
        "singleflight: the engine's sf_stats lacks fields this binding reads; "
        "rebuild the package against the installed singleflight.h"
    )


class Group:
    """A namespace of flights: concurrent calls with the same key run once.

    ``Group()`` is private to its creator; ``Group.open(name)`` is the
    process-wide group of that name, shared with every other caller of
    ``sf_group_open`` in the process (Go, Rust, C, other Python code).

    Thread-safe, and usable from any number of threads and event loops at
    once: threads and asyncio tasks asking for the same key share one flight.
    """

    __slots__ = ("_g", "_gid", "_name", "__weakref__")

    #: Whether :meth:`do` may take its fast path, where the leader calls
    #: ``fn`` directly (not :meth:`_work`) and, when nobody joined,
    #: finishes the flight without a byte form of the value. False in a
    #: fleet group, whose every value goes out to the other processes.
    _fast_do = True

    def __init__(self) -> None:
        g = lib.sf_group_new()
        if g == _NULL:
            raise MemoryError("singleflight: sf_group_new failed")
        self._g = ffi.gc(g, lib.sf_group_release)
        self._gid = int(ffi.cast("uintptr_t", g))
        self._name: bytes | None = None

    @classmethod
    def open(cls, name: Key) -> Group:
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

    @staticmethod
    def fleet(name: Key, /, **options: Any) -> FleetGroup:
        """The process-wide *fleet group* called ``name``: its flights are
        shared with every process, in any language, that opened the same
        name on the same Redis server: the work of a key runs once in the
        whole fleet. ``Group.fleet(name, url=..., lease=..., codec=...)`` is
        :class:`FleetGroup` ``(name, ...)``: see it for the options."""
        from ._fleet import FleetGroup  # (it derives from Group)

        return FleetGroup(name, **options)

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
        if timeout is not None or not callable(fn) or not self._fast_do:
            return self._do(kb, fn, args, kwargs, timeout, False)
        # Whatever an exception from a signal handler interrupts below, the
        # handler at the end leaves the tickets this call still holds (the
        # glue keeps them on a per-thread stack): a leader's flight is
        # completed or handed off, never lost.
        mark = _mark()
        try:
            c = _join(self._g, kb, len(kb), _RUN_HERE)
            if c.role != 1:
                return self._follow(c, kb, fn, args, kwargs, -1, False)
            # The fast path: this thread leads and runs the work.
            try:
                value = fn(*args, **kwargs)
            except Exception as exc:
                _lead_error(c, exc, 0)
                raise
            except BaseException as exc:
                _leave(c)  # a hand-off: a waiting caller leads a new run
                _log.leader_handed_off(kb, exc)
                raise
            if type(value) is _CoroutineType or not _finish_alone(c, _OK):
                _lead_value(c, value, 0)  # followers wait (or an async fn's coroutine)
            return value  # else nobody joined: nothing was built for others
        except BaseException:
            _unwind(mark)
            raise

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
        _callable(fn)
        timeout_ns = _timeout_ns(timeout)
        mark = _mark()
        try:  # (see do())
            c = _join(self._g, kb, len(kb), _RUN_HERE)
            return self._follow(c, kb, fn, args, kwargs, timeout_ns, want_shared)
        except BaseException:
            _unwind(mark)
            raise

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
                    value = self._work(c, fn, args, kwargs)
                except Exception as exc:
                    _lead_error(c, exc, ws)
                    raise
                except BaseException as exc:
                    _leave(c)
                    _log.leader_handed_off(kb, exc)
                    raise
                r = _lead_value(c, value, ws)
                return (value, bool(r & _SHARED)) if want_shared else value
            try:
                if (_flights or _first_steps.get()) and _aio._joins_own_work(
                    self._gid, kb, _flight_of(c), _aio._running_loop()
                ):
                    raise _deadlock_error(kb, "the asyncio task this call comes from")
                if deadline is None:
                    st = _wait(c, -1)
                else:
                    # (A wait with a timeout that expires is counted by the
                    # engine; 1 ns where the deadline passed: never 0, which
                    # the engine takes for a poll and does not count.)
                    left = deadline - time.monotonic_ns()
                    st = _wait(c, left if left > 0 else 1)
                if st == _ETIMEDOUT:
                    raise TimeoutError(
                        f"singleflight: no outcome for key {_key_text(kb)} within "
                        f"{timeout_ns / 1e9:g}s; the flight goes on for the others"
                    )
                if st != _EHANDOFF:
                    return _outcome(c, st, kb, want_shared)
            finally:
                _leave(c)
            # The leader left without completing: join again, maybe to lead.
            _log.handoff_seen(kb)
            c = _join(self._g, kb, len(kb), _RUN_HERE)

    def _dedup_prefix(self, func: Callable[..., Any]) -> str:
        """The start of ``dedup``'s default keys for ``func``: its qualified
        name and its identity."""
        name = getattr(func, "__qualname__", None) or type(func).__qualname__
        return f"{getattr(func, '__module__', '')}.{name}@{id(func):x}"

    def _work(
        self, c: Any, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        """A blocking leader runs the work (``c`` holds its work ticket);
        what it returns is the flight's value (FleetGroup encodes it)."""
        return fn(*args, **kwargs)

    # ------------------------------------------------------------------ asyncio

    # Defined in _aio.py (their docstrings too): their bodies are the
    # asyncio callers' hot path. Their types, for type checkers:
    if TYPE_CHECKING:

        def do_async(
            self,
            key: Key,
            fn: Callable[..., Awaitable[R]],
            /,
            *args: Any,
            timeout: float | None = None,
            **kwargs: Any,
        ) -> asyncio.Future[R]: ...

        def do_async_shared(
            self,
            key: Key,
            fn: Callable[..., Awaitable[R]],
            /,
            *args: Any,
            timeout: float | None = None,
            **kwargs: Any,
        ) -> asyncio.Future[tuple[R, bool]]: ...

    else:
        do_async = _aio.do_async
        do_async_shared = _aio.do_async_shared

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
        return Stats(*ffi.unpack(ffi.cast("uint64_t *", s), _N_STATS))

    def record_latency(self, on: bool = True) -> None:
        """Turns the recording of the group's latency histograms on or off
        (``sf_group_record_latency``). Off until turned on: it reads the clock
        at every call, about as costly as the cheapest flight. A named group
        is shared by every language: one caller's switch is everyone's. The
        Prometheus collector turns it on for the groups it exports."""
        _latency.record_latency(self._g, on)

    def latency(self) -> _latency.Latency:
        """The group's latency histograms (``sf_group_latency``): followers'
        waits and the work's runs, all zero until ``record_latency()``."""
        return _latency.latency(self._g)

    # --------------------------------------------------------------- decorator

    @overload
    def dedup(self, fn: Callable[P, R], /) -> Callable[P, R]: ...

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
        * ``None`` (default): the decorated function itself (its qualified
          name and its identity: two closures of one factory, or two
          functions of one name, never share flights) and the ``repr`` of
          its arguments.

        A coroutine function, or an object whose ``__call__`` is one, gives
        a coroutine function; a generator or async generator function is
        refused with ``TypeError`` (one generator object would be handed
        to every caller).

        Usable bare (``@group.dedup``) or with options
        (``@group.dedup(key="user:{0}", timeout=1.0)``).
        """
        if timeout is not None:
            _timeout_ns(timeout)  # validate once, early
        keyfn = _key_function(key)

        def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
            if not callable(func):
                raise TypeError("singleflight: dedup() decorates a callable")
            routine = (
                func
                if inspect.isroutine(func) or isinstance(func, functools.partial)
                else getattr(type(func), "__call__", func)  # noqa: B004 (the method itself)
            )
            if inspect.isgeneratorfunction(routine) or inspect.isasyncgenfunction(routine):
                raise TypeError(
                    f"singleflight: dedup() cannot decorate the generator function {func!r}: "
                    "every caller would get one generator object; decorate a function "
                    "that returns a list (or a coroutine function) instead"
                )
            prefix = self._dedup_prefix(func)
            if inspect.iscoroutinefunction(func) or inspect.iscoroutinefunction(routine):
                # A coroutine function still: the call starts when awaited.
                @functools.wraps(func)
                async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                    kb = _key_bytes(keyfn(prefix, args, kwargs))
                    run = functools.partial(func, *args, **kwargs)
                    return await self.do_async(kb, run, timeout=timeout)

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
