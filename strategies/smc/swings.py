"""Swing highs and lows (fractal pivots with lookback N), causal.

Definition adopted (N = ``swing_lookback`` >= 1):

* swing high at bar i:  ``high[i] > max(high[i-N:i])`` and ``high[i] >= max(high[i+1:i+N+1])``
  (strict on the left, non-strict on the right, so a flat top of equal highs gives one pivot: the
  first bar of the flat);
* swing low at bar i:   ``low[i] < min(low[i-N:i])`` and ``low[i] <= min(low[i+1:i+N+1])``.

A pivot needs N full bars on each side: bars 0..N-1 and the last N bars of the series are never
pivots *on that series*. A pivot at bar i is known only at the close of bar ``i + N``, which is
its ``known_at``. One bar may be both a swing high and a swing low (an outside bar); both are
reported, the high first.

Output: a structured array with dtype :data:`SWING_DTYPE`, sorted by (known_at, index, high
before low). Cost: two ``sliding_window_view`` max/min passes, no Python loop over bars.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

__all__ = ["SWING_DTYPE", "SWING_HIGH", "SWING_LOW", "find_swings"]

SWING_HIGH = 1
SWING_LOW = -1

SWING_DTYPE = np.dtype([("index", "i8"), ("known_at", "i8"), ("kind", "i1"), ("price", "f8")])


def _pivot_mask(x: np.ndarray, n_look: int, is_high: bool) -> np.ndarray:
    """Boolean mask over bars N..n-N-1 (the only bars that can be pivots)."""
    if is_high:
        block = sliding_window_view(x, n_look).max(axis=1)  # block[k] = max(x[k:k+N])
        centre = x[n_look : len(x) - n_look]
        return (centre > block[: len(centre)]) & (centre >= block[n_look + 1 :])
    block = sliding_window_view(x, n_look).min(axis=1)
    centre = x[n_look : len(x) - n_look]
    return (centre < block[: len(centre)]) & (centre <= block[n_look + 1 :])


def find_swings(high: np.ndarray, low: np.ndarray, lookback: int) -> np.ndarray:
    """All swing highs and lows of the series (see the module docstring for the definition).

    >>> s = find_swings(high, low, 5)
    >>> s[s["kind"] == SWING_HIGH]["index"]     # pivot bars; known at index + 5
    """
    n = len(high)
    if n < 2 * lookback + 1:
        return np.empty(0, dtype=SWING_DTYPE)
    hi_idx = np.flatnonzero(_pivot_mask(high, lookback, True)) + lookback
    lo_idx = np.flatnonzero(_pivot_mask(low, lookback, False)) + lookback
    out = np.empty(len(hi_idx) + len(lo_idx), dtype=SWING_DTYPE)
    index = np.concatenate([hi_idx, lo_idx])
    kind = np.concatenate([np.full(len(hi_idx), SWING_HIGH, np.int8),
                           np.full(len(lo_idx), SWING_LOW, np.int8)])
    price = np.concatenate([high[hi_idx], low[lo_idx]])
    order = np.lexsort((-kind, index))  # by index, then high (+1) before low (-1)
    out["index"] = index[order]
    out["known_at"] = out["index"] + lookback
    out["kind"] = kind[order]
    out["price"] = price[order]
    return out
