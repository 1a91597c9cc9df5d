"""No lookahead: prefix invariance of detect_smc on real and generated data, and proof the
checker bites."""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from strategies.smc import SWING_DTYPE, SmcParams, SmcResult, detect_smc, prefix_mismatches

DATA_1H = (Path(__file__).resolve().parents[1] / "data"
           / "BTCUSDT_spot_1h_2017-08-17_2023-12-31.csv.gz")

PARAM_SETS = [
    SmcParams(),
    SmcParams(swing_lookback=2, break_on="wick", order_block="last_opposite", fvg_fill="touch"),
    SmcParams(swing_lookback=1, break_on="close", order_block="last_opposite", fvg_fill="half"),
]


@pytest.fixture(scope="module")
def btc_1h():
    df = pd.read_csv(DATA_1H, nrows=6000)
    return tuple(df[k].to_numpy() for k in ("open", "high", "low", "close"))


def detector(params):
    return lambda o, h, low, c: detect_smc(o, h, low, c, params)


def _param_id(p):
    return f"N{p.swing_lookback}-{p.break_on}-{p.order_block}-{p.fvg_fill}"


@pytest.mark.parametrize("params", PARAM_SETS, ids=_param_id)
def test_prefix_invariance_on_real_data_200_cuts(btc_1h, params):
    cuts = range(15, 6000, 30)  # 200 cuts over 6000 hourly bars
    problems = prefix_mismatches(detector(params), btc_1h, cuts)
    assert not problems, "\n".join(problems[:10])
    full = detect_smc(*btc_1h, params)
    assert len(full.breaks) > 100 and len(full.order_blocks) > 100 and len(full.sweeps) > 50


def test_prefix_invariance_at_every_bar_of_a_small_real_slice(btc_1h):
    sl = tuple(x[3000:3300] for x in btc_1h)
    for params in PARAM_SETS:
        problems = prefix_mismatches(detector(params), sl, range(300))
        assert not problems, "\n".join(problems[:10])


def test_as_of_hides_later_bars(btc_1h):
    full = detect_smc(*btc_1h)
    cut = 2500
    past = full.as_of(cut)
    assert len(past.bias) == cut + 1
    for name in ("swings", "breaks", "order_blocks", "fvgs", "sweeps"):
        assert np.all(getattr(past, name)["known_at"] <= cut)
        assert len(getattr(past, name)) < len(getattr(full, name))
    later_fields = ((past.order_blocks, "mitigated_at"), (past.order_blocks, "invalidated_at"),
                    (past.fvgs, "filled_at"))
    for arr, later in later_fields:
        assert np.all(arr[later] <= cut)
        assert np.any(arr[later] == -1)
    assert full.as_of(-1).bias.size == 0 and len(full.as_of(-1).swings) == 0


@st.composite
def ohlc_and_cuts(draw):
    n = draw(st.integers(min_value=0, max_value=90))
    # zero steps: flat bars and ties
    steps = draw(st.lists(st.integers(-2, 2), min_size=n, max_size=n))
    up = draw(st.lists(st.integers(0, 2), min_size=n, max_size=n))
    down = draw(st.lists(st.integers(0, 2), min_size=n, max_size=n))
    c = 100.0 + np.cumsum(np.array(steps, dtype=float))
    o = np.r_[100.0, c[:-1]] if n else c
    h = np.maximum(o, c) + np.array(up, dtype=float)
    low = np.minimum(o, c) - np.array(down, dtype=float)
    cuts = draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=12)) if n else []
    return (o, h, low, c), cuts


@settings(max_examples=120, deadline=None)
@given(data=ohlc_and_cuts(), params_i=st.integers(0, len(PARAM_SETS) - 1))
def test_prefix_invariance_on_generated_series(data, params_i):
    ohlc, cuts = data
    problems = prefix_mismatches(detector(PARAM_SETS[params_i]), ohlc, cuts)
    assert not problems, "\n".join(problems[:10])


def test_tiny_and_empty_inputs_do_not_crash():
    for n in range(8):
        x = np.linspace(1.0, 2.0, n)
        res = detect_smc(x, x + 0.5, x - 0.5, x)
        assert len(res.bias) == n
        assert len(res.as_of(n - 1).bias) == n


def test_bad_input_is_rejected_with_a_fix():
    x = np.ones(5)
    with pytest.raises(ValueError, match="lengths differ"):
        detect_smc(x, x, x, np.ones(4))
    with pytest.raises(ValueError, match="drop or interpolate"):
        detect_smc(x, x, x, np.r_[1.0, np.nan, 1, 1, 1])
    with pytest.raises(ValueError, match="Did you mean 'wick'"):
        SmcParams(break_on="wik")
    with pytest.raises(ValueError, match=">= 1"):
        SmcParams(swing_lookback=0)


