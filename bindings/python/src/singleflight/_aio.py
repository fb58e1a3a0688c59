"""asyncio callers (``Group.do_async``) over the engine's split API.

How a call maps onto the engine (see include/singleflight.h):

* ``do_async`` is a plain function: it joins the flight at once (``sf_join``
  without flags) and returns the caller's own future, a :class:`_Future`. The
  call is *eager*: the work starts at the call, not at the ``await``; asyncio
  takes the future as it is (``gather``, ``wait_for``, ``ensure_future``: no
  task per caller).
* The leader runs its coroutine at once, in a copy of its context, up to the
  first suspension: work that completes without suspending ends the flight
  there (one ``sf_finish_alone`` or ``sf_finish``) and the future comes back
  resolved. Work that suspends goes on in a task of its own (a *runner*,
  holding the work ticket), and the leader's caller only waits, like any
  other. The first step already runs as that task
  (``asyncio.current_task()``), so that an ``asyncio.timeout()`` or a
  ``TaskGroup`` entered before the first await binds to the work's task,
  never to a caller's: see :class:`_Standby`.
* The callers of one event loop that wait on one flight share one wait
  ticket and one completion subscription: a :class:`_Waiters`. Later callers
  find it through the flight's rendezvous (``sf_attach``): they join
  through it with no ticket of their own (``sf_join_or_meet``, see
  ``sfpy_join_async`` in ``_glue.c``), or, if it registered after their
  join, give their ticket back at once (``sfpy_meet``). The engine's
  completion callback wakes the loop once (``call_soon_threadsafe`` from
  another thread); the loop reads the outcome once and resolves every
  caller's future.
* Cancelling a caller's future (its task cancelled, its ``timeout=``) drops
  that caller alone. When the last caller of a ``_Waiters`` drops, it leaves
  its ticket; when no ticket waits any more, the engine reports the flight
  abandoned and the runner's task is cancelled, which hands the flight off
  (the work ticket is left without completing): a caller who joined
  meanwhile is woken with the hand-off, joins again and leads a fresh run.
"""

from __future__ import annotations

import asyncio
import collections.abc
import contextvars
import inspect
import logging
import threading
import types
import warnings
from collections.abc import Awaitable, Callable
from typing import Any

from . import _asyncio_shim as _shim
from ._engine import (
    _ECANCELED,
    _EHANDOFF,
    _ETIMEDOUT,
    _NULL,
    _OK,
    _SHARED,
    _callable,
    _complete,
    _count_giveup,
    _deadlock_error,
    _describe,
    _error_status,
    _first_steps,
    _Flight,
    _flight_of,
    _flights,
    _from_handle,
    _handoff,
    _key_bytes,
    _key_text,
    _lead_error,
    _leave,
    _new_handle,
    _outcome,
    _prepare,
    _share,
    _status_error,
    _timeout_s,
    _wait,
)
from ._raw import ffi, lib

_log = logging.getLogger("singleflight")

# The asyncio internals used (each with its public fallback): _asyncio_shim.
_running_loop = _shim.running_loop
_current_task = _shim.current_task
_task_waiter = _shim.task_waiter
_CURRENT_TASKS = _shim.CURRENT_TASKS
_refcount = _shim.refcount
_get_ident = threading.get_ident
_copy_context = contextvars.copy_context
_CoroutineType = types.CoroutineType
_CancelledError = asyncio.CancelledError

_join_async = lib.sfpy_join_async
_finish_alone_at = lib.sfpy_finish_alone_at
_cast = ffi.cast
_TICKETS_T = ffi.typeof("sfpy_tickets *")
_meet = lib.sfpy_meet
_flight_of_at = lib.sfpy_flight_of_at
_Task = asyncio.Task


# Runners whose work ticket is still held, and waiters whose wait ticket is
# (strong references: the engine holds only their handles, the event loop
# only weak references to tasks).
_runners: set[_Runner] = set()
_waiting: dict[int, _Waiters] = {}  # by id(): the rendezvous names them so

# Per running loop, the standby task for the next leader's first step (see
# _Standby). Entries go when their task takes its first step, or takes a work.
_standby: dict[Any, _Standby] = {}


