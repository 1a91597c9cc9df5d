"""Format detection and raw parsing of kline files; validation lives in ``klines.reader``.

Recognised layouts (``RawTable.source_format`` names them):

- ``normalized-csv``   header ``timestamp,open,high,low,close,volume``, ISO-8601 ``Z`` times
  (our own files);
- ``binance-csv-ms`` / ``binance-csv-us``  Binance dump without header, 12 columns, open time in ms
  or (spot files from 2025 on) µs; ``headerless-csv-*`` for other header-less 6+ column files;
- ``header-csv-<time>``  any CSV with a header naming the time column (``open_time``, ``timestamp``,
  ``date``, ``unix``, an unnamed pandas index, ...) and open/high/low/close/volume in any
  letter case;
- ``banner-csv-<time>``  the same after a banner line (CryptoDataDownload puts its URL first);
- ``freqtrade-json``   one JSON array of ``[open_ms, open, high, low, close, volume]`` (also
  ``.json.gz``);
- ``freqtrade-feather`` Arrow IPC with columns ``date`` (UTC datetime), open, high, low, close,
  volume.

``<time>`` is ``s``, ``ms``, ``us`` or ``ns`` for integer epochs and ``iso`` for date strings. The
epoch unit comes from the digit count of the FIRST row (10 s, 13 ms, 16 µs, 19 ns); every row is
then converted with that unit and must land between 2009-01-01 and now + 1 day, so a µs value read
as ms (year ~50000) is an error that names its line, never data. Date strings are parsed as
ISO-8601; without an offset they are UTC. Nothing is guessed: a layout that fits none of the above
is a ``DataError``.

Row numbers in messages are 1-based lines of the (decompressed) CSV text, banner and header
included; JSON and feather files have no lines, so their messages say ``record N`` / ``row N``.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
import time
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from core.errors import DataError
from klines.filenames import symbol_from_filename

PRICE_COLUMNS = ("open", "high", "low", "close", "volume")

# Oldest and newest open time a real kline can have (Bitcoin's first block is 2009-01-03).
EARLIEST_MS = 1_230_768_000_000  # 2009-01-01T00:00:00Z
_DAY_MS = 86_400_000

_EPOCH_UNITS = {10: ("s", -1000), 13: ("ms", 1), 16: ("us", 1000), 19: ("ns", 1_000_000)}
_MS_PER_YEAR = 365.2425 * _DAY_MS

# Header names of the open-time column, most specific first
# (``unix`` beats CryptoDataDownload's ``date``).
_TIME_NAMES = ("unix", "open_time", "open time", "opentime", "timestamp", "time", "date",
               "datetime", "date_time", "open_date", "")
_INTEGER = re.compile(r"^[+-]?\d+$")
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$|^(?i:nan|inf|-inf)$")
_SNIFF_BYTES = 64 * 1024


@dataclass(frozen=True)
class RawTable:
    """Parsed but unvalidated rows, in file order."""

    open_time_ms: np.ndarray  # int64
    values: dict[str, np.ndarray]  # open, high, low, close, volume as float64
    row_numbers: np.ndarray  # int64, 1-based line (CSV) / record (JSON) / row (feather) of each row
    row_word: str  # "line", "record" or "row"
    source_format: str
    label: str  # how messages name the file: its path, plus ``[member.csv]`` inside a zip


def where(name: str, row_word: str, number: int | None) -> str:
    """``name`` or ``name: line 12``: the prefix of every message about a row."""
    return name if number is None else f"{name}: {row_word} {number}"


def one_line(text: object, limit: int = 60) -> str:
    """``repr`` of a cell, cut to ``limit`` characters, safe inside a one-line message."""
    shown = repr(text)
    return shown if len(shown) <= limit else shown[: limit - 3] + "..."


# -------------------------------------------------------------------------------------------- files


def read_raw(path: Path, name: str) -> RawTable:
    """Detect the format of ``path`` from its extension and content
    and parse it into a ``RawTable``."""
    if not path.exists():
        raise DataError(f"{name}: file not found")
    if not path.is_file():
        raise DataError(f"{name}: not a file")
    lower = path.name.lower()
    readers = (
        (".csv", lambda: _parse_csv(path.read_bytes(), name)),
        (".csv.gz", lambda: _parse_csv(_gunzip(path, name), name)),
        (".zip", lambda: _parse_zip(path, name)),
        (".json", lambda: _parse_json(path.read_bytes(), name)),
        (".json.gz", lambda: _parse_json(_gunzip(path, name), name)),
        (".feather", lambda: _parse_feather(path, name)),
    )
    for suffix, read in readers:
        if lower.endswith(suffix):
            return read()
    raise DataError(
        f"{name}: unknown file type; expected .csv, .csv.gz, .zip, .json, .json.gz or .feather"
    )


def _gunzip(path: Path, name: str) -> bytes:
    try:
        with gzip.open(path, "rb") as stream:
            return stream.read()
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{name}: not a readable gzip file ({_reason(exc)})") from exc


def _reason(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _parse_zip(path: Path, name: str) -> RawTable:
    try:
        with zipfile.ZipFile(path) as archive:
            members = [info for info in archive.infolist() if not info.is_dir()]
            if len(members) != 1 or not members[0].filename.lower().endswith(".csv"):
                listing = ", ".join(info.filename for info in members) or "nothing"
                raise DataError(
                    f"{name}: expected a zip holding exactly one .csv file, found {listing}"
                )
            member = members[0].filename
            data = archive.read(member)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{name}: not a readable zip file ({_reason(exc)})") from exc
    table = _parse_csv(data, f"{name}[{member}]")
    return RawTable(table.open_time_ms, table.values, table.row_numbers, table.row_word,
                    "zip:" + table.source_format, table.label)


# ---------------------------------------------------------------------------------------------- CSV


@dataclass(frozen=True)
class _CsvLayout:
    lines_before_data: int  # banner + header (+ leading blank) lines to skip
    # positions of time, open, high, low, close, volume
    columns: tuple[int, int, int, int, int, int]
    time_is_epoch: bool
    epoch_digits: int
    source_format: str
    fields: int  # fields per line: the header's, or the first data line's
    has_header: bool


def _parse_csv(data: bytes, name: str) -> RawTable:
    layout = _sniff_csv(data, name)
    _check_field_counts(data, layout, name)
    time_col, *price_cols = layout.columns
    dtypes = dict.fromkeys(price_cols, np.float64)
    try:
        # Fast path: integer epochs straight to int64; fails on blank lines or bad cells.
        frame = _read_csv(data, layout,
                          {**dtypes, time_col: np.int64 if layout.time_is_epoch else object})
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise DataError(f"{name}: line {line}: not UTF-8 text ({_reason(exc)})") from exc
    except pd.errors.ParserError as exc:
        raise DataError(f"{name}: malformed CSV ({_reason(exc)}; pandas counts lines from line "
                        f"{layout.lines_before_data + 1})") from exc
    except (ValueError, OverflowError):
        try:
            frame = _read_csv(data, layout, {**dtypes, time_col: object})
        except (ValueError, OverflowError) as exc:
            _raise_first_bad_price(data, layout, name)  # slow path, only to name the line
            raise DataError(f"{name}: unreadable CSV ({_reason(exc)})") from exc

    row_numbers = np.arange(len(frame), dtype=np.int64) + layout.lines_before_data + 1
    time_values = frame[time_col].to_numpy()
    prices = {field: frame[col].to_numpy(dtype=np.float64)
              for field, col in zip(PRICE_COLUMNS, price_cols, strict=True)}

    # Blank lines read as all-missing rows (skip_blank_lines=False keeps the line count exact):
    # drop them.
    if time_values.dtype != object:
        present = np.ones(len(frame), dtype=bool)
    else:
        present = pd.notna(time_values)
    blank = ~present & np.all([np.isnan(values) for values in prices.values()], axis=0)
    if blank.any():
        keep = ~blank
        row_numbers, time_values = row_numbers[keep], time_values[keep]
        prices = {field: values[keep] for field, values in prices.items()}
    if len(row_numbers) == 0:
        raise DataError(f"{name}: no data rows after line {layout.lines_before_data}")

    if layout.time_is_epoch:
        if time_values.dtype == object:
            time_values = _epoch_cells_to_int(time_values, row_numbers, name)
        open_time_ms = epoch_to_ms(time_values, layout.epoch_digits, row_numbers, "line", name)
    else:
        open_time_ms = _iso_to_ms(time_values, row_numbers, name)
    return RawTable(open_time_ms, prices, row_numbers, "line", layout.source_format, name)


def _read_csv(data: bytes, layout: _CsvLayout, dtypes: dict) -> pd.DataFrame:
    return pd.read_csv(
        io.BytesIO(data),
        header=None,
        skiprows=layout.lines_before_data,
        usecols=list(layout.columns),
        dtype=dtypes,
        skip_blank_lines=False,
        encoding="utf-8-sig",
    )


def _check_field_counts(data: bytes, layout: _CsvLayout, name: str) -> None:
    """Every non-blank data line has as many fields as the header (or the first data line): a lost
    or extra field would shift the columns silently. Vectorized over the bytes; quoted files are
    left to the CSV parser, as a quoted field may hold a comma."""
    if b'"' in data:
        return
    buffer = np.frombuffer(data, dtype=np.uint8)
    ends = np.flatnonzero(buffer == 10)
    if len(buffer) and buffer[-1] != 10:
        ends = np.append(ends, len(buffer))
    starts = np.concatenate(([0], ends[:-1] + 1))
    ends, starts = ends[layout.lines_before_data:], starts[layout.lines_before_data:]
    commas = np.flatnonzero(buffer == 44)
    counts = np.searchsorted(commas, ends) - np.searchsorted(commas, starts)
    length = ends - starts - (buffer[np.maximum(ends - 1, 0)] == 13)  # without a trailing CR
    text = length > 0
    if not text.any():
        return
    wrong = text & (counts != layout.fields - 1)
    if wrong.any():
        bad = int(np.flatnonzero(wrong)[0])
        source = "as in the header" if layout.has_header else "as in the first data line"
        raise DataError(f"{name}: line {layout.lines_before_data + bad + 1}: "
                        f"{counts[bad] + 1} fields, expected {layout.fields} {source}")


def _epoch_cells_to_int(cells: np.ndarray, row_numbers: np.ndarray, name: str) -> np.ndarray:
    """Epoch column read as text (it held a blank or a bad cell):
    name the first bad one or convert."""
    for i, cell in enumerate(cells):
        text = ("" if cell is None or (isinstance(cell, float) and np.isnan(cell))
                else str(cell).strip())
        if not _INTEGER.match(text) or len(text.lstrip("+-")) > 18:
            problem = ("missing open time" if not text
                       else f"open time {one_line(text)} is not an integer epoch")
            raise DataError(f"{name}: line {row_numbers[i]}: {problem}")
    return np.array([int(cell) for cell in cells], dtype=np.int64)


def _raise_first_bad_price(data: bytes, layout: _CsvLayout, name: str) -> None:
    _, *price_cols = layout.columns
    text = pd.read_csv(
        io.BytesIO(data), header=None, skiprows=layout.lines_before_data, usecols=price_cols,
        dtype=str, skip_blank_lines=False, encoding="utf-8-sig", keep_default_na=False,
    )
    first: tuple[int, str, str] | None = None
    for field, col in zip(PRICE_COLUMNS, price_cols, strict=True):
        cells = text[col].to_numpy(dtype=object)
        numeric = pd.to_numeric(pd.Series(cells, dtype=object).replace("", "nan"), errors="coerce")
        bad = np.flatnonzero(numeric.isna().to_numpy() & ~np.isin(cells, ["", "nan", "NaN", "NAN"]))
        if len(bad) and (first is None or bad[0] < first[0]):
            first = (int(bad[0]), field, cells[bad[0]])
    if first is not None:
        row, field, cell = first
        raise DataError(f"{name}: line {layout.lines_before_data + row + 1}: "
                        f"{field} {one_line(cell)} is not a number")


def _sniff_csv(data: bytes, name: str) -> _CsvLayout:
    head = data[:_SNIFF_BYTES]
    if b"\x00" in head:
        raise DataError(f"{name}: binary content, not a CSV text file")
    try:
        text = head.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        # A cut in the middle of a multi-byte character at the end of the sample is fine.
        if exc.start < len(head) - 4:
            raise DataError(f"{name}: not UTF-8 text, not a CSV file") from exc
        text = head[: exc.start].decode("utf-8-sig")
    lines = text.splitlines()
    if len(data) > _SNIFF_BYTES and lines:
        lines = lines[:-1]  # possibly cut
    rows = [next(csv.reader([line]), []) if line.strip() else [] for line in lines[:12]]
    if not any(rows):
        raise DataError(f"{name}: empty file, no data rows")

    # Leading blank lines, then up to three banner lines (few fields, followed by a wider line).
    first = 0
    while first < len(rows) and not rows[first]:
        first += 1
    banner = 0
    while (first + banner + 1 < len(rows) and len(rows[first + banner]) < 5
           and len(rows[first + banner + 1]) >= 6 and banner < 3):
        banner += 1
    top = first + banner
    if top >= len(rows) or not rows[top]:
        raise DataError(f"{name}: no data rows (only a banner line)")
    cells = [cell.strip() for cell in rows[top]]
    has_header = not any(_NUMBER.match(cell) for cell in cells if cell)
    data_line = top + 1 if has_header else top
    while data_line < len(rows) and not rows[data_line]:
        data_line += 1
    if data_line >= len(rows):
        what = ("a banner and a header" if banner and has_header
                else "a header" if has_header else "nothing")
        raise DataError(f"{name}: no data rows, the file holds only {what}")
    sample = [cell.strip() for cell in rows[data_line]]

    if has_header:
        columns, layout_name = _columns_from_header(cells, sample, name, top + 1)
        layout_name = (("banner-csv" if banner else "header-csv") if layout_name is None
                       else layout_name)
    else:
        if len(cells) < 6:
            raise DataError(f"{name}: line {top + 1}: {len(cells)} columns and no header; "
                            "a header-less file must hold open time, open, high, low, close, "
                            "volume")
        columns = (0, 1, 2, 3, 4, 5)
        layout_name = "binance-csv" if len(cells) == 12 else "headerless-csv"

    time_cell = sample[columns[0]] if columns[0] < len(sample) else ""
    sample_line = data_line + 1
    if _INTEGER.match(time_cell):
        digits = len(time_cell.lstrip("+-"))
        if digits not in _EPOCH_UNITS:
            raise DataError(f"{name}: line {sample_line}: epoch {one_line(time_cell)} "
                            f"has {digits} digits; expected 10 (s), 13 (ms), 16 (µs) or 19 (ns)")
        unit = _EPOCH_UNITS[digits][0]
        is_epoch = True
    else:
        digits, unit, is_epoch = 0, "iso", False
    if layout_name == "header-csv" and not is_epoch and cells == ["timestamp", *PRICE_COLUMNS] \
            and time_cell.endswith("Z"):
        return _CsvLayout(data_line, columns, False, 0, "normalized-csv", len(cells), True)
    return _CsvLayout(data_line, columns, is_epoch, digits, f"{layout_name}-{unit}", len(cells),
                      has_header)


def _columns_from_header(header: list[str], sample: list[str], name: str, line: int):
    names = [cell.lower() for cell in header]

    def position(candidates) -> int | None:
        for candidate in candidates:
            if candidate in names:
                return names.index(candidate)
        return None

    time_col = position(_TIME_NAMES)
    if time_col is None:
        time_col = next((i for i, n in enumerate(names) if n.startswith("unnamed")), None)
    if time_col is None:
        hint = (" (not comma-separated?)"
                if len(header) == 1 and re.search(r"[;\t|]", header[0]) else "")
        raise DataError(f"{name}: line {line}: no open-time column in header "
                        f"{one_line(','.join(header), 120)}{hint}")
    price_cols = []
    for field in PRICE_COLUMNS[:4]:
        col = position((field,))
        if col is None:
            raise DataError(f"{name}: line {line}: header has no {field!r} column")
        price_cols.append(col)
    volume_col = position(("volume",))
    if volume_col is None:
        volume_col = _base_volume_column(names, sample, name, line)
    return (time_col, *price_cols, volume_col), None


def _base_volume_column(names: list[str], sample: list[str], name: str, line: int) -> int:
    """CryptoDataDownload style ``Volume BTC,Volume USDT``: pick the base asset's volume."""
    candidates = {n[len("volume"):].strip(" _").upper(): i for i, n in enumerate(names)
                  if n.startswith("volume") and n[len("volume"):].strip(" _")}
    if not candidates:
        raise DataError(f"{name}: line {line}: header has no volume column")
    base = None
    if "symbol" in names and names.index("symbol") < len(sample):
        pair = re.split(r"[/\-_:]", sample[names.index("symbol")].upper())
        if len(pair) >= 2:
            base = pair[0]
    if base is None:
        symbol = symbol_from_filename(name.split("[")[0])
        matches = [asset for asset in candidates if symbol and symbol.startswith(asset)]
        base = matches[0] if len(matches) == 1 else None
    if base not in candidates:
        shown = ", ".join("volume " + asset for asset in candidates)
        raise DataError(
            f"{name}: line {line}: cannot tell which of {shown} is the base-asset volume"
        )
    return candidates[base]


