"""Load once, compute once: a window cut from a loaded file is the file loaded with that range,
and a backtest handed precomputed SMC detection is the backtest that detects by itself."""

import numpy as np
import pandas as pd
import pytest

from core.config import apply_overrides, load_config
from core.errors import DataError
from engine.backtest import run_backtest
from klines import load_klines
from research.data import window_klines
from research.tasks import detect_task
from tests.research_helpers import BTC_1M, ETH_1H

START, END = pd.Timestamp("2023-03-01", tz="UTC"), pd.Timestamp("2023-05-01", tz="UTC")


def ms(stamp):
    return int(stamp.value // 1_000_000)


def test_window_equals_loading_the_range():
    whole = load_klines(BTC_1M)
    start, end = pd.Timestamp("2023-03-22T10:30", tz="UTC"), pd.Timestamp("2023-03-25", tz="UTC")
    cut = window_klines(whole, ms(start), ms(end))
    loaded = load_klines(BTC_1M, start=start, end=end)
    pd.testing.assert_frame_equal(cut.frame, loaded.frame)
    assert cut.gaps == loaded.gaps and len(cut.gaps) == 1  # the 2023-03-24 halt, found again
    a, b = cut.bars(), loaded.bars()
    for name in ("open_time_ms", "open", "high", "low", "close", "volume"):
        assert np.array_equal(getattr(a, name), getattr(b, name))


def test_empty_window_is_one_line():
    whole = load_klines(ETH_1H)
    with pytest.raises(DataError, match=r"ETHUSDT_spot_1h_2023-01-01_2023-12-31.csv.gz: no bars "
                                        r"from 2024-01-01T00:00:00Z \(the file covers"):
        window_klines(whole, ms(pd.Timestamp("2024-01-01", tz="UTC")), None)


def same_result(a, b):
    assert a.report == b.report
    assert np.array_equal(a.equity_times_ms, b.equity_times_ms)
    assert np.array_equal(a.equity_values, b.equity_values)


@pytest.mark.parametrize("path, overrides", [
    (ETH_1H, {"risk_manager.take_profit_ratio": 2.0}),
    (BTC_1M, {"decision_engine.confidence_threshold": 0.5, "smc.swing_lookback": 3}),  # 1h of 1m
])
def test_precomputed_detection_gives_the_same_backtest(path, overrides):
    config = apply_overrides(load_config(), overrides)
    whole = load_klines(path, symbol="BTCUSDT" if path == BTC_1M else "ETHUSDT")
    start, end = (None, None) if path == BTC_1M else (ms(START), ms(END))
    klines = {whole.symbol: window_klines(whole, start, end)}
    detection = detect_task(config.as_dict(), {whole.symbol: whole}, start, end)
    assert detection is not None
    reused = run_backtest(config, klines, detection=detection)
    alone = run_backtest(config, klines)
    assert reused.report["signals"] > 0
    same_result(reused, alone)


def test_detection_of_other_bars_or_settings_is_refused():
    config = load_config()
    whole = load_klines(ETH_1H, symbol="ETHUSDT")
    klines = {"ETHUSDT": window_klines(whole, ms(START), ms(END))}
    other_window = detect_task(config.as_dict(), {"ETHUSDT": whole}, ms(START) + 3_600_000,
                               ms(END))
    with pytest.raises(ValueError, match="precomputed SMC structure was not made over these bars"):
        run_backtest(config, klines, detection=other_window)
    other_lookback = detect_task(apply_overrides(config, {"smc.swing_lookback": 3}).as_dict(),
                                 {"ETHUSDT": whole}, ms(START), ms(END))
    with pytest.raises(ValueError, match="precomputed SMC structure was not made"):
        run_backtest(config, klines, detection=other_lookback)
