"""Metrics layer: pure metric functions (``metrics``) and the backtrader recorder (``equity``).

``from analyzers import sharpe_ratio`` does not import backtrader; ``EquityRecorder`` is loaded
on first access, so the paper account and the readiness report can use the metrics alone.
"""

from __future__ import annotations

from typing import Any

from analyzers.metrics import (
    DAYS_PER_YEAR,
    SUMMARY_KEYS,
    average_holding_hours,
    average_r_multiple,
    buy_hold_return_pct,
    cagr_pct,
    daily_equity,
    daily_returns,
    drawdown_series,
    expectancy,
    exposure_pct,
    max_drawdown_pct,
    probabilistic_sharpe_ratio,
    profit_factor,
    sharpe_ratio,
    sortino_ratio,
    summarize,
    total_return_pct,
    win_rate,
)


def __getattr__(name: str) -> Any:
    if name == "EquityRecorder":
        from analyzers.equity import EquityRecorder

        return EquityRecorder
    raise AttributeError(f"module 'analyzers' has no attribute {name!r}")


__all__ = [
    "DAYS_PER_YEAR", "SUMMARY_KEYS", "EquityRecorder", "average_holding_hours",
    "average_r_multiple", "buy_hold_return_pct", "cagr_pct", "daily_equity", "daily_returns",
    "drawdown_series", "expectancy", "exposure_pct", "max_drawdown_pct",
    "probabilistic_sharpe_ratio", "profit_factor", "sharpe_ratio", "sortino_ratio", "summarize",
    "total_return_pct", "win_rate",
]