@ffi.def_extern()
def _sfpy_notify(userdata: Any) -> None:
    """Completion (or hand-off) of a flight that a loop's waiters wait on:
    the loop resolves their futures in a callback of its own (never here:
    this may run inside an engine call of the loop's own thread)."""
    w = _from_handle(userdata)
    try:
        if _get_ident() == w.tid:
            w.loop.call_soon(w.resolve)
        else:
            w.loop.call_soon_threadsafe(w.resolve)
    except RuntimeError:  # the loop is closed: nobody can await any more
        w.leave()  # (its own ticket: allowed in its own callback)


@ffi.def_extern()
def _sfpy_abandoned(userdata: Any) -> None:
    """Every waiter left the flight of a runner: cancel its task."""
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


# ---- cycles: a call that would wait for itself ----------------------------


def _awaits(flight: _Flight, task: Any) -> bool:
    """Whether the work of ``flight`` waits, through tasks and the callers'
    futures of other flights, for ``task`` (or is ``task``): a call of ``task`` that
    joins the flight would then wait for itself."""
    if task is None:
        return False
    t, nxt = flight.task, flight.yielded
    for _ in range(1000):  # a chain longer than that is not followed
        if t is task:
            return True
        fw = _task_waiter(t) if t is not None else None
        if fw is None:
            fw = nxt
        if fw is None or fw.done():
            return False
        if fw is task:
            return True
        if isinstance(fw, _Future):
            w = fw._w
            other = w.flight if w is not None else None
            if other is None:
                return False
            t, nxt = other.task, other.yielded
        elif isinstance(fw, _Task):
            t, nxt = fw, None
        else:
            return False
    return False


def _joins_own_work(gid: int, kb: bytes, rv: int, loop: Any) -> bool:
    """Whether a call from here (the current context, the current task of
    ``loop``) that joined the flight ``rv`` of key ``kb`` would wait for
    itself: the flight's first step runs in this very context, or its work
    waits for the current task (see _awaits)."""
    for flight in _first_steps.get():
        if flight.first and flight.gid == gid and flight.kb == kb:
            if not flight.rv:
                flight.rv = _flight_of_at(flight.tickets_at)
            if not rv or not flight.rv or flight.rv == rv:
                return True
    flight = _flights.get(rv) if rv else None
    return flight is not None and loop is not None and _awaits(flight, _current_task(loop))


# ---- an event loop that shuts down with calls pending ----------------------

# Per event loop that has callers waiting: an async generator that the loop
# closes in its shutdown (loop.shutdown_asyncgens(), which asyncio.run and
# asyncio.Runner call once the tasks are cancelled): the binding then drops
# the calls still pending there and ends the loop's work tasks, so that no
# flight is left to a task that will never run.
_guards: dict[Any, Any] = {}


def _guard(loop: Any) -> None:
    for closed in [other for other in _guards if other.is_closed()]:
        del _guards[closed]  # closed without a shutdown: nothing to watch
    if _shim.shutdown_started(loop):
        return  # too late: the loop closes its async generators no more
    watch = _shutdown_watch(loop)
    try:
        watch.asend(None).send(None)  # registers it with the loop (firstiter)
    except StopIteration:
        pass
    _guards[loop] = watch


_shutting_down = _shim.shutdown_started


def _drop_at_shutdown(loop: Any, kb: bytes, futures: list[_Future]) -> None:
    """Cancels the callers' futures the loop's shutdown leaves pending, and
    says so."""
    pending = [f for f in futures if not f.done()]
    if not pending:
        return
    msg = (
        f"singleflight: the event loop shut down with {len(pending)} call(s) of "
        f"key {_key_text(kb)} pending; they were cancelled (await or cancel "
        "every call before the loop ends)"
    )
    _log.warning("%s", msg)
    warnings.warn(msg, ResourceWarning, stacklevel=2)
    for f in pending:
        if not f.cancel():  # (already resolved meanwhile)
            continue


async def _shutdown_watch(loop: Any) -> Any:
    try:
        yield
    finally:
        if _guards.get(loop) is not None:
            del _guards[loop]
        # The tasks are cancelled and done; what waits now would wait for
        # good: the callers still pending, the runs a hand-off started.
        for w in [w for w in list(_waiting.values()) if w.loop is loop]:
            _drop_at_shutdown(loop, w.kb, [f for f in w.futures if f._w is w])
        tasks = [
            r.task
            for r in list(_runners)
            if r.loop is loop and r.task is not None and not r.task.done()
        ]
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)