# ------------------------------------------------------------------------------------ JSON, feather


def _parse_json(data: bytes, name: str) -> RawTable:
    if not data.strip():
        raise DataError(f"{name}: empty file, no data rows")
    try:
        records = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{name}: not valid JSON ({_reason(exc)})") from exc
    if not isinstance(records, list):
        raise DataError(
            f"{name}: expected a JSON array of [open_ms, open, high, low, close, volume] records"
        )
    if not records:
        raise DataError(f"{name}: empty JSON array, no data rows")
    try:
        table = np.array(records, dtype=object)
    except ValueError:
        table = None
    if table is None or table.ndim != 2 or table.shape[1] < 6:
        lengths = [len(r) if isinstance(r, list) else -1 for r in records]
        bad = next((i for i, n in enumerate(lengths) if n < 6), 0)
        raise DataError(f"{name}: record {bad + 1}: "
                        "expected [open_ms, open, high, low, close, volume], "
                        f"got {one_line(records[bad])}")
    row_numbers = np.arange(1, len(records) + 1, dtype=np.int64)
    times = table[:, 0]
    integral = np.array([isinstance(t, int) and not isinstance(t, bool) for t in times])
    if not integral.all():
        bad = int(np.flatnonzero(~integral)[0])
        raise DataError(f"{name}: record {bad + 1}: open time {one_line(times[bad])} "
                        "is not an integer epoch")
    digits = len(str(abs(times[0])))
    if digits not in _EPOCH_UNITS:
        raise DataError(f"{name}: record 1: epoch {times[0]} has {digits} digits; "
                        "expected 10 (s), 13 (ms), 16 (µs) or 19 (ns)")
    open_time_ms = epoch_to_ms(times.astype(np.int64), digits, row_numbers, "record", name)
    values = {}
    for offset, field in enumerate(PRICE_COLUMNS, start=1):
        column = table[:, offset]
        try:
            values[field] = column.astype(np.float64)
        except (TypeError, ValueError):
            bad = next(i for i, v in enumerate(column) if not _is_number(v))
            raise DataError(f"{name}: record {bad + 1}: {field} {one_line(column[bad])} "
                            "is not a number") from None
    return RawTable(open_time_ms, values, row_numbers, "record", "freqtrade-json", name)


