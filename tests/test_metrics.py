"""Tests of analyzers.metrics and analyzers.equity.

Risk-adjusted metrics and drawdown are cross-checked against quantstats 0.0.86 and
empyrical-reloaded 0.7.1 on real BTC daily returns and on generated series. quantstats treats a
series with min >= 0 and max > 1 as *prices*, so generated returns stay inside [-0.5, 0.5].

Sortino: empyrical computes mean(r)*365 / (sqrt(mean(min(r, 0)^2)) * sqrt(365)), algebraically
the quantstats formula mean(r) / sqrt(sum(min(r, 0)^2) / n) * sqrt(365), so both are compared
everywhere our value is defined. They differ only where we return None: with no negative return
quantstats gives NaN and empyrical inf; with one return quantstats still computes and empyrical
gives NaN. Empty max drawdown: quantstats 0.0, empyrical NaN, ours None.
"""

from __future__ import annotations

import json
import math
import warnings
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import backtrader as bt
import empyrical
import numpy as np
import pandas as pd
import pytest
import quantstats as qs
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from analyzers.equity import EquityRecorder
from analyzers.metrics import (
    SUMMARY_KEYS,
    average_holding_hours,
    average_r_multiple,
    buy_hold,
    buy_hold_return_pct,
    cagr_pct,
    daily_equity,
    daily_returns,
    drawdown_series,
    expectancy,
    exposure_pct,
    max_drawdown_pct,
    probabilistic_sharpe_ratio,
    profit_factor,
    sharpe_ratio,
    sortino_ratio,
    summarize,
    total_return_pct,
    win_rate,
)

BTC_1H = (Path(__file__).resolve().parent.parent / "data"
          / "BTCUSDT_spot_1h_2017-08-17_2023-12-31.csv.gz")
UTC = UTC


def ts(s: str) -> pd.Timestamp:
    return pd.Timestamp(s, tz="UTC")


