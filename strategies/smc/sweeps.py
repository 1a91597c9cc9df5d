"""Liquidity sweeps: a wick through a swing level that closes back on the original side.

Definition adopted (swing highs mirrored):

* At bar t the candidate is the most recent confirmed swing low (largest ``known_at < t``, the same
  "active" swing as in :mod:`.structure`), provided it has not been swept yet and was not broken
  at an earlier bar (a break at bar t itself does not prevent a sweep at t; this only matters with
  ``break_on="wick"``, where the first wick through a level is a break and, if the bar closes back
  above it, also a sweep).
* Sell-side sweep (``direction = +1``, bullish): ``low[t] < level`` and ``close[t] > level``.
  Buy-side sweep (``direction = -1``, bearish): ``high[t] > level`` and ``close[t] < level``.
* Each swing is swept at most once (the first qualifying bar).

When known: at the sweeping bar's close (``known_at = index``). Output: :data:`SWEEP_DTYPE` sorted
by (index, direction) (a buy-side sweep before a sell-side sweep on the same outside bar).

Search: repeated vectorized rounds of "first wick beyond the level" over all still-open swings; a
swing needs another round only when its first wick closed exactly on (or, in wick mode, beyond)
the level, so the number of rounds stays tiny.
"""

from __future__ import annotations

import numpy as np

from .search import TableCache, first_crossing
from .structure import BEARISH, BULLISH, active_windows
from .swings import SWING_HIGH, SWING_LOW

__all__ = ["SWEEP_DTYPE", "find_sweeps"]

SWEEP_DTYPE = np.dtype(
    [("index", "i8"), ("known_at", "i8"), ("direction", "i1"), ("level", "f8"),
     ("swing_index", "i8")]
)


def _break_bar_of(side: np.ndarray, breaks: np.ndarray, direction: int) -> np.ndarray:
    """Break bar of each swing in ``side`` (breaks of the given direction), -1 if never broken."""
    mine = breaks[breaks["direction"] == direction]
    if len(mine) == 0:
        return np.full(len(side), -1, dtype=np.int64)
    mine = mine[np.argsort(mine["swing_index"], kind="stable")]  # one break per swing at most
    pos = np.minimum(np.searchsorted(mine["swing_index"], side["index"]), len(mine) - 1)
    return np.where(mine["swing_index"][pos] == side["index"], mine["index"][pos], -1)


def find_sweeps(
    swings: np.ndarray, breaks: np.ndarray, close: np.ndarray, tables: TableCache, n: int
) -> np.ndarray:
    """All liquidity sweeps; ``tables`` must hold "high" and "low"."""
    parts = []
    for kind, direction in ((SWING_LOW, BULLISH), (SWING_HIGH, BEARISH)):
        side = swings[swings["kind"] == kind]
        lo, hi = active_windows(side["known_at"], n)
        broke_at = _break_bar_of(side, breaks, BEARISH if kind == SWING_LOW else BULLISH)
        hi = np.where(broke_at >= 0, np.minimum(hi, broke_at), hi)
        level = side["price"]
        if kind == SWING_LOW:
            table, op = tables.get("low", "min"), "<"
        else:
            table, op = tables.get("high", "max"), ">"
        swept = np.full(len(side), -1, dtype=np.int64)
        start = lo.copy()
        todo = np.flatnonzero(lo <= hi)
        while len(todo):
            t = first_crossing(table, start[todo], hi[todo], level[todo], op)
            found = t >= 0
            t_c = np.where(found, t, 0)
            closes_back = (close[t_c] > level[todo] if kind == SWING_LOW
                           else close[t_c] < level[todo])
            ok = found & closes_back
            swept[todo[ok]] = t[ok]
            retry = found & ~closes_back
            start[todo[retry]] = t[retry] + 1
            todo = todo[retry]
        hit = swept >= 0
        part = np.empty(int(hit.sum()), dtype=SWEEP_DTYPE)
        part["index"] = swept[hit]
        part["known_at"] = swept[hit]
        part["direction"] = direction
        part["level"] = level[hit]
        part["swing_index"] = side["index"][hit]
        parts.append(part)
    out = np.concatenate(parts)
    return out[np.lexsort((out["direction"], out["index"]))]
