"""The readiness report's charts, as PNG bytes: the paper equity with its drawdown, and a
histogram of the daily returns.

Only ``matplotlib.figure.Figure`` with the Agg canvas (never ``pyplot``): no display needed and
no global state touched. The equity is the per-bar mark-to-market record, each value drawn at
its bar's close; the drawdown is ``analyzers.metrics.drawdown_series`` of those values with the
initial equity as the first peak, so its deepest point is the report's max drawdown.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from analyzers.figures import png_bytes
from analyzers.metrics import drawdown_series
from core.timeframes import timeframe_ms
from readiness.record import PaperRecord

__all__ = ["equity_png", "returns_png"]

DPI = 100


def _png(fig: Figure) -> bytes:
    return png_bytes(fig, DPI)


def equity_png(record: PaperRecord) -> bytes | None:
    """Equity (top) and drawdown in % (bottom) of the record; None without a record."""
    h = record.history
    if h is None or not len(h.times):
        return None
    closes = pd.to_datetime(np.asarray(h.times, dtype=np.int64) + timeframe_ms(h.exec_tf),
                            unit="ms", utc=True)
    values = np.asarray(h.values, dtype=np.float64)
    dd = drawdown_series(values, h.initial).to_numpy()
    fig = Figure(figsize=(11, 6))
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [2, 1]})
    top.plot(closes, values, color="#1f77b4", linewidth=1.0, gid="equity")
    top.axhline(h.initial, color="#7f7f7f", linestyle="--", linewidth=0.8)
    top.set_ylabel("equity (USDT)")
    top.set_title(f"{record.source} account {record.account.id}: equity, marked to market "
                  f"at each bar close")
    top.grid(alpha=0.3)
    bottom.fill_between(closes, dd, 0.0, color="#d62728", alpha=0.4, gid="drawdown")
    bottom.set_ylabel("drawdown (%)")
    bottom.grid(alpha=0.3)
    fig.autofmt_xdate()
    fig.tight_layout()
    return _png(fig)


def returns_png(record: PaperRecord) -> bytes | None:
    """Histogram of the record's daily returns in %; None with fewer than two returns."""
    r = np.asarray(record.daily_returns, dtype=np.float64) * 100
    if len(r) < 2:
        return None
    fig = Figure(figsize=(11, 4))
    ax = fig.subplots()
    bins = min(50, max(5, int(np.sqrt(len(r))) * 2))
    ax.hist(r, bins=bins, color="#1f77b4", alpha=0.8, gid="returns")
    ax.axvline(0.0, color="#7f7f7f", linewidth=0.8)
    ax.axvline(float(r.mean()), color="#2ca02c", linestyle="--", linewidth=1.0,
               label=f"mean {r.mean():.3f} %")
    ax.set_xlabel("daily return (%)")
    ax.set_ylabel("days")
    ax.set_title(f"daily returns: {len(r)} days")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return _png(fig)
