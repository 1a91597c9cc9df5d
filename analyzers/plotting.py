"""Backtest chart: render a backtest report and its price data to a PNG file.

``plot_backtest(report, prices, path)`` draws, top to bottom:

* one price panel per symbol: the close price (downsampled to a min/max
  envelope of at most ~4,000 points for long series, so a year of 1m bars
  renders in about a second), every trade's entry (up triangle for long,
  down triangle for short), its exit (green for a win, red for a loss,
  a square for ``end_of_data`` exits), a thin line joining entry and exit,
  and the trade's stop loss (red) and take profit (green) as short
  horizontal segments spanning the trade's lifetime;
* the daily equity curve with the initial equity as a dashed line;
* the drawdown, in percent below the running peak, as a filled area.

The title carries symbols, timeframe, period, total return, max drawdown,
Sharpe, win rate and trade count; missing (``None``/NaN) metrics show as
"n/a".

Only ``matplotlib.figure.Figure`` with the Agg canvas is used, never
``pyplot``: importing or calling this module does not touch the global
pyplot state or the selected backend, and works without a display.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd
from matplotlib import dates as mdates
from matplotlib import ticker as mticker
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

__all__ = ["plot_backtest"]

FIGSIZE = (14.0, 10.0)
DPI = 100
MAX_PRICE_POINTS = 4000  # a min/max envelope of MAX_PRICE_POINTS // 2 buckets

_LONG_COLOR = "#1f77b4"
_SHORT_COLOR = "#ff7f0e"
_WIN_COLOR = "#2ca02c"
_LOSS_COLOR = "#d62728"
_FLAT_COLOR = "#7f7f7f"
_SL_COLOR = "#d62728"
_TP_COLOR = "#2ca02c"
_MAX_TITLE_SYMBOLS = 6


# --------------------------------------------------------------------------- #
# small helpers
# --------------------------------------------------------------------------- #
def _finite(value: Any) -> float | None:
    """``value`` as a finite float, or None (None, NaN, inf, garbage)."""
    if value is None:
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


def _fmt(value: Any, spec: str, suffix: str = "", scale: float = 1.0) -> str:
    num = _finite(value)
    if num is None:
        return "n/a"
    return f"{num * scale:{spec}}{suffix}"


def _epoch() -> pd.Timestamp:
    """Matplotlib's date epoch (rcParams['date.epoch']) as a UTC Timestamp."""
    epoch = pd.Timestamp(mdates.get_epoch())
    return epoch.tz_localize("UTC") if epoch.tzinfo is None else epoch.tz_convert("UTC")


def _utc_index(index: Any) -> pd.DatetimeIndex:
    idx = pd.DatetimeIndex(index)
    return idx.tz_localize("UTC") if idx.tz is None else idx.tz_convert("UTC")


def _index_to_num(index: Any) -> np.ndarray:
    """Datetimes -> matplotlib date numbers (float days since the epoch), vectorised."""
    idx = _utc_index(index)
    return np.asarray((idx - _epoch()) / pd.Timedelta(days=1), dtype=float)


def _time_to_num(value: Any) -> float | None:
    """One ISO string / datetime / Timestamp -> matplotlib date number, or None."""
    if value is None:
        return None
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError):
        return None
    if ts is pd.NaT:
        return None
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return float((ts - _epoch()) / pd.Timedelta(days=1))


