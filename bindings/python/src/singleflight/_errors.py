"""Exceptions raised by singleflight, one per engine status that is not an outcome."""

from __future__ import annotations

__all__ = [
    "SingleflightError",
    "WorkError",
    "PanicError",
    "NoBytesError",
    "DeadlockError",
]


class SingleflightError(Exception):
    """Base of the errors the engine reports.

    Exceptions raised by a *Python* work function are never wrapped: every
    Python caller of the flight gets that very exception object.
    """

    #: The engine status (an ``sf_status`` number) behind this error.
    status: int = -1


class WorkError(SingleflightError):
    """The work of a non-Python leader (Go, Rust, C) returned an error.

    ``error`` holds the error bytes that leader's binding encoded (or ``None``).
    """

    status = 1

    def __init__(self, message: str, error: bytes | None = None) -> None:
        super().__init__(message)
        self.error = error


class PanicError(SingleflightError):
    """The work aborted: a Go or Rust panic, a C++ exception, a bad status.

    The message is the engine's readable description of the abort.
    """

    status = 2


class NoBytesError(SingleflightError, TypeError):
    """The leader (another language) returned a native value with no byte form,
    so it cannot cross to Python."""

    status = 9


class DeadlockError(SingleflightError, RuntimeError):
    """The caller is the work of the very flight it asks to join (a leader
    re-entering its own key): waiting would never end."""

    status = 5