class _Future(asyncio.Future):  # type: ignore[type-arg]
    """One caller's future. Cancelling it (directly, or by cancelling the
    task that awaits it) or its ``timeout=`` drops this caller alone.

    It also speaks the coroutine protocol (send, throw, close), so that
    ``asyncio.create_task()`` and ``TaskGroup.create_task()`` take it as they
    take a coroutine: the task then waits on it."""

    # Per-caller state (slots: no dictionary per future), set by do_async
    # (or _keep_request) for a caller that waits; a future resolved at once
    # has none (cancel() is then refused before _drop() reads them).
    __slots__ = (
        "_w",  # the waiters it waits with, or None
        "_timer",  # its timeout= timer (a TimerHandle), or None
        "_ws",  # do_async_shared: resolves to (value, shared)
        # (group, key, fn, args, kwargs, context, timeout): to join again
        # after a hand-off, where it may lead, and to word its TimeoutError
        "_req",
    )

    def cancel(self, msg: Any = None) -> bool:
        if not super().cancel(msg):
            return False
        if self._w is not None:  # a caller that waited gives up
            _count_giveup(self._req[0]._g, _ECANCELED)
        self._drop()
        return True

    def _drop(self) -> None:
        """This caller stops waiting."""
        timer = self._timer
        if timer is not None:
            self._timer = None
            timer.cancel()
        w = self._w
        if w is not None:
            self._w = None
            w.drop()

    def _fail(self, exc: BaseException) -> None:
        self._drop()
        if not self.done():
            self.set_exception(exc)

    # The coroutine protocol, for a task that drives this future.
    def send(self, value: Any) -> Any:
        # What awaiting a future does: yields it (marked as waited on) until
        # it is done, then raises StopIteration with its result.
        return self.__await__().send(None)

    def throw(self, typ: Any, val: Any = None, tb: Any = None) -> Any:
        if val is None:
            val = typ if isinstance(typ, BaseException) else typ()
        self.cancel()
        raise val

    def close(self) -> None:
        self.cancel()


def _expire(f: _Future) -> None:
    """A caller's ``timeout=`` ran out: it alone stops waiting."""
    f._timer = None
    if f.done():
        return
    group, kb, _, _, _, _, timeout = f._req  # type: ignore[misc]
    _count_giveup(group._g, _ETIMEDOUT)
    f._fail(
        TimeoutError(
            f"singleflight: no outcome for key {_key_text(kb)} within {timeout:g}s; "
            "the flight goes on for the others"
        )
    )


class _Waiters:
    """The callers of one event loop waiting on one flight: one wait ticket
    and one subscription for all of them (see the module's docstring)."""

    __slots__ = ("tickets", "loop", "tid", "handle", "futures", "n", "kb", "rv", "flight")

    def __init__(self, tickets: Any, loop: asyncio.AbstractEventLoop, kb: bytes, rv: int) -> None:
        self.tickets = tickets  # its sfpy_tickets: the wait ticket, None once left
        self.loop = loop
        self.tid = _get_ident()
        self.kb = kb
        self.futures: list[_Future] = []
        self.n = 0
        self.handle = _new_handle(self)
        self.rv = rv  # the flight's identity (sfpy_flight_of)
        # Its asyncio leader's work, if one runs it: for the cycle check.
        self.flight: _Flight | None = _flights.get(rv) if rv else None

    def add(self, f: _Future) -> None:
        f._w = self
        self.futures.append(f)
        self.n += 1

    def drop(self) -> None:
        """One caller left; the last one leaves the flight."""
        self.n -= 1
        if self.n == 0:
            self.leave()

    def leave(self) -> None:
        c = self.tickets
        if c is not None:
            self.tickets = None
            del _waiting[id(self)]
            _leave(c)  # after this, the subscription never fires
            self.handle = None  # (a cycle less for the collector)

    def resolve(self, st: int | None = None) -> None:
        """On the loop's thread: reads the outcome once and resolves every
        caller still waiting (or, after a hand-off, has them join again)."""
        c = self.tickets
        if c is None:  # every caller left
            return
        ok = False
        value: Any = None
        try:
            if st is None:
                st = _wait(c, 0)
            if st != _EHANDOFF:
                try:
                    value = _outcome(c, st, self.kb, False)
                    ok = True
                except Exception as exc:
                    value = exc
                shared = (value, bool(c.result.shared)) if ok else None
        finally:
            self.leave()
        futures, self.futures = self.futures, []
        if st == _EHANDOFF:
            for f in futures:
                if f._w is self:  # (else it left, or went on elsewhere)
                    f._w = None
                    _join_again(f)
            return
        for f in futures:
            if f._w is not self:
                continue
            f._w = None
            if f._timer is not None:
                f._timer.cancel()
                f._timer = None
            try:
                if not ok:
                    f.set_exception(value)
                else:
                    f.set_result(shared if f._ws else value)
            except asyncio.InvalidStateError:  # someone else resolved it
                pass


