"""Fleet groups (``Group.fleet``, include/singleflight.h section 6): named
groups whose flights are shared by every process that opened the same name
on the same Redis server.

The engine does the networking; to the binding a fleet group is a named
group, with three additions made here:

* the options (``sf_fleet_options``) from keyword arguments in Python types;
* values crossing processes: the leader's value goes out as bytes (its own
  ``bytes``, or what the group's codec makes of it) while its local callers
  still share the object itself; a value from another process comes in as
  engine bytes and is handed to the callers as ``bytes``, or decoded by the
  codec;
* the fencing token of the lead, readable by the work (:func:`fence_token`).
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import math
import pickle
import types
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from . import _aio
from ._engine import _NULL, _callable, _first_steps, _key_bytes
from ._group import Group, Key
from ._raw import ffi, lib

__all__ = ["FleetGroup", "Codec", "JsonCodec", "PickleCodec", "fence_token"]

R = TypeVar("R")

_CoroutineType = types.CoroutineType
# What an outcome's engine bytes are read into (_engine._take_bytes): a
# memoryview over a cffi buffer. A value of that form is another process's
# (or another language's) value, never a Python leader's own object.
_BUFFER = type(ffi.buffer(ffi.new("char[1]")))
_TICKETS_T = ffi.typeof("sfpy_tickets *")

_UINT32_MAX = 2**32 - 1


class Codec(Protocol):
    """How a fleet group's values cross processes: ``encode(value)`` gives
    the bytes the other processes receive, ``decode(data)`` turns them back
    into a value there. Both processes must use the same codec."""

    def encode(self, value: Any) -> bytes: ...

    def decode(self, data: bytes) -> Any: ...


class JsonCodec:
    """Values as JSON (UTF-8): what ``json.dumps`` takes (dicts, lists,
    strings, numbers, booleans, None). A readable choice, and one that Go,
    Rust and C processes of the fleet can read too."""

    def encode(self, value: Any) -> bytes:
        return json.dumps(value, separators=(",", ":")).encode()

    def decode(self, data: bytes) -> Any:
        return json.loads(data)

    def __repr__(self) -> str:
        return "singleflight.JsonCodec()"


class PickleCodec:
    """Values as pickles: any picklable object. Unpickling runs code chosen
    by whoever wrote the bytes, so use it only when every process of the
    fleet and the Redis server are trusted."""

    def __init__(self, protocol: int = pickle.HIGHEST_PROTOCOL) -> None:
        self.protocol = protocol

    def encode(self, value: Any) -> bytes:
        return pickle.dumps(value, protocol=self.protocol)

    def decode(self, data: bytes) -> Any:
        return pickle.loads(data)

    def __repr__(self) -> str:
        return f"singleflight.PickleCodec(protocol={self.protocol})"


# ---- the fencing token ------------------------------------------------------

_fence: contextvars.ContextVar[int] = contextvars.ContextVar("singleflight_fence_token", default=0)


def fence_token() -> int:
    """The fencing token of the fleet flight whose work is running here:
    call it in the work of a fleet group's :meth:`~Group.do`,
    :meth:`~Group.do_async` or ``dedup`` function (it is a context
    variable: the tasks the work creates see it too, a thread the work
    starts does if run in a copy of the work's context).

    The Redis server hands a leader a token per key, larger for every new
    lead of that key. A store that remembers the largest token it has seen
    and refuses writes with a smaller one is safe from a leader that stalled
    past its lease and was taken over: that leader's late writes carry the
    older token.

    0 when the flight is local (a group that is not a fleet group, a fleet
    group whose server is unreachable, a value too large for the fleet) and
    outside any work."""
    return _fence.get()


def _token_of(work: Any) -> int:
    """The fencing token of a held work ticket (0 for a local flight)."""
    out = ffi.new("uint64_t *")
    lib.sf_fence_token(work, out)
    return int(out[0])


def _async_work_ticket(gid: int, kb: bytes) -> Any:
    """The work ticket of the asyncio leader's work that runs here (in its
    first step, the leader's sfpy_tickets hold it; later, its runner's), or NULL."""
    steps = _first_steps.get()
    if steps:
        flight = steps[-1]
        if flight.first and flight.tickets_at and flight.gid == gid and flight.kb == kb:
            return ffi.cast(_TICKETS_T, flight.tickets_at).work
    task = asyncio.current_task()
    if task is not None:
        for runner in list(_aio._runners):  # (a copy: other loops' threads add theirs)
            if runner.task is task:
                return runner.tickets.work
    return _NULL


# ---- values across processes ------------------------------------------------


class _Encoded(bytes):
    """A leader's value with its byte form: the bytes go to the other
    processes, ``value`` (the object itself) to the callers of this one."""

    value: Any


def _encoded(value: Any, codec: Codec) -> Any:
    if type(value) is _CoroutineType:
        return value  # an async fn given to do(): Group reports it
    data = codec.encode(value)
    if isinstance(data, (bytearray, memoryview)):
        data = bytes(data)
    elif not isinstance(data, bytes):
        raise TypeError(
            f"singleflight: {codec!r}.encode() returned {type(data).__name__}, not bytes"
        )
    e = _Encoded(data)
    e.value = value
    return e


def _received(value: Any, codec: Codec | None) -> Any:
    """What a caller gets for an outcome's value: a leader's object itself,
    or another process's bytes (copied out of the engine), decoded."""
    t = type(value)
    if t is _Encoded:
        return value.value
    if t is memoryview and type(value.obj) is _BUFFER:
        data = bytes(value)
        return data if codec is None else codec.decode(data)
    return value


