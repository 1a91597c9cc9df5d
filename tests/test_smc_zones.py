"""Order blocks, fair value gaps, sweeps and the range-search helper they share."""

import numpy as np
import pytest

from strategies.smc import BEARISH, BULLISH, NEVER, SmcParams, detect_smc
from strategies.smc.search import SparseTable, first_crossing, range_argextreme
from tests.test_smc_structure import STORY, run


def random_bars(seed, n=1500, step=3, wick=3):
    rng = np.random.default_rng(seed)
    c = np.cumsum(rng.integers(-step, step + 1, n)).astype(float)
    o = np.r_[c[0], c[:-1]] + rng.integers(-1, 2, n)
    h = np.maximum(o, c) + rng.integers(0, wick, n)
    low = np.minimum(o, c) - rng.integers(0, wick, n)
    return o, h, low, c


# ---------------------------------------------------------------- search helper

@pytest.mark.parametrize("op", [">", ">=", "<", "<="])
def test_first_crossing_matches_brute_force(op):
    rng = np.random.default_rng(7)
    x = rng.integers(0, 20, 500).astype(float)
    lo = rng.integers(-3, 510, 2000)
    hi = lo + rng.integers(-5, 300, 2000)
    lvl = rng.integers(0, 21, 2000).astype(float)
    tab = SparseTable(x, "max" if op in (">", ">=") else "min")
    got = first_crossing(tab, lo, hi, lvl, op)
    cmp = {">": np.greater, ">=": np.greater_equal, "<": np.less, "<=": np.less_equal}[op]
    for a, b, v, g in zip(lo, hi, lvl, got, strict=True):
        js = [j for j in range(max(a, 0), min(b, len(x) - 1) + 1) if cmp(x[j], v)]
        assert g == (js[0] if js else -1)


def test_first_crossing_rejects_wrong_table():
    with pytest.raises(ValueError, match="needs a 'min' table"):
        first_crossing(SparseTable(np.ones(4), "max"), [0], [3], [1.0], "<")


def test_range_argextreme_latest_on_ties():
    rng = np.random.default_rng(3)
    x = rng.integers(0, 6, 400).astype(float)
    lo = rng.integers(0, 400, 1000)
    hi = np.minimum(lo + rng.integers(0, 130, 1000), 399)
    for kind, pick in (("min", np.min), ("max", np.max)):
        got = range_argextreme(x, lo, hi, kind)
        for a, b, g in zip(lo, hi, got, strict=True):
            seg = x[a : b + 1]
            assert g == a + np.flatnonzero(seg == pick(seg))[-1]


# ---------------------------------------------------------------- order blocks

def test_order_block_choice_and_lifecycle_on_story():
    # Bullish break at bar 6 of the swing high at bar 2: candles 2..5.
    ll = run(STORY, swing_lookback=1).order_blocks
    lo_ = run(STORY, swing_lookback=1, order_block="last_opposite").order_blocks
    bull_ll, bull_lo = ll[ll["direction"] == BULLISH][0], lo_[lo_["direction"] == BULLISH][0]
    # lowest_low: bar 4 (low 8); last_opposite: bar 3 (the last close < open; bar 4 is green).
    assert (bull_ll["index"], bull_ll["bottom"], bull_ll["top"]) == (4, 8.0, 11.0)
    assert (bull_lo["index"], bull_lo["bottom"], bull_lo["top"]) == (3, 10.0, 12.5)
    for ob in (bull_ll, bull_lo):
        assert (ob["known_at"], ob["break_index"], ob["swing_index"]) == (6, 6, 2)
    # Mitigation = first later low <= top; invalidation = first later close < bottom.
    # low 9 <= 11 at 8; close 7.5 < 8 at 9
    assert (bull_ll["mitigated_at"], bull_ll["invalidated_at"]) == (8, 9)
    # low 12 <= 12.5 at 7; close 9.5 < 10
    assert (bull_lo["mitigated_at"], bull_lo["invalidated_at"]) == (7, 8)
    # Bearish break at bar 9 of the swing low at bar 4: highest high of 4..8 is bar 6; never
    # revisited.
    bear = ll[ll["direction"] == BEARISH][0]
    assert (bear["index"], bear["bottom"], bear["top"], bear["known_at"]) == (6, 11.5, 14.0, 9)
    assert (bear["mitigated_at"], bear["invalidated_at"]) == (NEVER, NEVER)


