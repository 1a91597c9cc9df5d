"""Load one kline file (any supported format) into validated, UTC-indexed OHLCV data.

``load_klines(path)`` detects the format (see ``klines.formats``), parses it vectorized and
validates it; every problem is one ``DataError`` whose message names the file and, when the problem
sits on a row, its 1-based line in the file (banner and header lines counted).

Validation, in this order:

1. every cell present and numeric; open times plausible (2009-01-01 .. now + 1 day);
2. per row: prices > 0, ``low <= open, close <= high``, ``low <= high``, volume >= 0;
3. order: oldest-first is kept, newest-first is reversed (``reordered``); anything else is an error;
4. duplicates: identical rows for one open time are dropped (``duplicates_dropped``); two different
   rows for one open time are an error naming both lines;
5. timeframe = the most common spacing, which must be a Binance interval (and match an interval
   written in the file name, if any); every open time must sit on that interval's UTC grid;
6. gaps (missing bars) are reported in ``gaps``, never filled.

``start``/``end`` (end exclusive) select a range AFTER validation, so a bad row outside the range
still fails the load.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from core.bars import Bars
from core.errors import DataError
from core.timeframes import grid_offset_ms, timeframe_from_ms, timeframe_ms
from core.times import ms_to_iso_z
from klines.filenames import symbol_from_filename, timeframe_from_filename
from klines.formats import PRICE_COLUMNS, RawTable, read_raw, where


@dataclass(frozen=True)
class Gap:
    """Bars missing between two consecutive bars of a file."""

    last_before: pd.Timestamp  # open time of the last bar before the gap
    first_after: pd.Timestamp  # open time of the first bar after it
    missing_bars: int


@dataclass(frozen=True, eq=False)  # arrays/frames: no value equality
class Klines:
    """A validated kline file: ``frame`` has a UTC ``DatetimeIndex`` named ``open_time`` and float64
    columns open, high, low, close, volume, strictly increasing."""

    path: str
    symbol: str | None
    timeframe: str
    frame: pd.DataFrame
    gaps: tuple[Gap, ...]
    duplicates_dropped: int
    reordered: bool
    source_format: str

    @property
    def missing_bars(self) -> int:
        return sum(gap.missing_bars for gap in self.gaps)

    @property
    def largest_gap(self) -> Gap | None:
        return max(self.gaps, key=lambda gap: gap.missing_bars, default=None)

    def bars(self) -> Bars:
        return Bars.from_frame(self.frame, timeframe_ms(self.timeframe))


def load_klines(path, *, symbol: str | None = None, start=None, end=None) -> Klines:
    """Read, validate and return the klines in ``path``.

    ``symbol`` defaults to ``symbol_from_filename(path)``. ``start``/``end`` are tz-aware datetimes
    or ISO strings (naive ones are UTC); the range is ``[start, end)`` on bar open times.
    """
    path = Path(path)
    name = str(path)
    raw = read_raw(path, name)
    label = raw.label  # the path, or path[member.csv] for a zip
    open_time_ms, values, rows, reordered, duplicates = _validate_rows(raw, label)
    interval = _infer_timeframe(open_time_ms, path, name)
    interval_ms = timeframe_ms(interval)
    off_grid = (open_time_ms - grid_offset_ms(interval_ms)) % interval_ms != 0
    if off_grid.any():
        bad = int(np.flatnonzero(off_grid)[0])
        raise DataError(f"{where(label, raw.row_word, int(rows[bad]))}: "
                        f"open time {ms_to_iso_z(open_time_ms[bad])} is not on the {interval} grid")

    if start is not None or end is not None:
        first, stop = window_bounds(open_time_ms, None if start is None else _to_ms(start, "start"),
                                    None if end is None else _to_ms(end, "end"), name)
        open_time_ms = open_time_ms[first:stop]
        values = {field: column[first:stop] for field, column in values.items()}

    index = pd.DatetimeIndex(open_time_ms.astype("datetime64[ms]"),
                             name="open_time").tz_localize("UTC")
    frame = pd.DataFrame(values, index=index, columns=list(PRICE_COLUMNS), copy=False)
    return Klines(
        path=name,
        symbol=symbol if symbol is not None else symbol_from_filename(path),
        timeframe=interval,
        frame=frame,
        gaps=find_gaps(open_time_ms, interval_ms),
        duplicates_dropped=duplicates,
        reordered=reordered,
        source_format=raw.source_format,
    )


def window_bounds(open_time_ms: np.ndarray, start_ms: int | None, end_ms: int | None,
                  name: str) -> tuple[int, int]:
    """``(first, stop)``: the slice of the sorted ``open_time_ms`` opening in ``[start_ms,
    end_ms)`` (either bound None: open); a ``DataError`` starting with ``name`` when it is
    empty."""
    first = 0 if start_ms is None else int(np.searchsorted(open_time_ms, start_ms, "left"))
    stop = (len(open_time_ms) if end_ms is None
            else int(np.searchsorted(open_time_ms, end_ms, "left")))
    if first >= stop:
        window = " and ".join(part for part in (
            f"from {ms_to_iso_z(start_ms)}" if start_ms is not None else "",
            f"before {ms_to_iso_z(end_ms)}" if end_ms is not None else "") if part)
        raise DataError(f"{name}: no bars {window} (the file covers "
                        f"{ms_to_iso_z(open_time_ms[0])} to {ms_to_iso_z(open_time_ms[-1])})")
    return first, stop


def find_gaps(open_time_ms: np.ndarray, interval_ms: int) -> tuple[Gap, ...]:
    """Every place where consecutive open times are more than one interval apart."""
    steps = np.diff(open_time_ms)
    at = np.flatnonzero(steps > interval_ms)
    return tuple(
        Gap(
            last_before=pd.Timestamp(int(open_time_ms[i]), unit="ms", tz="UTC"),
            first_after=pd.Timestamp(int(open_time_ms[i + 1]), unit="ms", tz="UTC"),
            missing_bars=int(steps[i] // interval_ms - 1),
        )
        for i in at
    )


# --------------------------------------------------------------------------------------- validation


def _validate_rows(raw: RawTable, name: str):
    """Per-row checks, order, duplicates.

    Returns sorted unique times, values, row numbers, flags.
    """
    rows, word = raw.row_numbers, raw.row_word
    opens, highs, lows, closes, volumes = (raw.values[field] for field in PRICE_COLUMNS)

    checks = (
        (~np.isfinite(opens) | ~np.isfinite(highs) | ~np.isfinite(lows) | ~np.isfinite(closes)
         | ~np.isfinite(volumes),
         lambda i: "missing or non-finite value (" + ", ".join(
             f"{f}={raw.values[f][i]}" for f in PRICE_COLUMNS
             if not np.isfinite(raw.values[f][i])) + ")"),
        ((opens <= 0) | (highs <= 0) | (lows <= 0) | (closes <= 0),
         lambda i: f"price <= 0 ({_ohlc(raw.values, i)})"),
        (volumes < 0, lambda i: f"negative volume {volumes[i]}"),
        (lows > highs, lambda i: f"low {lows[i]} > high {highs[i]}"),
        ((lows > opens) | (lows > closes),
         lambda i: f"low {lows[i]} above open/close ({_ohlc(raw.values, i)})"),
        ((opens > highs) | (closes > highs),
         lambda i: f"high {highs[i]} below open/close ({_ohlc(raw.values, i)})"),
    )
    first_bad = None
    for mask, describe in checks:
        if mask.any():
            i = int(np.flatnonzero(mask)[0])
            if first_bad is None or i < first_bad[0]:
                first_bad = (i, describe)
    if first_bad is not None:
        i, describe = first_bad
        raise DataError(f"{where(name, word, int(rows[i]))}: {describe(i)}")

    times = raw.open_time_ms
    values = raw.values
    steps = np.diff(times)
    reordered = False
    if (steps < 0).any():
        if (steps > 0).any():
            ascending = steps[np.flatnonzero(steps)[0]] > 0  # direction of the first move
            i = int(np.flatnonzero(steps < 0 if ascending else steps > 0)[0]) + 1
            raise DataError(f"{where(name, word, int(rows[i]))}: "
                            f"open time {ms_to_iso_z(times[i])} breaks the order of the rows "
                            "before it (file is neither oldest-first nor newest-first)")
        times, rows = times[::-1], rows[::-1]
        values = {field: column[::-1] for field, column in values.items()}
        reordered = True

    same = np.flatnonzero(np.diff(times) == 0)
    duplicates = 0
    if len(same):
        equal = np.ones(len(same), dtype=bool)
        for column in values.values():
            equal &= column[same] == column[same + 1]
        if not equal.all():
            k = int(same[np.flatnonzero(~equal)[0]])
            first, second = sorted((int(rows[k]), int(rows[k + 1])))
            raise DataError(f"{where(name, word, second)}: conflicting duplicate of {word} {first} "
                            f"(same open time {ms_to_iso_z(times[k])}, different values)")
        keep = np.ones(len(times), dtype=bool)
        keep[same + 1] = False
        duplicates = int(len(same))
        times, rows = times[keep], rows[keep]
        values = {field: column[keep] for field, column in values.items()}

    values = {field: np.ascontiguousarray(column) for field, column in values.items()}
    return np.ascontiguousarray(times), values, np.ascontiguousarray(rows), reordered, duplicates


def _infer_timeframe(open_time_ms: np.ndarray, path: Path, name: str) -> str:
    named = timeframe_from_filename(path)
    if len(open_time_ms) < 2:
        if named is None:
            raise DataError(f"{name}: a single bar and no interval in the file name; "
                            "cannot tell the timeframe")
        return named
    spacings, counts = np.unique(np.diff(open_time_ms), return_counts=True)
    spacing = int(spacings[np.argmax(counts)])  # ties: the smallest spacing
    interval = timeframe_from_ms(spacing)
    if interval is None:
        raise DataError(f"{name}: most common bar spacing is {spacing} ms "
                        f"({spacing / 60_000:g} min), not a Binance interval")
    if named is not None and named != interval:
        raise DataError(f"{name}: file name says {named} but most bars are {interval} apart")
    return interval


# ------------------------------------------------------------------------------------------ helpers


def _ohlc(values: dict, i: int) -> str:
    return " ".join(f"{field[0]}={values[field][i]}" for field in PRICE_COLUMNS[:4])


def _to_ms(moment, label: str) -> int:
    if isinstance(moment, (str, datetime, pd.Timestamp)):
        stamp = pd.Timestamp(moment)
    else:
        raise TypeError(f"{label} must be a datetime or an ISO string, got {type(moment).__name__}")
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return int(stamp.value // 1_000_000)  # Timestamp.value is ns whatever the unit
