"""Swing detection: hand-built cases, a brute-force reference, and the
smartmoneyconcepts package."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from strategies.smc import SWING_HIGH, SWING_LOW, SmcParams, detect_smc
from strategies.smc.swings import find_swings

DATA_1H = (Path(__file__).resolve().parents[1] / "data"
           / "BTCUSDT_spot_1h_2017-08-17_2023-12-31.csv.gz")


def naive_swings(high, low, n_look):
    """Loop version of the documented definition: set of (index, kind)."""
    out = set()
    for i in range(n_look, len(high) - n_look):
        if high[i] > max(high[i - n_look : i]) and high[i] >= max(high[i + 1 : i + n_look + 1]):
            out.add((i, SWING_HIGH))
        if low[i] < min(low[i - n_look : i]) and low[i] <= min(low[i + 1 : i + n_look + 1]):
            out.add((i, SWING_LOW))
    return out


def _pairs(swings):
    return {(int(i), int(k)) for i, k in zip(swings["index"], swings["kind"], strict=True)}


def test_hand_built_positions_known_at_and_flat_top():
    high = np.array([5, 6, 7, 6, 5, 6, 9, 9, 8, 7, 6], dtype=float)
    low = high - 1
    s = find_swings(high, low, 2)
    # High at 2; flat top 9,9 at 6-7 gives only the first bar; low at 4.
    assert s["index"].tolist() == [2, 4, 6]
    assert s["kind"].tolist() == [SWING_HIGH, SWING_LOW, SWING_HIGH]
    assert s["known_at"].tolist() == [4, 6, 8]
    assert s["price"].tolist() == [7.0, 4.0, 9.0]


def test_right_side_tie_is_a_pivot_left_side_tie_is_not():
    high = np.array([1, 2, 3, 3, 2, 1, 0], dtype=float)
    s = find_swings(high, high - 0.5, 2)
    assert _pairs(s[s["kind"] == SWING_HIGH]) == {(2, SWING_HIGH)}


def test_edges_are_never_pivots_and_short_series_are_empty():
    # bars 0 and 4 are the highest but sit at the edges
    high = np.array([9, 1, 2, 1, 9], dtype=float)
    assert len(find_swings(high, high - 1, 2)) == 0
    for n in range(5):
        assert len(find_swings(np.ones(n), np.ones(n), 2)) == 0
    # Pivot 2 needs bars 3 and 4: present at n=5, absent at n=4.
    high = np.array([1, 2, 5, 2, 1], dtype=float)
    assert find_swings(high, high - 1, 2)["index"].tolist() == [2]
    assert len(find_swings(high[:4], high[:4] - 1, 2)) == 0


def test_outside_bar_is_both_high_and_low_high_first():
    high = np.array([2, 2, 5, 2, 2], dtype=float)
    low = np.array([1, 1, 0, 1, 1], dtype=float)
    s = find_swings(high, low, 2)
    assert s["index"].tolist() == [2, 2]
    assert s["kind"].tolist() == [SWING_HIGH, SWING_LOW]


@pytest.mark.parametrize("n_look", [1, 2, 3, 5, 8])
def test_matches_brute_force_on_integer_random_walks_with_ties(n_look):
    rng = np.random.default_rng(n_look)
    close = np.cumsum(rng.integers(-2, 3, 3000)).astype(float)
    high = close + rng.integers(0, 2, 3000)
    low = close - rng.integers(0, 2, 3000)
    s = find_swings(high, low, n_look)
    assert _pairs(s) == naive_swings(high, low, n_look)
    assert np.array_equal(s["known_at"], s["index"] + n_look)
    assert np.all(np.diff(s["known_at"]) >= 0)
    assert np.array_equal(s["price"], np.where(s["kind"] == SWING_HIGH, high[s["index"]],
                                               low[s["index"]]))


def _package_swings(df, n_look):
    smc = pytest.importorskip("smartmoneyconcepts").smc
    out = smc.swing_highs_lows(df[["open", "high", "low", "close", "volume"]], swing_length=n_look)
    return out["HighLow"].to_numpy()


@pytest.mark.parametrize("n_look", [2, 5])
def test_consistent_with_smartmoneyconcepts_package(n_look):
    """Relationship verified with the package's ``swing_highs_lows(df, swing_length=N)``.

    Its raw candidates (before pruning) are bars whose high equals the max of bars i-N+1..i+N
    (N-1 bars on the left, N on the right, ties allowed, highs win over lows on the same bar);
    it then keeps only the highest (first on ties) of each run of consecutive same-kind
    candidates, and forces bars 0 and n-1 to be swings. So, away from both ends:
      (a) every package swing high that is strict on our N-bar left window is one of our swing
          highs (same bar; its row is our pivot index, our known_at is that row + N);
      (b) every one of our swing highs the package lacks was pruned: some package swing high is
          at least as high with no package swing low in between. Lows mirrored, except our lows
          sitting on a package raw high (the package labels such bars high only).
    """
    df = pd.read_csv(DATA_1H, nrows=8000)
    high, low = df["high"].to_numpy(), df["low"].to_numpy()
    n = len(df)
    pkg = _package_swings(df, n_look)
    ours = detect_smc(df.open.to_numpy(), high, low, df.close.to_numpy(),
                      SmcParams(swing_lookback=n_look)).swings
    inner = set(range(n_look, n - n_look))
    pkg_high = set(np.flatnonzero(pkg == 1).tolist()) & inner
    pkg_low = set(np.flatnonzero(pkg == -1).tolist()) & inner
    our_high = set(ours["index"][ours["kind"] == SWING_HIGH].tolist())
    our_low = set(ours["index"][ours["kind"] == SWING_LOW].tolist())
    assert np.array_equal(ours["known_at"], ours["index"] + n_look)

    def strict_left(x, i, sign):
        return sign * x[i] > sign * (max(x[i - n_look : i]) if sign > 0 else min(x[i - n_look : i]))

    # (a)
    assert {i for i in pkg_high if strict_left(high, i, 1)} <= our_high
    assert {i for i in pkg_low if strict_left(low, i, -1)} <= our_low
    assert len(our_high & pkg_high) > 0.5 * len(our_high)  # the bulk really coincides

    # (b)
    all_pkg_high = np.flatnonzero(pkg == 1)
    all_pkg_low = np.flatnonzero(pkg == -1)

    def dominated(i, same, other, x, sign):
        for j in same:
            if sign * x[j] >= sign * x[i]:
                a, b = min(i, j), max(i, j)
                if not np.any((other > a) & (other < b)):
                    return True
        return False

    for i in our_high - pkg_high:
        near = all_pkg_high[np.abs(all_pkg_high - i) < 50 * n_look]
        assert dominated(i, near, all_pkg_low, high, 1), (
            f"our swing high {i} is not explained by pruning")
    for i in our_low - pkg_low:
        if high[i] == high[max(i - n_look + 1, 0) : i + n_look + 1].max():
            continue  # a package raw high: the package marks this bar high, not low
        near = all_pkg_low[np.abs(all_pkg_low - i) < 50 * n_look]
        assert dominated(i, near, all_pkg_high, low, -1), (
            f"our swing low {i} is not explained by pruning")
