"""Backtest chart: render a backtest report, its price data and its equity to a PNG file.

``plot_backtest(report, prices, path, equity_times_ms=..., equity_values=...)`` draws, top to
bottom, on one shared time axis:

* one price panel per symbol: the price at its true sample times (the first bar's open at its
  open time, then every close at its bar's close time, ``open + bar length``), downsampled to a
  min/max envelope of at most ~4,000 points for long series; every trade's entry (up triangle
  for long, down triangle for short) and exit (green for a win, red for a loss, a square for
  ``end_of_data`` exits) at its fill bar's open time, as the trade list stamps them, a dotted
  line joining them, and the trade's stop loss (red) and take profit (green) as horizontal
  segments spanning its lifetime;
* the equity curve with the initial equity as a dashed line;
* the drawdown, in percent below the running peak (``analyzers.metrics.drawdown_series`` with
  the initial equity as the first peak), as a filled area, its deepest point marked.

The equity is the per-bar mark-to-market record of the run (``BacktestResult.equity_times_ms``
and ``equity_values``): each value is the equity at the close of the bar opening at that time,
so it is drawn at ``open + bar length``, after a fill in that bar and never before it. The curve
starts at the initial equity at the first bar's open and ends where the price ends (the
report's ``end``). Long curves are downsampled with the same min/max envelope, which keeps every
extreme, so the drawn drawdown bottoms exactly at the report's ``max_drawdown_pct`` (the title's
"Max DD", computed on the same per-bar values). Without the per-bar record the report's daily
``equity_curve`` is drawn instead, each day's value at the end of its day, and the panels say so
(a daily curve can hide intraday troughs, so its drawdown may be shallower than the title's).

Long charts stay readable: a price series spanning more than ``LOG_SCALE_AFTER_DAYS`` days is
drawn on a log scale; the markers shrink as trades get more numerous; and when a panel has
more than ``MAX_SL_TP_TRADES`` trades only the last ``MAX_SL_TP_TRADES`` of them get their
stop-loss / take-profit segments and entry-exit lines, which the legend states.

The title carries symbols, timeframe, period, total return, max drawdown, Sharpe, win rate and
trade count; missing (``None``/NaN) metrics show as "n/a".

``backtest_figure`` builds the figure without saving it (each drawn element carries a ``gid``
naming it, e.g. ``"entries:long"``, ``"equity"``, ``"drawdown"``, so it can be inspected).
Only ``matplotlib.figure.Figure`` with the Agg canvas is used, never ``pyplot``: importing or
calling this module does not touch the global pyplot state or the selected backend, and works
without a display.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib import dates as mdates
from matplotlib import ticker as mticker
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from analyzers.metrics import drawdown_series
from core.timeframes import DAY_MS, timeframe_ms

__all__ = ["backtest_figure", "plot_backtest"]

FIGSIZE = (14.0, 10.0)
DPI = 100
MAX_PRICE_POINTS = 4000  # a min/max envelope of MAX_PRICE_POINTS // 2 buckets
MAX_EQUITY_POINTS = 4000
LOG_SCALE_AFTER_DAYS = 365   # price panels spanning longer than this use a log scale
MAX_SL_TP_TRADES = 25        # per panel; beyond it only the last ones get SL/TP segments
MIN_SEGMENT_FRACTION = 0.004  # an SL/TP segment narrower than this share of the panel is a tick

_LONG_COLOR = "#1f77b4"
_SHORT_COLOR = "#ff7f0e"
_WIN_COLOR = "#2ca02c"
_LOSS_COLOR = "#d62728"
_FLAT_COLOR = "#7f7f7f"
_SL_COLOR = "#d62728"
_TP_COLOR = "#2ca02c"
_MAX_TITLE_SYMBOLS = 6
_MS_PER_DAY = float(DAY_MS)


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


def _ms_to_num(ms: Any) -> np.ndarray:
    """Epoch milliseconds (UTC) -> matplotlib date numbers, vectorised."""
    epoch_ms = _epoch().value // 1_000_000
    return (np.asarray(ms, dtype=np.int64) - epoch_ms) / _MS_PER_DAY


def _bar_ms(report: Mapping[str, Any], prices: Mapping[str, pd.DataFrame]) -> int:
    """The execution bar length: from the report's timeframe, else the prices' usual spacing."""
    try:
        return timeframe_ms(str(report.get("timeframe")))
    except ValueError:
        pass
    for frame in prices.values():
        if frame is not None and len(frame) > 1:
            steps = np.diff(_open_ms(frame.index))
            steps = steps[steps > 0]
            if len(steps):
                return int(np.median(steps))
    return 0


def _symbol_trades(trades: Iterable[Mapping[str, Any]], symbol: str,
                   single: bool) -> list[Mapping[str, Any]]:
    out = []
    for t in trades:
        sym = t.get("symbol")
        if sym == symbol or (single and sym is None):
            out.append(t)
    return out


# --------------------------------------------------------------------------- #
# panels
# --------------------------------------------------------------------------- #
def _open_ms(index: Any) -> np.ndarray:
    return _utc_index(index).as_unit("ms").asi8


def _price_points(frame: pd.DataFrame, bar_ms: int) -> tuple[np.ndarray, np.ndarray]:
    """(date numbers, prices): the first bar's open at its open time, then every close at its
    bar's close time, in time order."""
    open_ms = _open_ms(frame.index)
    close = frame["close"].to_numpy(dtype=float)
    order = np.argsort(open_ms, kind="stable")
    if np.any(order != np.arange(len(order))):
        open_ms, close = open_ms[order], close[order]
    x = _ms_to_num(open_ms + bar_ms)
    first_open = _finite(frame["open"].iloc[order[0]]) if "open" in frame else None
    if first_open is not None and bar_ms > 0:
        x = np.concatenate([_ms_to_num(open_ms[:1]), x])
        close = np.concatenate([[first_open], close])
    return x, close


