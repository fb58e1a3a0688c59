"""Every asyncio internal the binding uses, each beside its public-API fallback.

The asyncio binding (``_aio.py``) reads and writes a few private names of
asyncio and of CPython where they save work on the hot path or let it see
what no public API shows. They are all here, and nowhere else. Each is
looked up once at import; where it is missing (another Python, another
event loop) or ``SINGLEFLIGHT_ASYNCIO=public`` is set in the environment
(the test suite runs the asyncio tests a second time so), the binding uses
only public APIs instead. What the public path costs:

* ``running_loop``: asyncio's ``_get_running_loop`` and the loop's
  ``_thread_id`` let a call take the loop of the previous call again
  without a system call; public: ``asyncio.get_running_loop()`` every call.
* ``CURRENT_TASKS`` (``asyncio.tasks._current_tasks``): the loop -> current
  task map, written so that a leader's first step runs inline as a task of
  its own (work that never suspends resolves its future at the call, with
  no task made). Public: no way to make a task current, so the leader's work
  runs as a task from its start (its future resolves a turn of the loop
  later).
* ``task_waiter`` (a task's ``_fut_waiter``): the future a task waits on,
  followed by the cycle check through other tasks. Public: not known, so a
  cycle that goes through a task other than a flight's own work is not
  detected (it waits forever, as any asyncio deadlock does).
* ``shutdown_started`` (a loop's ``_asyncgens_shutdown_called``): public:
  only ``loop.is_closed()`` (a call made during the loop's shutdown is then
  cancelled by the shutdown watch a moment later rather than refused).
* ``log_destroy_pending`` (a task's ``_log_destroy_pending``): silences the
  warning for a standby task the loop never ran; public: not needed, since
  standby tasks exist only with ``CURRENT_TASKS``.
* ``refcount`` (``sys.getrefcount``, CPython): tells whether a leader's work
  kept a reference to the standby task it ran as, which then cannot serve
  the next leader. No public API says whether an object is referenced
  elsewhere (a weak reference cannot, and ``gc.get_referrers`` walks the
  whole heap), and reusing a task the work holds would make two works share
  one task; without it, a standby task serves one leader.
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
from typing import Any

PUBLIC_ONLY = os.environ.get("SINGLEFLIGHT_ASYNCIO", "") == "public"


def _private(obj: Any, name: str) -> Any:
    return None if PUBLIC_ONLY else getattr(obj, name, None)


# ---- the running loop ------------------------------------------------------

_get_running_loop = _private(asyncio.events, "_get_running_loop")
_get_ident = threading.get_ident
_BaseEventLoop = asyncio.BaseEventLoop


class _NoLoop:
    _thread_id = None


_last_loop: Any = _NoLoop()  # the event loop of the last call


def _running_loop_fast() -> Any:
    """The running loop: the last call's again while it runs this thread (a
    loop of asyncio's says which thread runs it, for as long as it runs);
    else asyncio's answer, which costs a system call (``getpid``, for fork)."""
    global _last_loop
    loop = _last_loop
    if loop._thread_id == _get_ident():
        return loop
    loop = _get_running_loop()
    if isinstance(loop, _BaseEventLoop) and hasattr(loop, "_thread_id"):
        _last_loop = loop
    return loop


def _running_loop_public() -> Any:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _forget_loop() -> None:
    """In a forked child, as asyncio does, no loop runs until one starts."""
    global _last_loop
    _last_loop = _NoLoop()


if _get_running_loop is not None:
    running_loop = _running_loop_fast
    if hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=_forget_loop)
else:
    running_loop = _running_loop_public
running_loop.__doc__ = "The running event loop of this thread, or None."


# ---- the current task ------------------------------------------------------

CURRENT_TASKS: dict[Any, Any] | None = _private(asyncio.tasks, "_current_tasks")
if not isinstance(CURRENT_TASKS, dict):
    CURRENT_TASKS = None

# current_task(loop): the task the loop runs now, or None.
current_task = CURRENT_TASKS.get if CURRENT_TASKS is not None else asyncio.current_task


# ---- what a task waits on --------------------------------------------------

if PUBLIC_ONLY:

    def task_waiter(task: Any) -> Any:
        """The future ``task`` waits on, or None when not known."""
        return None

else:

    def task_waiter(task: Any) -> Any:
        """The future ``task`` waits on, or None when not known."""
        return getattr(task, "_fut_waiter", None)


# ---- a loop's shutdown ------------------------------------------------------


def shutdown_started(loop: Any) -> bool:
    """Whether ``loop`` closed its async generators already (it shuts down)
    or is closed."""
    if not PUBLIC_ONLY and getattr(loop, "_asyncgens_shutdown_called", False):
        return True
    return loop.is_closed()


def log_destroy_pending(task: Any, log: bool) -> None:
    """Whether asyncio warns if ``task`` is destroyed before it ends."""
    if not PUBLIC_ONLY and hasattr(task, "_log_destroy_pending"):
        task._log_destroy_pending = log


# ---- references ------------------------------------------------------------

_getrefcount = None if PUBLIC_ONLY else getattr(sys, "getrefcount", None)


def refcount(obj: Any) -> int | None:
    """A count that grows when something keeps a new reference to ``obj``
    (CPython's reference count), or None where there is none: the caller
    then takes ``obj`` as referenced elsewhere."""
    if _getrefcount is None:
        return None
    return _getrefcount(obj)
