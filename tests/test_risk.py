"""Sizing math: every cap binds when it should, and the loss at the stop never exceeds the risk."""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.exchange_rules import SymbolRules, floor_to_step
from strategies.risk import LONG, SHORT, SizingLimits, loss_per_unit, size_position

LIMITS = SizingLimits(risk_fraction=0.02, max_notional=1000.0, fee_rate=0.001,
                      slippage_rate=0.0002)
BTC = SymbolRules(tick_size=0.01, lot_step=0.00001, min_qty=0.00001, min_notional=5.0)
ETH = SymbolRules(tick_size=0.01, lot_step=0.0001, min_qty=0.0001, min_notional=5.0)


def test_risk_cap_binds_with_big_notional_cap():
    limits = SizingLimits(0.02, 1e9, 0.001, 0.0)
    d = size_position(10_000, 10_000, entry=100.0, stop=98.0, side=LONG, limits=limits, rules=BTC)
    per_unit = 2.0 + 0.001 * (100 + 98)
    assert d.binding_cap == "risk"
    assert d.size == pytest.approx(math.floor(200 / per_unit / 0.00001) * 0.00001)
    assert d.risk_amount <= 200 + 1e-9


def test_notional_cap_binds_and_says_so():
    d = size_position(10_000, 10_000, entry=30_000.0, stop=29_700.0, side=LONG, limits=LIMITS,
                      rules=BTC)
    assert d.binding_cap == "notional"
    assert d.notional <= 1000.0
    assert d.size == pytest.approx(0.03333)
    assert any("Position size adjusted" in a and "notional cap" in a for a in d.adjustments)


def test_cash_cap_binds():
    d = size_position(10_000, 500.0, entry=30_000.0, stop=29_700.0, side=LONG, limits=LIMITS,
                      rules=BTC)
    assert d.binding_cap == "cash"
    assert d.notional * 1.001 <= 500.0


def test_below_min_notional_is_skipped_with_reason():
    d = size_position(10_000, 4.0, entry=30_000.0, stop=29_700.0, side=LONG, limits=LIMITS,
                      rules=BTC)
    assert not d and d.size == 0
    assert "minimum notional" in d.skip_reason


def test_stop_on_wrong_side_is_skipped():
    assert "wrong side" in size_position(
        10_000, 10_000, 100.0, 101.0, LONG, LIMITS, BTC).skip_reason
    assert "wrong side" in size_position(
        10_000, 10_000, 100.0, 99.0, SHORT, LIMITS, BTC).skip_reason


def test_bad_side_raises():
    with pytest.raises(ValueError):
        size_position(10_000, 10_000, 100.0, 99.0, 0, LIMITS, BTC)


def test_size_is_rounded_to_the_symbols_own_step():
    """The issue's case: 1000 USDT of ETH at 1264 is 0.79113924 ETH; Binance takes 0.7911."""
    d = size_position(10_000, 10_000, entry=1264.0, stop=1251.0, side=LONG, limits=LIMITS,
                      rules=ETH)
    assert d.binding_cap == "notional" and d.size == 0.7911
    assert size_position(10_000, 10_000, 1264.0, 1251.0, LONG, LIMITS, BTC).size == 0.79113


def test_below_min_qty_is_skipped_with_reason():
    coarse = SymbolRules(tick_size=0.01, lot_step=0.01, min_qty=0.05, min_notional=0.0)
    d = size_position(10_000, 10_000, entry=30_000.0, stop=29_700.0, side=LONG, limits=LIMITS,
                      rules=coarse)
    assert not d and "below the minimum quantity 0.05" in d.skip_reason


def test_floor_to_step_handles_float_noise():
    assert floor_to_step(0.0333399999, 0.00001) == pytest.approx(0.03333)
    assert floor_to_step(0.03, 0.00001) == pytest.approx(0.03)
    assert floor_to_step(5.9, 1.0) == 5.0


@settings(max_examples=300, deadline=None)
@given(equity=st.floats(100, 1e6), cash_frac=st.floats(0, 1), entry=st.floats(1, 100_000),
       stop_frac=st.floats(0.001, 0.2), short=st.booleans(), rules=st.sampled_from([BTC, ETH]))
def test_invariants(equity, cash_frac, entry, stop_frac, short, rules):
    side = SHORT if short else LONG
    stop = entry * (1 + stop_frac) if short else entry * (1 - stop_frac)
    d = size_position(equity, equity * cash_frac, entry, stop, side, LIMITS, rules)
    if d:
        assert d.size * loss_per_unit(entry, stop, side, LIMITS) <= equity * 0.02 * (1 + 1e-9)
        assert d.notional <= 1000.0 * (1 + 1e-9)
        assert d.notional * 1.001 <= equity * cash_frac * (1 + 1e-9)
        assert d.notional >= 5.0
        assert d.size >= rules.min_qty
        steps = d.size / rules.lot_step
        assert abs(steps - round(steps)) < 1e-6