def _is_number(value) -> bool:
    return value is None or (isinstance(value, (int, float)) and not isinstance(value, bool))


def _parse_feather(path: Path, name: str) -> RawTable:
    try:
        frame = pd.read_feather(path)
    except Exception as exc:  # pyarrow raises many types (ArrowInvalid, OSError, ...)
        raise DataError(f"{name}: not a readable feather file ({_reason(exc)})") from exc
    columns = {str(col).lower(): col for col in frame.columns}
    time_key = next((key for key in _TIME_NAMES if key in columns), None)
    missing = [field for field in PRICE_COLUMNS if field not in columns]
    if time_key is None or missing:
        raise DataError(f"{name}: feather columns {list(frame.columns)} lack "
                        f"{'a date column' if time_key is None else ', '.join(missing)}")
    if len(frame) == 0:
        raise DataError(f"{name}: empty file, no data rows")
    row_numbers = np.arange(1, len(frame) + 1, dtype=np.int64)
    times = frame[columns[time_key]]
    if pd.api.types.is_datetime64_any_dtype(times):
        if times.isna().any():
            bad = int(np.flatnonzero(times.isna().to_numpy())[0])
            raise DataError(f"{name}: row {bad + 1}: missing open time")
        index = pd.DatetimeIndex(times)
        index = index.tz_convert("UTC").tz_localize(None) if index.tz is not None else index
        open_time_ms = _datetime_index_to_ms(index, row_numbers, "row", name)
    elif pd.api.types.is_integer_dtype(times):
        digits = len(str(abs(int(times.iloc[0]))))
        if digits not in _EPOCH_UNITS:
            raise DataError(f"{name}: row 1: epoch {times.iloc[0]} has {digits} digits; "
                            "expected 10 (s), 13 (ms), 16 (µs) or 19 (ns)")
        open_time_ms = epoch_to_ms(times.to_numpy(np.int64), digits, row_numbers, "row", name)
    else:
        raise DataError(
            f"{name}: feather column {columns[time_key]!r} is {times.dtype}, not a datetime"
        )
    values = {field: frame[columns[field]].to_numpy(dtype=np.float64) for field in PRICE_COLUMNS}
    return RawTable(open_time_ms, values, row_numbers, "row", "freqtrade-feather", name)


