"""Backtest evidence: the go-live metrics of backtests, in-sample and out-of-sample side by side.

Each source is a backtest report (the ``--report-json`` contract: ``equity_curve`` daily,
``initial_equity``, ``trade_list``), from ``--backtest-json`` files or from a fresh backtest of
the config over its configured history (``fresh_report``: the bundled data of each configured
symbol, as ``python -m runners.backtest`` runs by default).

``evidence(report, label, oos_fraction, sweep)`` splits the report's daily equity curve by time:
the first ``1 - oos_fraction`` of its days are in-sample, the rest out-of-sample (the last 30 %
by default). Each part gets the same metrics: total return, Sharpe (daily returns, the first one
measured from the part's starting equity, x sqrt(365)), max drawdown, win rate, trades, profit
factor, and P(true Sharpe > 0). A part's trades are those that entered in it. Out-of-sample
figures far below in-sample ones are the mark of overfitting.

The parts' max drawdown is measured on the DAILY curve (the report has no per-bar equity), so it
can be shallower than the full period's figure, which the report measured on every bar.

With a ``Sweep`` (the configurations tried before choosing this one), the in-sample part also
gets its deflated Sharpe ratio: the chance that its Sharpe beats what the best of that many
skill-less trials would reach (``readiness.sweep`` says where the trials' variance comes from).
Backtest evidence is shown, never gating: the verdict depends on the database and config alone.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from analyzers.metrics import (
    DAYS_PER_YEAR,
    daily_returns,
    max_drawdown_pct,
    profit_factor,
    sharpe_ratio,
    total_return_pct,
    win_rate,
)
from analyzers.statistics import deflated_sharpe_ratio, expected_max_sharpe, moments, psr
from core.errors import UserInputError
from core.json_files import read_json_file
from readiness.sweep import Sweep

__all__ = ["DEFAULT_OOS_FRACTION", "Evidence", "Segment", "evidence", "fresh_report",
           "load_report"]

DEFAULT_OOS_FRACTION = 0.3


@dataclass(frozen=True)
class Segment:
    name: str
    start: str | None
    end: str | None
    days: int
    total_return_pct: float | None
    sharpe: float | None
    max_drawdown_pct: float | None
    win_rate: float | None
    trades: int
    profit_factor: float | None
    psr_vs_0: float | None
    dsr: float | None = None
    dsr_expected_max_sharpe: float | None = None   # annualized SR0 of the sweep


@dataclass(frozen=True)
class Evidence:
    label: str
    segments: tuple[Segment, ...]          # full, in-sample, out-of-sample
    oos_fraction: float
    sweep: Sweep | None
    notes: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {"label": self.label, "oos_fraction": self.oos_fraction,
                "segments": [asdict(s) for s in self.segments], "notes": list(self.notes)}


def load_report(path: str | Path) -> dict:
    """A backtest report JSON file; one-line errors naming ``--backtest-json``."""
    option = f"--backtest-json {path}"
    report = read_json_file(path, option)
    if not isinstance(report, dict):
        raise UserInputError(f"{option}: not a backtest report (expected a JSON object)")
    for key in ("equity_curve", "initial_equity", "trade_list"):
        if key not in report:
            raise UserInputError(f"{option}: not a backtest report (no {key}); write one with "
                                 f"python -m runners.backtest --report-json")
    curve = report["equity_curve"]
    if not isinstance(curve, list) or not all(
            isinstance(p, list) and len(p) == 2 and isinstance(p[1], (int, float))
            and not isinstance(p[1], bool) and p[1] > 0 for p in curve):
        raise UserInputError(f"{option}: equity_curve must be [[date, equity > 0], ...]")
    initial = report["initial_equity"]
    if not isinstance(initial, (int, float)) or isinstance(initial, bool) or not initial > 0:
        raise UserInputError(f"{option}: initial_equity must be a number > 0, got {initial!r}")
    return report


def fresh_report(config) -> tuple[dict, str]:
    """``(report, label)`` of a backtest of ``config`` over the bundled data of its symbols."""
    from engine.backtest import run_backtest
    from engine.data import load_data, resolve_data

    paths = resolve_data([], config)
    result = run_backtest(config, load_data(paths))
    label = "fresh backtest: " + ", ".join(f"{s} {Path(p).name}" for s, p in paths.items())
    return result.report, label


def _segment(name: str, dates: list[str], values: np.ndarray, start_equity: float,
             trades: list[dict], sweep: Sweep | None = None) -> Segment:
    returns = daily_returns(values, start_equity).to_numpy() if len(values) else np.empty(0)
    m = moments(returns)
    total = total_return_pct(start_equity, float(values[-1])) if len(values) else None
    dsr = sr0 = None
    if sweep is not None and sweep.trials > 1 and m is not None:
        variance = (sweep.trial_variance_annual / DAYS_PER_YEAR
                    if sweep.trial_variance_annual is not None else 1.0 / (m.n - 1))
        dsr = deflated_sharpe_ratio(m, sweep.trials, variance)
        sr0 = expected_max_sharpe(sweep.trials, variance)
        sr0 = None if sr0 is None else sr0 * math.sqrt(DAYS_PER_YEAR)
    return Segment(
        name=name, start=dates[0] if dates else None, end=dates[-1] if dates else None,
        days=len(dates), total_return_pct=total, sharpe=sharpe_ratio(returns),
        max_drawdown_pct=max_drawdown_pct(values, start_equity) if len(values) else None,
        win_rate=win_rate(trades), trades=len(trades), profit_factor=profit_factor(trades),
        psr_vs_0=psr(m, 0.0), dsr=dsr, dsr_expected_max_sharpe=sr0)


def evidence(report: dict, label: str, oos_fraction: float = DEFAULT_OOS_FRACTION,
             sweep: Sweep | None = None) -> Evidence:
    """The report's full period, in-sample and out-of-sample parts (see the module docstring)."""
    curve = report["equity_curve"]
    dates = [str(d)[:10] for d, _ in curve]
    values = np.asarray([float(v) for _, v in curve], dtype=np.float64)
    initial = float(report["initial_equity"])
    trades = list(report["trade_list"])
    k = int(round(len(dates) * (1 - oos_fraction)))
    split = dates[k] if k < len(dates) else None
    is_trades = [t for t in trades if split is None or str(t["entry_time"])[:10] < split]
    oos_trades = [t for t in trades if split is not None and str(t["entry_time"])[:10] >= split]
    full = _segment("full period", dates, values, initial, trades)
    full = Segment(**{**asdict(full), "sharpe": report.get("sharpe", full.sharpe),
                      "max_drawdown_pct": report.get("max_drawdown_pct", full.max_drawdown_pct),
                      "total_return_pct": report.get("total_return_pct", full.total_return_pct)})
    in_sample = _segment("in-sample", dates[:k], values[:k], initial, is_trades, sweep)
    oos_start = float(values[k - 1]) if k > 0 else initial
    out_of_sample = _segment("out-of-sample", dates[k:], values[k:], oos_start, oos_trades)
    notes = []
    if in_sample.days < 2 or out_of_sample.days < 2:
        notes.append("too short to split: each part needs at least two days")
    elif (in_sample.sharpe is not None and out_of_sample.sharpe is not None
          and in_sample.sharpe > 0 and out_of_sample.sharpe < in_sample.sharpe / 2):
        notes.append(f"out-of-sample Sharpe {out_of_sample.sharpe:.2f} is less than half the "
                     f"in-sample {in_sample.sharpe:.2f}: a sign of overfitting")
    return Evidence(label, (full, in_sample, out_of_sample), oos_fraction, sweep, tuple(notes))
