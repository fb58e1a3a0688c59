"""The binding's log records, on the logger ``"singleflight"``.

- DEBUG: a blocking caller saw its flight handed off (the leader left
  without an outcome) and joins again. (asyncio callers are not logged.)
- INFO: a leader's work raised a BaseException that is no outcome
  (KeyboardInterrupt, SystemExit, ...): its flight is handed off.
- WARNING (from ``observe``, which the Prometheus collector calls at every
  scrape): flights of a fleet group that ran locally because the server was
  unreachable, slow or failing (the circuit breaker was open), and tickets
  still held in a group that has been idle since the previous observation
  (a leaked ticket: a caller that never left its flight).
"""

from __future__ import annotations

import logging
from typing import Any

logger = logging.getLogger("singleflight")


def _key(kb: bytes) -> str:
    return kb.decode("utf-8", "backslashreplace")


def handoff_seen(kb: bytes) -> None:
    if logger.isEnabledFor(logging.DEBUG):
        logger.debug(
            "key %r: the leader left without an outcome (a hand-off); joining again", _key(kb)
        )


def leader_handed_off(kb: bytes, exc: BaseException) -> None:
    logger.info(
        "key %r: the work raised %s, which is no outcome: the flight is handed off "
        "to its other callers",
        _key(kb),
        type(exc).__name__,
    )


class Observer:
    """Remembers one group's counters between observations, to tell what
    changed (fallbacks) and what did not (a group idle with tickets held)."""

    __slots__ = ("label", "_last", "_leak_reported")

    def __init__(self, label: str) -> None:
        self.label = label
        self._last: Any = None
        self._leak_reported = False

    def observe(self, s: Any) -> None:
        last, self._last = self._last, s
        fallbacks = getattr(s, "fleet_fallbacks", 0)
        if last is not None and fallbacks > getattr(last, "fleet_fallbacks", 0):
            logger.warning(
                "group %s: %d flights ran locally since the last look: the fleet server "
                "was unreachable, slow or failing (the circuit breaker was open)",
                self.label,
                fallbacks - getattr(last, "fleet_fallbacks", 0),
            )
        held = s.live - s.in_table  # flights held by a ticket, no longer joinable
        idle = (
            last is not None
            and held > 0
            and last.live - last.in_table > 0
            and (s.flights, s.followers) == (last.flights, last.followers)
        )
        if idle and not self._leak_reported:
            self._leak_reported = True
            logger.warning(
                "group %s: %d finished flights still held by a ticket while the group "
                "was idle: a leaked ticket (a caller that never left its flight)",
                self.label,
                held,
            )
        elif held <= 0:
            self._leak_reported = False
