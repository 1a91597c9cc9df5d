"""Vectorized range searches shared by the SMC detectors (pure numpy, no loop over bars).

Every SMC event that "happens later" is an answer to one question: *the first bar j in a
closed range [lo, hi] where a series x crosses a level* (a close above a swing high, a low
back into an order block, a high filling a gap...). Answering it one query at a time with a
Python loop would be O(bars) per query; instead all queries are answered together:

* :class:`SparseTable` holds, for every k <= K, the max (or min) of x over each block
  x[i : i + 2**k]. Building it costs K numpy passes over x.
* :func:`first_crossing` then runs binary lifting for *all* queries at once: starting at ``lo``,
  for k = K..0 it jumps 2**k bars whenever that whole block stays on the non-crossing side of
  the level and ends inside the range. After the K + 1 steps the position is the first
  crossing bar (or past ``hi``: no crossing). That is K + 1 vectorized operations over the
  query arrays, whatever the range lengths.
* :func:`range_argextreme` answers "which bar of [lo, hi] holds the min (or max), latest on
  ties" with an index sparse table (two overlapping blocks per query).

Usage::

    tab = SparseTable(close, "max", max_span=n)
    j = first_crossing(tab, lo, hi, level, ">")   # -1 where close never exceeds level in [lo, hi]

Memory: a table holds about n * log2(n) float64 values (80 MB for the 525,520-bar 1m year);
:func:`~.detect.detect_smc` keeps at most four alive at once and frees them when it returns.

Nothing here looks at bars outside the requested ranges, so prefix runs give the same answer
as full runs for every crossing at or before the prefix's end.
"""

from __future__ import annotations

import numpy as np

__all__ = ["SparseTable", "TableCache", "first_crossing", "range_argextreme", "NOT_FOUND"]

NOT_FOUND = -1
_OPS = (">", ">=", "<", "<=")


def _levels_for(span: int) -> int:
    """Largest k with 2**k <= span (0 for span <= 1)."""
    return max(int(span).bit_length() - 1, 0)


class SparseTable:
    """Block maxima (``kind="max"``) or minima (``kind="min"``) of ``x`` over 2**k bars.

    ``max_span`` caps the number of levels to what the longest query needs, which saves memory
    and time (a full table is n * log2(n) float64 values).
    """

    __slots__ = ("kind", "levels", "n")

    def __init__(self, x: np.ndarray, kind: str, max_span: int | None = None) -> None:
        if kind not in ("max", "min"):
            raise ValueError(f"kind must be 'max' or 'min', got {kind!r}")
        x = np.ascontiguousarray(x, dtype=np.float64)
        self.kind = kind
        self.n = len(x)
        span = self.n if max_span is None else min(int(max_span), self.n)
        reduce = np.maximum if kind == "max" else np.minimum
        levels = [x]
        for k in range(1, _levels_for(span) + 1):
            prev, half = levels[-1], 1 << (k - 1)
            levels.append(reduce(prev[:-half], prev[half:]))
        self.levels = levels


