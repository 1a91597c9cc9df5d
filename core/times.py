"""Time helpers used across the layers: UTC epoch milliseconds <-> ISO text and backtrader day
numbers.

Every time inside the engine is UTC epoch milliseconds (``*_ms``). Two text forms leave it:

- ``ms_to_iso``: ``2023-01-01T00:00:00+00:00``, the report and trade-list form;
- ``ms_to_iso_z``: ``2023-01-01T00:00:00Z``, the kline-file and message form.

backtrader keeps datetimes as float day numbers (``bt.date2num`` of naive UTC datetimes);
``date2num_ms`` converts epoch ms to exactly those floats, vectorized, and ``num_to_ms`` back.
No pandas and no backtrader here: the live engine imports this module.
"""

from __future__ import annotations

from datetime import UTC, datetime
from fractions import Fraction

import numpy as np

from core.timeframes import DAY_MS as _DAY_MS

__all__ = ["date2num_ms", "ms_to_iso", "ms_to_iso_z", "num_to_ms", "utc_datetime"]


def utc_datetime(ms: int) -> datetime:
    """Epoch milliseconds -> timezone-aware UTC ``datetime``."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def ms_to_iso(ms: int | None) -> str | None:
    """``2023-01-01T00:00:00+00:00`` (the report form); None stays None."""
    return None if ms is None else utc_datetime(ms).isoformat()


def ms_to_iso_z(ms: int) -> str:
    """``2023-01-01T00:00:00Z`` (the kline-file and message form; whole seconds)."""
    return utc_datetime(int(ms)).strftime("%Y-%m-%dT%H:%M:%SZ")


_UNIX_EPOCH_ORDINAL = 719_163  # datetime.date(1970, 1, 1).toordinal(): date2num of 1970-01-01
# date2num values of years 1436..2871 lie in [2**19, 2**20), where a float64 step is exactly 2**-33.
_FRACTION_BITS = 33


def date2num_ms(epoch_ms: np.ndarray) -> np.ndarray:
    """``backtrader.date2num`` of the naive-UTC datetimes of ``epoch_ms``, vectorized,
    bit-identical.

    ``date2num`` returns
    ``math.fsum((ordinal, hour/24, minute/1440, second/86400, microsecond/86.4e9))``: the exactly
    rounded sum. For an ordinal in [2**19, 2**20) the float64 grid is 2**-33 and the integer
    ordinal sits on it, so the result is the ordinal plus the time-of-day terms' exact sum rounded
    (half to even) to a multiple of 2**-33. That rounding depends only on the time of day, so it
    is computed exactly once per distinct time of day (at most 1,440 for minute bars).
    """
    epoch_ms = np.asarray(epoch_ms, dtype=np.int64)
    days, tod_ms = np.divmod(epoch_ms, _DAY_MS)
    ordinal = days + _UNIX_EPOCH_ORDINAL
    if len(ordinal) and (ordinal.min() < 2**19 or ordinal.max() >= 2**20):
        raise ValueError("date2num_ms supports dates between years 1436 and 2871 only")
    distinct, position = np.unique(tod_ms, return_inverse=True)
    fraction = np.array([_day_fraction(int(ms)) for ms in distinct], dtype=np.float64)
    return ordinal.astype(np.float64) + fraction[position]


def num_to_ms(num):
    """Inverse of ``date2num_ms``: backtrader float datetime(s) -> UTC epoch ms (rounded)."""
    if isinstance(num, float):
        return int(round((num - _UNIX_EPOCH_ORDINAL) * _DAY_MS))
    return np.rint((np.asarray(num, dtype=np.float64) - _UNIX_EPOCH_ORDINAL)
                   * _DAY_MS).astype(np.int64)


def _day_fraction(ms_of_day: int) -> float:
    hour, rest = divmod(ms_of_day, 3_600_000)
    minute, rest = divmod(rest, 60_000)
    second, millisecond = divmod(rest, 1000)
    terms = (hour / 24.0, minute / 1440.0, second / 86400.0, (millisecond * 1000) / 86400000000.0)
    exact = sum((Fraction(term) for term in terms), Fraction(0))
    return round(exact * 2**_FRACTION_BITS) / 2**_FRACTION_BITS  # round(): half to even, like fsum
