"""The backtest's equity record, built after the run from the broker's value history, is bit for
bit what an analyzer reading ``broker.getvalue()`` at every bar records (``EquityRecorder``)."""

from pathlib import Path

import numpy as np
import pytest

from analyzers.equity import EquityRecorder
from core.config import load_config
from core.records import ExitReason
from engine.backtest import run_backtest
from klines import load_klines

ROOT = Path(__file__).resolve().parent.parent
BTC_1H = ROOT / "data" / "BTCUSDT_spot_1h_2017-08-17_2023-12-31.csv.gz"
ETH_1H = ROOT / "data" / "ETHUSDT_spot_1h_2023-01-01_2023-12-31.csv.gz"
WEEK_1M = ROOT / "data" / "BTCUSDT_spot_1m_2023-03-20_2023-03-26.csv"


def _klines(case):
    if case == "default":          # python -m runners.backtest with no options
        return {"BTCUSDT": load_klines(BTC_1H)}
    if case == "1m week":          # two feeds (1m execution, 1h signals); an outage gap inside
        return {"BTCUSDT": load_klines(WEEK_1M)}
    # two symbols whose positions overlap: the value sums them in a fixed order
    return {"BTCUSDT": load_klines(BTC_1H, start="2023-01-01", end="2024-01-01"),
            "ETHUSDT": load_klines(ETH_1H)}


@pytest.mark.parametrize("case", ["default", "1m week", "two symbols"])
def test_equity_record_equals_getvalue_at_every_bar(case):
    result = run_backtest(load_config(), _klines(case), analyzers={"reference": EquityRecorder})
    reference = result.analyses["reference"]
    values = reference["values"].copy()
    # the engine's one adjustment: the final value is the liquidation value
    values[-1] -= sum(t.exit_fee for t in result.trades if t.exit_reason == ExitReason.END_OF_DATA)

    assert result.equity_times_ms.tobytes() == reference["times_ms"].tobytes()
    assert result.equity_values.dtype == np.float64
    assert result.equity_values.tobytes() == values.tobytes()
    assert result.equity_in_market.tobytes() == reference["in_market"].tobytes()