class _FleetFuture(_aio._Future):
    """An asyncio caller's future of a fleet group: its value is what
    :func:`_received` makes of the outcome's."""

    __slots__ = ()
    _pair = False  # its result is (value, shared): do_async_shared

    def set_result(self, result: Any) -> None:
        value = result[0] if self._pair else result
        t = type(value)
        if t is _Encoded:
            value = value.value
        elif t is memoryview and type(value.obj) is _BUFFER:
            try:  # (a value from elsewhere comes with a wait: _req is set)
                value = _received(value, self._req[0]._codec)
            except Exception as exc:  # the codec's: this caller's error
                super().set_exception(exc)
                return
        super().set_result((value, result[1]) if self._pair else value)


class _FleetFutureShared(_FleetFuture):
    __slots__ = ()
    _pair = True


_do_async = _aio._entry(False, _FleetFuture)
_do_async_shared = _aio._entry(True, _FleetFutureShared)


# ---- options ----------------------------------------------------------------


def _text_option(field: str, value: str | None) -> bytes | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"singleflight: {field} must be a str or None, not {type(value).__name__}")
    if "\0" in value:
        raise ValueError(f"singleflight: {field} {value!r} contains a NUL character")
    return value.encode()


def _millis(field: str, seconds: float | None, zero_ok: bool) -> int:
    """A duration option in seconds as the engine's milliseconds, rounded
    up; 0 (None) is the engine's default."""
    if seconds is None:
        return 0
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise TypeError(
            f"singleflight: {field} must be a number of seconds or None, "
            f"not {type(seconds).__name__}"
        )
    if not (seconds > 0 or (zero_ok and seconds == 0)):  # also NaN
        raise ValueError(
            f"singleflight: {field} must be {'>=' if zero_ok else '>'} 0 seconds, got {seconds!r}"
        )
    ms = math.ceil(seconds * 1000) if math.isfinite(seconds) else _UINT32_MAX + 1
    if ms > _UINT32_MAX:
        raise ValueError(
            f"singleflight: {field} {seconds!r}s is too long (at most {_UINT32_MAX / 1000:g}s)"
        )
    return ms


