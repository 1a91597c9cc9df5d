"""resample_bars: hand aggregation, gaps, complete periods only, and on-time delivery via
ArrayFeed."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from pathlib import Path

import backtrader as bt
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.bars import Bars
from core.timeframes import timeframe_ms
from feeds.array_feed import ArrayFeed
from feeds.resample import htf_stamp_offset_ms, resample_bars
from klines import load_klines

ROOT = Path(__file__).resolve().parents[1]
WEEK = ROOT / "data" / "BTCUSDT_spot_1m_2023-03-20_2023-03-26.csv"
HOUR = 3_600_000
MINUTE = 60_000
_WEEK_BARS = load_klines(WEEK).bars()


@pytest.fixture(scope="module")
def minutes() -> Bars:
    return _WEEK_BARS


def ms(text: str) -> int:
    return int(np.datetime64(text, "ms").astype(np.int64))


def by_hand(bars: Bars, period_ms: int) -> dict[int, tuple]:
    groups = defaultdict(list)
    for i in range(len(bars)):
        groups[int(bars.open_time_ms[i]) // period_ms * period_ms].append(i)
    return {
        start: (bars.open[rows[0]], max(bars.high[rows]), min(bars.low[rows]), bars.close[rows[-1]],
                float(np.sum(bars.volume[rows])))
        for start, rows in groups.items()
    }


def test_hourly_equals_hand_aggregation(minutes):
    hourly = resample_bars(minutes, "1h")
    expected = by_hand(minutes, HOUR)
    assert hourly.timeframe_ms == HOUR
    assert len(hourly) == len(expected) == 167  # 7 x 24 hours minus 13:00 on 2023-03-24
    for i, start in enumerate(hourly.open_time_ms):
        row = (hourly.open[i], hourly.high[i], hourly.low[i], hourly.close[i], hourly.volume[i])
        assert row == pytest.approx(expected[int(start)], rel=0, abs=1e-9)
        assert row[:4] == expected[int(start)][:4]  # prices exactly


def test_gap_hour(minutes):
    hourly = resample_bars(minutes, "1h")
    starts = hourly.open_time_ms.tolist()
    assert ms("2023-03-24T13:00") not in starts  # no source bar at all: absent, never filled
    noon = starts.index(ms("2023-03-24T12:00"))  # 12:00..12:39 only (halt at 12:40): kept
    inside = ((minutes.open_time_ms >= ms("2023-03-24T12:00"))
              & (minutes.open_time_ms < ms("2023-03-24T13:00")))
    assert int(inside.sum()) == 40
    assert hourly.close[noon] == minutes.close[np.flatnonzero(inside)[-1]]
    assert starts[noon + 1] == ms("2023-03-24T14:00")


def test_incomplete_last_period_is_dropped(minutes):
    complete = resample_bars(minutes, "1h")
    assert complete.open_time_ms[-1] == ms("2023-03-26T23:00")
    # last source bar 23:58: hour not closed
    cut = resample_bars(minutes.slice(0, len(minutes) - 1), "1h")
    assert cut.open_time_ms[-1] == ms("2023-03-26T22:00")
    assert len(cut) == len(complete) - 1
    daily = resample_bars(minutes, "1d")
    assert len(daily) == 7
    assert len(resample_bars(minutes.slice(0, len(minutes) - 30), "1d")) == 6
    assert len(resample_bars(minutes.slice(0, 59), "1h")) == 0


def test_weekly_periods_start_on_monday(minutes):
    weekly = resample_bars(minutes, "1w")  # 2023-03-20 is a Monday; the file ends Sunday 23:59
    assert weekly.open_time_ms.tolist() == [ms("2023-03-20T00:00")]
    assert weekly.high[0] == minutes.high.max() and weekly.close[0] == minutes.close[-1]


def test_target_must_be_a_multiple_of_the_source(minutes):
    three = resample_bars(minutes, "3m")
    with pytest.raises(ValueError, match="multiple"):
        resample_bars(three, "5m")
    with pytest.raises(ValueError, match="multiple"):
        resample_bars(resample_bars(minutes, "1h"), "15m")
    with pytest.raises(ValueError):
        resample_bars(minutes, "7m")
    same = resample_bars(minutes, "1m")
    assert np.array_equal(same.open_time_ms, minutes.open_time_ms)
    assert np.array_equal(same.close, minutes.close) and np.array_equal(same.volume, minutes.volume)


def test_stamp_offset():
    assert htf_stamp_offset_ms(MINUTE, HOUR) == 59 * MINUTE
    assert htf_stamp_offset_ms(timeframe_ms("15m"), timeframe_ms("4h")) == 225 * MINUTE
    with pytest.raises(ValueError):
        htf_stamp_offset_ms(timeframe_ms("15m"), timeframe_ms("1m"))


class TwoFeeds(bt.Strategy):
    def __init__(self):
        self.calls = []

    def prenext(self):
        self.next()

    def next(self):
        fast, slow = self.datas
        self.calls.append((fast.array_index, slow.array_index))


@pytest.mark.parametrize("mode", [{}, {"preload": False}, {"runonce": False}],
                         ids=["preload-runonce", "no-preload", "no-runonce"])
def test_hour_reaches_next_with_its_last_minute_and_never_before(minutes, mode):
    hourly = resample_bars(minutes, "1h")
    cerebro = bt.Cerebro(stdstats=False, **mode)
    cerebro.adddata(ArrayFeed(bars=minutes))
    cerebro.adddata(ArrayFeed(bars=hourly, stamp_offset_ms=htf_stamp_offset_ms(MINUTE, HOUR)))
    cerebro.addstrategy(TwoFeeds)
    calls = cerebro.run()[0].calls

    # The last 1m bar of every hour (12:39 for the 2023-03-24 halt hour).
    period = minutes.open_time_ms // HOUR * HOUR
    last_minute = {int(p): int(i) for i, p in enumerate(period)}
    first_seen = {}
    for call, (fast, slow) in enumerate(calls):
        if slow >= 0:
            hour_start = int(hourly.open_time_ms[slow])
            # Never early: the minute feed has already delivered the hour's last bar.
            assert fast >= last_minute[hour_start], (call, fast, slow)
            first_seen.setdefault(slow, (call, fast))
    assert sorted(first_seen) == list(range(len(hourly)))
    for slow, (_call, fast) in first_seen.items():
        assert fast == last_minute[int(hourly.open_time_ms[slow])]  # arrives together with it
    # The brief's example: the 10:00 bar of 2023-03-20 arrives on the same call as the 10:59 bar.
    ten = int(np.searchsorted(hourly.open_time_ms, ms("2023-03-20T10:00")))
    call, fast = first_seen[ten]
    assert minutes.open_time_ms[fast] == ms("2023-03-20T10:59")
    assert calls[call - 1] == (fast - 1, ten - 1)
    # Every 1m bar still reaches the strategy once; the halt hour adds one call (12:59) of its own.
    assert len(calls) == len(minutes) + 1


def test_hour_feed_datetime_is_open_plus_59_minutes(minutes):
    hourly = resample_bars(minutes.slice(0, 180), "1h")
    stamps = []

    class Stamps(bt.Strategy):
        def next(self):
            stamps.append(bt.num2date(self.data.datetime[0]))

    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(ArrayFeed(bars=hourly, stamp_offset_ms=htf_stamp_offset_ms(MINUTE, HOUR)))
    cerebro.addstrategy(Stamps)
    cerebro.run()
    assert stamps == [dt.datetime(2023, 3, 20, h, 59) for h in range(3)]


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    start=st.integers(0, 9_000),
    length=st.integers(1, 1_000),
    dropped=st.lists(st.integers(0, 999), max_size=50),
    target=st.sampled_from(["3m", "5m", "15m", "30m", "1h", "2h", "4h"]),
)
def test_every_close_is_the_close_of_the_last_source_bar_of_its_period(
        start, length, dropped, target):
    window = _WEEK_BARS.slice(start, start + length)
    keep = np.ones(len(window), dtype=bool)
    keep[[i for i in dropped if i < len(window)]] = False
    source = Bars(window.timeframe_ms, window.open_time_ms[keep], window.open[keep],
                  window.high[keep], window.low[keep], window.close[keep], window.volume[keep])
    result = resample_bars(source, target)
    period_ms = timeframe_ms(target)
    for i, open_ms in enumerate(result.open_time_ms):
        inside = np.flatnonzero((source.open_time_ms >= open_ms)
                                & (source.open_time_ms < open_ms + period_ms))
        assert len(inside) > 0
        assert result.close[i] == source.close[inside[-1]]
        assert result.open[i] == source.open[inside[0]]
        assert (result.high[i] == source.high[inside].max()
                and result.low[i] == source.low[inside].min())
        assert open_ms % period_ms == 0
        assert open_ms + period_ms <= source.close_time_ms[-1]  # closed: never a running period
    if len(source):
        last_period = source.open_time_ms[-1] // period_ms * period_ms
        complete = source.close_time_ms[-1] == last_period + period_ms
        first_period = source.open_time_ms[0] // period_ms * period_ms
        fragment_start = source.open_time_ms[0] != first_period      # dropped, see the docstring
        expected = complete and not (last_period == first_period and fragment_start)
        assert (len(result) > 0 and result.open_time_ms[-1] == last_period) == expected
        if len(result):
            if fragment_start:
                assert result.open_time_ms[0] > first_period
            else:
                assert result.open_time_ms[0] == first_period


def test_leading_fragment_of_a_period_is_dropped():
    """Data that starts at 10:30 cannot make a true 10:00 hour: that bar is left out."""
    minutes = np.arange(30, 180)
    start = 1_679_306_400_000  # 2023-03-20T10:00Z
    src = Bars(60_000, start + minutes * 60_000, *(np.full(len(minutes), 1.0) for _ in range(5)))
    hourly = resample_bars(src, "1h")
    assert list(hourly.open_time_ms) == [start + 3_600_000, start + 7_200_000]