def test_order_block_ties_take_the_latest_candle_and_fallback_without_opposite_candle():
    # N=1, swing high 12 at bar 1 (known 2); candles 1..4 are all green with equal lows at 2 and 3.
    bars = np.array(
        [(9, 10, 8, 9.5), (9.5, 12, 9, 11), (10, 11, 8.5, 10.5),
         (10, 11.5, 8.5, 11), (11, 11.8, 10, 11.5), (11.5, 13, 11, 12.5)],
        dtype=float,
    )
    for method in ("lowest_low", "last_opposite"):
        ob = run(bars, swing_lookback=1, order_block=method).order_blocks
        assert ob["index"].tolist() == [3] and ob["known_at"].tolist() == [5]


def naive_order_blocks(o, h, low, c, breaks, method):
    out = []
    n = len(c)
    for b in breaks:
        t, p, d = int(b["index"]), int(b["swing_index"]), int(b["direction"])
        rng_ = range(p, t)
        if d == 1:
            cand = max(rng_, key=lambda j: (-low[j], j))
            opp = [j for j in rng_ if c[j] < o[j]]
        else:
            cand = max(rng_, key=lambda j: (h[j], j))
            opp = [j for j in rng_ if c[j] > o[j]]
        if method == "last_opposite" and opp:
            cand = opp[-1]
        top, bot = h[cand], low[cand]
        later = range(t + 1, n)
        if d == 1:
            mit = next((j for j in later if low[j] <= top), -1)
            inv = next((j for j in later if c[j] < bot), -1)
        else:
            mit = next((j for j in later if h[j] >= bot), -1)
            inv = next((j for j in later if c[j] > top), -1)
        out.append((cand, t, d, top, bot, t, p, mit, inv))
    return sorted(out, key=lambda r: (r[1], r[0]))


@pytest.mark.parametrize("method", ["lowest_low", "last_opposite"])
@pytest.mark.parametrize("break_on", ["close", "wick"])
def test_order_blocks_match_brute_force(method, break_on):
    o, h, low, c = random_bars(11)
    res = detect_smc(o, h, low, c,
                     SmcParams(swing_lookback=2, break_on=break_on, order_block=method))
    got = [tuple(r.item() for r in row) for row in res.order_blocks]
    # the brute force sorts stably by (known_at, index) from the breaks' order, like the detector
    assert got == naive_order_blocks(o, h, low, c, res.breaks, method)
    mit, inv = res.order_blocks["mitigated_at"], res.order_blocks["invalidated_at"]
    assert np.all((inv == -1) | ((mit >= 0) & (mit <= inv)))


# ---------------------------------------------------------------- fair value gaps

FVG_BARS = np.array(
    # (high, low)
    [(10, 9), (12, 9.5), (13, 11), (13.5, 10.8), (13, 10.4), (12, 9.9), (11, 9.5), (9.4, 8),
     (9.5, 8.5), (10, 9)],
    dtype=float,
)


@pytest.mark.parametrize("rule, bull_fill, bear_fill",
                         [("touch", 3, 8), ("half", 4, 9), ("full", 5, 9)])
def test_fvg_zones_and_fill_rules(rule, bull_fill, bear_fill):
    h, low = FVG_BARS[:, 0], FVG_BARS[:, 1]
    mid = (h + low) / 2
    res = detect_smc(mid, h, low, mid, SmcParams(fvg_fill=rule))
    f = res.fvgs
    assert f["index"].tolist() == [2, 7] and f["known_at"].tolist() == [2, 7]
    assert f["direction"].tolist() == [BULLISH, BEARISH]
    assert (f["bottom"].tolist(), f["top"].tolist()) == ([10.0, 9.4], [11.0, 9.9])
    assert f["filled_at"].tolist() == [bull_fill, bear_fill]


@pytest.mark.parametrize("rule", ["full", "half", "touch"])
def test_fvgs_match_brute_force(rule):
    o, h, low, c = random_bars(5, step=4, wick=2)
    res = detect_smc(o, h, low, c, SmcParams(fvg_fill=rule))
    expected = []
    for i in range(2, len(c)):
        if low[i] > h[i - 2]:
            d, top, bot = 1, low[i], h[i - 2]
        elif h[i] < low[i - 2]:
            d, top, bot = -1, low[i - 2], h[i]
        else:
            continue
        lvl = {"full": bot if d == 1 else top, "half": (top + bot) / 2,
               "touch": top if d == 1 else bot}[rule]
        hit = (lambda j, lvl=lvl: low[j] <= lvl) if d == 1 else (lambda j, lvl=lvl: h[j] >= lvl)
        expected.append((i, i, d, top, bot, next((j for j in range(i + 1, len(c)) if hit(j)), -1)))
    assert [tuple(v.item() for v in row) for row in res.fvgs] == expected
    assert len(expected) > 20


