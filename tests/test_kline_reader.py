"""load_klines on every raw format sample, the bundled data files and a catalogue of bad inputs."""

from __future__ import annotations

import csv
import gzip
import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.bars import Bars
from core.errors import DataError
from klines import load_klines, symbol_from_filename, timeframe_from_filename

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "tests" / "fixtures" / "raw-format-samples"
DATA = ROOT / "data"
HOURLY = DATA / "BTCUSDT_spot_1h_2017-08-17_2023-12-31.csv.gz"
WEEK = DATA / "BTCUSDT_spot_1m_2023-03-20_2023-03-26.csv"

FIELDS = ["open", "high", "low", "close", "volume"]


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


# -------------------------------------------------------------------------------------- raw samples

# file, symbol, timeframe, rows, first open, last open, source_format, reordered
SAMPLE_FACTS = [
    ("binance-spot-kline-ms/BTCUSDT-1m-2023-01-01.first200.csv", "BTCUSDT", "1m", 200,
     "2023-01-01 00:00", "2023-01-01 03:19", "binance-csv-ms", False),
    ("binance-spot-kline-ms/BTCUSDT-1m-2023-01-01.zip", "BTCUSDT", "1m", 1440,
     "2023-01-01 00:00", "2023-01-01 23:59", "zip:binance-csv-ms", False),
    ("binance-spot-kline-ms/BTCUSDT-1h-2023-01-01.zip", "BTCUSDT", "1h", 24,
     "2023-01-01 00:00", "2023-01-01 23:00", "zip:binance-csv-ms", False),
    ("binance-spot-kline-us/ETHUSDT-1h-2025-01.first200.csv", "ETHUSDT", "1h", 200,
     "2025-01-01 00:00", "2025-01-09 07:00", "binance-csv-us", False),
    ("binance-um-futures-kline-header/FILUSDT-1m-2023-02.first200.csv", "FILUSDT", "1m", 199,
     "2023-02-01 00:00", "2023-02-01 03:18", "header-csv-ms", False),
    ("freqtrade-json/BTC_USDT-1h.json", "BTCUSDT", "1h", 2200,
     "2021-09-02 00:00", "2021-12-02 17:00", "freqtrade-json", False),
    ("freqtrade-feather/ETH_BTC-5m.feather", "ETHBTC", "5m", 5760,
     "2018-01-10 04:55", "2018-01-30 04:50", "freqtrade-feather", False),
    ("freqtrade-futures-json-gz/XRP_USDT_USDT-1h-futures.json.gz", "XRPUSDT", "1h", 100,
     "2021-11-17 01:00", "2021-11-21 04:00", "freqtrade-json", False),
    ("cryptodatadownload-csv/BTCUSDT_1h.first200.csv", "BTCUSDT", "1h", 198,
     "2022-06-04 19:00", "2022-06-13 00:00", "banner-csv-ms", True),
    ("datetime-string-csv/BTCUSDT_1h.first200.csv", "BTCUSDT", "1h", 199,
     "2021-01-01 00:00", "2021-01-09 06:00", "header-csv-iso", False),
    ("tz-offset-string-csv/BTCUSDT_1m_20230301_20230321.first200.csv", "BTCUSDT", "1m", 199,
     "2023-03-01 00:00", "2023-03-01 03:18", "header-csv-iso", False),
    ("pandas-index-descending-csv/BTCUSDT_1h.first200.csv", "BTCUSDT", "1h", 199,
     "2022-02-16 18:00", "2022-02-25 00:00", "header-csv-iso", True),
]


@pytest.mark.parametrize("relative, symbol, timeframe, rows, first, last, source_format, reordered",
                         SAMPLE_FACTS, ids=[fact[0].split("/")[0] + ":" + fact[0].split("/")[1][:12]
                                            for fact in SAMPLE_FACTS])
def test_sample_read_with_expected_shape(relative, symbol, timeframe, rows, first, last,
                                         source_format, reordered):
    klines = load_klines(SAMPLES / relative)
    frame = klines.frame
    assert klines.symbol == symbol
    assert klines.timeframe == timeframe
    assert len(frame) == rows
    assert frame.index[0] == utc(first)
    assert frame.index[-1] == utc(last)
    assert klines.source_format == source_format
    assert klines.reordered is reordered
    assert klines.duplicates_dropped == 0
    assert frame.index.name == "open_time"
    assert str(frame.index.tz) == "UTC"
    assert frame.index.is_monotonic_increasing and frame.index.is_unique
    assert list(frame.columns) == FIELDS
    assert all(dtype == np.float64 for dtype in frame.dtypes)


