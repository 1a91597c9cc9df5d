"""The setup rules of ``strategies.setups`` on small hand-made series: which tapped order blocks
become setups (trend bias, age, invalidation), the entry / stop / target they give, and the
confidence weights, each with the condition that earns it.

Two kinds of input: a 30-bar OHLC series drawn by hand whose structure ``detect_smc`` finds
(the whole pipeline), and hand-made detector results (``SmcResult``) over flat bars, so each
rule can be moved across its boundary alone.
"""

import numpy as np
import pytest

from strategies.setups import CONFIDENCE_WEIGHTS, SetupParams, find_setups
from strategies.smc import (
    FVG_DTYPE,
    ORDER_BLOCK_DTYPE,
    SWEEP_DTYPE,
    SmcParams,
    SmcResult,
    detect_smc,
)
from strategies.smc.structure import BREAK_DTYPE
from strategies.smc.swings import SWING_DTYPE

W = CONFIDENCE_WEIGHTS

# --------------------------------------------------------------------------- a drawn series

# 20 quiet bars, then: a swing high at bar 22 (105), the lowest candle 24 ([98, 103], which also
# sweeps the swing low of bar 20 at 99 and closes back above it), a close above 105 at bar 26
# (a bullish break with a 3.5 body against a ~0.7 average), and the first bar back into the
# block at 29, closing inside it at 102.5.
DRAWN = np.array([(100, 100.5, 99.5, 100.25)] * 20 + [
    (100, 101, 99, 100),
    (100, 102, 99.5, 101),
    (101, 105, 100.5, 104),          # 22 swing high
    (104, 104.5, 101, 102),
    (102, 103, 98, 99.25),           # 24 order block candle, sweep of the 99 low
    (99.25, 103.5, 98.5, 103),
    (103, 107, 102.5, 106.5),        # 26 break of 105
    (106.5, 108, 105, 107),
    (107, 107.5, 104, 104.5),
    (104.5, 105, 102, 102.5),        # 29 tap
], dtype=float)
DRAWN_PARAMS = SetupParams(smc=SmcParams(swing_lookback=2), htf_swing_lookback=2,
                           max_stop_fraction=0.1)


def ohlc(rows):
    return tuple(np.ascontiguousarray(rows[:, i]) for i in range(4))


def mirrored(rows):
    """The same series upside down (price p -> 200 - p): every bullish event turns bearish."""
    out = 200.0 - rows
    return out[:, [0, 2, 1, 3]]          # the new high is the old low, and vice versa


def test_drawn_series_gives_one_long_setup_with_every_field():
    (setup,) = find_setups(*ohlc(DRAWN), DRAWN_PARAMS)
    assert (setup.side, setup.known_at, setup.block_index) == (1, 29, 24)
    assert (setup.block_top, setup.block_bottom) == (103.0, 98.0)
    assert setup.entry == 102.5                         # the tap closed inside the block
    assert setup.stop == pytest.approx(98.0 * (1 - 0.001))
    assert setup.take_profit == pytest.approx(102.5 + 3.0 * (102.5 - 98.0 * 0.999))
    age = 29 - 26
    assert setup.confidence == pytest.approx(
        W["base"] + W["displacement"] + W["sweep"] + W["htf_alignment"]
        + W["freshness"] * (1 - age / 100))
    assert setup.reasons[0] == "bullish order block [98, 103] tapped 3 bar(s) after the break"
    assert setup.skip_reason is None


def test_drawn_series_upside_down_gives_the_short_mirror():
    (setup,) = find_setups(*ohlc(mirrored(DRAWN)), DRAWN_PARAMS)
    assert (setup.side, setup.known_at) == (-1, 29)
    assert (setup.block_top, setup.block_bottom) == (102.0, 97.0)
    assert setup.entry == 97.5                          # max(close, bottom)
    assert setup.stop == pytest.approx(102.0 * 1.001)
    assert setup.take_profit == pytest.approx(97.5 - 3.0 * (102.0 * 1.001 - 97.5))
    (long_,) = find_setups(*ohlc(DRAWN), DRAWN_PARAMS)
    assert setup.confidence == long_.confidence


