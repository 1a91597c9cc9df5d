"""How much a record proves: the statistics of the readiness report, on daily returns and trades.

``record_confidence(daily_returns, pnls, ...)`` gathers, for one record (``analyzers.statistics``
has the formulas):

- the probabilistic Sharpe ratio against 0 and against the go-live Sharpe threshold;
- the minimum track record length for ``confidence`` at the threshold, and the days still
  missing (none when the record is long enough; None when the measured Sharpe is not above the
  threshold, so no length will do);
- a block-bootstrap interval of the annualized Sharpe and a bootstrap interval of the win rate
  (seeded: the same record and seed give the same intervals);
- the one-sided binomial p-value of the wins against a 50 % win rate and against the break-even
  win rate of the trades' own average win and loss.

Daily returns are annualized with 365 days (crypto trades every day).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from analyzers.metrics import DAYS_PER_YEAR
from analyzers.statistics import (
    Interval,
    ReturnMoments,
    binomial_p_value,
    block_bootstrap_sharpe,
    bootstrap_win_rate,
    break_even_win_rate,
    min_track_record_length,
    moments,
    psr,
)

__all__ = ["BOOTSTRAP_RESAMPLES", "Confidence", "record_confidence"]

BOOTSTRAP_RESAMPLES = 2000


@dataclass(frozen=True)
class Confidence:
    moments: ReturnMoments | None
    sr_threshold_annual: float
    confidence: float
    psr_zero: float | None
    psr_threshold: float | None
    min_track_record_days: float | None
    more_days: int | None
    sharpe_interval: Interval | None
    win_interval: Interval | None
    trades: int
    wins: int
    p_vs_half: float | None
    break_even_win_rate: float | None
    p_vs_break_even: float | None

    def as_dict(self) -> dict[str, Any]:
        m = self.moments
        return {
            "daily_returns": m.n if m else 0,
            "daily_sharpe": m.sr if m else None,
            "skewness": m.skew if m else None,
            "kurtosis": m.kurtosis if m else None,
            "psr_vs_0": self.psr_zero,
            "psr_vs_threshold": self.psr_threshold,
            "sharpe_threshold": self.sr_threshold_annual,
            "confidence": self.confidence,
            "min_track_record_days": self.min_track_record_days,
            "more_days_needed": self.more_days,
            "sharpe_interval": _interval(self.sharpe_interval),
            "win_rate_interval": _interval(self.win_interval),
            "trades": self.trades,
            "wins": self.wins,
            "binomial_p_vs_50pct": self.p_vs_half,
            "break_even_win_rate": self.break_even_win_rate,
            "binomial_p_vs_break_even": self.p_vs_break_even,
        }


def _interval(i: Interval | None) -> dict | None:
    if i is None:
        return None
    return {"low": i.low, "high": i.high, "level": i.level, "resamples": i.resamples,
            "seed": i.seed, "block_days": i.block}


def record_confidence(daily_returns: Any, pnls: Any, *, sharpe_threshold: float,
                      confidence: float, seed: int = 0,
                      resamples: int = BOOTSTRAP_RESAMPLES) -> Confidence:
    """The statistics of one record (see the module docstring); ``sharpe_threshold`` is
    annualized, ``confidence`` a probability (e.g. 0.95)."""
    m = moments(daily_returns)
    sr_star = sharpe_threshold / math.sqrt(DAYS_PER_YEAR)
    mintrl = min_track_record_length(m, sr_star, confidence)
    more = None if mintrl is None else max(0, math.ceil(mintrl - m.n))
    p = np.asarray(pnls, dtype=np.float64).reshape(-1)
    wins = int(np.count_nonzero(p > 0))
    be = break_even_win_rate(p)
    return Confidence(
        moments=m, sr_threshold_annual=sharpe_threshold, confidence=confidence,
        psr_zero=psr(m, 0.0), psr_threshold=psr(m, sr_star),
        min_track_record_days=mintrl, more_days=more,
        sharpe_interval=block_bootstrap_sharpe(daily_returns, periods_per_year=DAYS_PER_YEAR,
                                               resamples=resamples, seed=seed),
        win_interval=bootstrap_win_rate(p > 0, resamples=resamples, seed=seed),
        trades=len(p), wins=wins, p_vs_half=binomial_p_value(wins, len(p), 0.5),
        break_even_win_rate=be,
        p_vs_break_even=None if be is None else binomial_p_value(wins, len(p), be))