def ms(s: str) -> int:
    return int(ts(s).value // 1_000_000)


# --------------------------------------------------------------------------- reference series


@pytest.fixture(scope="module")
def btc_daily() -> tuple[pd.Series, pd.Series]:
    """Daily closes of the bundled BTC 1h file (via pandas resample) and their daily returns."""
    df = pd.read_csv(BTC_1H, usecols=["timestamp", "close"])
    times = pd.to_datetime(df["timestamp"], utc=True)
    closes = pd.Series(df["close"].to_numpy(dtype=float), index=pd.DatetimeIndex(times))
    daily = closes.resample("1D").last().ffill()
    rets = daily.pct_change().dropna()
    assert len(rets) >= 730
    return daily, rets


def test_daily_equity_matches_pandas_resample_on_btc(btc_daily):
    daily, _ = btc_daily
    df = pd.read_csv(BTC_1H, usecols=["timestamp", "close"])
    times_ms = pd.to_datetime(df["timestamp"], utc=True).dt.as_unit("ms").astype("int64").to_numpy()
    ours = daily_equity(times_ms, df["close"].to_numpy())
    assert len(ours) == len(daily)
    assert (ours.index == daily.index).all()
    np.testing.assert_array_equal(ours.to_numpy(), daily.to_numpy())


def test_risk_metrics_match_quantstats_and_empyrical_on_btc(btc_daily):
    daily, rets = btc_daily
    r = rets.tz_localize(None)  # quantstats drops the tz anyway
    ours_sharpe = sharpe_ratio(r)
    assert ours_sharpe == pytest.approx(qs.stats.sharpe(r, periods=365), rel=1e-12)
    assert ours_sharpe == pytest.approx(empyrical.sharpe_ratio(r, annualization=365), rel=1e-12)

    ours_sortino = sortino_ratio(r)
    assert ours_sortino == pytest.approx(qs.stats.sortino(r, periods=365), rel=1e-12)
    # empyrical: mean*365 / (sqrt(mean(min(r,0)^2)) * sqrt(365)) -- the same quantity.
    assert ours_sortino == pytest.approx(empyrical.sortino_ratio(r, annualization=365), rel=1e-12)

    equity = (1.0 + r).cumprod()
    ours_dd = max_drawdown_pct(equity, initial_equity=1.0)
    assert ours_dd == pytest.approx(-100 * qs.stats.max_drawdown(r), rel=1e-12)
    assert ours_dd == pytest.approx(-100 * empyrical.max_drawdown(r), rel=1e-12)
    # On the close prices themselves (no initial equity: the first close is the first peak);
    # quantstats sees prices here (min >= 0, max > 1) and uses the first print as baseline.
    assert max_drawdown_pct(daily) == pytest.approx(
        -100 * qs.stats.max_drawdown(daily.tz_localize(None)), rel=1e-12)
    assert 70 < ours_dd < 90  # BTC fell about 84 % from Dec 2017 to Dec 2018


def test_probabilistic_sharpe_ratio_on_btc(btc_daily):
    _, rets = btc_daily
    r = rets.to_numpy()
    n = len(r)
    sr = r.mean() / r.std(ddof=1)
    dev = r - r.mean()
    skew = (dev**3).mean() / (dev**2).mean() ** 1.5
    kurt = (dev**4).mean() / (dev**2).mean() ** 2
    z = sr * math.sqrt(n - 1) / math.sqrt(1 - skew * sr + (kurt - 1) / 4 * sr**2)
    expected = 0.5 * (1 + math.erf(z / math.sqrt(2)))
    assert probabilistic_sharpe_ratio(r) == pytest.approx(expected, rel=1e-12)
    # a higher bar is less likely to be beaten
    assert probabilistic_sharpe_ratio(r, threshold_annual=2.0) < probabilistic_sharpe_ratio(r)


# --------------------------------------------------------------------------- generated series

returns_lists = st.lists(
    st.floats(min_value=-0.5, max_value=0.5, allow_nan=False, allow_subnormal=False),
    min_size=2, max_size=300,
)


def as_series(values: list[float]) -> pd.Series:
    return pd.Series(values, index=pd.date_range("2020-01-01", periods=len(values), freq="D"))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(returns_lists)
def test_sharpe_matches_references(values):
    r = as_series(values)
    assume(r.std() > 1e-6)
    ours = sharpe_ratio(r)
    assert ours == pytest.approx(qs.stats.sharpe(r, periods=365), rel=1e-9, abs=1e-9)
    assert ours == pytest.approx(empyrical.sharpe_ratio(r, annualization=365), rel=1e-9, abs=1e-9)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(returns_lists)
def test_sortino_matches_references(values):
    r = as_series(values)
    assume(r.min() < -1e-6)
    ours = sortino_ratio(r)
    assert ours == pytest.approx(qs.stats.sortino(r, periods=365), rel=1e-9, abs=1e-9)
    assert ours == pytest.approx(empyrical.sortino_ratio(r, annualization=365), rel=1e-9, abs=1e-9)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(returns_lists)
def test_max_drawdown_matches_references(values):
    r = as_series(values)
    equity = (1.0 + r).cumprod()
    ours = max_drawdown_pct(equity, initial_equity=1.0)
    assert ours >= 0
    assert ours == pytest.approx(-100 * qs.stats.max_drawdown(r), rel=1e-9, abs=1e-9)
    assert ours == pytest.approx(-100 * empyrical.max_drawdown(r), rel=1e-9, abs=1e-9)
    dd = drawdown_series(equity, initial_equity=1.0)
    assert (dd <= 0).all()
    assert -dd.min() == pytest.approx(ours)


@settings(max_examples=100, deadline=None)
@given(returns_lists)
def test_psr_is_a_probability_and_monotone_in_threshold(values):
    assume(np.ptp(values) > 1e-6)
    low = probabilistic_sharpe_ratio(values, threshold_annual=-1.0)
    high = probabilistic_sharpe_ratio(values, threshold_annual=1.0)
    assert 0.0 <= high <= low <= 1.0


def test_sortino_uses_all_returns_in_downside_deviation():
    r = [0.02, -0.01, 0.03, -0.02]
    downside = math.sqrt((0.01**2 + 0.02**2) / 4)
    assert sortino_ratio(r) == pytest.approx(np.mean(r) / downside * math.sqrt(365))
    assert sharpe_ratio(r) == pytest.approx(np.mean(r) / np.std(r, ddof=1) * math.sqrt(365))


def test_max_drawdown_counts_first_bar_loss_only_with_initial_equity():
    assert max_drawdown_pct([90.0, 95.0, 100.0], initial_equity=100.0) == pytest.approx(10.0)
    assert max_drawdown_pct([90.0, 95.0, 100.0]) == 0.0
    assert max_drawdown_pct([100.0, 120.0, 90.0, 130.0, 117.0]) == pytest.approx(25.0)
    np.testing.assert_allclose(drawdown_series([100.0, 120.0, 90.0]).to_numpy(), [0.0, 0.0, -25.0])


# --------------------------------------------------------------------------- None rule


def test_none_rule_for_undefined_metrics():
    assert sharpe_ratio([]) is None
    assert sharpe_ratio([0.01]) is None
    assert sharpe_ratio([0.01, 0.01, 0.01]) is None  # zero std
    assert sortino_ratio([0.01]) is None
    assert sortino_ratio([0.01, 0.02, 0.0]) is None  # no negative return
    assert probabilistic_sharpe_ratio([0.01]) is None
    assert probabilistic_sharpe_ratio([0.0, 0.0]) is None
    assert max_drawdown_pct([]) is None
    assert win_rate([]) is None
    assert profit_factor([]) is None
    assert profit_factor([{"pnl": 5.0}, {"pnl": 0.0}]) is None  # no losing trade
    assert expectancy([]) is None
    assert average_r_multiple([]) is None
    assert average_r_multiple([{"pnl": 5.0, "risk": None}, {"pnl": 5.0}]) is None
    assert average_holding_hours([]) is None
    assert exposure_pct([]) is None
    assert total_return_pct(0.0, 10.0) is None
    assert buy_hold_return_pct(None, 10.0) is None
    assert cagr_pct(100.0, 110.0, 0) is None
    assert cagr_pct(100.0, 200.0, 1e-6) is None  # overflows: undefined, not inf
    assert daily_equity([], []).empty
    assert daily_returns(pd.Series([], dtype=float), 100.0).empty


def test_nan_returns_are_skipped_and_inf_refused():
    assert sharpe_ratio([0.01, np.nan, -0.02, 0.03]) == pytest.approx(
        sharpe_ratio([0.01, -0.02, 0.03]))
    with pytest.raises(ValueError):
        sharpe_ratio([0.01, np.inf])


# --------------------------------------------------------------------------- trade statistics


def trade(pnl, entry="2024-01-01 00:00", hours=1.0, risk=None):
    entry_time = datetime.fromisoformat(entry).replace(tzinfo=UTC)
    t = {"pnl": pnl, "entry_time": entry_time, "exit_time": entry_time + timedelta(hours=hours)}
    if risk is not None:
        t["risk"] = risk
    return t


TRADES = [trade(30.0, hours=2, risk=10.0), trade(-10.0, hours=4, risk=10.0),
          trade(0.0, hours=6, risk=5.0), trade(20.0, hours=12), trade(-5.0, hours=0.5, risk=0.0)]


def test_win_rate_counts_break_even_as_not_a_win():
    assert win_rate(TRADES) == pytest.approx(2 / 5)
    assert win_rate([trade(0.0)]) == 0.0


def test_profit_factor_expectancy_r_multiple_holding():
    assert profit_factor(TRADES) == pytest.approx(50.0 / 15.0)
    assert profit_factor([trade(-1.0), trade(0.0)]) == 0.0
    assert expectancy(TRADES) == pytest.approx(35.0 / 5)
    # only risk > 0 counts: 30/10, -10/10, 0/5
    assert average_r_multiple(TRADES) == pytest.approx((3.0 - 1.0 + 0.0) / 3)
    assert average_holding_hours(TRADES) == pytest.approx((2 + 4 + 6 + 12 + 0.5) / 5)


def test_trade_times_may_be_ms_or_other_time_zones_but_not_naive():
    cet = timezone(timedelta(hours=1))
    t = {"pnl": 1.0, "entry_time": datetime(2024, 1, 1, 1, 0, tzinfo=cet),  # 00:00 UTC
         "exit_time": ms("2024-01-01 03:30")}
    assert average_holding_hours([t]) == pytest.approx(3.5)
    with pytest.raises(ValueError):
        average_holding_hours([{"pnl": 1.0, "entry_time": datetime(2024, 1, 1),
                                "exit_time": datetime(2024, 1, 2)}])


def test_exposure_and_returns_helpers():
    assert exposure_pct([True, False, False, True]) == pytest.approx(50.0)
    assert exposure_pct(np.zeros(3, dtype=bool)) == 0.0
    assert total_return_pct(100.0, 125.0) == pytest.approx(25.0)
    assert buy_hold_return_pct(20000.0, 30000.0) == pytest.approx(50.0)
    assert cagr_pct(100.0, 121.0, 730) == pytest.approx(10.0)
    assert cagr_pct(100.0, 110.0, 365) == pytest.approx(10.0)
    assert cagr_pct(100.0, 0.0, 30) == pytest.approx(-100.0)
    assert cagr_pct(100.0, 110.0, 29.9) is None    # shorter than MIN_CAGR_DAYS


# --------------------------------------------------------------------------- daily sampling


def test_daily_equity_takes_last_sample_of_each_utc_day_and_forward_fills():
    times = [ms("2024-01-01 00:00"), ms("2024-01-01 23:59:59.999"),  # both Jan 1
             ms("2024-01-02 00:00"),  # Jan 2 starts exactly at midnight UTC
             ms("2024-01-05 12:00")]  # Jan 3 and 4 have no sample
    eq = daily_equity(times, [100.0, 101.0, 102.0, 99.0])
    assert list(eq.index) == [ts("2024-01-01"), ts("2024-01-02"), ts("2024-01-03"),
                              ts("2024-01-04"), ts("2024-01-05")]
    assert str(eq.index.tz) == "UTC"
    assert eq.tolist() == [101.0, 102.0, 102.0, 102.0, 99.0]


def test_daily_equity_uses_utc_days_for_other_zones_and_refuses_naive():
    ny = [pd.Timestamp("2024-01-01 20:00", tz="America/New_York"),  # 01:00 UTC on Jan 2
          pd.Timestamp("2024-01-01 18:00", tz="America/New_York")]  # 23:00 UTC on Jan 1
    with pytest.warns(UserWarning, match="sorted"):
        eq = daily_equity(ny, [2.0, 1.0])
    assert list(eq.index) == [ts("2024-01-01"), ts("2024-01-02")]
    assert eq.tolist() == [1.0, 2.0]
    assert daily_equity(pd.DatetimeIndex(ny).sort_values(), [1.0, 2.0]).tolist() == [1.0, 2.0]
    with pytest.raises((TypeError, ValueError)):
        daily_equity([datetime(2024, 1, 1)], [1.0])
    with pytest.raises((TypeError, ValueError)):
        daily_equity(pd.DatetimeIndex(["2024-01-01"]), [1.0])
    with pytest.raises(ValueError):
        daily_equity([0, 1], [1.0, np.nan])


def test_daily_returns_with_and_without_initial_equity():
    eq = pd.Series([110.0, 99.0, 99.0], index=pd.date_range("2024-01-01", periods=3, tz="UTC"))
    with_init = daily_returns(eq, initial_equity=100.0)
    np.testing.assert_allclose(with_init.to_numpy(), [0.10, -0.10, 0.0])
    assert (with_init.index == eq.index).all()
    without = daily_returns(eq)
    np.testing.assert_allclose(without.to_numpy(), [-0.10, 0.0])
    assert list(without.index) == list(eq.index[1:])


# --------------------------------------------------------------------------- summarize


def test_summarize_keys_values_and_json_safety():
    times = [ms("2024-01-01 00:00"), ms("2024-01-01 12:00"), ms("2024-01-02 12:00"),
             ms("2024-01-04 06:00")]
    values = [1000.0, 900.0, 1100.0, 1210.0]
    report = summarize(times=times, values=values, in_market=[False, True, True, False],
                       initial_equity=1000.0, trades=TRADES, first_price=100.0, last_price=150.0)
    assert tuple(report) == SUMMARY_KEYS
    json.dumps(report, allow_nan=False)
    assert report["equity_curve"] == [["2024-01-01", 900.0], ["2024-01-02", 1100.0],
                                      ["2024-01-03", 1100.0], ["2024-01-04", 1210.0]]
    assert report["total_return_pct"] == pytest.approx(21.0)
    assert report["buy_hold_return_pct"] == pytest.approx(50.0)
    assert report["cagr_pct"] is None        # 4 days: too short to annualize honestly
    assert report["max_drawdown_pct"] == pytest.approx(10.0)  # intraday trough of Jan 1
    r = [-0.1, 1100 / 900 - 1, 0.0, 0.1]
    assert report["sharpe"] == pytest.approx(sharpe_ratio(r), rel=1e-5)
    assert report["sortino"] == pytest.approx(sortino_ratio(r), rel=1e-5)
    assert report["exposure_pct"] == pytest.approx(50.0)
    assert report["trades"] == 5
    assert report["win_rate"] == pytest.approx(0.4)
    assert report["profit_factor"] == pytest.approx(3.33333)
    assert report["initial_equity"] == 1000.0 and report["final_equity"] == 1210.0


def test_summarize_without_bars_or_trades_gives_none_not_nan():
    report = summarize(times=[], values=[], in_market=[], initial_equity=1000.0, trades=[],
                       first_price=None, last_price=None)
    assert tuple(report) == SUMMARY_KEYS
    json.dumps(report, allow_nan=False)
    assert report["trades"] == 0 and report["equity_curve"] == []
    for key in SUMMARY_KEYS:
        if key not in ("trades", "equity_curve", "initial_equity"):
            assert report[key] is None, key


def test_summarize_flat_curve_has_zero_drawdown_and_no_sharpe():
    report = summarize(times=[ms("2024-01-01"), ms("2024-01-02")], values=[1000.0, 1000.0],
                       in_market=[False, False], initial_equity=1000.0, trades=[],
                       first_price=1.0, last_price=1.0)
    assert report["max_drawdown_pct"] == 0.0
    assert report["sharpe"] is None and report["sortino"] is None
    assert report["total_return_pct"] == 0.0


# --------------------------------------------------------------------------- EquityRecorder


class BuyOnce(bt.Strategy):
    """Buys 1 unit at the second bar (filled at the third bar's open); records broker values."""

    def __init__(self):
        self.seen_values = []

    def next(self):
        self.seen_values.append(self.broker.getvalue())
        if len(self) == 2:
            self.buy(size=1)


def test_equity_recorder_in_a_backtrader_run():
    index = pd.date_range("2024-03-01 22:00", periods=6, freq="1h")  # naive UTC, crosses midnight
    closes = [100.0, 101.0, 103.0, 99.0, 104.0, 110.0]
    feed = pd.DataFrame({"open": [c - 0.5 for c in closes], "high": [c + 1 for c in closes],
                         "low": [c - 1 for c in closes], "close": closes, "volume": 1.0},
                        index=index)
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(bt.feeds.PandasData(dataname=feed))
    cerebro.broker.setcash(1000.0)
    cerebro.addstrategy(BuyOnce)
    cerebro.addanalyzer(EquityRecorder, _name="equity")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        strategy = cerebro.run()[0]
    rec = strategy.analyzers.equity.get_analysis()

    assert set(rec) == {"times_ms", "values", "in_market"}
    assert rec["times_ms"].dtype == np.int64
    assert rec["values"].dtype == np.float64
    assert rec["in_market"].dtype == np.bool_
    assert len(rec["times_ms"]) == len(rec["values"]) == len(rec["in_market"]) == 6
    expected_ms = (index.tz_localize("UTC").as_unit("ns").asi8 // 1_000_000).tolist()
    assert rec["times_ms"].tolist() == expected_ms
    np.testing.assert_array_equal(rec["values"], strategy.seen_values)
    assert rec["in_market"].tolist() == [False, False, True, True, True, True]
    # bought at the third bar's open (102.5): value = 1000 - 102.5 + close
    np.testing.assert_allclose(rec["values"], [1000, 1000, 1000.5, 996.5, 1001.5, 1007.5])

    report = summarize(times=rec["times_ms"], values=rec["values"], in_market=rec["in_market"],
                       initial_equity=1000.0, trades=[], first_price=closes[0],
                       last_price=closes[-1])
    assert report["equity_curve"] == [["2024-03-01", 1000.0], ["2024-03-02", 1007.5]]
    assert report["exposure_pct"] == pytest.approx(400 / 6)


def test_buy_and_hold_per_symbol_and_the_basket_over_the_common_period_only():
    """BTC doubles over four bars, ETH (two bars, the last two) rises 10 %: each symbol's own
    figure is over its own bars; the basket only over the bars both have."""
    btc = ([0, 1, 2, 3], [100.0, 150.0, 160.0, 200.0])
    eth = ([2, 3], [10.0, 11.0])
    factor, by_symbol = buy_hold({"BTCUSDT": btc, "ETHUSDT": eth})
    assert by_symbol == {"BTCUSDT": pytest.approx(100.0), "ETHUSDT": pytest.approx(10.0)}
    # common period: bars 2..3; BTC 160 -> 200 (x1.25), ETH 10 -> 11 (x1.1): mean x1.175
    assert factor == pytest.approx((200 / 160 + 11 / 10) / 2)
    assert buy_hold({"BTCUSDT": ([0, 1], [1.0, 2.0]), "ETHUSDT": ([5, 6], [1.0, 2.0])})[0] is None