def _text_rows(text: str, skip: int, time_col: int, value_cols: list[int], to_utc) -> dict:
    """Hand parse of a CSV sample: {open time: [o, h, l, c, v]} straight from the text."""
    rows = {}
    for fields in list(csv.reader(io.StringIO(text)))[skip:]:
        rows[to_utc(fields[time_col])] = [float(fields[col]) for col in value_cols]
    return rows


def _epoch(divisor: int):
    return lambda cell: pd.Timestamp(int(cell) // divisor, unit="ms", tz="UTC")


def _iso(cell: str) -> pd.Timestamp:
    stamp = pd.Timestamp(cell)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def _zip_text(path: Path) -> str:
    with zipfile.ZipFile(path) as archive:
        return archive.read(archive.namelist()[0]).decode()


# file, how to get its text, lines before the data, time column, o/h/l/c/v columns, time parser
CSV_LAYOUTS = [
    ("binance-spot-kline-ms/BTCUSDT-1m-2023-01-01.first200.csv",
     None, 0, 0, [1, 2, 3, 4, 5], _epoch(1)),
    ("binance-spot-kline-ms/BTCUSDT-1m-2023-01-01.zip",
     _zip_text, 0, 0, [1, 2, 3, 4, 5], _epoch(1)),
    ("binance-spot-kline-ms/BTCUSDT-1h-2023-01-01.zip",
     _zip_text, 0, 0, [1, 2, 3, 4, 5], _epoch(1)),
    ("binance-spot-kline-us/ETHUSDT-1h-2025-01.first200.csv",
     None, 0, 0, [1, 2, 3, 4, 5], _epoch(1000)),
    ("binance-um-futures-kline-header/FILUSDT-1m-2023-02.first200.csv",
     None, 1, 0, [1, 2, 3, 4, 5], _epoch(1)),
    # CryptoDataDownload: banner + header; volume = "Volume BTC" (base asset, column 7), not USDT.
    ("cryptodatadownload-csv/BTCUSDT_1h.first200.csv",
     None, 2, 0, [3, 4, 5, 6, 7], _epoch(1)),
    ("datetime-string-csv/BTCUSDT_1h.first200.csv",
     None, 1, 0, [1, 2, 3, 4, 5], _iso),
    ("tz-offset-string-csv/BTCUSDT_1m_20230301_20230321.first200.csv",
     None, 1, 0, [1, 2, 3, 4, 5], _iso),
    ("pandas-index-descending-csv/BTCUSDT_1h.first200.csv",
     None, 1, 0, [1, 2, 3, 4, 5], _iso),
]


@pytest.mark.parametrize("relative, reader, skip, time_col, value_cols, to_utc", CSV_LAYOUTS,
                         ids=[layout[0].split("/")[0] for layout in CSV_LAYOUTS])
def test_csv_sample_values_match_the_raw_text(relative, reader, skip, time_col, value_cols, to_utc):
    path = SAMPLES / relative
    text = reader(path) if reader else path.read_text()
    expected = _text_rows(text, skip, time_col, value_cols, to_utc)
    frame = load_klines(path).frame
    assert len(frame) == len(expected)
    for stamp, values in expected.items():
        assert frame.loc[stamp, FIELDS].tolist() == values, stamp


def test_cryptodatadownload_takes_base_asset_volume():
    frame = load_klines(SAMPLES / "cryptodatadownload-csv/BTCUSDT_1h.first200.csv").frame
    # line 3: 1655078400000,2022-06-13 00:00:00,BTC/USDT,26564.70,26853.30,26401.00,26718.10,
    #         35316.388,940604773.78413,...
    assert frame.loc[utc("2022-06-13 00:00")].tolist() == [26564.70, 26853.30, 26401.00, 26718.10,
                                                           35316.388]


def test_microsecond_sample_spot_check():
    frame = load_klines(SAMPLES / "binance-spot-kline-us/ETHUSDT-1h-2025-01.first200.csv").frame
    # line 1: 1735689600000000,3337.78000000,3365.71000000,3335.84000000,3363.70000000,
    #         8894.44440000,...
    assert frame.index[0] == utc("2025-01-01 00:00")
    assert frame.iloc[0].tolist() == [3337.78, 3365.71, 3335.84, 3363.70, 8894.4444]


def test_freqtrade_json_values_match_the_raw_arrays():
    for relative, opener in (("freqtrade-json/BTC_USDT-1h.json", open),
                             ("freqtrade-futures-json-gz/XRP_USDT_USDT-1h-futures.json.gz",
                              gzip.open)):
        path = SAMPLES / relative
        with opener(path, "rt") as stream:
            records = json.load(stream)
        frame = load_klines(path).frame
        assert len(frame) == len(records)
        for record in (records[0], records[len(records) // 2], records[-1]):
            assert (frame.loc[pd.Timestamp(record[0], unit="ms", tz="UTC")].tolist()
                    == [float(x) for x in record[1:6]])
    first = load_klines(SAMPLES / "freqtrade-json/BTC_USDT-1h.json").frame.iloc[0].tolist()
    assert first == [48810.51, 48978.0, 48584.06, 48785.18, 2109.68665]


def test_freqtrade_json_gap_is_reported():
    klines = load_klines(SAMPLES / "freqtrade-json/BTC_USDT-1h.json")
    stamps = klines.frame.index
    expected_hours = int((stamps[-1] - stamps[0]) / pd.Timedelta("1h")) + 1
    assert klines.missing_bars == expected_hours - len(stamps)
    assert len(klines.gaps) >= 1


def test_feather_values_match_the_file():
    path = SAMPLES / "freqtrade-feather/ETH_BTC-5m.feather"
    table = pd.read_feather(path)
    frame = load_klines(path).frame
    assert (frame.index == pd.DatetimeIndex(table["date"])).all()
    for field in FIELDS:
        assert np.array_equal(frame[field].to_numpy(), table[field].to_numpy())


def test_daily_zip_equals_its_first_200_lines():
    whole = load_klines(SAMPLES / "binance-spot-kline-ms/BTCUSDT-1m-2023-01-01.zip").frame
    head = load_klines(SAMPLES / "binance-spot-kline-ms/BTCUSDT-1m-2023-01-01.first200.csv").frame
    pd.testing.assert_frame_equal(whole.iloc[:200], head)


def test_bars_from_klines():
    klines = load_klines(SAMPLES / "binance-spot-kline-ms/BTCUSDT-1h-2023-01-01.zip")
    bars = klines.bars()
    assert isinstance(bars, Bars) and len(bars) == 24 and bars.timeframe_ms == 3_600_000
    assert bars.open_time_ms[0] == 1672531200000
    assert bars.close_time_ms[0] == 1672531200000 + 3_600_000
    assert bars.open[0] == 16541.77 and bars.volume[0] == 4364.8357
    for array in (bars.open_time_ms, bars.open, bars.close):
        assert array.flags.c_contiguous and not array.flags.writeable
    assert bars.open_time_ms.dtype == np.int64 and bars.close.dtype == np.float64
    part = bars.slice(2, 5)
    assert len(part) == 3 and part.open_time_ms[0] == bars.open_time_ms[2]
    pd.testing.assert_frame_equal(bars.to_frame(), klines.frame)


# ------------------------------------------------------------------------------------- bundled data


def test_bundled_hourly_file_matches_data_readme():
    klines = load_klines(HOURLY)
    assert klines.symbol == "BTCUSDT" and klines.timeframe == "1h"
    assert klines.source_format == "normalized-csv"
    assert len(klines.frame) == 55_740
    assert klines.frame.index[0] == utc("2017-08-17 04:00")
    assert klines.frame.index[-1] == utc("2023-12-31 23:00")
    assert len(klines.gaps) == 28
    assert klines.missing_bars == 128
    assert klines.gaps[0].last_before == utc("2017-09-06 16:00")
    assert klines.gaps[0].first_after == utc("2017-09-06 23:00")
    assert klines.gaps[0].missing_bars == 6
    largest = klines.largest_gap
    assert (largest.last_before, largest.first_after, largest.missing_bars) == (
        utc("2018-02-08 00:00"), utc("2018-02-09 10:00"), 33)
    assert klines.gaps[-1].last_before == utc("2023-03-24 12:00")
    assert klines.frame["high"].max() == 69000.0
    assert (klines.frame.loc[utc("2017-12-17 12:00"):utc("2017-12-17 23:00"), "high"].max()
            == 19798.68)
    assert int((klines.frame["volume"] == 0).sum()) == 4


def test_bundled_week_matches_data_readme():
    klines = load_klines(WEEK)
    assert klines.timeframe == "1m" and len(klines.frame) == 10_000
    assert klines.gaps == (klines.gaps[0],)
    gap = klines.gaps[0]
    assert (gap.last_before, gap.first_after, gap.missing_bars) == (
        utc("2023-03-24 12:39"), utc("2023-03-24 14:00"), 80)
    assert int((klines.frame["volume"] == 0).sum()) == 72
    assert klines.frame.iloc[0].tolist() == [27972.87, 28000.0, 27959.92, 27969.21, 488.97178]


def test_start_end_select_after_validation():
    klines = load_klines(WEEK, start="2023-03-24T12:00:00Z",
                         end=pd.Timestamp("2023-03-24 15:00", tz="UTC"))
    frame = klines.frame
    assert frame.index[0] == utc("2023-03-24 12:00")
    assert frame.index[-1] == utc("2023-03-24 14:59")  # end is exclusive
    assert len(frame) == 40 + 60
    assert [gap.missing_bars for gap in klines.gaps] == [80]
    inside = load_klines(WEEK, start="2023-03-25", end="2023-03-25 01:00")
    assert len(inside.frame) == 60 and inside.gaps == ()
    with pytest.raises(DataError, match="no bars"):
        load_klines(WEEK, start="2024-01-01")


def test_symbol_argument_overrides_the_file_name():
    assert load_klines(WEEK, symbol="XBTUSD").symbol == "XBTUSD"


@pytest.mark.parametrize("name, symbol", [
    ("BTCUSDT_spot_1h_2017-08-17_2023-12-31.csv.gz", "BTCUSDT"),
    ("BTCUSDT-1m-2023-01-01.zip", "BTCUSDT"),
    ("BTC_USDT-1h.json", "BTCUSDT"),
    ("XRP_USDT_USDT-1h-futures.json.gz", "XRPUSDT"),
    ("ETH_BTC-5m.feather", "ETHBTC"),
    ("FILUSDT-1m-2023-02.first200.csv", "FILUSDT"),
    ("BTCUSDT_1h.first200.csv", "BTCUSDT"),
    ("/some/dir/1000SHIBUSDT-15m-2024-01.csv", "1000SHIBUSDT"),
    ("data.csv", None),
    ("2023-01-01.csv", None),
])
def test_symbol_from_filename(name, symbol):
    assert symbol_from_filename(name) == symbol


def test_timeframe_from_filename():
    assert timeframe_from_filename("BTCUSDT_spot_1h_2017.csv.gz") == "1h"
    assert timeframe_from_filename("ETH_BTC-5m.feather") == "5m"
    assert timeframe_from_filename("prices.csv") is None


# --------------------------------------------------------------------------------------- bad inputs

HEADER = "timestamp,open,high,low,close,volume\n"
GOOD_ROWS = [
    "2023-01-01T00:00:00Z,100,110,90,105,1.5",
    "2023-01-01T00:01:00Z,105,106,104,105.5,2",
    "2023-01-01T00:02:00Z,105.5,107,105,106,3",
    "2023-01-01T00:03:00Z,106,108,105,107,0",
]


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def assert_data_error(path: Path, *fragments: str) -> str:
    with pytest.raises(DataError) as caught:
        load_klines(path)
    message = str(caught.value)
    assert "\n" not in message
    assert path.name in message
    for fragment in fragments:
        assert fragment in message, message
    return message


def test_good_rows_load(tmp_path):
    klines = load_klines(write(tmp_path, "X-1m.csv", HEADER + "\n".join(GOOD_ROWS) + "\n"))
    assert len(klines.frame) == 4 and klines.timeframe == "1m"


def test_banner_only(tmp_path):
    assert_data_error(write(tmp_path, "banner.csv", "https://www.CryptoDataDownload.com\n"),
                      "no data rows")


def test_banner_and_header_only(tmp_path):
    text = ("https://www.CryptoDataDownload.com\n"
            "unix,date,symbol,open,high,low,close,Volume BTC,Volume USDT\n")
    assert_data_error(write(tmp_path, "banner2.csv", text), "no data rows")


@pytest.mark.parametrize("row, problem", [
    ("2023-01-01T00:02:00Z,105.5,107,106,106,3", "low"),          # low > open
    ("2023-01-01T00:02:00Z,105.5,107,105,108,3", "high"),         # close > high
    ("2023-01-01T00:02:00Z,105.5,104,105,105,3", "low"),          # low > high
    ("2023-01-01T00:02:00Z,0,107,0,106,3", "price <= 0"),
    ("2023-01-01T00:02:00Z,105.5,107,105,106,-3", "negative volume"),
    ("2023-01-01T00:02:00Z,105.5,107,105,nan,3", "missing or non-finite"),
    ("2023-01-01T00:02:00Z,105.5,107,105,,3", "missing or non-finite"),
    ("2023-01-01T00:02:00Z,105.5,107,105,abc,3", "'abc' is not a number"),
])
def test_bad_row_names_its_line(tmp_path, row, problem):
    rows = GOOD_ROWS[:2] + [row] + GOOD_ROWS[3:]
    path = write(tmp_path, "bad-1m.csv", HEADER + "\n".join(rows) + "\n")
    assert_data_error(path, "line 4", problem)  # header is line 1, so the third row is line 4


def test_line_numbers_count_banner_and_blank_lines(tmp_path):
    text = ("https://www.CryptoDataDownload.com\n"
            "unix,date,symbol,open,high,low,close,Volume BTC,Volume USDT,tradecount\n"
            "1672531320000,2023-01-01 00:02:00,BTC/USDT,3,4,2,3,1,3,1\n"
            "\n"
            "1672531260000,2023-01-01 00:01:00,BTC/USDT,3,4,2,5,1,3,1\n"
            "1672531200000,2023-01-01 00:00:00,BTC/USDT,3,4,2,3,1,3,1\n")
    assert_data_error(write(tmp_path, "BTCUSDT_1m.csv", text), "line 5",
                      "high 4.0 below open/close")


def test_blank_lines_are_ignored(tmp_path):
    text = HEADER + GOOD_ROWS[0] + "\n\n" + "\n".join(GOOD_ROWS[1:]) + "\n\n\n"
    assert len(load_klines(write(tmp_path, "blank-1m.csv", text)).frame) == 4


def test_exact_duplicates_are_dropped_and_counted(tmp_path):
    rows = GOOD_ROWS[:3] + [GOOD_ROWS[2], GOOD_ROWS[2]] + GOOD_ROWS[3:]
    klines = load_klines(write(tmp_path, "dup-1m.csv", HEADER + "\n".join(rows) + "\n"))
    assert klines.duplicates_dropped == 2 and len(klines.frame) == 4


def test_conflicting_duplicate_names_both_lines(tmp_path):
    rows = GOOD_ROWS[:3] + ["2023-01-01T00:01:00Z,105,106,104,105.25,2"] + GOOD_ROWS[3:]
    text = HEADER + "\n".join(rows) + "\n"
    with pytest.raises(DataError, match="rows are neither|breaks the order"):
        load_klines(write(tmp_path, "order-1m.csv", text))  # out of order: reported as such
    rows = GOOD_ROWS[:2] + ["2023-01-01T00:01:00Z,105,106,104,105.25,2"] + GOOD_ROWS[2:]
    message = assert_data_error(write(tmp_path, "conflict-1m.csv", HEADER + "\n".join(rows) + "\n"),
                                "line 4", "line 3", "conflicting duplicate")
    assert "2023-01-01T00:01:00Z" in message


def test_newest_first_file_is_reordered(tmp_path):
    klines = load_klines(write(tmp_path, "desc-1m.csv", HEADER + "\n".join(GOOD_ROWS[::-1]) + "\n"))
    assert klines.reordered and klines.frame.index[0] == utc("2023-01-01 00:00")
    assert klines.frame["close"].tolist() == [105, 105.5, 106, 107]


def test_shuffled_file_is_an_error(tmp_path):
    rows = [GOOD_ROWS[0], GOOD_ROWS[2], GOOD_ROWS[1], GOOD_ROWS[3]]
    assert_data_error(write(tmp_path, "shuffled-1m.csv", HEADER + "\n".join(rows) + "\n"),
                      "line 4", "neither oldest-first nor newest-first")


BINANCE_ROW = "{t},16541.77,16544.76,16538.45,16543.67,83.08143,{c},1374268.8,2687,40.1,664706.0,0"


def binance_rows(stamps) -> str:
    return "\n".join(BINANCE_ROW.format(t=t, c=t + 59_999) for t in stamps) + "\n"


def test_microseconds_read_as_milliseconds_is_an_error(tmp_path):
    # The unit comes from the first row (13 digits: ms); a µs row read as ms lands in year ~56,000.
    start = 1_672_531_200_000
    stamps = [start, start + 60_000, start + 120_000, (start + 180_000) * 1000]
    assert_data_error(write(tmp_path, "BTCUSDT-1m-mixed.csv", binance_rows(stamps)),
                      "line 4", "year ~5")


def test_milliseconds_read_as_microseconds_is_an_error(tmp_path):
    start = 1_672_531_200_000_000
    stamps = [start, start + 60_000_000, (start + 120_000_000) // 1000]
    assert_data_error(write(tmp_path, "BTCUSDT-1m-mixed2.csv", binance_rows(stamps)),
                      "line 3", "year ~1970")


def test_epoch_with_unknown_digit_count(tmp_path):
    stamps = [167253120000000, 167253126000000]  # 15 digits: neither ms nor µs
    assert_data_error(write(tmp_path, "BTCUSDT-1m-15.csv", binance_rows(stamps)),
                      "line 1", "15 digits")


def test_implausible_iso_date(tmp_path):
    rows = ["2005-01-01T00:00:00Z,1,1,1,1,1", "2005-01-01T00:01:00Z,1,1,1,1,1"]
    assert_data_error(write(tmp_path, "old-1m.csv", HEADER + "\n".join(rows) + "\n"),
                      "line 2", "year ~2005")


def test_unparseable_date_string(tmp_path):
    rows = GOOD_ROWS[:2] + ["01/03/2023 00:02,105.5,107,105,106,3"]
    assert_data_error(write(tmp_path, "us-date-1m.csv", HEADER + "\n".join(rows) + "\n"),
                      "line 4", "ISO-8601")


def test_off_grid_timestamp(tmp_path):
    rows = [f"2023-01-01T00:{minute:02d}:00Z,1,1,1,1,1" for minute in range(10)]
    rows[5] = "2023-01-01T00:05:30Z,1,1,1,1,1"
    assert_data_error(write(tmp_path, "grid-1m.csv", HEADER + "\n".join(rows) + "\n"),
                      "line 7", "1m grid")


def test_spacing_that_is_no_binance_interval(tmp_path):
    rows = [f"2023-01-01T00:{7 * i:02d}:00Z,1,1,1,1,1" for i in range(5)]
    assert_data_error(write(tmp_path, "seven.csv", HEADER + "\n".join(rows) + "\n"),
                      "not a Binance interval")


def test_file_name_interval_must_match_the_data(tmp_path):
    assert_data_error(write(tmp_path, "BTCUSDT-1h.csv", HEADER + "\n".join(GOOD_ROWS) + "\n"),
                      "file name says 1h")


def test_missing_time_cell_in_epoch_file(tmp_path):
    text = binance_rows([1_672_531_200_000, 1_672_531_260_000]) + ",1,1,1,1,1,0,0,0,0,0,0\n"
    assert_data_error(write(tmp_path, "BTCUSDT-1m-x.csv", text), "line 3", "missing open time")


def test_empty_files(tmp_path):
    for name in ("empty.csv", "empty.json"):
        assert_data_error(write(tmp_path, name, ""), "empty")
    path = tmp_path / "empty.csv.gz"
    path.write_bytes(gzip.compress(b""))
    assert_data_error(path, "empty")
    assert_data_error(write(tmp_path, "header-only.csv", HEADER), "no data rows")
    assert_data_error(write(tmp_path, "empty-array.json", "[]"), "empty")


def test_missing_file_and_unknown_extension(tmp_path):
    assert_data_error(tmp_path / "nope.csv", "not found")
    assert_data_error(write(tmp_path, "prices.parquet", "x"), "unknown file type")


@pytest.mark.parametrize("name", ["garbage.csv", "garbage.csv.gz", "garbage.zip", "garbage.json",
                                  "garbage.json.gz", "garbage.feather"])
def test_garbage_binary(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(bytes(range(256)) * 8 + b"\x00\xff\xfe" * 100)
    assert_data_error(path)


def test_zip_must_hold_one_csv(tmp_path):
    path = tmp_path / "two.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("a.csv", HEADER + GOOD_ROWS[0])
        archive.writestr("b.csv", HEADER + GOOD_ROWS[1])
    assert_data_error(path, "exactly one .csv", "a.csv, b.csv")


def test_error_inside_zip_names_zip_and_line(tmp_path):
    path = tmp_path / "BTCUSDT-1m-2023-01-01.zip"
    rows = GOOD_ROWS[:1] + ["2023-01-01T00:01:00Z,105,104,106,105.5,2"]
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("BTCUSDT-1m-2023-01-01.csv", HEADER + "\n".join(rows) + "\n")
    assert_data_error(path, "BTCUSDT-1m-2023-01-01.csv", "line 3")


def test_json_records_must_be_arrays_of_six(tmp_path):
    good = [[1672531200000, 1, 2, 0.5, 1.5, 10], [1672531260000, 1, 2, 0.5, 1.5, 10]]
    assert_data_error(write(tmp_path, "BTC_USDT-1m.json",
                            json.dumps(good + [[1672531320000, 1, 2]])),
                      "record 3")
    assert_data_error(write(tmp_path, "BTC_USDT-1m-b.json",
                            json.dumps(good + [[1672531320000, 1, 2, 1.2, 1.5, 1]])),
                      "record 3", "low 1.2 above open/close")
    assert_data_error(write(tmp_path, "obj.json", json.dumps({"a": 1})), "JSON array")
    assert len(load_klines(write(tmp_path, "BTC_USDT-1m-ok.json", json.dumps(good))).frame) == 2


@pytest.mark.parametrize("row, fields", [("2023-01-01T00:02:00Z,105.5,107,105,106,3,9", 7),
                                         ("2023-01-01T00:02:00Z,105.5,107,105", 4)])
def test_lost_or_extra_field(tmp_path, row, fields):
    rows = GOOD_ROWS[:2] + [row] + GOOD_ROWS[3:]
    assert_data_error(write(tmp_path, "fields-1m.csv", HEADER + "\n".join(rows) + "\n"),
                      "line 4", f"{fields} fields, expected 6")


def test_binance_row_with_a_lost_field(tmp_path):
    start = 1_672_531_200_000
    text = binance_rows([start, start + 60_000])
    text += (f"{start + 120_000},16541.77,16544.76,16538.45,83.08143,"
             f"{start + 179_999},1374268.8,2687,40.1,664706.0,0\n")
    assert_data_error(write(tmp_path, "BTCUSDT-1m-lost.csv", text), "line 3",
                      "11 fields, expected 12")


def test_not_utf8_and_not_comma_separated(tmp_path):
    path = tmp_path / "latin-1m.csv"
    path.write_bytes((HEADER + "\n".join(GOOD_ROWS)
                      + "\n2023-01-01T00:04:00Z,1,1,1,1,1 caf\xe9\n").encode("latin-1"))
    assert_data_error(path, "line 6", "not UTF-8")
    semicolons = (HEADER + "\n".join(GOOD_ROWS)).replace(",", ";")
    assert_data_error(write(tmp_path, "semi-1m.csv", semicolons), "line 1", "not comma-separated")


def test_crlf_bom_and_quotes_are_fine(tmp_path):
    quoted = "\n".join('"' + row.replace(",", '","') + '"' for row in GOOD_ROWS)
    text = "\ufeff" + (HEADER + quoted).replace("\n", "\r\n")
    klines = load_klines(write(tmp_path, "crlf-1m.csv", text))
    assert klines.frame["close"].tolist() == [105, 105.5, 106, 107]


@pytest.mark.parametrize("first, bad, shown", [
    # epochs in microseconds (16 digits): one is not a whole millisecond
    ("1672531200000000", "1672531260000500", "line 3: open time 1672531260000500 (us)"),
    # ISO times with a sub-millisecond part
    ("2023-01-01T00:00:00Z", "2023-01-01T00:01:00.0005Z",
     "line 3: open time 2023-01-01 00:01:00.000500"),
])
def test_open_time_not_a_whole_millisecond_names_its_line(tmp_path, first, bad, shown):
    rows = [f"{first},100,101,99,100.5,1", f"{bad},105,106,104,105.5,2"]
    path = write(tmp_path, "frac-1m.csv", HEADER + "\n".join(rows) + "\n")
    assert_data_error(path, shown, "is not a whole millisecond, so not on any kline grid")
