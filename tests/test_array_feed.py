"""ArrayFeed delivers exactly what PandasData delivers, only faster; stamp offset, array_index, and
the clock shortcut of a higher-timeframe feed (exactly the stock cycles)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import backtrader as bt
import numpy as np
import pytest

from core.bars import Bars
from core.times import date2num_ms
from feeds.array_feed import ArrayFeed
from feeds.resample import htf_stamp_offset_ms, resample_bars
from klines import load_klines

ROOT = Path(__file__).resolve().parents[1]
WEEK = ROOT / "data" / "BTCUSDT_spot_1m_2023-03-20_2023-03-26.csv"
MODES = [{}, {"preload": False}, {"runonce": False}]
MIN, HOUR = 60_000, 3_600_000


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
    window = {"fromdate": dt.datetime(2023, 3, 24, 12, 30),
              "todate": dt.datetime(2023, 3, 24, 14, 10)}
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
    for before, after in zip(plain, shifted, strict=True):
        assert bt.num2date(after[0]) - bt.num2date(before[0]) == dt.timedelta(minutes=59)
    assert bt.num2date(shifted[0][0]) == dt.datetime(2023, 3, 20, 0, 59)


def test_date2num_ms_is_bit_identical_to_backtrader():
    rng = np.random.default_rng(7)
    stamps = np.concatenate([
        rng.integers(1_230_768_000_000, 1_900_000_000_000, 20_000),  # any millisecond
        rng.integers(20_500_000, 31_000_000, 5_000) * 60_000,  # minute grid, 2008..2028
        # every minute of a day
        np.arange(1_679_270_400_000, 1_679_270_400_000 + 86_400_000, 60_000),
    ])
    epoch = dt.datetime(1970, 1, 1)
    expected = [bt.date2num(epoch + dt.timedelta(milliseconds=int(ms))) for ms in stamps]
    assert date2num_ms(stamps).tolist() == expected


def test_bars_param_is_required():
    with pytest.raises(TypeError, match="Bars"):
        ArrayFeed(bars=None)


class CycleRecorder(bt.Strategy):
    """Per cycle: the strategy clock, and each feed's length and datetime."""

    def __init__(self):
        self.seen = []

    def prenext(self):
        self.next()

    def next(self):
        self.seen.append((self.datetime[0],) + tuple(
            (len(d), d.datetime[0] if len(d) else None) for d in self.datas))


def _holey(bars, drop):
    keep = np.ones(len(bars), dtype=bool)
    keep[drop] = False
    return Bars(bars.timeframe_ms, *(getattr(bars, k)[keep] for k in
                                     ("open_time_ms", "open", "high", "low", "close", "volume")))


def _cycles(symbols, use_clock, clock_after=False):
    cerebro = bt.Cerebro(stdstats=False, runonce=False, preload=True)
    for exec_bars, signal_bars in symbols:
        exec_feed = ArrayFeed(bars=exec_bars)
        signal_feed = ArrayFeed(bars=signal_bars, stamp_offset_ms=htf_stamp_offset_ms(MIN, HOUR),
                                clock=exec_feed if use_clock else None)
        for feed in ((signal_feed, exec_feed) if clock_after else (exec_feed, signal_feed)):
            cerebro.adddata(feed)
    cerebro.addstrategy(CycleRecorder)
    strategy = cerebro.run()[0]
    active = [d._clock_line is not None for d in strategy.datas if d.p.clock is not None]
    return strategy.seen, active


def test_clock_shortcut_gives_exactly_the_stock_cycles(week):
    bars = week.bars().slice(0, 3000)
    hour_ends = np.flatnonzero((bars.open_time_ms + MIN) % HOUR == 0)
    rng = np.random.default_rng(3)
    # holes: some hours lose their last minute (the hour then arrives alone), random minutes go,
    # and the second symbol's execution bars end before its last signal bar
    first = _holey(bars, np.r_[hour_ends[::4], rng.choice(len(bars), 200, replace=False)])
    second = _holey(bars.slice(7, None), np.r_[np.arange(2600, 2993), hour_ends[1::5] - 7])
    symbols = [(first, resample_bars(bars, "1h")), (second, resample_bars(bars.slice(60), "1h"))]
    stock, _ = _cycles(symbols, use_clock=False)
    fast, active = _cycles(symbols, use_clock=True)
    assert active == [True, True]
    assert fast == stock
    alone = sum(1 for before, after in zip(stock, stock[1:], strict=False)
                for e, g in ((1, 2), (3, 4))
                if after[g][0] > before[g][0] and after[e] == before[e])
    assert alone > 10  # cycles that brought a signal bar without its execution bar are in there
    # a clock that cerebro asks after the feed cannot be used: stock behaviour
    misordered, active = _cycles(symbols, use_clock=True, clock_after=True)
    assert active == [False, False]
    assert misordered == _cycles(symbols, use_clock=False, clock_after=True)[0]