def test_drawn_tap_closing_above_the_block_enters_at_its_top():
    rows = DRAWN.copy()
    rows[29] = (104.5, 105, 102.8, 104.0)               # dips to 102.8, closes above the top
    (setup,) = find_setups(*ohlc(rows), DRAWN_PARAMS)
    assert setup.known_at == 29 and setup.entry == 103.0


def test_drawn_series_with_a_bearish_break_before_the_tap_has_no_setup():
    rows = DRAWN.copy()
    # Bar 28 closes below the swing low of bar 24 (98, known at 26): bias turns bearish, and
    # bar 29 taps the bullish block against the trend.
    rows[28] = (107, 107.5, 97.0, 97.5)
    rows[29] = (97.5, 100, 97.2, 99.0)
    internal = detect_smc(*ohlc(rows), DRAWN_PARAMS.smc)
    assert internal.bias[29] == -1
    assert [s for s in find_setups(*ohlc(rows), DRAWN_PARAMS) if s.side > 0] == []


# --------------------------------------------------------------------------- hand-made results

N = 60
FLAT = (100.0, 101.0, 99.0, 100.25)      # body 0.25: every bar, unless a test changes it
BREAK, TAP = 30, 33


def flat_bars(n=N):
    return np.tile(np.array(FLAT), (n, 1))


def block(direction=1, index=25, known_at=BREAK, top=100.5, bottom=99.0, swing_index=22,
          mitigated_at=TAP, invalidated_at=-1):
    return (index, known_at, direction, top, bottom, known_at, swing_index, mitigated_at,
            invalidated_at)


def result(blocks, n=N, bias=1, fvgs=(), sweeps=(), bias_at=None):
    """A detector result holding ``blocks`` with a constant ``bias`` (or ``bias_at`` per bar)."""
    per_bar = np.full(n, bias, dtype=np.int8) if bias_at is None else np.asarray(bias_at, np.int8)
    return SmcResult(swings=np.empty(0, SWING_DTYPE), breaks=np.empty(0, BREAK_DTYPE),
                     order_blocks=np.array(list(blocks), dtype=ORDER_BLOCK_DTYPE),
                     fvgs=np.array(list(fvgs), dtype=FVG_DTYPE),
                     sweeps=np.array(list(sweeps), dtype=SWEEP_DTYPE), bias=per_bar)


def setups(rows, internal, swing=None, **params):
    p = SetupParams(**{"max_order_block_age": 10, **params})
    swing = swing if swing is not None else result([], n=len(rows), bias=0)
    return find_setups(*ohlc(rows), p, internal=internal, swing=swing)


def base_confidence(age, max_age=10):
    return W["base"] + W["freshness"] * (1 - age / max_age)


def test_weights_sum_to_one():
    assert sum(W.values()) == pytest.approx(1.0)
    assert set(W) == {"base", "displacement", "fvg", "sweep", "htf_alignment", "freshness"}


@pytest.mark.parametrize("bias, found", [(1, True), (0, False), (-1, False)])
def test_internal_bias_at_the_tap_must_be_the_setup_direction(bias, found):
    rows = flat_bars()
    per_bar = np.ones(N, dtype=np.int8)
    per_bar[TAP] = bias                       # only the tap bar's bias counts
    got = setups(rows, result([block()], bias_at=per_bar))
    assert (len(got) == 1) is found
    per_bar[:] = bias
    per_bar[TAP] = 1
    assert len(setups(rows, result([block()], bias_at=per_bar))) == 1


