"""The strategy in-process on real bundled data: guards, shorts, parity of the two setup paths,
and proof that the lookahead check catches a leak."""

import dataclasses
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import strategies.setups as setups_module
from core.config import apply_overrides, load_config
from core.exchange_rules import floor_to_step
from engine.backtest import run_backtest
from engine.lookahead import check_lookahead
from klines import Klines, load_klines
from strategies.setups import SetupParams, SetupTracker, find_setups
from tests.test_setups import DRAWN

ROOT = Path(__file__).resolve().parent.parent
BTC_1H = ROOT / "data" / "BTCUSDT_spot_1h_2017-08-17_2023-12-31.csv.gz"
WEEK_1M = ROOT / "data" / "BTCUSDT_spot_1m_2023-03-20_2023-03-26.csv"


@pytest.fixture(scope="module")
def btc_2022():
    return {"BTCUSDT": load_klines(BTC_1H, start="2022-01-01", end="2023-01-01")}


@pytest.fixture(scope="module")
def config():
    return load_config()


def test_live_and_preloaded_setup_paths_agree(config):
    """The backtest detects once over the whole series; live re-detects on every new bar. Both
    must hand the strategy the same setups at the same bars."""
    bars = load_klines(BTC_1H, start="2021-01-01", end="2021-03-01").bars()
    params = SetupParams.from_config(config)
    preloaded = SetupTracker(params, preloaded=bars)
    live = SetupTracker(params)
    seen_pre, seen_live = [], []
    for i in range(len(bars)):
        seen_pre += preloaded.on_bar(i)
        seen_live += live.on_bar(i, (bars.open[i], bars.high[i], bars.low[i], bars.close[i]))
    assert seen_pre == seen_live
    assert len(seen_pre) > 5


def with_tick(config, tick: float) -> SetupParams:
    return dataclasses.replace(SetupParams.from_config(config), tick_size=tick)


@pytest.mark.parametrize("tick", [0.0, 0.01, 25.0])
def test_setups_are_prefix_invariant_on_real_data(config, tick):
    bars = load_klines(BTC_1H, start="2020-01-01", end="2021-01-01").bars()
    params = with_tick(config, tick)
    full = find_setups(bars.open, bars.high, bars.low, bars.close, params)
    for cut in range(300, len(bars), 397):
        prefix = find_setups(bars.open[:cut + 1], bars.high[:cut + 1], bars.low[:cut + 1],
                             bars.close[:cut + 1], params)
        assert prefix == [s for s in full if s.known_at <= cut], f"cut {cut}"


@pytest.mark.parametrize("tick", [0.0, 0.01, 25.0])
def test_every_setup_has_a_stop_on_the_right_side(config, tick):
    bars = load_klines(BTC_1H).bars()
    setups = find_setups(bars.open, bars.high, bars.low, bars.close, with_tick(config, tick))
    for s in setups:
        if s.skip_reason in ("stop distance is zero", "take-profit rounds onto the entry"):
            assert tick > 0, s   # only rounding can put a stop or target onto the entry
            continue
        if s.side > 0:
            assert s.stop < s.entry < s.take_profit
        else:
            assert s.take_profit < s.entry < s.stop
        assert 0 <= s.confidence <= 1
        planned = s.entry + s.side * 3.0 * abs(s.entry - s.stop)
        if tick:
            for price in (s.entry, s.stop, s.take_profit):
                assert floor_to_step(price, tick) == price, s    # on the tick
            assert -1e-6 <= s.side * (planned - s.take_profit) < tick  # moved toward the entry
        else:
            assert s.take_profit == pytest.approx(planned)


def test_rounding_direction_long_down_short_up(config):
    """Each rounded setup against the same setup unrounded: a long's prices round down, a
    short's up, by less than one tick (the target follows the rounded entry and stop)."""
    bars = load_klines(BTC_1H, start="2019-01-01", end="2021-01-01").bars()
    raw = find_setups(bars.open, bars.high, bars.low, bars.close, with_tick(config, 0.0))
    tick = 10.0
    rounded = find_setups(bars.open, bars.high, bars.low, bars.close, with_tick(config, tick))
    assert ([(s.known_at, s.block_index) for s in raw]
            == [(s.known_at, s.block_index) for s in rounded])
    assert {s.side for s in raw} == {1, -1}
    for r, s in zip(raw, rounded, strict=True):
        for before, after in ((r.entry, s.entry), (r.stop, s.stop)):
            assert 0 <= s.side * (before - after) < tick, (r, s)


def test_lookahead_check_catches_a_leaky_setup_rule(monkeypatch, config, btc_2022):
    """A rule that scores confidence with the LAST close of the data set (a whole-series
    statistic, like the smartmoneyconcepts liquidity band) must be reported."""
    honest = setups_module.find_setups

    def leaky(open_, high, low, close, params=None, internal=None, swing=None):
        if params is None:
            params = SetupParams()
        found = honest(open_, high, low, close, params, internal, swing)
        boost = round(0.3 * close[-1] / close.max(), 4)
        return [s.__class__(**{**s.__dict__, "confidence": min(1.0, s.confidence + boost)})
                for s in found]

    honest_report = check_lookahead(config, btc_2022, cuts=4)
    assert honest_report.differences == [] and honest_report.cuts_compared == 4
    monkeypatch.setattr(setups_module, "find_setups", leaky)
    differences = check_lookahead(config, btc_2022, cuts=4).differences
    assert differences, "the leak went unnoticed"
    assert any("signal" in d or "trade" in d for d in differences)