# -------------------------------------------------------------------------------------------- times


def epoch_to_ms(values: np.ndarray, digits: int, row_numbers: np.ndarray, row_word: str,
                name: str) -> np.ndarray:
    """Integer epochs in the unit implied by ``digits`` (10 s, 13 ms, 16 µs, 19 ns) -> int64 ms.

    Every converted value must be a plausible kline time (2009-01-01 .. now + 1 day) and a whole
    millisecond; the first row that is not raises ``DataError`` naming its line.
    """
    unit, factor = _EPOCH_UNITS[digits]
    values = np.asarray(values, dtype=np.int64)
    if factor < 0:
        # seconds; a longer value in a later row is clipped so that it fails the date check
        milliseconds = np.clip(values, -(10**15), 10**15) * (-factor)
    elif factor == 1:
        milliseconds = values
    else:
        _refuse_fractional_ms(values % factor != 0, row_numbers, row_word, name,
                              lambda i: f"{values[i]} ({unit})")
        milliseconds = values // factor
    _check_plausible(milliseconds, row_numbers, row_word, name,
                     lambda i: f"{values[i]} read as {unit} (unit chosen from the first row's "
                               f"{digits} digits)")
    return milliseconds


def _iso_to_ms(cells: np.ndarray, row_numbers: np.ndarray, name: str) -> np.ndarray:
    parsed = pd.to_datetime(pd.Series(cells, dtype=object), format="ISO8601", utc=True,
                            errors="coerce")
    missing = parsed.isna().to_numpy()
    if missing.any():
        bad = int(np.flatnonzero(missing)[0])
        cell = cells[bad]
        problem = ("missing open time"
                   if cell is None or (isinstance(cell, float) and np.isnan(cell))
                   else f"open time {one_line(cell)} is neither an ISO-8601 date "
                        "nor an integer epoch")
        raise DataError(f"{name}: line {row_numbers[bad]}: {problem}")
    index = pd.DatetimeIndex(parsed).tz_localize(None)
    return _datetime_index_to_ms(index, row_numbers, "line", name)


