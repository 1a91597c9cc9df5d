"""The confidence statistics against hand computations of the papers' formulas: PSR and MinTRL
(Bailey and López de Prado 2012), DSR (2014, with the paper's worked example), the exact
binomial test, the break-even win rate, and the seeded bootstrap intervals."""

import math
from fractions import Fraction

import numpy as np
import pytest

from analyzers.metrics import probabilistic_sharpe_ratio
from analyzers.statistics import (
    EULER_GAMMA,
    ReturnMoments,
    binomial_p_value,
    block_bootstrap_sharpe,
    bootstrap_win_rate,
    break_even_win_rate,
    deflated_sharpe_ratio,
    expected_max_sharpe,
    min_track_record_length,
    moments,
    normal_cdf,
    normal_ppf,
    psr,
)

RETURNS = [0.012, -0.004, 0.021, 0.0, 0.015, -0.011, 0.007, 0.003, -0.002, 0.018]


def phi(z):
    return 0.5 * (1 + math.erf(z / math.sqrt(2)))


def hand_moments(r):
    """Mean, sample std (ddof 1), population skewness and raw kurtosis, by loops."""
    n = len(r)
    mean = sum(r) / n
    std = math.sqrt(sum((x - mean) ** 2 for x in r) / (n - 1))
    m2 = sum((x - mean) ** 2 for x in r) / n
    m3 = sum((x - mean) ** 3 for x in r) / n
    m4 = sum((x - mean) ** 4 for x in r) / n
    return mean / std, m3 / m2 ** 1.5, m4 / m2 ** 2


def test_moments_are_the_papers_estimators():
    sr, skew, kurt = hand_moments(RETURNS)
    m = moments(RETURNS)
    assert (m.n, m.sr, m.skew, m.kurtosis) == (10, pytest.approx(sr, rel=1e-12),
                                               pytest.approx(skew, rel=1e-12),
                                               pytest.approx(kurt, rel=1e-12))
    assert moments([0.01]) is None and moments([0.01, 0.01]) is None


def test_psr_against_the_formula_by_hand():
    sr, skew, kurt = hand_moments(RETURNS)
    for sr_star in (0.0, 0.1, 0.5):
        z = (sr - sr_star) * math.sqrt(10 - 1) / math.sqrt(1 - skew * sr + (kurt - 1) / 4 * sr**2)
        assert psr(moments(RETURNS), sr_star) == pytest.approx(phi(z), rel=1e-12)
    # The metrics module's PSR (annualized threshold) is the same function.
    assert probabilistic_sharpe_ratio(RETURNS, threshold_annual=1.5) == pytest.approx(
        psr(moments(RETURNS), 1.5 / math.sqrt(365)), rel=1e-15)


def test_the_kurtosis_term_is_raw_kurtosis_minus_one_over_four():
    """(g4 - 1)/4 with g4 = 3 for normal returns: the variance term is 1 + SR^2/2 (Lo 2002);
    the excess-kurtosis slip (g4 - 3)/4 would make it 1 and PSR too high."""
    m = ReturnMoments(n=101, sr=0.5, skew=0.0, kurtosis=3.0)
    assert psr(m) == pytest.approx(phi(0.5 * 10 / math.sqrt(1 + 0.25 / 2)), rel=1e-12)
    assert psr(m) < phi(0.5 * 10)


def test_two_months_at_sharpe_1_5_is_only_about_72_percent_sure():
    """The issue's figure: 60 daily returns, annual Sharpe 1.5, normal: P(true SR > 0) ~ 72 %."""
    m = ReturnMoments(n=60, sr=1.5 / math.sqrt(365), skew=0.0, kurtosis=3.0)
    assert psr(m) == pytest.approx(0.726, abs=0.002)


def test_min_track_record_length_by_hand_and_it_reaches_the_confidence():
    sr, skew, kurt = hand_moments(RETURNS)
    m = moments(RETURNS)
    sr_star = 0.1
    z = 1.6448536269514722       # Phi^-1(0.95)
    expected = 1 + (1 - skew * sr + (kurt - 1) / 4 * sr**2) * (z / (sr - sr_star)) ** 2
    assert min_track_record_length(m, sr_star, 0.95) == pytest.approx(expected, rel=1e-9)
    # At exactly that length (same moments), the PSR is the confidence asked for.
    at = ReturnMoments(n=expected, sr=m.sr, skew=m.skew, kurtosis=m.kurtosis)
    assert psr(at, sr_star) == pytest.approx(0.95, abs=1e-9)
    # No length will do when the Sharpe is not above the threshold.
    assert min_track_record_length(m, sr + 0.01, 0.95) is None


