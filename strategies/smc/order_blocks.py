"""Order blocks: the candle that launched a structure break, then its mitigation and invalidation.

Definition adopted, for a bullish break (see :mod:`.structure`) at bar t of the swing high whose
pivot is bar p (bearish mirrored):

* ``order_block="lowest_low"``: among candles p..t-1 (from the broken swing's pivot up to the bar
  before the break), the one with the lowest low, the latest one on ties. Bearish: highest high.
* ``order_block="last_opposite"``: the last down candle (``close < open``) in p..t-1; when there is
  none, fall back to the lowest-low candle. Bearish: the last up candle (``close > open``), else the
  highest-high candle. Dojis (``close == open``) are neither.
* Zone = that candle's [low, high] (``bottom``, ``top``); ``break_index`` = t, ``swing_index`` = p.
* ``mitigated_at``: first bar j > t where price trades back into the zone: ``low[j] <= top``
  (bullish) or ``high[j] >= bottom`` (bearish); -1 if never.
* ``invalidated_at``: first bar j > t whose close is beyond the far edge: ``close[j] < bottom``
  (bullish) or ``close[j] > top`` (bearish); -1 if never. Both are reported independently; an
  invalidation always implies a mitigation at or before it.

When known: the order block at the break bar (``known_at = t``); mitigation and invalidation at
the bar where they happen. Output: :data:`ORDER_BLOCK_DTYPE` sorted by (known_at, index).
"""

from __future__ import annotations

import numpy as np

from .search import TableCache, first_crossing, range_argextreme
from .structure import BULLISH

__all__ = ["ORDER_BLOCK_DTYPE", "ORDER_BLOCK_METHODS", "find_order_blocks"]

ORDER_BLOCK_METHODS = ("lowest_low", "last_opposite")

ORDER_BLOCK_DTYPE = np.dtype(
    [
        ("index", "i8"),
        ("known_at", "i8"),
        ("direction", "i1"),
        ("top", "f8"),
        ("bottom", "f8"),
        ("break_index", "i8"),
        ("swing_index", "i8"),
        ("mitigated_at", "i8"),
        ("invalidated_at", "i8"),
    ]
)


def _last_where(mask: np.ndarray) -> np.ndarray:
    """For each bar, the index of the last bar <= it where mask is True (-1 if none)."""
    return np.maximum.accumulate(np.where(mask, np.arange(len(mask)), -1))


def find_order_blocks(
    breaks: np.ndarray,
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    tables: TableCache,
    method: str = "lowest_low",
) -> np.ndarray:
    """One order block per break; ``tables`` must hold "high", "low" and "close"."""
    n = len(close)
    m = len(breaks)
    out = np.empty(m, dtype=ORDER_BLOCK_DTYPE)
    if m == 0:
        return out
    t = breaks["index"]
    p = breaks["swing_index"]
    bull = breaks["direction"] == BULLISH
    candle = np.empty(m, dtype=np.int64)
    # p < t always (a swing can only break after it is known), so p..t-1 is never empty.
    if bull.any():
        candle[bull] = range_argextreme(low, p[bull], t[bull] - 1, "min")
    if (~bull).any():
        candle[~bull] = range_argextreme(high, p[~bull], t[~bull] - 1, "max")
    if method == "last_opposite":
        last_down = _last_where(close < open_)[t - 1]
        last_up = _last_where(close > open_)[t - 1]
        opposite = np.where(bull, last_down, last_up)
        candle = np.where(opposite >= p, opposite, candle)

    out["index"] = candle
    out["known_at"] = t
    out["direction"] = breaks["direction"]
    out["top"] = high[candle]
    out["bottom"] = low[candle]
    out["break_index"] = t
    out["swing_index"] = p

    after, end = t + 1, np.full(m, n - 1, dtype=np.int64)
    mit = np.empty(m, dtype=np.int64)
    inv = np.empty(m, dtype=np.int64)
    b, s = bull, ~bull
    mit[b] = first_crossing(tables.get("low", "min"), after[b], end[b], out["top"][b], "<=")
    mit[s] = first_crossing(tables.get("high", "max"), after[s], end[s], out["bottom"][s], ">=")
    inv[b] = first_crossing(tables.get("close", "min"), after[b], end[b], out["bottom"][b], "<")
    inv[s] = first_crossing(tables.get("close", "max"), after[s], end[s], out["top"][s], ">")
    out["mitigated_at"] = mit
    out["invalidated_at"] = inv
    return out[np.lexsort((out["index"], out["known_at"]))]