def _wait_on(
    f: _Future, c: Any, loop: asyncio.AbstractEventLoop, kb: bytes, rv: int | None = None
) -> None:
    """``f`` waits on the flight ``c`` joined: with its loop's waiters if
    ``c`` met them (role > 1: their id()), else as the first (role 0)."""
    role = c.role
    if role > 1:
        _waiting[role].add(f)
        return
    if loop not in _guards:
        _guard(loop)
    w = _Waiters(c, loop, kb, _flight_of(c) if rv is None else rv)
    w.add(f)
    _waiting[id(w)] = w
    lib.sfpy_register(c, id(loop), id(w))
    # The outcome if it is there already (or SF_EDEADLK if this thread runs
    # the flight's work); else the engine calls _sfpy_notify when it is.
    st = lib.sfpy_poll_subscribe(c, w.handle)
    if st != _ETIMEDOUT:
        w.resolve(st)


def _entry(want_shared: bool, future: type[_Future] = _Future) -> Callable[..., Any]:
    """``Group.do_async`` (``want_shared`` False) or ``do_async_shared``:
    one body for both, each its own function, so that a call is one Python
    call (the followers' hot path). ``future`` is the class of the callers'
    futures (a fleet group's decode the other processes' values)."""

    def do_async(
        self: Any,
        key: str | bytes,
        fn: Callable[..., Awaitable[Any]],
        /,
        *args: Any,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> asyncio.Future[Any]:
        group = self
        t = type(key)
        kb = key if t is bytes else key.encode() if t is str else _key_bytes(key)
        if not callable(fn):
            _callable(fn)
        if timeout is not None:
            timeout = _timeout_s(timeout)
        loop = _running_loop()
        if loop is None:
            raise RuntimeError(
                "singleflight: do_async() needs a running event loop: it joins the "
                "flight at once and returns a future to await; call it from a "
                "coroutine (or use do() from a thread)"
            )
        f = future(loop=loop)
        r = _join_async(group._g, kb, len(kb), id(loop))  # see sfpy_join_async
        if r < 0:
            f.set_exception(_status_error(-r))
            return f
        c = None
        if r & 1:
            if not r & 2:
                return _lead(f, r - 1, group, kb, fn, args, kwargs, timeout, want_shared, loop)
            c = _cast(_TICKETS_T, r - 3)
            rv = _flight_of(c)
            flight = _flights.get(rv) if rv else None
        else:
            rv = 0
            flight = _waiting[r].flight
        if (flight is not None and _awaits(flight, _current_task(loop))) or (
            _first_steps.get()
            and _joins_own_work(group._gid, kb, rv if c is not None else _waiting[r].rv, loop)
        ):
            if c is not None:  # (a caller who met its loop's waiters holds no ticket)
                _leave(c)
            f.set_exception(_deadlock_error(kb, "the task this call comes from"))
            return f
        f._req = (group, kb, fn, args, kwargs, _copy_context(), timeout)
        f._ws = want_shared
        f._timer = None
        if c is None:  # the common follower: it met its loop's waiters (r)
            w = _waiting[r]
            f._w = w  # w.add(f), inline: the hot path
            w.futures.append(f)
            w.n += 1
        else:
            _wait_on(f, c, loop, kb, rv)
        if timeout is not None and not f.done():
            f._timer = loop.call_later(timeout, _expire, f)
        return f

    return do_async


do_async = _entry(False)
do_async.__doc__ = """Runs ``await fn(*args, **kwargs)`` once for all concurrent callers
        of ``key``; returns this caller's future of its outcome.

        The call is **eager**: it joins the flight *now*, and if it leads,
        ``fn`` starts now (not at the ``await``). So it must be called with
        an event loop running in this thread (from a coroutine or a
        callback), or it raises :class:`RuntimeError`. What it returns is an
        ``asyncio.Future`` of this caller's own, which ``asyncio.gather``,
        ``wait_for`` and ``ensure_future`` take as it is (no task per
        caller); ``asyncio.create_task`` and ``TaskGroup.create_task`` take
        it too (it speaks the coroutine protocol).

        The leader runs ``fn`` at once up to its first suspension; work that
        completes without suspending resolves the future at once (awaiting
        it does not suspend). Work that suspends goes on as a task of its
        own (its first step already ran as that task), and every caller, the
        leader included, waits for the engine to complete the flight: the
        callers of one event loop share one engine subscription, woken from
        the completing thread with ``call_soon_threadsafe`` (no thread per
        waiter). Threads calling :meth:`do` and tasks of any event loop share
        the same flight.

        Cancelling a caller's future (or the task that awaits it) only
        removes that caller; the work is cancelled when the last caller
        leaves, and a cancelled run never poisons the key: a caller who
        joined meanwhile leads a fresh run.

        :param timeout: seconds this caller waits at most before its future
            raises :class:`TimeoutError`; the work goes on while others wait.
        :raises TypeError, ValueError: a bad key, ``fn`` or ``timeout`` (at
            once); everything else, the work's own exception included, comes
            out of the future.
        """
do_async.__qualname__ = "Group.do_async"
do_async_shared = _entry(True)
do_async_shared.__name__ = "do_async_shared"
do_async_shared.__qualname__ = "Group.do_async_shared"
do_async_shared.__doc__ = """Like :meth:`do_async`; the future's value is ``(value, shared)``."""


def _lead(
    f: _Future,
    at: int,
    group: Any,
    kb: bytes,
    fn: Callable[..., Awaitable[Any]],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    timeout: float | None,
    want_shared: bool,
    loop: asyncio.AbstractEventLoop,
) -> Any:
    """The leader: the work runs at once up to its first suspension, as the
    loop's standby task (see _Standby); work that completes without suspending
    (a cache hit, say) resolves ``f`` at once, with no turn of the loop.
    ``at`` is the address of the leader's sfpy_tickets (a cdata is made only when
    the work did not end alone). Where no task can be made current (see
    _asyncio_shim.CURRENT_TASKS), the work runs as a task from its start."""
    tasks = _CURRENT_TASKS
    if tasks is None:  # the work runs as a task of its own from its start
        c = _cast(_TICKETS_T, at)
        flight = _Flight(group._gid, kb, 0, None)
        flight.first = False
        runner = _spawn(c, loop, _fresh(fn, args, kwargs), None, _copy_context(), None, flight)
        if runner is None:
            _leave(c)
            f.set_exception(MemoryError("singleflight: out of memory"))
            return f
        _keep_request(f, (group, kb, fn, args, kwargs, _copy_context(), timeout), want_shared)
        return _wait_for_runner(f, runner, c, loop, kb, flight.rv, timeout)
    ctx = _copy_context()
    standby = _standby.get(loop)
    if standby is None or standby.busy:  # none yet, or a leader's work is in its first step
        standby = _new_standby(loop)
    standby.busy = True
    # (No local names the task: a frame kept by a traceback would hold it,
    # and this count would move when that frame goes.)
    flight = _Flight(group._gid, kb, at, None)  # (its task: set if it suspends)
    refs = _refcount(standby.task)
    caller = tasks.get(loop)  # the first step runs as the standby task
    tasks[loop] = standby.task
    aw = None
    try:
        aw, out = ctx.run(_first_step, fn, args, kwargs, flight)
    except Exception as exc:
        _lead_error(_cast(_TICKETS_T, at), exc, 0)
        f.set_exception(exc)
        return f
    except _CancelledError:
        _leave(_cast(_TICKETS_T, at))  # not an outcome: hand off to a waiting caller
        asyncio.Future.cancel(f)  # (it waits on nothing to drop)
        return f
    except BaseException:
        _leave(_cast(_TICKETS_T, at))
        raise
    finally:
        flight.first = False
        if caller is None:
            del tasks[loop]
        else:
            tasks[loop] = caller
        if aw is None:  # the work did not suspend (it ended, or it failed)
            if refs is not None and _refcount(standby.task) == refs:
                standby.busy = False  # unused: the next leader's
            else:  # the work kept a reference to its task: not for another
                standby.retire()
    if aw is None:  # done without suspending: one sf_finish(_alone)
        r = _finish_alone_at(at, _OK)
        if not r:
            r = _share(_cast(_TICKETS_T, at), out, want_shared)
        f.set_result((out, bool(r & _SHARED)) if want_shared else out)
        return f
    c = _cast(_TICKETS_T, at)
    # The work suspended: the rest runs as a task of its own, with the work
    # ticket; this caller only waits, like any other.
    flight.yielded = out
    runner = _spawn(c, loop, aw, out, ctx, standby, flight)
    if runner is None:
        standby.retire()
        aw.close()
        _leave(c)
        f.set_exception(MemoryError("singleflight: out of memory"))
        return f
    _keep_request(f, (group, kb, fn, args, kwargs, _copy_context(), timeout), want_shared)
    if caller is not None and _awaits(flight, caller):
        # The work waits for the very task that called (it returned that
        # task, say): that caller would wait for itself.
        _leave(c)
        f.set_exception(_deadlock_error(kb, "the task this call comes from"))
        return f
    return _wait_for_runner(f, runner, c, loop, kb, flight.rv, timeout)


def _keep_request(f: _Future, req: tuple[Any, ...], want_shared: bool) -> None:
    """A waiting caller keeps its request (group, key, fn, args, kwargs,
    context, timeout): after a hand-off it joins again with it
    (_join_again), maybe to lead a fresh run."""
    f._req = req
    f._ws = want_shared
    f._timer = None
    f._w = None


def _wait_for_runner(
    f: _Future,
    runner: Any,
    c: Any,
    loop: asyncio.AbstractEventLoop,
    kb: bytes,
    rv: Any,
    timeout: float | None,
) -> _Future:
    """The leader's caller waits, like any other, for the run of its work
    as a task (``runner``) to complete the flight."""
    runner.starter = f
    _wait_on(f, _meet(c, id(loop)), loop, kb, rv)
    if timeout is not None and not f.done():
        f._timer = loop.call_later(timeout, _expire, f)
    return f


def _join_again(f: _Future) -> None:
    """After a hand-off (the leader left without completing), a caller joins
    again, maybe to lead: the work then runs as a task from its start (this
    runs in a callback of the loop, not in the caller's task)."""
    group, kb, fn, args, kwargs, ctx, _ = f._req  # type: ignore[misc]
    loop = f.get_loop()
    r = _join_async(group._g, kb, len(kb), id(loop))
    if r < 0:
        f._fail(_status_error(-r))
        return
    if not r & 1:  # it met its loop's waiters
        _waiting[r].add(f)
        return
    c = _cast(_TICKETS_T, r & ~3)
    rv = None
    if not r & 2:  # it leads
        if _shutting_down(loop):  # no fresh run in a loop that goes away
            _leave(c)
            _drop_at_shutdown(loop, kb, [f])
            return
        ctx = ctx.copy()
        flight = _Flight(group._gid, kb, 0, None)
        flight.first = False
        runner = _spawn(c, loop, _fresh(fn, args, kwargs), None, ctx, None, flight)
        if runner is None:
            _leave(c)
            f._fail(MemoryError("singleflight: out of memory"))
            return
        runner.starter = f
        rv = flight.rv
        c = _meet(c, id(loop))
    _wait_on(f, c, loop, kb, rv)


class _Runner:
    """The work ticket of a flight whose work goes on as a task of its own."""

    __slots__ = (
        "tickets",
        "task",
        "loop",
        "tid",
        "handle",
        "flight",
        "starter",
        "closing",
        "__weakref__",
    )

    def __init__(self, tickets: Any, loop: asyncio.AbstractEventLoop, flight: _Flight) -> None:
        self.tickets = tickets  # its sfpy_tickets: the work ticket alone
        self.loop = loop
        self.tid = _get_ident()
        self.task: asyncio.Task[None] | None = None
        self.handle: Any = None
        self.flight: _Flight | None = flight  # in _flights while the work runs
        self.starter: _Future | None = None  # of the caller whose call started the run
        self.closing = False  # its coroutine is being closed (not thrown into)

    def unregister(self) -> None:
        """The work ends: joining its flight is no cycle any more (before
        its ticket goes, while the flight's identity is still its own)."""
        flight = self.flight
        if flight is not None:
            self.flight = None
            if _flights.get(flight.rv) is flight:
                del _flights[flight.rv]


def _spawn(
    c: Any,
    loop: asyncio.AbstractEventLoop,
    aw: Any,
    yielded: Any,
    ctx: contextvars.Context,
    standby: _Standby | None,
    flight: _Flight,
) -> _Runner | None:
    """Moves the work ticket of ``c`` to a runner whose task goes on with
    ``aw`` (suspended at ``yielded``, or not started if that is None) in the
    context ``ctx``: the task of ``standby`` (the task the first step
    ran in), or a new one; registers ``flight`` (see _Flight). None when out
    of memory (nothing changed)."""
    rv = _flight_of(c)
    work = lib.sfpy_split_work(c)
    if work == _NULL:
        return None
    runner = _Runner(work, loop, flight)
    runner.handle = _new_handle(runner)
    _runners.add(runner)
    lib.sfpy_on_abandoned(work, runner.handle)

    def unstarted() -> None:
        """The task never ran a step: hand off and end the work here."""
        if runner in _runners:
            runner.unregister()
            _handoff(runner.tickets)
            _runners.discard(runner)
            runner.handle = None
            runner.task = None
        aw.close()

    coro = _OnceStarted(_run(runner, aw, yielded), unstarted, runner)
    if standby is not None:
        standby.retire()
        standby.target = coro
        standby.ctx = ctx
        runner.task = standby.task
        _shim.log_destroy_pending(runner.task, True)  # a work: worth a warning
    else:
        runner.task = loop.create_task(coro, context=ctx)
    flight.task = runner.task
    if rv:
        flight.rv = rv
        _flights[rv] = flight
    return runner


def _first_step(
    fn: Callable[..., Awaitable[Any]],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    flight: _Flight,
) -> tuple[Any, Any]:
    """A leader's work up to its first suspension, run in the flight's own
    context (a copy of the caller's, as a task would have).

    Returns ``(None, value)`` when the work completed without suspending, or
    ``(awaitable, yielded)`` when it suspended: ``yielded`` is what it handed
    to the event loop (a future, or None for a bare yield). Exceptions from
    the work propagate."""
    _first_steps.set(_first_steps.get() + (flight,))
    aw = fn(*args, **kwargs)
    if type(aw) is not _CoroutineType:
        aw = _await_iter(aw)
    try:
        return aw, aw.send(None)
    except StopIteration as stop:
        return None, stop.value


@types.coroutine
def _fresh(
    fn: Callable[..., Awaitable[Any]],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Any:
    """A leader's whole work, in a task of its own from its start (its
    runner's flight names that task: a re-entry from it is a cycle)."""
    aw = fn(*args, **kwargs)
    if type(aw) is not _CoroutineType:
        aw = _await_iter(aw)
    return (yield from aw)


def _await_iter(aw: Any) -> Any:
    """What ``await aw`` iterates, for an awaitable that is not a native
    coroutine (a generator-based coroutine, a future, an object with
    ``__await__``)."""
    if isinstance(aw, types.GeneratorType) and aw.gi_code.co_flags & inspect.CO_ITERABLE_COROUTINE:
        return aw
    meth = getattr(type(aw), "__await__", None)
    if meth is None:
        raise TypeError(f"singleflight: fn must return an awaitable, got {type(aw).__name__}")
    return meth(aw)


@types.coroutine
def _resume(aw: Any, yielded: Any) -> Any:
    """Continues, in a task of its own, a work that suspended in its first
    step (or starts it, for ``yielded`` None and a work not started). The
    task's first step runs a turn of the loop later: for a bare yield that is
    what the work asked for; a future is handed to the task to wait on
    first."""
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


class _OnceStarted(collections.abc.Coroutine):  # type: ignore[type-arg]
    """A coroutine that holds a ticket, and what it cannot do itself: one
    that is closed, thrown into or dropped before its first step never runs
    its ``finally`` clauses, so ``unstarted`` does their job instead (hands
    the flight off), or the key would stay blocked for good."""

    __slots__ = ("_coro", "_unstarted", "_runner")

    def __init__(self, coro: Any, unstarted: Callable[[], Any], runner: _Runner) -> None:
        self._coro = coro
        self._unstarted: Callable[[], Any] | None = unstarted
        self._runner = runner

    def send(self, value: Any) -> Any:
        self._unstarted = None
        return self._coro.send(value)

    def __next__(self) -> Any:
        return self.send(None)

    def throw(self, *exc: Any) -> Any:
        if self._unstarted is not None:
            # Thrown into before its first step (a task cancelled in the
            # turn it was made): the work never ran; hand off, and end with
            # that very exception, as a coroutine that was not started does.
            self._abort()
            typ = exc[0]
            val = exc[1] if len(exc) > 1 else None
            if isinstance(typ, BaseException):
                raise typ
            raise val if isinstance(val, BaseException) else typ()
        return self._coro.throw(*exc)

    def close(self) -> None:
        self._runner.closing = True
        self._abort()
        self._coro.close()

    def __await__(self) -> Any:
        return self

    def __iter__(self) -> Any:
        return self

    def __del__(self) -> None:
        self._abort()

    def _abort(self) -> None:
        unstarted = self._unstarted
        if unstarted is not None:
            self._unstarted = None
            self._coro.close()
            unstarted()


class _Standby(collections.abc.Coroutine):  # type: ignore[type-arg]
    """The coroutine of a standby task: a task made ahead for a leader's
    work, current while the work's first step runs inline. If the work
    suspends, the task goes on with it (``target``, each step in the work's
    context ``ctx``); if not, the next leader of the loop's turn uses it. A
    task that reaches its first step with no work ends there: a standby
    lives one turn of the loop. Costs one task per turn of the loop that has
    leaders, not one per call."""

    __slots__ = ("task", "loop", "target", "ctx", "busy")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.task: Any = None
        self.target: Any = None
        self.ctx: contextvars.Context | None = None
        self.busy = False  # a work's first step runs in it, or it took a work

    def send(self, value: Any) -> Any:
        target = self.target
        if target is None:
            self.retire()
            raise StopIteration(None)
        return self.ctx.run(target.send, value)  # type: ignore[union-attr]

    def __next__(self) -> Any:  # pragma: no cover - only its task drives it
        return self.send(None)

    def throw(self, *exc: Any) -> Any:
        target = self.target
        if target is None:
            self.retire()
            raise exc[-1] if isinstance(exc[-1], BaseException) else exc[0]
        return self.ctx.run(target.throw, *exc)  # type: ignore[union-attr]

    def close(self) -> None:
        self.retire()
        if self.target is not None:
            self.target.close()

    def __await__(self) -> Any:  # pragma: no cover - only its task drives it
        return self

    def retire(self) -> None:
        """No leader takes it any more."""
        self.busy = True
        if _standby.get(self.loop) is self:
            del _standby[self.loop]


def _new_standby(loop: asyncio.AbstractEventLoop) -> _Standby:
    """A standby task for the loop: the loop's own, unless it has one."""
    for closed in [other for other in _standby if other.is_closed()]:
        del _standby[closed]  # stopped before its standby's turn: gone
    standby = _Standby(loop)
    standby.task = loop.create_task(standby)
    # Unused, it is no loss if the loop closes before it runs (no warning).
    _shim.log_destroy_pending(standby.task, False)
    _standby.setdefault(loop, standby)
    return standby


async def _run(runner: _Runner, aw: Any, yielded: Any) -> None:
    """The task that runs the rest of a leader's work and completes its
    flight."""
    tickets = runner.tickets
    flight = runner.flight
    if flight is not None:
        flight.yielded = None  # the task waits on it itself from here
    settled = False
    try:
        try:
            value = await _resume(aw, yielded)
        except Exception as exc:
            h, data, hb = _new_handle((exc, exc.__traceback__)), _describe(exc), _NULL
            status = _error_status(exc)
        except _CancelledError:
            # Cancelled because every waiter left, or because the loop shuts
            # down: not an outcome; the finally clause hands the flight off,
            # so that whoever waits now leads a fresh run.
            raise
        except BaseException as exc:
            # Any other BaseException (KeyboardInterrupt, SystemExit,
            # GeneratorExit raised by the work) is not an outcome either: it
            # goes up in the caller whose call started this run, alone and
            # once, and the others are handed the flight.
            if runner.closing:  # the coroutine is closed: it must end
                raise
            runner.unregister()
            settled = True
            _handoff(tickets)
            starter = runner.starter
            if starter is not None and not starter.done():
                starter._drop()
                starter.set_exception(exc)
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise  # the loop stops, as asyncio does for a task's
            return
        else:
            h, data, hb = _prepare(value)
            status = _OK
        runner.unregister()
        settled = True
        _complete(tickets, status, h, data, len(data) if data != _NULL else 0, hb)
    finally:
        if not settled:
            runner.unregister()
            _handoff(tickets)
        _runners.discard(runner)
        runner.handle = None
        runner.task = None