def test_dsr_worked_example_of_the_paper():
    """Bailey & López de Prado (2014): annual SR 2.5 over T = 1250 daily returns (250 a year),
    skew -3, kurtosis 10, N = 100 trials whose annual Sharpes have variance 0.5: DSR ~ 0.9004."""
    periods = 250
    m = ReturnMoments(n=1250, sr=2.5 / math.sqrt(periods), skew=-3.0, kurtosis=10.0)
    variance = 0.5 / periods
    # SR0 by hand: sqrt(V) ((1 - gamma) Z^-1(1 - 1/N) + gamma Z^-1(1 - 1/(N e))), with the
    # normal quantiles of 0.99 and 1 - 1/(100 e) from a table
    sr0 = math.sqrt(variance) * ((1 - 0.5772156649) * 2.3263478740 + 0.5772156649 * 2.6802104450)
    assert expected_max_sharpe(100, variance) == pytest.approx(sr0, rel=1e-9)
    assert expected_max_sharpe(100, variance) * math.sqrt(periods) == pytest.approx(1.7894,
                                                                                  abs=1e-4)
    assert deflated_sharpe_ratio(m, 100, variance) == pytest.approx(0.9004, abs=5e-5)
    # One trial: nothing was selected, so nothing to deflate.
    assert deflated_sharpe_ratio(m, 1, variance) is None


def test_normal_distribution_functions():
    assert normal_cdf(1.96) == pytest.approx(0.9750021048517795, rel=1e-12)
    assert normal_ppf(0.975) == pytest.approx(1.959963984540054, rel=1e-12)
    assert abs(EULER_GAMMA - 0.5772156649015329) < 1e-15


def test_binomial_p_value_exact_by_fractions():
    """55 % over 40 trades: P(X >= 22 | 40, 1/2) ~ 0.32, the issue's 'about 0.3'."""
    exact = sum(Fraction(math.comb(40, i), 2**40) for i in range(22, 41))
    assert binomial_p_value(22, 40, 0.5) == pytest.approx(float(exact), rel=1e-12)
    assert binomial_p_value(22, 40, 0.5) == pytest.approx(0.3179, abs=1e-4)
    p = Fraction(1, 4)
    exact = sum(math.comb(12, i) * p**i * (1 - p) ** (12 - i) for i in range(5, 13))
    assert binomial_p_value(5, 12, 0.25) == pytest.approx(float(exact), rel=1e-12)
    assert binomial_p_value(0, 10, 0.5) == 1.0
    assert binomial_p_value(3, 0, 0.5) is None


def test_break_even_win_rate_from_average_win_and_loss():
    # winners average 30, the others (-10, -10, 0) average a loss of 20/3
    assert break_even_win_rate([30, 30, -10, -10, 0]) == pytest.approx((20 / 3) / (30 + 20 / 3))
    assert break_even_win_rate([5, 6]) is None and break_even_win_rate([-1]) is None


def test_block_bootstrap_is_seeded_and_brackets_the_sample_sharpe():
    rng = np.random.default_rng(3)
    r = rng.normal(0.001, 0.01, 400)
    a = block_bootstrap_sharpe(r, seed=11)
    b = block_bootstrap_sharpe(r, seed=11)
    c = block_bootstrap_sharpe(r, seed=12)
    assert (a.low, a.high) == (b.low, b.high)            # reproducible
    assert (a.low, a.high) != (c.low, c.high)
    assert a.block == math.ceil(400 ** (1 / 3)) == 8
    sample = r.mean() / r.std(ddof=1) * math.sqrt(365)
    assert a.low < sample < a.high
    assert block_bootstrap_sharpe([0.01, 0.02]) is None


def test_win_rate_bootstrap():
    assert bootstrap_win_rate([True] * 5).low == 1.0
    i = bootstrap_win_rate([True, False] * 50, seed=1)
    assert i.low < 0.5 < i.high and i == bootstrap_win_rate([True, False] * 50, seed=1)
    assert bootstrap_win_rate([]) is None