# ---------------------------------------------------------------- sweeps

SWEEP_BARS = np.array(
    [(10, 10.5, 9.5, 10), (10, 10.2, 9, 9.5), (9.5, 10.5, 8, 10),
     (10, 11, 9.5, 10.8), (10.8, 11.2, 7.5, 8.5), (8.5, 9, 7, 7.2)],
    dtype=float,
)


def test_sweep_then_break_in_close_mode():
    # Swing low 8 at bar 2 (known 3). Bar 4 wicks to 7.5 and closes 8.5: a sell-side sweep, no
    # break. Bar 5 closes 7.2: the bearish break.
    res = run(SWEEP_BARS, swing_lookback=1)
    s = res.sweeps
    assert s["index"].tolist() == [4] and s["direction"].tolist() == [BULLISH]
    assert ((s["level"].tolist(), s["swing_index"].tolist(), s["known_at"].tolist())
            == ([8.0], [2], [4]))
    assert res.breaks["index"].tolist() == [5] and res.breaks["direction"].tolist() == [BEARISH]


def test_sweep_in_wick_mode_is_also_the_break_bar():
    res = run(SWEEP_BARS, swing_lookback=1, break_on="wick")
    assert res.sweeps["index"].tolist() == [4]
    assert res.breaks["index"].tolist() == [4]


def test_buy_side_sweep_by_mirroring():
    # Mirror prices (x -> -x): the sell-side sweep becomes a buy-side one.
    m = -SWEEP_BARS[:, [0, 2, 1, 3]]
    s = run(m, swing_lookback=1).sweeps
    assert (s["index"].tolist() == [4] and s["direction"].tolist() == [BEARISH]
            and s["level"].tolist() == [-8.0])


def naive_sweeps(h, low, c, swings, breaks):
    out = []
    # lows break bearishly
    broke = {(int(b["swing_index"]), int(b["direction"])): int(b["index"]) for b in breaks}
    for kind, d in ((-1, 1), (1, -1)):
        side = [s for s in swings if s["kind"] == kind]
        swept = set()
        for t in range(len(c)):
            act = [s for s in side if s["known_at"] < t]
            if not act:
                continue
            s = act[-1]
            key = (int(s["index"]), kind)
            if key in swept or broke.get(key, len(c)) < t:
                continue
            lvl = s["price"]
            if (kind == -1 and low[t] < lvl < c[t]) or (kind == 1 and h[t] > lvl > c[t]):
                swept.add(key)
                out.append((t, t, d, float(lvl), int(s["index"])))
    return sorted(out, key=lambda r: (r[0], r[2]))


@pytest.mark.parametrize("break_on", ["close", "wick"])
@pytest.mark.parametrize("n_look", [1, 3])
def test_sweeps_match_brute_force(break_on, n_look):
    o, h, low, c = random_bars(21 + n_look)
    res = detect_smc(o, h, low, c, SmcParams(swing_lookback=n_look, break_on=break_on))
    assert ([tuple(v.item() for v in row) for row in res.sweeps]
            == naive_sweeps(h, low, c, res.swings, res.breaks))
    assert len(res.sweeps) > 10


def test_mirror_symmetry_on_random_walk():
    # Negating prices swaps bullish and bearish everywhere, with identical bars and levels.
    o, h, low, c = random_bars(99)
    a = detect_smc(o, h, low, c, SmcParams(swing_lookback=2))
    b = detect_smc(-o, -low, -h, -c, SmcParams(swing_lookback=2))
    assert np.array_equal(a.bias, -b.bias)

    def key(arr, f):
        return sorted(zip(arr["index"].tolist(), (arr[f] * -1).tolist(), strict=True))

    assert (sorted(zip(b.breaks["index"].tolist(), b.breaks["direction"].tolist(), strict=True))
            == key(a.breaks, "direction"))
    assert np.array_equal(a.breaks["kind"], b.breaks["kind"])
    assert (sorted(zip(b.sweeps["index"].tolist(), b.sweeps["direction"].tolist(), strict=True))
            == key(a.sweeps, "direction"))
    assert np.array_equal(a.order_blocks["index"], b.order_blocks["index"])
    assert np.array_equal(a.order_blocks["mitigated_at"], b.order_blocks["mitigated_at"])
