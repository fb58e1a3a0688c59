"""A group's latency histograms (``sf_group_latency``)."""

from __future__ import annotations

from typing import Any, NamedTuple

from ._engine import _OK, _status_error
from ._raw import ffi, lib

__all__ = ["Histogram", "Latency", "LATENCY_BOUNDS"]

#: The upper bounds (inclusive, in seconds) of every bucket of a Histogram
#: but the last, which has none: 2**(10+i) ns, from 1.024 µs to about 18 min.
LATENCY_BOUNDS: tuple[float, ...] = tuple(
    (1 << (10 + i)) / 1e9 for i in range(lib.SF_LATENCY_BUCKETS - 1)
)


class Histogram(NamedTuple):
    """One latency histogram: samples since recording was turned on."""

    count: int  #: samples: the sum of ``buckets``
    sum: float  #: the samples' total, in seconds
    buckets: tuple[int, ...]  #: samples per bucket (not cumulative); see LATENCY_BOUNDS

    def cumulative(self) -> list[tuple[float, int]]:
        """(upper bound in seconds, samples at or below it) for every bucket
        but the last; the last bound is +Inf, with ``count`` samples."""
        out, n = [], 0
        for bound, b in zip(LATENCY_BOUNDS, self.buckets, strict=False):
            n += b
            out.append((bound, n))
        return out


class Latency(NamedTuple):
    """A group's two histograms."""

    wait: Histogram  #: followers' waits, from their call to the outcome
    work: Histogram  #: the runs of the work this process led


def _histogram(g: Any, which: int) -> Histogram:
    h = ffi.new("sf_histogram *")
    st = lib.sf_group_latency(g, which, h, ffi.sizeof("sf_histogram"))
    if st != _OK:
        raise _status_error(st)
    return Histogram(h.count, h.sum_ns / 1e9, tuple(h.buckets))


def record_latency(g: Any, on: bool) -> None:
    st = lib.sf_group_record_latency(g, 1 if on else 0)
    if st != _OK:
        raise _status_error(st)


def latency(g: Any) -> Latency:
    return Latency(_histogram(g, lib.SF_LATENCY_WAIT), _histogram(g, lib.SF_LATENCY_WORK))