def _panel_span(frame: pd.DataFrame | None, trades: list[Mapping[str, Any]]) -> float:
    """The time the panel covers, in days (prices and trades)."""
    xs = [x for t in trades for x in (_time_to_num(t.get("entry_time")),
                                      _time_to_num(t.get("exit_time"))) if x is not None]
    if frame is not None and len(frame):
        ms = _open_ms(frame.index)
        xs += [float(_ms_to_num(ms.min())), float(_ms_to_num(ms.max()))]
    return max(xs) - min(xs) if xs else 0.0


def _marker_size(n_trades: int) -> float:
    if n_trades <= 50:
        return 60.0
    return 30.0 if n_trades <= 200 else 14.0


def _draw_price_panel(ax, symbol: str, frame: pd.DataFrame | None,
                      trades: list[Mapping[str, Any]], bar_ms: int) -> None:
    ax.set_gid(f"price:{symbol}")
    ax.set_ylabel(f"{symbol}\nprice")
    ax.grid(True, alpha=0.3)
    handles: list[Any] = []

    if frame is not None and len(frame) and "close" in frame:
        x, price = _price_points(frame, bar_ms)
        xs, ys = _envelope(x, price, MAX_PRICE_POINTS)
        n_bars = len(frame)
        label = "price" if len(price) <= MAX_PRICE_POINTS else f"price (min/max of {n_bars:,} bars)"
        (line,) = ax.plot(xs, ys, color="#333333", linewidth=0.8, label=label, zorder=1,
                          gid="price")
        handles.append(line)
        positive = bool(np.all(price[np.isfinite(price)] > 0))
        if positive and x[-1] - x[0] > LOG_SCALE_AFTER_DAYS:
            ax.set_yscale("log")
            ax.yaxis.set_major_locator(mticker.LogLocator(base=10.0, subs=(1.0, 2.0, 5.0)))
            ax.yaxis.set_minor_formatter(mticker.NullFormatter())
    else:
        ax.text(0.5, 0.5, f"no price data for {symbol}", transform=ax.transAxes,
                ha="center", va="center", color=_FLAT_COLOR)
    ax.yaxis.set_major_formatter(mticker.FuncFormatter(_price_label))

    entries: dict[str, list[tuple[float, float]]] = {"long": [], "short": []}
    exits: dict[tuple[str, bool], list[tuple[float, float]]] = {}
    joins: list[list[tuple[float, float]]] = []
    sl_segments: list[list[tuple[float, float]]] = []
    tp_segments: list[list[tuple[float, float]]] = []
    sl_ticks: list[tuple[float, float]] = []
    tp_ticks: list[tuple[float, float]] = []
    span = _panel_span(frame, trades)

    # Only the latest trades get the line work; on a long chart the rest would be a smear.
    ordered = sorted(trades, key=lambda t: _time_to_num(t.get("entry_time")) or -math.inf)
    detailed = {id(t) for t in ordered[-MAX_SL_TP_TRADES:]}
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
        if id(t) not in detailed:
            continue
        if None not in (t0, t1, p0, p1):
            joins.append([(t0, p0), (t1, p1)])
        if t0 is not None:
            end = t1 if t1 is not None else t0
            sl, tp = _finite(t.get("stop_loss")), _finite(t.get("take_profit"))
            if end - t0 < MIN_SEGMENT_FRACTION * span:
                # Too short to see as a segment: a tick of fixed width at the trade's middle.
                mid = (t0 + end) / 2.0
                if sl is not None:
                    sl_ticks.append((mid, sl))
                if tp is not None:
                    tp_ticks.append((mid, tp))
                continue
            if sl is not None:
                sl_segments.append([(t0, sl), (end, sl)])
            if tp is not None:
                tp_segments.append([(t0, tp), (end, tp)])

    which = "" if len(trades) <= MAX_SL_TP_TRADES else \
        f" (last {MAX_SL_TP_TRADES} of {len(trades):,} trades)"
    if joins:
        ax.add_collection(LineCollection(joins, colors=_FLAT_COLOR, linewidths=0.7,
                                         linestyles="dotted", zorder=2, gid="entry_exit"),
                          autolim=True)
    for name, label, color, segments, ticks in (
            ("stop_loss", "stop loss", _SL_COLOR, sl_segments, sl_ticks),
            ("take_profit", "take profit", _TP_COLOR, tp_segments, tp_ticks)):
        if segments:
            ax.add_collection(LineCollection(segments, colors=color, linewidths=1.2, alpha=0.8,
                                             zorder=2, gid=name), autolim=True)
        if ticks:
            arr = np.asarray(ticks)
            ax.scatter(arr[:, 0], arr[:, 1], marker="_", s=100, color=color, linewidths=1.5,
                       alpha=0.9, zorder=3, gid=f"{name}:ticks")
        if segments or ticks:
            handles.append(Line2D([], [], color=color, linewidth=1.2, label=label + which))

    size = _marker_size(len(trades))
    edge = 0.5 if size >= 30 else 0.3
    for side, marker, color in (("long", "^", _LONG_COLOR), ("short", "v", _SHORT_COLOR)):
        pts = entries[side]
        if pts:
            arr = np.asarray(pts)
            handles.append(ax.scatter(arr[:, 0], arr[:, 1], marker=marker, s=size, color=color,
                                      edgecolors="black", linewidths=edge, zorder=4,
                                      label=f"{side} entry", gid=f"entries:{side}"))

    colors = {"win": _WIN_COLOR, "loss": _LOSS_COLOR, "flat": _FLAT_COLOR}
    for outcome in ("win", "loss", "flat"):
        for eod in (False, True):
            pts = exits.get((outcome, eod))
            if not pts:
                continue
            arr = np.asarray(pts)
            label = f"exit ({outcome}{', end of data' if eod else ''})"
            handles.append(ax.scatter(arr[:, 0], arr[:, 1], marker="s" if eod else "o",
                                      s=size * 0.7, color=colors[outcome], edgecolors="black",
                                      linewidths=edge, zorder=5, label=label,
                                      gid=f"exits:{outcome}{':end_of_data' if eod else ''}"))

    ax.autoscale_view()
    if handles:
        ax.legend(handles=handles, loc="best", fontsize=7, ncol=min(4, len(handles)),
                  framealpha=0.8)