# ---------------------------------------------------------------- the checker catches leaks

@dataclass(frozen=True)
class _SwingsOnly:
    """Minimal result with only swings; as_of mirrors SmcResult.as_of."""

    swings: np.ndarray

    def as_of(self, cut):
        return _SwingsOnly(self.swings[self.swings["known_at"] <= cut])


def centred_swings(o, h, low, c, n_look=3):
    """LEAKY on purpose: a centred window truncated at the edges, stamped known at the
    pivot bar."""
    rows = []
    for i in range(len(h)):
        win = h[max(i - n_look, 0) : i + n_look + 1]
        if h[i] == win.max():
            rows.append((i, i, 1, h[i]))
    return _SwingsOnly(np.array(rows, dtype=SWING_DTYPE))


def honest_swings(o, h, low, c, n_look=3):
    """Same detector, stamped known N bars later and requiring full windows: causal."""
    rows = []
    for i in range(n_look, len(h) - n_look):
        if h[i] > h[i - n_look : i].max() and h[i] >= h[i + 1 : i + n_look + 1].max():
            rows.append((i, i + n_look, 1, h[i]))
    return _SwingsOnly(np.array(rows, dtype=SWING_DTYPE))


def test_checker_catches_a_centred_swing_detector(btc_1h):
    sl = tuple(x[:300] for x in btc_1h)
    problems = prefix_mismatches(centred_swings, sl, range(300))
    assert len(problems) > 30
    assert "swings" in problems[0]
    assert prefix_mismatches(honest_swings, sl, range(300)) == []


def test_checker_catches_the_package_swings():
    smc = pytest.importorskip("smartmoneyconcepts").smc
    df = pd.read_csv(DATA_1H, nrows=400)

    def package_swings(o, h, low, c):
        frame = pd.DataFrame({"open": o, "high": h, "low": low, "close": c,
                              "volume": np.ones(len(o))})
        hl = smc.swing_highs_lows(frame, swing_length=3)["HighLow"].to_numpy()
        idx = np.flatnonzero(~np.isnan(hl))
        # row = its timestamp
        rows = [(i, i, int(hl[i]), h[i] if hl[i] == 1 else low[i]) for i in idx]
        return _SwingsOnly(np.array(rows, dtype=SWING_DTYPE))

    ohlc = tuple(df[k].to_numpy() for k in ("open", "high", "low", "close"))
    assert len(prefix_mismatches(package_swings, ohlc, range(50, 400, 10))) > 10


def test_checker_catches_a_one_bar_lookahead_in_the_bias(btc_1h):
    """Shifting the bias one bar early (a classic off-by-one leak) must be caught."""

    def early_bias(o, h, low, c):
        res = detect_smc(o, h, low, c)
        early = np.r_[res.bias[1:], res.bias[-1:]]
        return SmcResult(res.swings, res.breaks, res.order_blocks, res.fvgs, res.sweeps, early)

    sl = tuple(x[:600] for x in btc_1h)
    problems = prefix_mismatches(early_bias, sl, range(100, 600, 5))
    assert any("bias" in p for p in problems)


# ---------------------------------------------------------------- backtrader wrappers

def test_indicators_agree_bar_by_bar_and_runonce(btc_1h):
    bt = pytest.importorskip("backtrader")
    from strategies.smc.indicators import StructureIndicator, SwingIndicator

    n = 250
    frame = pd.DataFrame(
        {k: v[:n] for k, v in zip(("open", "high", "low", "close"), btc_1h, strict=True)},
        index=pd.date_range("2020-01-01", periods=n, freq="h"),
    )
    frame["volume"] = 1.0

    class Record(bt.Strategy):
        def __init__(self):
            self.sw = SwingIndicator(lookback=3)
            self.st = StructureIndicator(swing_lookback=3)
            self.rows = []

        def next(self):
            self.rows.append((self.sw.swing_high[0], self.sw.swing_low[0], self.st.bias[0]))

    runs = []
    for runonce in (True, False):
        cerebro = bt.Cerebro(runonce=runonce, stdstats=False)
        cerebro.adddata(bt.feeds.PandasData(dataname=frame))
        cerebro.addstrategy(Record)
        runs.append(np.array(cerebro.run()[0].rows, dtype=float))
    once, step = runs
    assert once.shape == step.shape == (n, 3)
    np.testing.assert_array_equal(once, step)
    res = detect_smc(*(x[:n] for x in btc_1h), SmcParams(swing_lookback=3))
    np.testing.assert_array_equal(step[:, 2], res.bias)
    # the swing line steps to a new level exactly at each confirmation bar
    highs = res.swings[res.swings["kind"] == 1]
    assert step[highs["known_at"][0], 0] == highs["price"][0]
    assert np.isnan(step[: highs["known_at"][0], 0]).all()
