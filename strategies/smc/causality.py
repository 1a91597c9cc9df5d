"""Prefix-invariance checker: the test that a detector uses no future bars.

A detector is causal when, for every cut bar, running it on ``bars[:cut+1]`` reports exactly the
events the full run reports as known at or before ``cut`` (same fields, same values), and nothing
more. :func:`prefix_mismatches` runs that comparison at the given cut points and returns readable
differences (an empty list means no leak was seen). It works for any detector returning an object
with an ``as_of(cut)`` method and dataclass fields holding numpy arrays, such as :class:`SmcResult`.

Usage::

    problems = prefix_mismatches(lambda o, h, l, c: detect_smc(o, h, l, c, params),
                                 (o, h, l, c), range(100, n, 50))
    assert not problems, "\\n".join(problems[:5])
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import fields

import numpy as np

__all__ = ["prefix_mismatches", "result_differences"]

_COLUMNS = ("open", "high", "low", "close")


def _row(arr: np.ndarray, i: int) -> str:
    return "(" + ", ".join(f"{name}={arr[name][i]}" for name in arr.dtype.names) + ")"


def result_differences(prefix, full, label: str = "") -> list[str]:
    """Field-by-field differences between two results (dataclasses of numpy arrays)."""
    problems = []
    for f in fields(full):
        a, b = getattr(prefix, f.name), getattr(full, f.name)
        if a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b):
            continue
        where = f"{label}{f.name}"
        if a.dtype.names is None or b.dtype.names is None or a.dtype != b.dtype:
            bad = np.flatnonzero(a != b) if a.shape == b.shape else []
            first = (f", first at bar {bad[0]}: prefix {a[bad[0]]} vs full {b[bad[0]]}"
                     if len(bad) else "")
            problems.append(f"{where}: prefix len {len(a)} vs full len {len(b)}{first}")
            continue
        m = min(len(a), len(b))
        diff = np.flatnonzero(a[:m] != b[:m])
        if len(diff):
            i = diff[0]
            problems.append(f"{where}: row {i} differs: prefix {_row(a, i)} vs full {_row(b, i)}")
        else:
            longer, name = (a, "prefix") if len(a) > len(b) else (b, "full")
            problems.append(f"{where}: only the {name} run has {_row(longer, m)} "
                            f"(and {abs(len(a) - len(b)) - 1} more)")
    return problems


def prefix_mismatches(
    detector: Callable[..., object],
    ohlc: Mapping[str, np.ndarray] | Sequence[np.ndarray],
    cuts: Iterable[int],
) -> list[str]:
    """Differences between ``detector(prefix).as_of(cut)`` and ``detector(full).as_of(cut)``.

    ``detector(open, high, low, close)`` returns a result with ``as_of``; ``ohlc`` is a mapping with
    keys open/high/low/close or a 4-sequence in that order; each cut is a bar index in the series.
    """
    if isinstance(ohlc, Mapping):
        cols = [np.asarray(ohlc[k], dtype=np.float64) for k in _COLUMNS]
    else:
        cols = [np.asarray(x, dtype=np.float64) for x in ohlc]
    if len(cols) != 4:
        raise ValueError(f"ohlc must hold 4 columns (open, high, low, close), got {len(cols)}")
    n = len(cols[0])
    full = detector(*cols)
    problems = []
    for cut in cuts:
        cut = int(cut)
        if not 0 <= cut < n:
            raise ValueError(f"cut {cut} is outside the series (0..{n - 1})")
        prefix = detector(*(x[: cut + 1] for x in cols)).as_of(cut)
        problems += result_differences(prefix, full.as_of(cut), label=f"cut {cut}: ")
    return problems