def _envelope(x: np.ndarray, y: np.ndarray, max_points: int) -> tuple[np.ndarray, np.ndarray]:
    """Downsample (x, y) to at most ``max_points`` points keeping spikes.

    The series is cut into ``max_points // 2`` equal buckets and each bucket
    contributes its minimum and its maximum, in time order, so the drawn line
    covers exactly the range the full-resolution line would.
    """
    n = len(y)
    if n <= max_points:
        return x, y
    buckets = max(1, max_points // 2)
    size = math.ceil(n / buckets)
    pad = size * math.ceil(n / size) - n
    yp = np.concatenate([y, np.full(pad, np.nan)]).reshape(-1, size)
    valid = ~np.isnan(yp)
    rows = valid.any(axis=1)
    yp, valid = yp[rows], valid[rows]
    row_start = np.flatnonzero(rows) * size
    lo = np.argmin(np.where(valid, yp, np.inf), axis=1)
    hi = np.argmax(np.where(valid, yp, -np.inf), axis=1)
    first = np.minimum(lo, hi) + row_start
    second = np.maximum(lo, hi) + row_start
    pos = np.empty(2 * len(first), dtype=np.int64)
    pos[0::2] = first
    pos[1::2] = second
    return x[pos], y[pos]


def _price_label(value: float, _pos: Any = None) -> str:
    """Tick label for a price: thousands separators for big prices, up to
    6 significant digits for small ones (no offset/scientific notation)."""
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.6g}"


def _symbol_trades(trades: Iterable[Mapping[str, Any]], symbol: str, single: bool) -> list[Mapping[str, Any]]:
    out = []
    for t in trades:
        sym = t.get("symbol")
        if sym == symbol or (single and sym is None):
            out.append(t)
    return out


# --------------------------------------------------------------------------- #
# panels
# --------------------------------------------------------------------------- #
def _draw_price_panel(ax, symbol: str, frame: pd.DataFrame | None, trades: list[Mapping[str, Any]]) -> None:
    ax.set_ylabel(f"{symbol}\nprice")
    ax.yaxis.set_major_formatter(mticker.FuncFormatter(_price_label))
    ax.grid(True, alpha=0.3)
    handles: list[Any] = []

    if frame is not None and len(frame) and "close" in frame:
        close = frame["close"].to_numpy(dtype=float)
        x = _index_to_num(frame.index)
        order = np.argsort(x, kind="stable")
        if np.any(order != np.arange(len(order))):
            x, close = x[order], close[order]
        xs, ys = _envelope(x, close, MAX_PRICE_POINTS)
        label = "close" if len(close) <= MAX_PRICE_POINTS else f"close (min/max of {len(close):,} bars)"
        (line,) = ax.plot(xs, ys, color="#333333", linewidth=0.8, label=label, zorder=1)
        handles.append(line)
    else:
        ax.text(0.5, 0.5, f"no price data for {symbol}", transform=ax.transAxes,
                ha="center", va="center", color=_FLAT_COLOR)

    entries: dict[str, list[tuple[float, float]]] = {"long": [], "short": []}
    exits: dict[tuple[str, bool], list[tuple[float, float]]] = {}
    joins: list[list[tuple[float, float]]] = []
    sl_segments: list[list[tuple[float, float]]] = []
    tp_segments: list[list[tuple[float, float]]] = []

    for t in trades:
        t0 = _time_to_num(t.get("entry_time"))
        t1 = _time_to_num(t.get("exit_time"))
        p0 = _finite(t.get("entry_price"))
        p1 = _finite(t.get("exit_price"))
        side = "short" if str(t.get("side", "long")).lower() == "short" else "long"
        if t0 is not None and p0 is not None:
            entries[side].append((t0, p0))
        if t1 is not None and p1 is not None:
            pnl = _finite(t.get("pnl"))
            outcome = "flat" if pnl is None or pnl == 0 else ("win" if pnl > 0 else "loss")
            eod = t.get("exit_reason") == "end_of_data"
            exits.setdefault((outcome, eod), []).append((t1, p1))
        if None not in (t0, t1, p0, p1):
            joins.append([(t0, p0), (t1, p1)])
        if t0 is not None:
            end = t1 if t1 is not None else t0
            sl, tp = _finite(t.get("stop_loss")), _finite(t.get("take_profit"))
            if sl is not None:
                sl_segments.append([(t0, sl), (end, sl)])
            if tp is not None:
                tp_segments.append([(t0, tp), (end, tp)])

    if joins:
        ax.add_collection(LineCollection(joins, colors=_FLAT_COLOR, linewidths=0.7,
                                         linestyles="dotted", zorder=2), autolim=True)
    if sl_segments:
        ax.add_collection(LineCollection(sl_segments, colors=_SL_COLOR, linewidths=1.2,
                                         alpha=0.8, zorder=2), autolim=True)
        handles.append(Line2D([], [], color=_SL_COLOR, linewidth=1.2, label="stop loss"))
    if tp_segments:
        ax.add_collection(LineCollection(tp_segments, colors=_TP_COLOR, linewidths=1.2,
                                         alpha=0.8, zorder=2), autolim=True)
        handles.append(Line2D([], [], color=_TP_COLOR, linewidth=1.2, label="take profit"))

    marker_size = 60 if len(trades) <= 200 else 20
    for side, marker, color in (("long", "^", _LONG_COLOR), ("short", "v", _SHORT_COLOR)):
        pts = entries[side]
        if pts:
            arr = np.asarray(pts)
            handles.append(ax.scatter(arr[:, 0], arr[:, 1], marker=marker, s=marker_size, color=color,
                                      edgecolors="black", linewidths=0.5, zorder=4,
                                      label=f"{side} entry"))

    colors = {"win": _WIN_COLOR, "loss": _LOSS_COLOR, "flat": _FLAT_COLOR}
    for outcome in ("win", "loss", "flat"):
        for eod in (False, True):
            pts = exits.get((outcome, eod))
            if not pts:
                continue
            arr = np.asarray(pts)
            label = f"exit ({outcome}{', end of data' if eod else ''})"
            handles.append(ax.scatter(arr[:, 0], arr[:, 1], marker="s" if eod else "o",
                                      s=marker_size * 0.7, color=colors[outcome],
                                      edgecolors="black", linewidths=0.5, zorder=5, label=label))

    ax.autoscale_view()
    if handles:
        ax.legend(handles=handles, loc="best", fontsize=7, ncol=min(4, len(handles)),
                  framealpha=0.8)


