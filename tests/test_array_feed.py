"""ArrayFeed delivers exactly what PandasData delivers, only faster; stamp offset and array_index."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import backtrader as bt
import numpy as np
import pytest

from core.times import date2num_ms
from feeds.array_feed import ArrayFeed
from klines import load_klines

ROOT = Path(__file__).resolve().parents[1]
WEEK = ROOT / "data" / "BTCUSDT_spot_1m_2023-03-20_2023-03-26.csv"
MODES = [dict(), dict(preload=False), dict(runonce=False)]


@pytest.fixture(scope="module")
def week():
    return load_klines(WEEK)


class Recorder(bt.Strategy):
    def __init__(self):
        self.seen = []

    def next(self):
        data = self.data
        self.seen.append((data.datetime[0], data.open[0], data.high[0], data.low[0], data.close[0],
                          data.volume[0], getattr(data, "array_index", None), len(data)))


def run(feed, **cerebro_kwargs):
    cerebro = bt.Cerebro(stdstats=False, **cerebro_kwargs)
    cerebro.adddata(feed)
    cerebro.addstrategy(Recorder)
    return cerebro.run()[0].seen


@pytest.mark.parametrize("mode", MODES, ids=["preload-runonce", "no-preload", "no-runonce"])
def test_same_bars_as_pandas_data(week, mode):
    from_array = run(ArrayFeed(bars=week.bars()), **mode)
    from_pandas = run(bt.feeds.PandasData(dataname=week.frame), **mode)
    assert len(from_array) == len(from_pandas) == 10_000
    assert [row[:6] for row in from_array] == [row[:6] for row in from_pandas]
    first = from_array[0]
    assert bt.num2date(first[0]) == dt.datetime(2023, 3, 20, 0, 0)
    assert first[1:6] == (27972.87, 28000.0, 27959.92, 27969.21, 488.97178)


def test_fromdate_todate_match_pandas_data(week):
    window = dict(fromdate=dt.datetime(2023, 3, 24, 12, 30), todate=dt.datetime(2023, 3, 24, 14, 10))
    for mode in MODES:
        from_array = run(ArrayFeed(bars=week.bars(), **window), **mode)
        from_pandas = run(bt.feeds.PandasData(dataname=week.frame, **window), **mode)
        assert [row[:6] for row in from_array] == [row[:6] for row in from_pandas]
        assert len(from_array) == 10 + 11  # 12:30..12:39, then 14:00..14:10 (todate inclusive)
        start = int(np.searchsorted(week.bars().open_time_ms, 1679661000000))  # 2023-03-24T12:30Z
        assert [row[6] for row in from_array] == list(range(start, start + 21))


@pytest.mark.parametrize("mode", MODES, ids=["preload-runonce", "no-preload", "no-runonce"])
def test_array_index_tracks_the_delivered_bar(week, mode):
    bars = week.bars()
    feed = ArrayFeed(bars=bars)
    assert feed.array_index == -1
    seen = run(feed, **mode)
    assert [row[6] for row in seen] == list(range(len(bars)))
    stamps = date2num_ms(bars.open_time_ms)
    assert all(row[0] == stamps[row[6]] for row in seen)
    assert feed.bars is bars


def test_stamp_offset_shifts_the_datetime_only(week):
    bars = week.bars().slice(0, 120)
    plain = run(ArrayFeed(bars=bars))
    shifted = run(ArrayFeed(bars=bars, stamp_offset_ms=59 * 60_000))
    assert [row[1:6] for row in plain] == [row[1:6] for row in shifted]
    for before, after in zip(plain, shifted):
        assert bt.num2date(after[0]) - bt.num2date(before[0]) == dt.timedelta(minutes=59)
    assert bt.num2date(shifted[0][0]) == dt.datetime(2023, 3, 20, 0, 59)


def test_date2num_ms_is_bit_identical_to_backtrader():
    rng = np.random.default_rng(7)
    stamps = np.concatenate([
        rng.integers(1_230_768_000_000, 1_900_000_000_000, 20_000),  # any millisecond
        rng.integers(20_500_000, 31_000_000, 5_000) * 60_000,  # minute grid, 2008..2028
        np.arange(1_679_270_400_000, 1_679_270_400_000 + 86_400_000, 60_000),  # every minute of a day
    ])
    epoch = dt.datetime(1970, 1, 1)
    expected = [bt.date2num(epoch + dt.timedelta(milliseconds=int(ms))) for ms in stamps]
    assert date2num_ms(stamps).tolist() == expected


def test_bars_param_is_required():
    with pytest.raises(TypeError, match="Bars"):
        ArrayFeed(bars=None)
