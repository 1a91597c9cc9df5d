"""The equity curve both reports use (``analyzers.equity_curve.mark_to_market``, rebuilt from bars
and fills) equals backtrader's own valuation of the account on every bar, to the last bit, with
longs and shorts, fills inside bars, gaps and end-of-data positions."""

from pathlib import Path

import numpy as np
import pytest

from analyzers.equity import EquityRecorder
from analyzers.equity_curve import Fill, mark_to_market, sample_times
from core.config import apply_overrides, load_config
from engine.backtest import run_backtest
from klines import load_klines

ROOT = Path(__file__).resolve().parent.parent
WEEK_1M = ROOT / "data" / "BTCUSDT_spot_1m_2023-03-20_2023-03-26.csv"
BTC_1H = ROOT / "data" / "BTCUSDT_spot_1h_2017-08-17_2023-12-31.csv.gz"


@pytest.mark.parametrize("path, overrides, start, end", [
    (WEEK_1M, {"decision_engine.confidence_threshold": 0.4, "strategy.allow_short": True,
               "strategy.signal_timeframe": "15m"}, None, None),
    (BTC_1H, {}, "2021-01-01", "2022-01-01"),
])
def test_rebuilt_equity_is_the_brokers_value_on_every_bar(path, overrides, start, end):
    config = apply_overrides(load_config(), overrides)
    klines = {"BTCUSDT": load_klines(path, start=start, end=end)}
    result = run_backtest(config, klines, analyzers={"recorded": EquityRecorder})
    recorded = result.analyses["recorded"]
    assert len(result.trades) >= 5
    assert np.array_equal(result.equity_times_ms, recorded["times_ms"])
    values = result.equity_values.copy()
    values[-1] += sum(t.exit_fee for t in result.trades if t.exit_reason == "end_of_data")
    rebuilt_last, broker_last = values[-1], recorded["values"][-1]
    assert np.array_equal(values[:-1], recorded["values"][:-1])   # bit for bit
    assert rebuilt_last == pytest.approx(broker_last, rel=1e-15)  # the liquidation fee undone
    assert {t.side for t in result.trades} >= ({"long", "short"} if overrides else {"long"})


def test_fills_apply_from_the_bar_they_happen_in():
    samples = np.array([0, 60_000, 120_000, 180_000])
    closes = {"BTCUSDT": (samples, np.array([100.0, 110.0, 90.0, 95.0]))}
    fills = [Fill(60_000, "BTCUSDT", 2.0, 105.0, 1000.0 - 210.0 - 0.21),
             Fill(120_000, "BTCUSDT", 0.0, 0.0, 1000.0 - 210.0 - 0.21 + 180.0 - 0.18)]
    values, in_market = mark_to_market(samples, closes, fills, 1000.0)
    assert values.tolist() == pytest.approx([1000.0, 789.79 + 220.0, 969.61, 969.61])
    assert in_market.tolist() == [False, True, False, False]


def test_samples_include_signal_stamps_where_an_execution_bar_is_missing():
    exec_open = np.array([0, 60_000, 180_000])          # 120_000 missing
    stamps = np.array([120_000])
    assert sample_times([exec_open], [stamps]).tolist() == [0, 60_000, 120_000, 180_000]