def _datetime_index_to_ms(index: pd.DatetimeIndex, row_numbers, row_word: str,
                          name: str) -> np.ndarray:
    ticks = index.asi8
    per_ms = {"s": None, "ms": 1, "us": 1000, "ns": 1_000_000}[index.unit]
    if per_ms is None:
        milliseconds = ticks * 1000
    else:
        _refuse_fractional_ms(ticks % per_ms != 0, row_numbers, row_word, name,
                              lambda i: str(index[i]))
        milliseconds = ticks // per_ms
    _check_plausible(milliseconds, row_numbers, row_word, name, lambda i: str(index[i]))
    return milliseconds.astype(np.int64, copy=False)


def _refuse_fractional_ms(fractional: np.ndarray, row_numbers, row_word: str, name: str,
                          describe) -> None:
    """A ``DataError`` naming the first row whose open time (``describe(i)``) is not a whole
    millisecond."""
    if fractional.any():
        bad = int(np.flatnonzero(fractional)[0])
        raise DataError(f"{where(name, row_word, int(row_numbers[bad]))}: "
                        f"open time {describe(bad)} is not a whole millisecond, "
                        "so not on any kline grid")


def _check_plausible(milliseconds: np.ndarray, row_numbers, row_word: str, name: str,
                     describe) -> None:
    latest = int(time.time() * 1000) + _DAY_MS
    wrong = (milliseconds < EARLIEST_MS) | (milliseconds > latest)
    if wrong.any():
        bad = int(np.flatnonzero(wrong)[0])
        year = 1970 + milliseconds[bad] / _MS_PER_YEAR
        raise DataError(f"{where(name, row_word, int(row_numbers[bad]))}: "
                        f"open time {describe(bad)} is year ~{year:.0f}, "
                        "outside 2009-01-01 .. now + 1 day (wrong epoch unit?)")