def _per_bar_equity(times_ms: Any, values: Any, bar_ms: int,
                    initial: float | None) -> tuple[np.ndarray, np.ndarray]:
    """(date numbers, equity) at the true sample times: each bar's close; the initial equity
    first, at the first bar's open."""
    t = np.asarray(times_ms, dtype=np.int64).reshape(-1)
    v = np.asarray(values, dtype=float).reshape(-1)
    if len(t) != len(v):
        raise ValueError(f"equity_times_ms and equity_values differ in length "
                         f"({len(t)} vs {len(v)})")
    keep = np.isfinite(v)
    t, v = t[keep], v[keep]
    order = np.argsort(t, kind="stable")
    t, v = t[order], v[order]
    x = _ms_to_num(t + bar_ms)
    if initial is not None and len(t):
        x = np.concatenate([_ms_to_num(t[:1]), x])
        v = np.concatenate([[initial], v])
    return x, v


def _daily_equity(report: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """The report's daily curve, each day's value at the end of that day (its last sample is
    the close of the day's last bar), the last day clipped to the report's end."""
    times, values = [], []
    for row in report.get("equity_curve") or []:
        try:
            when, eq = row[0], row[1]
        except (TypeError, IndexError, KeyError):
            continue
        x, y = _time_to_num(when), _finite(eq)
        if x is not None and y is not None:
            times.append(x + 1.0)
            values.append(y)
    x = np.asarray(times, dtype=float)
    y = np.asarray(values, dtype=float)
    order = np.argsort(x, kind="stable")
    x, y = x[order], y[order]
    end = _time_to_num(report.get("end"))
    if len(x) and end is not None:
        x = np.minimum(x, end)
    return x, y


def _draw_equity_panels(ax_eq, ax_dd, x: np.ndarray, eq: np.ndarray, initial: float | None,
                        per_bar: bool) -> None:
    ax_eq.set_gid("equity")
    ax_dd.set_gid("drawdown")
    ax_eq.set_ylabel("equity")
    ax_eq.grid(True, alpha=0.3)
    ax_eq.yaxis.set_major_formatter(mticker.StrMethodFormatter("{x:,.0f}"))
    ax_dd.set_ylabel("drawdown")
    ax_dd.grid(True, alpha=0.3)
    ax_dd.yaxis.set_major_formatter(mticker.PercentFormatter(decimals=1))

    sampling = "at each bar's close" if per_bar else "at the end of each UTC day"
    if len(x):
        xs, ys = _envelope(x, eq, MAX_EQUITY_POINTS)
        ax_eq.plot(xs, ys, color=_LONG_COLOR, linewidth=1.2, label=f"equity ({sampling})",
                   gid="equity")
    else:
        ax_eq.text(0.5, 0.5, "no equity curve", transform=ax_eq.transAxes,
                   ha="center", va="center", color=_FLAT_COLOR)
    if initial is not None:
        ax_eq.axhline(initial, color=_FLAT_COLOR, linestyle="--", linewidth=1.0,
                      label=f"initial {initial:,.0f}", gid="initial_equity")
    if len(x) or initial is not None:
        ax_eq.legend(loc="best", fontsize=7, framealpha=0.8)

    if not len(x) or not np.all(eq > 0):
        ax_dd.set_ylim(-1.0, 0.5)
        return
    dd = drawdown_series(eq, initial if initial is not None and initial > 0 else None).to_numpy()
    xs, ds = _envelope(x, dd, MAX_EQUITY_POINTS)
    ax_dd.fill_between(xs, ds, 0.0, color=_LOSS_COLOR, alpha=0.35, linewidth=0)
    ax_dd.plot(xs, ds, color=_LOSS_COLOR, linewidth=0.8, gid="drawdown")
    deepest = int(np.argmin(ds))
    label = f"max drawdown {-ds[deepest]:.2f} % ({'per bar' if per_bar else 'daily values'})"
    ax_dd.scatter([xs[deepest]], [ds[deepest]], marker="o", s=18, color=_LOSS_COLOR,
                  edgecolors="black", linewidths=0.5, zorder=3, label=label, gid="max_drawdown")
    ax_dd.legend(loc="lower left", fontsize=7, framealpha=0.8)
    bottom = min(float(ds[deepest]) * 1.1, -0.5)
    ax_dd.set_ylim(bottom, -bottom * 0.05)


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
def backtest_figure(report: Mapping[str, Any], prices: Mapping[str, pd.DataFrame], *,
                    equity_times_ms: Any = None, equity_values: Any = None,
                    bar_ms: int | None = None) -> Figure:
    """The chart as a Figure (Agg canvas attached, not saved); arguments as ``plot_backtest``."""
    prices = prices or {}
    symbols = [str(s) for s in (report.get("symbols") or [])] or [str(s) for s in prices]
    trade_list = list(report.get("trade_list") or [])
    if not symbols:  # nothing to name the panels after: fall back to the trades' symbols
        symbols = sorted({str(t.get("symbol")) for t in trade_list if t.get("symbol") is not None})
    if bar_ms is None:
        bar_ms = _bar_ms(report, prices)
    initial = _finite(report.get("initial_equity"))
    per_bar = equity_times_ms is not None and equity_values is not None
    if per_bar:
        x_eq, eq = _per_bar_equity(equity_times_ms, equity_values, int(bar_ms), initial)
    else:
        x_eq, eq = _daily_equity(report)

    fig = Figure(figsize=FIGSIZE, dpi=DPI)
    FigureCanvasAgg(fig)
    n_price = len(symbols)
    ratios = [3.0] * n_price + [2.0, 1.2]
    gs = fig.add_gridspec(len(ratios), 1, height_ratios=ratios)

    axes = []
    for i in range(len(ratios)):
        axes.append(fig.add_subplot(gs[i, 0], sharex=axes[0] if axes else None))

    for ax, symbol in zip(axes[:n_price], symbols, strict=True):
        _draw_price_panel(ax, symbol, prices.get(symbol),
                          _symbol_trades(trade_list, symbol, single=n_price == 1), int(bar_ms))
    _draw_equity_panels(axes[-2], axes[-1], x_eq, eq, initial, per_bar)

    # Every panel shows the same period, edge to edge, with a sliver of room for end markers.
    lo, hi = [], []
    for ax in axes:
        for line in ax.get_lines():
            xd = np.asarray(line.get_xdata(), dtype=float)
            if len(xd) and line.get_gid() in ("price", "equity"):
                lo.append(xd.min())
                hi.append(xd.max())
    if lo:
        span = max(max(hi) - min(lo), 1e-6)
        axes[-1].set_xlim(min(lo) - 0.01 * span, max(hi) + 0.01 * span)

    locator = mdates.AutoDateLocator(minticks=4, maxticks=10)
    bottom = axes[-1]
    bottom.xaxis.set_major_locator(locator)
    bottom.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    bottom.set_xlabel("time (UTC)")
    for ax in axes[:-1]:
        ax.tick_params(labelbottom=False)

    fig.suptitle(_title(report, symbols), fontsize=11)
    fig.tight_layout(h_pad=0.4)
    return fig


def plot_backtest(report: Mapping[str, Any], prices: Mapping[str, pd.DataFrame],
                  path: str | os.PathLike, *, equity_times_ms: Any = None,
                  equity_values: Any = None, bar_ms: int | None = None) -> None:
    """Render ``report`` (the backtest runner's report dict) and ``prices`` (symbol -> OHLCV
    DataFrame indexed by bar open time, UTC) to a PNG at ``path``.

    ``equity_times_ms``/``equity_values`` are the run's per-bar equity (bar open times in epoch
    ms, and the equity at each bar's close: ``BacktestResult.equity_times_ms``/``equity_values``);
    without them the report's daily ``equity_curve`` is drawn. ``bar_ms`` is the bar length
    (default: the report's ``timeframe``, else the prices' spacing).

    The image is FIGSIZE inches at DPI dots per inch (1400 x 1000 pixels).
    Raises ValueError if ``path`` does not end in ``.png``; the parent
    directory must exist.
    """
    out = Path(os.fspath(path))
    if out.suffix.lower() != ".png":
        raise ValueError(f"plot_backtest writes PNG only: path must end in '.png', "
                         f"got {str(out)!r}")
    fig = backtest_figure(report, prices, equity_times_ms=equity_times_ms,
                          equity_values=equity_values, bar_ms=bar_ms)
    fig.savefig(out, format="png", dpi=DPI)