def _equity_series(report: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    curve = report.get("equity_curve") or []
    times, values = [], []
    for row in curve:
        try:
            when, eq = row[0], row[1]
        except (TypeError, IndexError, KeyError):
            continue
        x, y = _time_to_num(when), _finite(eq)
        if x is not None and y is not None:
            times.append(x)
            values.append(y)
    x = np.asarray(times, dtype=float)
    y = np.asarray(values, dtype=float)
    order = np.argsort(x, kind="stable")
    return x[order], y[order]


def _draw_equity_panels(ax_eq, ax_dd, report: Mapping[str, Any]) -> None:
    x, eq = _equity_series(report)
    initial = _finite(report.get("initial_equity"))

    ax_eq.set_ylabel("equity")
    ax_eq.grid(True, alpha=0.3)
    ax_eq.yaxis.set_major_formatter(mticker.StrMethodFormatter("{x:,.0f}"))
    ax_dd.set_ylabel("drawdown")
    ax_dd.grid(True, alpha=0.3)
    ax_dd.yaxis.set_major_formatter(mticker.PercentFormatter(decimals=1))

    if len(x):
        ax_eq.plot(x, eq, color=_LONG_COLOR, linewidth=1.2, label="equity")
    else:
        ax_eq.text(0.5, 0.5, "no equity curve", transform=ax_eq.transAxes,
                   ha="center", va="center", color=_FLAT_COLOR)
    if initial is not None:
        ax_eq.axhline(initial, color=_FLAT_COLOR, linestyle="--", linewidth=1.0,
                      label=f"initial {initial:,.0f}")
    if len(x) or initial is not None:
        ax_eq.legend(loc="best", fontsize=7, framealpha=0.8)

    if len(x):
        peak = np.maximum.accumulate(eq)
        with np.errstate(divide="ignore", invalid="ignore"):
            dd = np.where(peak > 0, (eq / peak - 1.0) * 100.0, 0.0)
        ax_dd.fill_between(x, dd, 0.0, color=_LOSS_COLOR, alpha=0.35, linewidth=0)
        ax_dd.plot(x, dd, color=_LOSS_COLOR, linewidth=0.8)
        bottom = min(float(np.min(dd)) * 1.1, -0.5)
        ax_dd.set_ylim(bottom, -bottom * 0.05)
    else:
        ax_dd.set_ylim(-1.0, 0.5)


def _title(report: Mapping[str, Any], symbols: list[str]) -> str:
    shown = ", ".join(symbols[:_MAX_TITLE_SYMBOLS]) or "?"
    if len(symbols) > _MAX_TITLE_SYMBOLS:
        shown += f" +{len(symbols) - _MAX_TITLE_SYMBOLS} more"
    start = str(report.get("start") or "?")[:10]
    end = str(report.get("end") or "?")[:10]
    timeframe = report.get("timeframe") or "?"
    trades = report.get("trades")
    if trades is None:
        trades = len(report.get("trade_list") or [])
    line1 = f"Backtest {shown}  |  {timeframe}  |  {start} to {end}"
    line2 = (f"Return {_fmt(report.get('total_return_pct'), '+.2f', '%')}   "
             f"Max DD {_fmt(report.get('max_drawdown_pct'), '.2f', '%')}   "
             f"Sharpe {_fmt(report.get('sharpe'), '.2f')}   "
             f"Win rate {_fmt(report.get('win_rate'), '.1f', '%', scale=100.0)}   "
             f"Trades {trades}")
    return f"{line1}\n{line2}"


# --------------------------------------------------------------------------- #
# public API
# --------------------------------------------------------------------------- #
def plot_backtest(report: Mapping[str, Any], prices: Mapping[str, pd.DataFrame],
                  path: str | os.PathLike) -> None:
    """Render ``report`` (the backtest runner's report dict) and ``prices``
    (symbol -> OHLCV DataFrame with a UTC DatetimeIndex) to a PNG at ``path``.

    The image is FIGSIZE inches at DPI dots per inch (1400 x 1000 pixels).
    Raises ValueError if ``path`` does not end in ``.png``; the parent
    directory must exist.
    """
    out = Path(os.fspath(path))
    if out.suffix.lower() != ".png":
        raise ValueError(f"plot_backtest writes PNG only: path must end in '.png', got {str(out)!r}")

    prices = prices or {}
    symbols = [str(s) for s in (report.get("symbols") or [])] or [str(s) for s in prices]
    trade_list = list(report.get("trade_list") or [])
    if not symbols:  # nothing to name the panels after: fall back to the trades' symbols
        symbols = sorted({str(t.get("symbol")) for t in trade_list if t.get("symbol") is not None})

    fig = Figure(figsize=FIGSIZE, dpi=DPI)
    FigureCanvasAgg(fig)
    n_price = len(symbols)
    ratios = [3.0] * n_price + [2.0, 1.2]
    gs = fig.add_gridspec(len(ratios), 1, height_ratios=ratios)

    axes = []
    for i in range(len(ratios)):
        axes.append(fig.add_subplot(gs[i, 0], sharex=axes[0] if axes else None))

    for ax, symbol in zip(axes[:n_price], symbols):
        _draw_price_panel(ax, symbol, prices.get(symbol),
                          _symbol_trades(trade_list, symbol, single=n_price == 1))
    _draw_equity_panels(axes[-2], axes[-1], report)

    locator = mdates.AutoDateLocator(minticks=4, maxticks=10)
    bottom = axes[-1]
    bottom.xaxis.set_major_locator(locator)
    bottom.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    bottom.set_xlabel("time (UTC)")
    for ax in axes[:-1]:
        ax.tick_params(labelbottom=False)

    fig.suptitle(_title(report, symbols), fontsize=11)
    fig.tight_layout(h_pad=0.4)
    fig.savefig(out, format="png", dpi=DPI)
