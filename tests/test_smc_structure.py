"""BOS / CHOCH / bias: a hand-built story, the active-swing rule, wick mode, and a
brute-force reference."""

import numpy as np
import pytest

from strategies.smc import BEARISH, BOS, BULLISH, CHOCH, SWING_HIGH, SmcParams, detect_smc

# (open, high, low, close); N = 1. Swing high 13 at bar 2 (known 3), swing low 8 at bar 4 (known 5),
# swing high 14 at bar 6 (known 7). Bar 6 closes 13.5 > 13: bullish BOS (bias was 0).
# Bar 9 closes 7.5 < 8: bearish CHOCH (bias was +1).
STORY = np.array(
    [
        (10.0, 11.0, 9.0, 10.0),
        (10.0, 12.0, 9.5, 11.5),
        (11.5, 13.0, 11.0, 12.0),
        (12.0, 12.5, 10.0, 10.5),
        (8.8, 11.0, 8.0, 9.0),
        (9.0, 12.0, 8.5, 11.8),
        (11.8, 14.0, 11.5, 13.5),
        (13.5, 13.8, 12.0, 12.5),
        (12.5, 12.8, 9.0, 9.5),
        (9.5, 10.0, 7.0, 7.5),
        (7.5, 8.0, 6.5, 7.0),
    ]
)


def run(bars, **kw):
    return detect_smc(bars[:, 0], bars[:, 1], bars[:, 2], bars[:, 3], SmcParams(**kw))


def test_story_bos_then_choch_and_bias():
    res = run(STORY, swing_lookback=1)
    swings = zip(res.swings["index"], res.swings["kind"], strict=True)
    assert [(int(i), int(k)) for i, k in swings] == [(2, 1), (4, -1), (6, 1)]
    b = res.breaks
    assert b["index"].tolist() == [6, 9]
    assert b["known_at"].tolist() == [6, 9]
    assert b["direction"].tolist() == [BULLISH, BEARISH]
    assert b["kind"].tolist() == [BOS, CHOCH]
    assert b["swing_index"].tolist() == [2, 4]
    assert b["level"].tolist() == [13.0, 8.0]
    assert res.bias.tolist() == [0] * 6 + [1] * 3 + [-1] * 2


def test_wick_mode_breaks_earlier():
    # Bar 3 wicks to 13.2 above the swing high 13 but closes below it: a break only with
    # break_on="wick".
    bars = STORY.copy()
    bars[3] = (12.0, 12.5, 10.0, 10.5)
    bars[5] = (9.0, 13.2, 8.5, 11.8)
    close_res = run(bars, swing_lookback=1)
    wick_res = run(bars, swing_lookback=1, break_on="wick")
    assert close_res.breaks["index"].tolist()[0] == 6
    assert wick_res.breaks["index"].tolist()[0] == 5
    assert wick_res.breaks["level"].tolist()[0] == 13.0


def test_newer_swing_replaces_older_unbroken_one():
    # Swing high 20 at bar 2, then a lower swing high 15 at bar 6 (known 7) replaces it.
    # A close of 17 at bar 9 breaks 15 (the active one), not 20; 20 is never broken afterwards
    # even when bar 11 closes at 21, because it is no longer active.
    h = [10, 12, 20, 12, 11, 12, 15, 13, 12, 17.5, 18, 21.5, 19]
    low = [9, 10, 11, 10, 9, 10, 11, 11, 10, 12, 16, 17, 18]
    c = [9.5, 11, 12, 11, 10, 11, 14, 12, 11, 17, 17.5, 21, 18.5]
    o = [9.5] + c[:-1]
    res = detect_smc(np.array(o, float), np.array(h, float), np.array(low, float),
                     np.array(c, float), SmcParams(1))
    highs = res.swings[res.swings["kind"] == SWING_HIGH]
    assert highs["index"].tolist()[:2] == [2, 6]
    bull = res.breaks[res.breaks["direction"] == BULLISH]
    assert bull["swing_index"].tolist() == [6]
    assert bull["index"].tolist() == [9]


def test_same_bar_high_and_low_wick_breaks_follow_the_candle_colour():
    # N=1: swing high 12 at bar 1 (known 2), swing low 8 at bar 3 (known 4);
    # bar 5 is an outside bar piercing both. Green -> bearish then bullish; red -> the reverse.
    base = [(10, 11, 9, 10), (10, 12, 9.5, 11), (11, 11.5, 9, 10), (10, 10.5, 8, 9),
            (9, 10, 8.5, 9.5)]
    for (o, c), expected in (((9.0, 11.0), [BEARISH, BULLISH]), ((11.0, 9.0), [BULLISH, BEARISH])):
        bars = np.array(base + [(o, 13.0, 7.0, c)], dtype=float)
        res = run(bars, swing_lookback=1, break_on="wick")
        assert res.breaks["index"].tolist() == [5, 5]
        assert res.breaks["direction"].tolist() == expected
        assert res.breaks["kind"].tolist() == [BOS, CHOCH]
        assert res.bias[-1] == expected[-1]


def naive_structure(o, h, low, c, swings, break_on):
    """Bar-by-bar loop over the documented rules; returns (list of break tuples, bias list)."""
    highs = [s for s in swings if s["kind"] == 1]
    lows = [s for s in swings if s["kind"] == -1]
    broken = set()
    bias, events, bias_arr = 0, [], []
    for t in range(len(c)):
        evs = []
        act_h = [s for s in highs if s["known_at"] < t]
        if act_h:
            s = act_h[-1]
            x = c[t] if break_on == "close" else h[t]
            if (int(s["index"]), 1) not in broken and x > s["price"]:
                broken.add((int(s["index"]), 1))
                evs.append((1, int(s["index"]), float(s["price"])))
        act_l = [s for s in lows if s["known_at"] < t]
        if act_l:
            s = act_l[-1]
            x = c[t] if break_on == "close" else low[t]
            if (int(s["index"]), -1) not in broken and x < s["price"]:
                broken.add((int(s["index"]), -1))
                evs.append((-1, int(s["index"]), float(s["price"])))
        if len(evs) == 2 and c[t] >= o[t]:
            evs = [evs[1], evs[0]]  # green: bearish first
        for d, si, lvl in evs:
            events.append((t, d, CHOCH if bias == -d else BOS, si, lvl))
            bias = d
        bias_arr.append(bias)
    return events, bias_arr


@pytest.mark.parametrize("break_on", ["close", "wick"])
@pytest.mark.parametrize("n_look", [1, 2, 4])
def test_matches_brute_force_on_random_walks(break_on, n_look):
    rng = np.random.default_rng(100 * n_look + len(break_on))
    n = 1500
    c = np.cumsum(rng.integers(-3, 4, n)).astype(float)
    o = np.r_[c[0], c[:-1]]
    h = np.maximum(o, c) + rng.integers(0, 3, n)
    low = np.minimum(o, c) - rng.integers(0, 3, n)
    res = detect_smc(o, h, low, c, SmcParams(swing_lookback=n_look, break_on=break_on))
    events, bias = naive_structure(o, h, low, c, res.swings, break_on)
    got = [tuple(v.item() for v in b[["index", "direction", "kind", "swing_index", "level"]])
           for b in res.breaks]
    assert got == events
    assert res.bias.tolist() == bias
    assert (len(events) > 50 and any(e[2] == CHOCH for e in events)
            and any(e[2] == BOS for e in events))