def first_crossing(table: SparseTable, lo, hi, level, op: str) -> np.ndarray:
    """First j in [lo, hi] with ``x[j] <op> level`` for every query at once; -1 where none.

    ``op`` is one of ``">", ">=", "<", "<="``; ``>``/``>=`` need a "max" table, ``<``/``<=`` a "min"
    table. ``lo``, ``hi``, ``level`` broadcast to one length; ranges with lo > hi, or reaching
    past the table, are clipped (empty ranges answer -1). Ranges longer than 2**(K+1) - 1 bars
    (K = the table's top level) are searched only on their first 2**(K+1) - 1 bars, so build the
    table with ``max_span`` >= the longest range.
    """
    if op not in _OPS:
        raise ValueError(f"op must be one of {_OPS}, got {op!r}")
    need = "max" if op in (">", ">=") else "min"
    if table.kind != need:
        raise ValueError(f"op {op!r} needs a {need!r} table, got a {table.kind!r} table")
    lo, hi, level = np.broadcast_arrays(
        np.asarray(lo, dtype=np.int64), np.asarray(hi, dtype=np.int64),
        np.asarray(level, dtype=np.float64)
    )
    if lo.size == 0 or table.n == 0:
        return np.full(lo.shape, NOT_FOUND, dtype=np.int64)
    hi = np.minimum(hi, table.n - 1)
    pos = np.maximum(lo, 0).astype(np.int64, copy=True)
    for k in range(len(table.levels) - 1, -1, -1):
        block = table.levels[k]
        step = 1 << k
        fits = pos + (step - 1) <= hi
        val = block[np.minimum(pos, len(block) - 1)]
        # Skip the block when no bar in it crosses the level.
        if op == ">":
            quiet = val <= level
        elif op == ">=":
            quiet = val < level
        elif op == "<":
            quiet = val >= level
        else:
            quiet = val > level
        pos += step * (fits & quiet)
    return np.where(pos <= hi, pos, NOT_FOUND)


def range_argextreme(x: np.ndarray, lo, hi, kind: str) -> np.ndarray:
    """Index of the min (``kind="min"``) or max (``"max"``) of ``x[lo..hi]`` (inclusive), latest
    on ties.

    Every range must be non-empty and inside x. Cost: log2(longest range) numpy passes over x
    to build an index sparse table, then O(1) vectorized work per query.
    """
    lo = np.asarray(lo, dtype=np.int64)
    hi = np.asarray(hi, dtype=np.int64)
    if lo.size == 0:
        return np.empty(0, dtype=np.int64)
    if np.any(lo > hi) or np.any(lo < 0) or np.any(hi >= len(x)):
        raise ValueError("range_argextreme needs 0 <= lo <= hi < len(x) for every query")
    x = np.asarray(x, dtype=np.float64)
    if kind == "min":
        better_or_tie = np.less_equal  # the right candidate wins ties -> latest index
    elif kind == "max":
        better_or_tie = np.greater_equal
    else:
        raise ValueError(f"kind must be 'max' or 'min', got {kind!r}")
    span = hi - lo + 1
    top = _levels_for(int(span.max()))
    idx_levels = [np.arange(len(x), dtype=np.int64)]
    for k in range(1, top + 1):
        prev, half = idx_levels[-1], 1 << (k - 1)
        left, right = prev[:-half], prev[half:]
        idx_levels.append(np.where(better_or_tie(x[right], x[left]), right, left))
    k = np.floor(np.log2(span)).astype(np.int64)
    # Guard against log2 rounding at exact powers of two.
    k = np.where((1 << (k + 1)) <= span, k + 1, k)
    k = np.where((1 << k) > span, k - 1, k)
    result = np.empty(len(lo), dtype=np.int64)
    for level in np.unique(k):
        sel = k == level
        table = idx_levels[level]
        a = table[lo[sel]]
        b = table[hi[sel] - (1 << level) + 1]
        result[sel] = np.where(better_or_tie(x[b], x[a]), np.maximum(a, b), a)
    return result


class TableCache:
    """Builds each (series, "max"/"min") sparse table once, on first use, over the whole series.

    >>> tables = TableCache(high=high, low=low, close=close)
    >>> first_crossing(tables.get("close", "max"), lo, hi, level, ">")
    """

    def __init__(self, **series: np.ndarray) -> None:
        self._series = series
        self._tables: dict[tuple[str, str], SparseTable] = {}

    def get(self, name: str, kind: str) -> SparseTable:
        key = (name, kind)
        if key not in self._tables:
            self._tables[key] = SparseTable(self._series[name], kind)
        return self._tables[key]

    def drop(self, name: str) -> None:
        """Free the tables of one series (they are rebuilt if asked for again)."""
        for key in [k for k in self._tables if k[0] == name]:
            del self._tables[key]