def test_short_needs_bearish_bias():
    rows = flat_bars()
    bearish = block(direction=-1, top=101.0, bottom=100.0)
    assert setups(rows, result([bearish], bias=1)) == []
    (s,) = setups(rows, result([bearish], bias=-1))
    assert s.side == -1


@pytest.mark.parametrize("age, found", [(0, True), (9, True), (10, True), (11, False), (25, False)])
def test_order_block_age_limit(age, found):
    rows = flat_bars()
    got = setups(rows, result([block(mitigated_at=BREAK + age)]), max_order_block_age=10)
    assert (len(got) == 1) is found
    if found:
        assert got[0].known_at == BREAK + age
        assert got[0].confidence == pytest.approx(base_confidence(age))


def test_untapped_block_is_no_setup():
    assert setups(flat_bars(), result([block(mitigated_at=-1)])) == []


@pytest.mark.parametrize("invalidated_at, found", [(TAP - 1, False), (TAP, False), (TAP + 1, True),
                                                   (-1, True)])
def test_block_invalidated_up_to_the_tap_is_dropped(invalidated_at, found):
    got = setups(flat_bars(), result([block(invalidated_at=invalidated_at)]))
    assert (len(got) == 1) is found


@pytest.mark.parametrize("close, top, entry", [
    (100.25, 100.5, 100.25),     # closed inside the block: at the close
    (100.25, 100.25, 100.25),    # closed on the top
    (100.25, 100.0, 100.0),      # closed above the block: at its top
])
def test_long_entry_is_the_lower_of_close_and_block_top(close, top, entry):
    rows = flat_bars()
    rows[TAP, 3] = close
    (s,) = setups(rows, result([block(top=top, bottom=99.0)]))
    assert s.entry == entry
    assert s.stop == pytest.approx(99.0 * (1 - 0.001))
    assert s.take_profit == pytest.approx(entry + 3.0 * (entry - s.stop))


@pytest.mark.parametrize("close, bottom, entry", [
    (100.25, 100.0, 100.25),     # closed inside: at the close
    (100.25, 100.5, 100.5),      # closed below the block: at its bottom
])
def test_short_entry_is_the_higher_of_close_and_block_bottom(close, bottom, entry):
    rows = flat_bars()
    rows[TAP, 3] = close
    (s,) = setups(rows, result([block(direction=-1, top=101.0, bottom=bottom)], bias=-1))
    assert s.entry == entry
    assert s.stop == pytest.approx(101.0 * (1 + 0.001))
    assert s.take_profit == pytest.approx(entry - 3.0 * (s.stop - entry))


def test_stop_buffer_and_reward_ratio_come_from_the_params():
    (s,) = setups(flat_bars(), result([block()]), stop_buffer=0.005, take_profit_ratio=2.0)
    assert s.stop == pytest.approx(99.0 * 0.995)
    assert s.take_profit == pytest.approx(100.25 + 2.0 * (100.25 - 99.0 * 0.995))


def test_too_wide_stop_is_kept_with_a_skip_reason():
    distance = (100.25 - 99.0 * 0.999) / 100.25            # 1.35 %
    (ok,) = setups(flat_bars(), result([block()]), max_stop_fraction=distance + 1e-6)
    assert ok.skip_reason is None
    (wide,) = setups(flat_bars(), result([block()]), max_stop_fraction=distance - 1e-6)
    assert "exceeds stop_loss_percent" in wide.skip_reason


# --- each confidence weight and its condition (age 3 of 10 throughout: freshness 0.035)

AGE = TAP - BREAK


def confidence(rows=None, internal=None, swing=None, **params):
    rows = flat_bars() if rows is None else rows
    (s,) = setups(rows, internal if internal is not None else result([block()]), swing, **params)
    return s.confidence


def test_base_and_freshness_only():
    assert confidence() == pytest.approx(W["base"] + W["freshness"] * (1 - AGE / 10))