def test_daily_loss_limit_stops_entries(config, btc_2022):
    tight = apply_overrides(config, {"risk_manager.max_daily_loss": 1.0})
    result = run_backtest(tight, btc_2022)
    blocked = [s for s in result.signals if "daily loss" in s["decision"]]
    assert blocked, "no entry was refused by the daily loss limit"
    # Each refusal must follow a moment of that UTC day where equity (marked to market) stood
    # at least 1 USDT below where the day started.
    times = result.equity_times_ms + 3_600_000          # equity is read at each bar's close
    values = result.equity_values
    day_ms = 86_400_000
    for s in blocked:
        t_ms = int(pd.Timestamp(s["time"]).value // 1_000_000)
        day_start = t_ms // day_ms * day_ms
        before_day = values[times <= day_start]
        start_equity = before_day[-1] if len(before_day) else tight.paper_trading.initial_balance
        today = values[(times > day_start) & (times <= t_ms)]
        assert today.min() - start_equity <= -1.0 + 1e-9, s["time"]


def test_shorts_only_when_allowed(config, btc_2022):
    spot = run_backtest(config, btc_2022)
    assert {t.side for t in spot.trades} == {"long"}
    assert any("allow_short" in s["decision"] for s in spot.signals)
    shorting = run_backtest(apply_overrides(config, {"strategy.allow_short": True}), btc_2022)
    shorts = [t for t in shorting.trades if t.side == "short"]
    assert shorts
    for t in shorts:
        assert t.stop_loss > t.entry_price > t.take_profit


def test_confidence_threshold_filters(config, btc_2022):
    strict = run_backtest(apply_overrides(config, {"decision_engine.confidence_threshold": 0.95}),
                          btc_2022)
    for s in strict.signals:
        if s["traded"]:
            assert s["confidence"] >= 0.95
    assert all(t.confidence >= 0.95 for t in strict.trades)
    loose = run_backtest(config, btc_2022)
    assert len(loose.trades) > len(strict.trades)


def test_gap_cooldown_blocks_entries_after_missing_bars(config):
    """The 1m week holds the real 80-minute trading halt of 2023-03-24; with 1m signals the
    guard must refuse every setup in the bars right after it."""
    klines = {"BTCUSDT": load_klines(WEEK_1M)}
    cfg = apply_overrides(config, {"strategy.signal_timeframe": "1m",
                                   "strategy.gap_cooldown_bars": 600,
                                   "decision_engine.confidence_threshold": 0.0})
    result = run_backtest(cfg, klines)
    after_halt = [s for s in result.signals if "2023-03-24T14:00" <= s["time"] < "2023-03-24T23:59"]
    assert after_halt
    assert all(not s["traded"] for s in after_halt)
    assert any("missing or empty bars" in s["decision"] for s in after_halt)


def hand_made_klines(symbol: str, rows) -> Klines:
    rows = np.asarray(rows, dtype=float)
    index = pd.date_range("2023-01-01", periods=len(rows), freq="1h", tz="UTC", name="open_time")
    frame = pd.DataFrame(rows, index=index, columns=["open", "high", "low", "close"])
    frame["volume"] = 1.0
    return Klines(path=f"{symbol} (hand-made)", symbol=symbol, timeframe="1h", frame=frame,
                  gaps=(), duplicates_dropped=0, reordered=False, source_format="hand-made")


def test_second_entry_is_sized_from_cash_net_of_the_first_pending_one(config):
    """Three symbols draw the same long setup on the same bar (entry 102.5, see
    tests/test_setups.py), so three entries are sized in one bar, before any fills. 150 USDT of
    cash, 100 USDT notional per position: the first takes 100 USDT (plus fee), the second gets
    what is left, the third nothing."""
    rows = np.vstack([DRAWN, [(102.5, 103.0, 101.5, 102.0)]])   # the bar after fills the limits
    klines = {s: hand_made_klines(s, rows) for s in ("AAAUSDT", "BBBUSDT", "CCCUSDT")}
    cfg = apply_overrides(config, {
        "paper_trading.initial_balance": 150, "risk_manager.max_position_size": 100,
        "risk_manager.risk_per_trade_percent": 10, "risk_manager.stop_loss_percent": 10,
        "smc.swing_lookback": 2, "smc.htf_swing_lookback": 3,
        "decision_engine.confidence_threshold": 0.0,
        "exchanges.binance.rules": {s: {"tick_size": 0.01, "lot_step": 1e-5, "min_qty": 1e-5,
                                        "min_notional": 5.0} for s in klines}})
    result = run_backtest(cfg, klines)
    entry, fee, lot = 102.5, 0.001, 1e-5
    signals = {s["symbol"]: s for s in result.signals}
    assert {s["time"] for s in result.signals} == {"2023-01-02T06:00:00+00:00"}
    assert all(s["entry"] == entry for s in result.signals)

    first = math.floor(100 / entry / lot) * lot                        # notional cap
    left = 150 - first * entry * (1 + fee)                             # the first is reserved
    second = math.floor(left / (entry * (1 + fee)) / lot) * lot        # cash cap
    sizes = {t.symbol: t.size for t in result.trades}
    assert sizes == {"AAAUSDT": pytest.approx(first), "BBBUSDT": pytest.approx(second)}
    assert second < first / 2
    assert signals["CCCUSDT"]["traded"] is False
    assert "is below the minimum" in signals["CCCUSDT"]["decision"]   # no cash left
    assert sum(t.size * t.entry_price * (1 + fee) for t in result.trades) <= 150
