"""How much a track record proves: Sharpe-ratio confidence, bootstrap intervals and win-rate tests.

Pure functions over plain numbers and numpy arrays (no pandas, no backtrader, no scipy: the
normal distribution is the standard library's ``statistics.NormalDist``). Used by the go-live
readiness report; ``analyzers.metrics.probabilistic_sharpe_ratio`` is built on ``psr`` here.

Units: a Sharpe ratio here is PER PERIOD (daily for daily returns, not annualized) unless a
name says ``annual``; ``sr_annual = sr * sqrt(periods_per_year)``. Probabilities are in 0..1.
Empty-input rule as in ``analyzers.metrics``: an undefined figure is ``None``.

Formulas (Bailey and López de Prado 2012, 2014), with ``SR`` the sample Sharpe of ``T`` returns
(mean / standard deviation, ddof 1), ``g3`` their skewness and ``g4`` their kurtosis (both
population moments; ``g4`` is raw kurtosis, 3 for a normal distribution), and
``s(SR) = sqrt(1 - g3*SR + (g4 - 1)/4 * SR^2)``:

- probabilistic Sharpe ratio: ``PSR(SR*) = Phi((SR - SR*) * sqrt(T - 1) / s(SR))``, the
  probability that the true Sharpe exceeds ``SR*``;
- minimum track record length: ``MinTRL = 1 + s(SR)^2 * (z_c / (SR - SR*))^2`` returns, the
  record after which ``PSR(SR*)`` reaches the confidence ``c`` (``z_c = Phi^-1(c)``), if the
  Sharpe stays what it is; undefined when ``SR <= SR*``;
- deflated Sharpe ratio: ``DSR = PSR(SR0)`` with ``SR0 = sqrt(V) * ((1 - gamma) * Phi^-1(1 - 1/N)
  + gamma * Phi^-1(1 - 1/(N e)))``, the Sharpe the best of ``N`` skill-less trials whose
  Sharpes have variance ``V`` is expected to reach (``gamma`` = Euler-Mascheroni constant).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import numpy as np

__all__ = [
    "EULER_GAMMA", "Interval", "ReturnMoments", "binomial_p_value", "block_bootstrap_sharpe",
    "bootstrap_win_rate", "break_even_win_rate", "clean_returns", "deflated_sharpe_ratio",
    "expected_max_sharpe",
    "min_track_record_length", "moments", "normal_cdf", "normal_ppf", "psr",
]

EULER_GAMMA = 0.5772156649015329
_NORMAL = NormalDist()


def normal_cdf(z: float) -> float:
    """Standard normal distribution function Phi(z)."""
    return _NORMAL.cdf(z)


def normal_ppf(p: float) -> float:
    """Inverse of Phi for 0 < p < 1 (the standard library's Wichura AS241, ~1e-16 accurate)."""
    return _NORMAL.inv_cdf(p)


@dataclass(frozen=True, slots=True)
class ReturnMoments:
    """What the Sharpe statistics need of a return series: ``n`` returns, their per-period
    Sharpe ``sr``, skewness ``skew`` and raw kurtosis ``kurtosis`` (normal: 0 and 3)."""

    n: int
    sr: float
    skew: float
    kurtosis: float

    def annual_sr(self, periods_per_year: int) -> float:
        return self.sr * math.sqrt(periods_per_year)


def clean_returns(returns: Any) -> np.ndarray:
    """``returns`` as a flat float array without NaN; a ValueError for an infinite one."""
    r = np.asarray(returns, dtype=np.float64).reshape(-1)
    if np.isinf(r).any():
        raise ValueError("returns contain inf (an equity of zero?)")
    return r[~np.isnan(r)]


def moments(returns: Any) -> ReturnMoments | None:
    """The moments of ``returns`` (NaN skipped); None with fewer than 2 returns or no spread."""
    r = clean_returns(returns)
    if len(r) < 2 or np.ptp(r) == 0:
        return None
    mean = float(np.mean(r))
    std = float(np.std(r, ddof=1))
    dev = r - mean
    m2 = float(np.mean(dev**2))
    if std == 0 or m2 == 0:
        return None
    return ReturnMoments(n=len(r), sr=mean / std, skew=float(np.mean(dev**3)) / m2**1.5,
                         kurtosis=float(np.mean(dev**4)) / m2**2)


def _sr_deviation(sr: float, skew: float, kurtosis: float) -> float | None:
    """``s(SR)``: the Sharpe estimator's standard deviation times sqrt(T - 1); None if the
    moments make it undefined (the square root of a non-positive number)."""
    var = 1.0 - skew * sr + (kurtosis - 1.0) / 4.0 * sr**2
    return math.sqrt(var) if var > 0 else None


def psr(m: ReturnMoments | None, sr_star: float = 0.0) -> float | None:
    """Probabilistic Sharpe ratio: the probability that the true per-period Sharpe of the
    series described by ``m`` exceeds ``sr_star`` (per period too)."""
    if m is None:
        return None
    s = _sr_deviation(m.sr, m.skew, m.kurtosis)
    if s is None:
        return None
    return normal_cdf((m.sr - sr_star) * math.sqrt(m.n - 1) / s)


def min_track_record_length(m: ReturnMoments | None, sr_star: float,
                            confidence: float = 0.95) -> float | None:
    """Returns needed for ``psr(m, sr_star)`` to reach ``confidence`` at the measured Sharpe
    and moments; None when the measured Sharpe is not above ``sr_star`` (no length will do)."""
    if m is None or not 0 < confidence < 1 or m.sr <= sr_star:
        return None
    s = _sr_deviation(m.sr, m.skew, m.kurtosis)
    if s is None:
        return None
    return 1.0 + s**2 * (normal_ppf(confidence) / (m.sr - sr_star)) ** 2


def expected_max_sharpe(trials: int, variance: float) -> float | None:
    """``SR0``: the expected largest Sharpe among ``trials`` skill-less trials whose Sharpes
    have ``variance`` (same units as the result). None for fewer than 2 trials (nothing was
    selected: the DSR is then the PSR against 0) or a negative variance."""
    if trials < 2 or not variance >= 0:
        return None
    return math.sqrt(variance) * ((1 - EULER_GAMMA) * normal_ppf(1 - 1 / trials)
                                  + EULER_GAMMA * normal_ppf(1 - 1 / (trials * math.e)))


def deflated_sharpe_ratio(m: ReturnMoments | None, trials: int,
                          trial_variance: float) -> float | None:
    """Deflated Sharpe ratio: ``psr(m, SR0)`` with ``SR0 = expected_max_sharpe(trials,
    trial_variance)``; ``trial_variance`` is the variance of the trials' per-period Sharpes
    (the variance of annualized Sharpes divided by the periods per year)."""
    sr0 = expected_max_sharpe(trials, trial_variance)
    if sr0 is None:
        return None
    return psr(m, sr0)


# --------------------------------------------------------------------------- bootstrap


@dataclass(frozen=True, slots=True)
class Interval:
    """A bootstrap percentile interval: ``low``..``high`` holds ``level`` of the resamples."""

    low: float
    high: float
    level: float
    resamples: int
    seed: int
    block: int = 1


def block_bootstrap_sharpe(returns: Any, *, periods_per_year: int = 365, resamples: int = 2000,
                           seed: int = 0, level: float = 0.95,
                           block: int | None = None) -> Interval | None:
    """Percentile interval of the annualized Sharpe by a circular moving-block bootstrap.

    Each resample glues ``ceil(n / block)`` blocks of ``block`` consecutive returns (starting
    anywhere, wrapping around the end) and is cut to ``n`` returns; blocks keep the serial
    dependence of daily returns that an independent resampling would destroy. ``block``
    defaults to ``ceil(n ** (1/3))``. Resamples without spread are left out. The same ``seed``
    gives the same interval. None with fewer than 3 returns.
    """
    r = np.asarray(returns, dtype=np.float64).reshape(-1)
    r = r[~np.isnan(r)]
    n = len(r)
    if n < 3 or np.ptp(r) == 0:
        return None
    block = max(1, min(n, int(math.ceil(n ** (1 / 3))) if block is None else int(block)))
    rng = np.random.default_rng(seed)
    blocks = int(math.ceil(n / block))
    starts = rng.integers(0, n, size=(resamples, blocks))
    index = (starts[:, :, None] + np.arange(block)[None, None, :]).reshape(resamples, -1)[:, :n] % n
    sample = r[index]
    std = sample.std(axis=1, ddof=1)
    ok = std > 0
    if not ok.any():
        return None
    sharpe = sample[ok].mean(axis=1) / std[ok] * math.sqrt(periods_per_year)
    low, high = np.quantile(sharpe, [(1 - level) / 2, (1 + level) / 2])
    return Interval(float(low), float(high), level, int(ok.sum()), seed, block)


def bootstrap_win_rate(wins: Any, *, resamples: int = 2000, seed: int = 0,
                       level: float = 0.95) -> Interval | None:
    """Percentile interval of the win rate, resampling the trades independently (a trade's
    outcome does not depend on the previous one's). ``wins`` are booleans, one per trade.
    None with no trades."""
    w = np.asarray(wins, dtype=bool).reshape(-1)
    if len(w) == 0:
        return None
    rng = np.random.default_rng(seed)
    rates = w[rng.integers(0, len(w), size=(resamples, len(w)))].mean(axis=1)
    low, high = np.quantile(rates, [(1 - level) / 2, (1 + level) / 2])
    return Interval(float(low), float(high), level, resamples, seed)


# --------------------------------------------------------------------------- win-rate tests


def binomial_p_value(wins: int, trials: int, p: float) -> float | None:
    """One-sided exact binomial test: ``P(X >= wins)`` for ``X ~ Binomial(trials, p)``, the
    chance that a strategy whose true win rate is ``p`` wins at least this often. None with no
    trials or ``p`` outside 0..1."""
    if trials <= 0 or not 0 <= p <= 1 or not 0 <= wins <= trials:
        return None
    if wins == 0:
        return 1.0
    if p == 0:
        return 0.0
    if p == 1:
        return 1.0
    log_p, log_q = math.log(p), math.log1p(-p)
    terms = [math.lgamma(trials + 1) - math.lgamma(i + 1) - math.lgamma(trials - i + 1)
             + i * log_p + (trials - i) * log_q for i in range(wins, trials + 1)]
    top = max(terms)
    return min(1.0, math.exp(top) * math.fsum(math.exp(t - top) for t in terms))


def break_even_win_rate(pnls: Any) -> float | None:
    """The win rate at which these trades' average win and average loss would break even:
    ``L / (W + L)``, with ``W`` the mean P&L of the winners (P&L > 0) and ``L`` the mean loss
    of the others (break-even trades count as losses of 0, as they are not wins). None without
    at least one winner and one non-winner."""
    p = np.asarray(pnls, dtype=np.float64).reshape(-1)
    winners, others = p[p > 0], p[p <= 0]
    if not len(winners) or not len(others):
        return None
    avg_win, avg_loss = float(winners.mean()), float(-others.mean())
    if avg_win + avg_loss <= 0:
        return None
    return avg_loss / (avg_win + avg_loss)
