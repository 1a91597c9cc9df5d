"""Market structure: breaks of structure (BOS), changes of character (CHOCH) and the trend bias.

Definition adopted:

* The *active* swing high at bar t is the most recently confirmed swing high, i.e. the one with
  the largest ``known_at < t`` (a swing confirmed at the close of bar t becomes active from bar
  t + 1). A newer confirmation replaces it, whether the old one was broken or not. So swing high
  k is active on the bars ``(known_at[k], known_at[k+1]]`` (to the end of the data for the last
  one).
* It is broken at the first bar t of that window with ``close[t] > level`` (``break_on="close"``) or
  ``high[t] > level`` (``break_on="wick"``); each swing breaks at most once. Swing lows mirrored
  (``close[t] < level`` or ``low[t] < level``). Breaks therefore do not depend on the bias.
* The bias starts at 0. Taking the breaks in time order, a bullish break (+1) is a CHOCH if the
  bias before it was -1, else a BOS (bias 0 gives a BOS); the bias then becomes +1. Mirrored for
  bearish breaks.
* Same-bar high and low breaks (possible with ``break_on="wick"`` on an outside bar) are ordered by
  the usual intrabar path: on a candle with ``close >= open`` (open -> low -> high -> close) the
  bearish break comes first and the bullish one second, so the bar ends with bias +1; on a candle
  with ``close < open`` the bullish break comes first and the bar ends with bias -1. The second
  break of such a bar is therefore always a CHOCH.

When known: a break at its break bar's close (``known_at = index``); ``bias[t]`` is the bias after
the close of bar t. Output: :data:`BREAK_DTYPE` structured array sorted by (known_at, intrabar
order) and an int8 bias array. Breaks come from one vectorized search over all swings' active
windows; the BOS/CHOCH classification and the bias are vectorized too (no loop at all).
"""

from __future__ import annotations

import numpy as np

from .search import TableCache, first_crossing
from .swings import SWING_HIGH, SWING_LOW

__all__ = ["BREAK_DTYPE", "BOS", "CHOCH", "BULLISH", "BEARISH", "active_windows", "find_breaks",
           "bias_from_breaks"]

BULLISH = 1
BEARISH = -1
BOS = 0
CHOCH = 1

BREAK_DTYPE = np.dtype(
    [
        ("index", "i8"),
        ("known_at", "i8"),
        ("direction", "i1"),
        ("kind", "i1"),
        ("swing_index", "i8"),
        ("level", "f8"),
    ]
)


def active_windows(known_at: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Bars (lo, hi) inclusive on which each swing of one kind (sorted by known_at) is active."""
    lo = known_at + 1
    hi = np.empty_like(known_at)
    hi[:-1] = known_at[1:]
    if len(hi):
        hi[-1] = n - 1
    return lo, hi


def _first_breaks(swings: np.ndarray, tables: TableCache, n: int, kind: int, break_on: str):
    side = swings[swings["kind"] == kind]
    lo, hi = active_windows(side["known_at"], n)
    if kind == SWING_HIGH:
        series, table_kind, op = ("close" if break_on == "close" else "high"), "max", ">"
    else:
        series, table_kind, op = ("close" if break_on == "close" else "low"), "min", "<"
    at = first_crossing(tables.get(series, table_kind), lo, hi, side["price"], op)
    return side, at


def find_breaks(
    swings: np.ndarray,
    open_: np.ndarray,
    close: np.ndarray,
    tables: TableCache,
    n: int,
    break_on: str = "close",
) -> np.ndarray:
    """All BOS/CHOCH events of the series; ``tables`` must hold "close" (and "high"/"low" for
    wick)."""
    parts = []
    for kind, direction in ((SWING_HIGH, BULLISH), (SWING_LOW, BEARISH)):
        side, at = _first_breaks(swings, tables, n, kind, break_on)
        hit = at >= 0
        part = np.empty(int(hit.sum()), dtype=BREAK_DTYPE)
        part["index"] = at[hit]
        part["known_at"] = at[hit]
        part["direction"] = direction
        part["swing_index"] = side["index"][hit]
        part["level"] = side["price"][hit]
        parts.append(part)
    out = np.concatenate(parts)
    if len(out) == 0:
        return out
    bar = out["index"]
    green = close[bar] >= open_[bar]
    # Intrabar order on a shared bar: green candle -> bearish first; red candle -> bullish first.
    second = np.where(green, out["direction"] == BULLISH, out["direction"] == BEARISH)
    out = out[np.lexsort((second, bar))]
    prev = np.empty(len(out), dtype=np.int8)
    prev[0] = 0
    prev[1:] = out["direction"][:-1]
    out["kind"] = np.where(prev == -out["direction"], CHOCH, BOS)
    return out


def bias_from_breaks(breaks: np.ndarray, n: int) -> np.ndarray:
    """Per-bar bias after each bar's close: the direction of the last break at or before it (0
    before any)."""
    last = np.searchsorted(breaks["index"], np.arange(n), side="right") - 1
    bias = np.zeros(n, dtype=np.int8)
    has = last >= 0
    bias[has] = breaks["direction"][last[has]]
    return bias
