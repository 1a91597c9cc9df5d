"""Fair value gaps (three-candle imbalances) and when they fill.

Definition adopted, with i the third candle (i >= 2):

* bullish FVG when ``low[i] > high[i-2]``: zone ``bottom = high[i-2]``, ``top = low[i]``;
* bearish FVG when ``high[i] < low[i-2]``: zone ``bottom = high[i]``, ``top = low[i-2]``.
  (Both cannot hold on the same bar.) No filter on the middle candle.
* ``filled_at``: first bar j > i meeting the fill rule (``fvg_fill``), -1 if never:

  =========  ==========================  ==========================
  rule       bullish                     bearish
  =========  ==========================  ==========================
  ``full``   ``low[j] <= bottom``        ``high[j] >= top``
  ``half``   ``low[j] <= (top+bottom)/2`` ``high[j] >= (top+bottom)/2``
  ``touch``  ``low[j] <= top``           ``high[j] >= bottom``
  =========  ==========================  ==========================

When known: the gap at the close of its third candle (``known_at = index = i``), the fill at the
bar where it happens. Output: :data:`FVG_DTYPE` sorted by index.
"""

from __future__ import annotations

import numpy as np

from .search import TableCache, first_crossing
from .structure import BEARISH, BULLISH

__all__ = ["FVG_DTYPE", "FVG_FILL_RULES", "find_fvgs"]

FVG_FILL_RULES = ("full", "half", "touch")

FVG_DTYPE = np.dtype(
    [
        ("index", "i8"),
        ("known_at", "i8"),
        ("direction", "i1"),
        ("top", "f8"),
        ("bottom", "f8"),
        ("filled_at", "i8"),
    ]
)


def find_fvgs(high: np.ndarray, low: np.ndarray, tables: TableCache,
              fill: str = "full") -> np.ndarray:
    """All fair value gaps of the series; ``tables`` must hold "high" and "low"."""
    n = len(high)
    if n < 3:
        return np.empty(0, dtype=FVG_DTYPE)
    bull = low[2:] > high[:-2]
    bear = high[2:] < low[:-2]
    idx = np.flatnonzero(bull | bear) + 2
    out = np.empty(len(idx), dtype=FVG_DTYPE)
    is_bull = bull[idx - 2]
    out["index"] = idx
    out["known_at"] = idx
    out["direction"] = np.where(is_bull, BULLISH, BEARISH)
    out["top"] = np.where(is_bull, low[idx], low[idx - 2])
    out["bottom"] = np.where(is_bull, high[idx - 2], high[idx])
    top, bottom = out["top"], out["bottom"]
    if fill == "full":
        bull_level, bear_level = bottom, top
    elif fill == "half":
        bull_level = bear_level = (top + bottom) / 2.0
    else:  # "touch"
        bull_level, bear_level = top, bottom
    filled = np.empty(len(idx), dtype=np.int64)
    b, s = is_bull, ~is_bull
    end = n - 1
    filled[b] = first_crossing(tables.get("low", "min"), idx[b] + 1, end, bull_level[b], "<=")
    filled[s] = first_crossing(tables.get("high", "max"), idx[s] + 1, end, bear_level[s], ">=")
    out["filled_at"] = filled
    return out