@pytest.mark.parametrize("body, earned", [(0.375, True), (0.37, False)])
def test_displacement_weight_needs_break_body_of_factor_times_average(body, earned):
    rows = flat_bars()
    rows[BREAK, 0], rows[BREAK, 3] = 100.0, 100.0 + body   # 20 bars before: bodies of 0.25
    gain = confidence(rows, displacement_factor=1.5) - confidence()
    assert gain == pytest.approx(W["displacement"] if earned else 0.0)


def test_displacement_weight_needs_twenty_bars_of_history():
    rows = flat_bars()
    rows[19, 0], rows[19, 3] = 100.0, 110.0
    internal = result([block(index=15, known_at=19, swing_index=12, mitigated_at=22)])
    assert confidence(rows, internal) == pytest.approx(base_confidence(3))
    rows[20, 0], rows[20, 3] = 100.0, 110.0
    internal = result([block(index=15, known_at=20, swing_index=12, mitigated_at=23)])
    assert confidence(rows, internal) == pytest.approx(base_confidence(3) + W["displacement"])


def fvg(index, direction=1):
    return (index, index, direction, 100.8, 100.6, -1)


@pytest.mark.parametrize("fvgs, earned", [
    ([fvg(26)], True),                 # just after the block candle (25)
    ([fvg(BREAK)], True),              # on the break bar
    ([fvg(25)], False),                # on the block candle itself
    ([fvg(BREAK + 1)], False),         # after the break
    ([fvg(27, direction=-1)], False),  # the other direction
])
def test_fvg_weight_needs_a_gap_between_block_and_break_in_the_setup_direction(fvgs, earned):
    gain = confidence(internal=result([block()], fvgs=fvgs)) - confidence()
    assert gain == pytest.approx(W["fvg"] if earned else 0.0)


def sweep(index, direction=1):
    return (index, index, direction, 99.5, 18)


@pytest.mark.parametrize("sweeps, earned", [
    ([sweep(22)], True),               # on the broken swing's pivot
    ([sweep(BREAK)], True),            # on the break bar
    ([sweep(21)], False),              # before the swing
    ([sweep(BREAK + 1)], False),       # after the break
    ([sweep(26, direction=-1)], False),
])
def test_sweep_weight_needs_a_sweep_between_swing_and_break_in_the_setup_direction(sweeps, earned):
    gain = confidence(internal=result([block()], sweeps=sweeps)) - confidence()
    assert gain == pytest.approx(W["sweep"] if earned else 0.0)


@pytest.mark.parametrize("swing_bias, earned", [(1, True), (0, False), (-1, False)])
def test_htf_weight_needs_the_swing_structure_to_agree_at_the_tap(swing_bias, earned):
    per_bar = np.full(N, -swing_bias if swing_bias else 1, dtype=np.int8)
    per_bar[TAP] = swing_bias                              # only the tap bar counts
    gain = confidence(swing=result([], bias_at=per_bar)) - confidence()
    assert gain == pytest.approx(W["htf_alignment"] if earned else 0.0)


def test_every_condition_met_on_a_fresh_block_is_full_confidence():
    rows = flat_bars()
    rows[BREAK, 0], rows[BREAK, 3] = 100.0, 101.0
    internal = result([block(mitigated_at=BREAK)], fvgs=[fvg(27)], sweeps=[sweep(24)])
    assert confidence(rows, internal, swing=result([], bias=1)) == pytest.approx(1.0)


def test_confidence_is_kept_and_printed_at_six_decimals():
    """The decision compares what it prints: a confidence below the threshold never reads as
    equal to it ("0.700 below 0.700")."""
    from strategies.smc_strategy import _decimals

    assert [_decimals(v) for v in (0.69975, 0.7, 0.699999, 1.0)] == [
        "0.69975", "0.7", "0.699999", "1"]
    (setup,) = find_setups(*ohlc(DRAWN), DRAWN_PARAMS)
    assert setup.confidence == round(setup.confidence, 6)    # what is compared is what prints