class FleetGroup(Group):
    """A fleet group: the process-wide group called ``name`` whose flights
    are shared with every process, in any language, that opened the same
    name on the same Redis (or Valkey) server with the same key prefix.
    When the fleet stampedes a key, its work runs once, in one process; the
    callers of the other processes get its outcome. Usually opened as
    ``Group.fleet(name, ...)``.

    To its callers it is a named group like any other: :meth:`do`,
    :meth:`do_async`, ``dedup``, deadlines (``timeout=``), cancellation and
    :meth:`stats` (with the ``fleet_*`` counters) work as for
    :meth:`Group.open`. Fleet names are apart from :meth:`Group.open`'s.
    The work runs once in all the processes; a value from another process
    arrives as ``bytes`` (or decoded by the codec), its error as
    :class:`WorkError`, its :class:`PanicError` as one.

    :param name: the group's name, a non-empty ``str`` or ``bytes``.
    :param url: the server: ``"redis://[[user]:password@]host[:port][/db]"``,
        ``"unix:///path/to/socket[?db=N]"`` or a socket path starting with
        ``/``. ``None``: the ``SF_REDIS_URL`` environment variable, else
        ``"redis://127.0.0.1:6379"``.
    :param key_prefix: the first part of every Redis key and channel of the
        group (``None``: ``"sf"``); no ``{``, ``}`` or ``:``.
    :param lease: seconds a leader holds a key; renewed while the work runs,
        so a crashed leader is taken over by another process once it runs out
        (``None``: 5 s). Every process of the fleet should use the same.
    :param max_value_bytes: the largest value (or error message) published
        to the others; over it they run the work themselves (``None``: 1 MiB).
    :param connect_timeout: seconds a connection attempt may take (``None``: 1 s).
    :param command_timeout: seconds a reply may take; a later one opens the
        circuit breaker: flights run locally (``None``: 1 s).
    :param linger: seconds the server keeps the last outcome of a key for
        callers that come after the flight ended (``None`` or 0: nothing is
        cached).
    :param cooldown: seconds the breaker stays open before the server is
        tried again (``None``: 1 s).
    :param codec: how values cross processes (an object with ``encode`` and
        ``decode``, e.g. :class:`JsonCodec` or :class:`PickleCodec`). Without
        one, values cross as bytes only: a ``bytes`` value (``str`` as UTF-8,
        ``bytearray`` and ``memoryview`` as a copy) reaches the other
        processes as ``bytes``; any other value gives their callers
        :class:`NoBytesError`. Either way, the callers of the leading
        process share the very object the work returned.

    The first open of a name in the process fixes its options: a later open
    of the same name shares that group (its own ``codec`` applies to what it
    receives). An unreachable server is no error: flights run locally (each
    process deduplicates its own callers; ``stats().fleet_fallbacks``)
    until it answers. Bad options raise :class:`ValueError` or
    :class:`TypeError`.
    """

    __slots__ = ("_codec",)
    _fast_do = False  # every value goes out to the other processes (_work)

    def __init__(
        self,
        name: Key,
        /,
        *,
        url: str | None = None,
        key_prefix: str | None = None,
        lease: float | None = None,
        max_value_bytes: int | None = None,
        connect_timeout: float | None = None,
        command_timeout: float | None = None,
        linger: float | None = None,
        cooldown: float | None = None,
        codec: Codec | None = None,
    ) -> None:
        nb = _key_bytes(name)
        if not nb:
            raise ValueError("singleflight: a group name must not be empty")
        if codec is not None and not (
            callable(getattr(codec, "encode", None)) and callable(getattr(codec, "decode", None))
        ):
            raise TypeError(
                "singleflight: codec must have encode(value) -> bytes and decode(bytes) -> value "
                f"methods (e.g. singleflight.JsonCodec()), not {type(codec).__name__}"
            )
        url_b = _text_option("url", url)
        prefix_b = _text_option("key_prefix", key_prefix)
        if prefix_b is not None and (not prefix_b or any(c in key_prefix for c in "{}:")):  # type: ignore[operator]
            raise ValueError(
                f"singleflight: key_prefix {key_prefix!r} must be non-empty, "
                "without '{', '}' or ':'"
            )
        if max_value_bytes is not None:
            if isinstance(max_value_bytes, bool) or not isinstance(max_value_bytes, int):
                raise TypeError(
                    "singleflight: max_value_bytes must be an int or None, "
                    f"not {type(max_value_bytes).__name__}"
                )
            if not 0 < max_value_bytes <= _UINT32_MAX:
                raise ValueError(
                    f"singleflight: max_value_bytes must be 1 to {_UINT32_MAX}, "
                    f"got {max_value_bytes}"
                )
        o = ffi.new("sf_fleet_options *")
        o.version = lib.SF_FLEET_OPTIONS_VERSION
        o.lease_ms = _millis("lease", lease, False)
        o.max_value_bytes = max_value_bytes or 0
        o.connect_timeout_ms = _millis("connect_timeout", connect_timeout, False)
        o.command_timeout_ms = _millis("command_timeout", command_timeout, False)
        o.linger_ms = _millis("linger", linger, True)
        o.cooldown_ms = _millis("cooldown", cooldown, False)
        keep = []  # the strings, alive for the call (the engine copies them)
        if url_b is not None:
            keep.append(ffi.new("char[]", url_b))
            o.url = keep[-1]
        if prefix_b is not None:
            keep.append(ffi.new("char[]", prefix_b))
            o.key_prefix = keep[-1]
        g = lib.sf_group_open_fleet(nb, len(nb), o)
        if g == _NULL:
            # Every other option was checked above: the engine refused the
            # URL (or, rarely, ran out of memory).
            raise ValueError(
                f"singleflight: the engine refused the fleet group options: is the URL "
                f"{url if url is not None else '$SF_REDIS_URL'!r} well formed? "
                "(redis://[[user]:password@]host[:port][/db], unix:///path[?db=N] or /path)"
            )
        self._g = ffi.gc(g, lib.sf_group_release)
        self._gid = int(ffi.cast("uintptr_t", g))
        self._name = nb
        self._codec = codec

    @property
    def codec(self) -> Codec | None:
        """The codec values cross processes with, or None (bytes only)."""
        return self._codec

    def __repr__(self) -> str:
        return f"<singleflight.FleetGroup name={self._name!r} at 0x{self._gid:x}>"

    def _dedup_prefix(self, func: Callable[..., Any]) -> str:
        """A fleet group's ``dedup`` default keys name the function without
        its identity, which no other process shares: the module and
        qualified name (then the ``repr`` of the arguments)."""
        name = getattr(func, "__qualname__", None) or type(func).__qualname__
        return f"{getattr(func, '__module__', '')}.{name}"

    # ------------------------------------------------------------------ threads

    def _do(
        self,
        kb: bytes,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        timeout: float | None,
        want_shared: bool,
    ) -> Any:
        out = Group._do(self, kb, fn, args, kwargs, timeout, want_shared)
        if want_shared:
            return _received(out[0], self._codec), out[1]
        return _received(out, self._codec)

    def _work(
        self, c: Any, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        token = _fence.set(_token_of(c.work))
        try:
            value = fn(*args, **kwargs)
        finally:
            _fence.reset(token)
        return value if self._codec is None else _encoded(value, self._codec)

    # ------------------------------------------------------------------ asyncio

    async def _async_work(
        self,
        kb: bytes,
        fn: Callable[..., Awaitable[Any]],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Any:
        """A leader's asyncio work, in its own context: the token, the work,
        its value's byte form."""
        work = _async_work_ticket(self._gid, kb)
        _fence.set(_token_of(work) if work != _NULL else 0)
        value = await fn(*args, **kwargs)
        return value if self._codec is None else _encoded(value, self._codec)

    def do_async(
        self,
        key: Key,
        fn: Callable[..., Awaitable[R]],
        /,
        *args: Any,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> asyncio.Future[R]:
        """:meth:`Group.do_async` across the fleet (see :meth:`do`)."""
        _callable(fn)
        kb = _key_bytes(key)
        return _do_async(self, kb, self._async_work, kb, fn, args, kwargs, timeout=timeout)  # type: ignore[no-any-return]

    def do_async_shared(
        self,
        key: Key,
        fn: Callable[..., Awaitable[R]],
        /,
        *args: Any,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> asyncio.Future[tuple[R, bool]]:
        """Like :meth:`do_async`; the future's value is ``(value, shared)``."""
        _callable(fn)
        kb = _key_bytes(key)
        return _do_async_shared(self, kb, self._async_work, kb, fn, args, kwargs, timeout=timeout)  # type: ignore[no-any-return]
