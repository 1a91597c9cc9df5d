"""What a study maximizes, and how much a best-of-N result must be discounted.

Objectives, each read from one backtest's metrics (``research.tasks`` stores them):

- ``sharpe``: the report's Sharpe ratio (daily returns, 365 a year);
- ``calmar``: CAGR % / max drawdown % (None without a drawdown or below 30 days, where the
  report has no CAGR);
- ``psr``: the probabilistic Sharpe ratio, P(true Sharpe > 0), of the daily returns
  (``analyzers.metrics.probabilistic_sharpe_ratio``).

A run with fewer than ``min_trades`` trades has no objective (None): a handful of trades says
nothing, and an undefined value never ranks above a defined one.

The deflated Sharpe ratio (Bailey and Lopez de Prado, 2014) is the PSR with, as its threshold,
the Sharpe the best of N unskilled trials would reach by luck alone:
``SR0 = sqrt(V) * ((1 - g) * Z(1 - 1/N) + g * Z(1 - 1/(N e)))``, with V the variance of the
trials' Sharpe ratios, g the Euler-Mascheroni constant and Z the standard normal quantile. The
trial Sharpes are annualized, so SR0 is too (``probabilistic_sharpe_ratio`` takes an annual
threshold).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from analyzers import statistics
from analyzers.metrics import probabilistic_sharpe_ratio

__all__ = ["calmar_ratio", "deflated_sharpe_ratio", "expected_max_sharpe", "objective_value"]

def calmar_ratio(cagr_pct: float | None, max_drawdown_pct: float | None) -> float | None:
    if cagr_pct is None or not max_drawdown_pct:
        return None
    return cagr_pct / max_drawdown_pct


def objective_value(metrics: Mapping, objective: str, min_trades: int) -> float | None:
    """The objective of one run's metrics, or None (undefined, or too few trades)."""
    if metrics.get("trades", 0) < min_trades:
        return None
    value = metrics.get(objective)
    return None if value is None or not math.isfinite(value) else float(value)


def expected_max_sharpe(trial_sharpes: Sequence[float | None]) -> float:
    """SR0: the expected best annualized Sharpe of ``len(trial_sharpes)`` trials by luck (0 for
    fewer than two trials with a Sharpe)."""
    values = [s for s in trial_sharpes if s is not None]
    if len(values) < 2:      # also fewer than two trials
        return 0.0
    return statistics.expected_max_sharpe(len(trial_sharpes),
                                          float(np.var(values, ddof=1))) or 0.0


def deflated_sharpe_ratio(daily_returns, trial_sharpes: Sequence[float | None]) -> float | None:
    """P(true Sharpe > SR0) of ``daily_returns``, SR0 from ``trial_sharpes``."""
    return probabilistic_sharpe_ratio(daily_returns,
                                      threshold_annual=expected_max_sharpe(trial_sharpes))
