"""Performance metrics as pure functions over equity curves, returns and closed trades.

Used by the backtest report, the paper account and the go-live readiness report, so every number
is computed in one place. numpy and pandas only; no backtrader import.

Conventions for the whole module:

- **Empty-input rule:** a scalar metric returns ``None`` when it is undefined: no trades, fewer
  than 2 returns, zero standard deviation, no losing trade (profit factor), no negative return
  (Sortino), an empty equity curve. It never returns NaN, inf, 0 or -100 as a stand-in. Series
  functions return an empty Series for empty input. Malformed input (mismatched lengths, NaN
  equity, naive datetimes, non-positive equity where a ratio needs it) raises ``ValueError`` or
  ``TypeError``.
- **Calendar:** crypto trades every day, so annualization uses 365 periods a year and daily
  sampling forward-fills days without a sample (there are no closed days).
- **Units:** percentages are in percent (12.5 means 12.5 %), fractions in 0..1, money in the
  account currency (USD), durations in hours or days as named.
- **Returns** are simple returns (``r_t = E_t / E_{t-1} - 1``). NaN returns are skipped, as
  quantstats and empyrical do; infinite returns raise ``ValueError``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from analyzers import statistics

DAYS_PER_YEAR = 365
_MS_PER_HOUR = 3_600_000


# --------------------------------------------------------------------------- equity and returns


def daily_equity(times: Any, values: Any) -> pd.Series:
    """Mark-to-market equity sampled once per UTC calendar day.

    The value of day D is the *last* sample whose timestamp falls in [D 00:00, D+1 00:00) UTC.
    The index holds tz-aware UTC midnights, one per day from the first to the last sampled day;
    a day without any sample carries the previous day's value forward (crypto has no closed days).

    ``times`` are tz-aware datetimes (any zone, converted to UTC) or integers counting
    milliseconds since the Unix epoch (UTC); naive datetimes are refused as ambiguous.
    ``values`` are the equity at those times (finite floats). Unsorted times are sorted (stable,
    with a warning). Empty input gives an empty Series.
    """
    index = _to_utc_index(times)
    vals = np.asarray(values, dtype=np.float64).reshape(-1)
    if len(index) != len(vals):
        raise ValueError(f"times and values differ in length ({len(index)} vs {len(vals)})")
    if not np.all(np.isfinite(vals)):
        raise ValueError("equity values contain NaN or inf; drop or fill them before sampling")
    if len(vals) == 0:
        return pd.Series([], index=pd.DatetimeIndex([], tz="UTC", name="date"), dtype=np.float64,
                         name="equity")
    if not index.is_monotonic_increasing:
        warnings.warn("equity times are not sorted; sorting them (stable)", stacklevel=2)
        order = np.argsort(index.asi8, kind="stable")
        index, vals = index[order], vals[order]
    by_day = pd.Series(vals, index=index).groupby(index.floor("D")).last()
    days = pd.date_range(by_day.index[0], by_day.index[-1], freq="D", name="date")
    out = by_day.reindex(days).ffill()
    out.name = "equity"
    return out


def daily_returns(daily_equity: Any, initial_equity: float | None = None) -> pd.Series:
    """Simple daily returns ``r_d = E_d / E_{d-1} - 1`` of a daily equity curve (fractions).

    With ``initial_equity`` the first day's return is ``E_first / initial_equity - 1`` and the
    result has one return per day; without it the first day has no return and is dropped.
    Equity must be positive. The index is kept (a plain array gets a RangeIndex).
    Empty input gives an empty Series.
    """
    eq = daily_equity if isinstance(daily_equity, pd.Series) else pd.Series(
        np.asarray(daily_equity, dtype=np.float64).reshape(-1))
    eq = eq.astype(np.float64)
    if initial_equity is not None:
        _require_positive(initial_equity, "initial_equity")
    if len(eq) and not (np.all(np.isfinite(eq.to_numpy())) and (eq.to_numpy() > 0).all()):
        raise ValueError("daily equity must be finite and positive to form simple returns")
    prev = eq.shift(1)
    if initial_equity is not None:
        if len(prev):
            prev.iloc[0] = float(initial_equity)
        rets = eq / prev - 1.0
    else:
        rets = (eq / prev - 1.0).iloc[1:]
    rets.name = "return"
    return rets


def total_return_pct(initial: float | None, final: float | None) -> float | None:
    """Total return in percent: ``(final / initial - 1) * 100``; None if initial <= 0 or missing."""
    if not _finite(initial) or not _finite(final) or initial <= 0:
        return None
    return (float(final) / float(initial) - 1.0) * 100.0


def buy_hold_return_pct(first_price: float | None, last_price: float | None) -> float | None:
    """Return of holding the asset, in percent: ``(last / first - 1) * 100`` (no fees).

    None if a price is missing or ``first_price <= 0``.
    """
    return total_return_pct(first_price, last_price)


def buy_hold(closes: Mapping[str, tuple[Any, Any]]) -> tuple[float | None, dict[str, float | None]]:
    """Buy and hold of the traded symbols: ``(basket growth factor, {symbol: return %})``.

    ``closes[symbol] = (open_ms, close)``. Each symbol's own figure runs from its first to its
    last close. The basket holds the symbols in equal weight over their COMMON period only (from
    the latest first bar to the earliest last bar), so symbols with different histories are not
    averaged over different years; its growth factor is the mean of ``last / first`` there, and
    ``buy_hold_return_pct(1.0, factor)`` is its return. None when there is no common period.
    """
    by_symbol: dict[str, float | None] = {}
    spans = {}
    for symbol, (open_ms, close) in closes.items():
        open_ms, close = np.asarray(open_ms, dtype=np.int64), np.asarray(close, dtype=np.float64)
        if not len(close):
            continue
        by_symbol[symbol] = buy_hold_return_pct(float(close[0]), float(close[-1]))
        spans[symbol] = (open_ms, close)
    if not spans:
        return None, by_symbol
    start = max(int(o[0]) for o, _ in spans.values())
    end = min(int(o[-1]) for o, _ in spans.values())
    if start > end:
        return None, by_symbol
    growth = []
    for open_ms, close in spans.values():
        first = close[int(np.searchsorted(open_ms, start, "left"))]
        last = close[int(np.searchsorted(open_ms, end, "right")) - 1]
        pct = buy_hold_return_pct(float(first), float(last))
        if pct is None:
            return None, by_symbol
        growth.append(1 + pct / 100)
    return float(np.mean(growth)), by_symbol


def buy_hold_returns(closes: Mapping[str, tuple[Any, Any]]) -> tuple[float | None, dict]:
    """``(basket return %, {symbol: return %})``: ``buy_hold`` with the basket as a percent."""
    factor, by_symbol = buy_hold(closes)
    return (None if factor is None else buy_hold_return_pct(1.0, factor)), by_symbol


MIN_CAGR_DAYS = 30


def cagr_pct(initial: float | None, final: float | None, days: float | None) -> float | None:
    """Compound annual growth rate in percent: ``((final / initial) ** (365 / days) - 1) * 100``.

    ``days`` is the length of the period in (possibly fractional) calendar days. None if
    ``days < MIN_CAGR_DAYS`` (annualizing a few weeks turns noise into absurd figures such as
    +3.6e9 % for a good week), ``initial <= 0``, ``final < 0``, an input is missing, or the result
    overflows.
    """
    if not (_finite(initial) and _finite(final) and _finite(days)):
        return None
    if days < MIN_CAGR_DAYS or initial <= 0 or final < 0:
        return None
    with np.errstate(over="ignore"):
        growth = np.float64(final) / np.float64(initial)
        value = (np.power(growth, DAYS_PER_YEAR / np.float64(days)) - 1.0) * 100.0
    return float(value) if np.isfinite(value) else None


# --------------------------------------------------------------------------- risk-adjusted


def sharpe_ratio(returns: Any, periods_per_year: int = DAYS_PER_YEAR) -> float | None:
    """Annualized Sharpe ratio, risk-free rate 0: ``mean(r) / std(r, ddof=1) * sqrt(periods)``.

    ``returns`` are simple periodic returns (fractions), ``periods_per_year`` their frequency
    (365 for daily crypto returns). Same definition as ``quantstats.stats.sharpe(r, periods=365)``
    and ``empyrical.sharpe_ratio(r, annualization=365)``. None with fewer than 2 returns or when
    all returns are equal (zero standard deviation).
    """
    r = statistics.clean_returns(returns)
    if len(r) < 2 or np.ptp(r) == 0:
        return None
    std = float(np.std(r, ddof=1))
    if std == 0 or not math.isfinite(std):
        return None
    return float(np.mean(r)) / std * math.sqrt(periods_per_year)


def sortino_ratio(returns: Any, periods_per_year: int = DAYS_PER_YEAR) -> float | None:
    """Annualized Sortino ratio, target 0: ``mean(r) / DD * sqrt(periods)``.

    ``DD = sqrt(sum(min(r, 0)^2) / n)`` is the downside deviation over *all* n returns (the
    quantstats 0.0.86 and empyrical definition: positive returns count as zero downside, not as
    missing). None with fewer than 2 returns or when no return is negative (DD = 0).
    """
    r = statistics.clean_returns(returns)
    if len(r) < 2:
        return None
    downside = math.sqrt(float(np.sum(np.minimum(r, 0.0) ** 2)) / len(r))
    if downside == 0:
        return None
    return float(np.mean(r)) / downside * math.sqrt(periods_per_year)


def probabilistic_sharpe_ratio(
    returns: Any, threshold_annual: float = 0.0, periods_per_year: int = DAYS_PER_YEAR
) -> float | None:
    """Probability (0..1) that the true Sharpe ratio exceeds ``threshold_annual``.

    Bailey & López de Prado (2012):
    ``PSR = Phi((SR - SR*) * sqrt(n - 1) / sqrt(1 - g3 * SR + (g4 - 1) / 4 * SR^2))`` with
    ``SR = mean / std(ddof=1)`` the *non-annualized* Sharpe of the n returns,
    ``SR* = threshold_annual / sqrt(periods_per_year)`` the threshold in the same units,
    ``g3`` the skewness and ``g4`` the (non-excess, normal = 3) kurtosis, both population moments
    (biased estimators, as in the paper), and ``Phi`` the standard normal CDF
    (``analyzers.statistics.psr``). None with fewer than 2 returns, zero standard deviation or
    a degenerate denominator.
    """
    m = statistics.moments(returns)
    return statistics.psr(m, float(threshold_annual) / math.sqrt(periods_per_year))


# --------------------------------------------------------------------------- drawdown


def drawdown_series(equity: Any, initial_equity: float | None = None) -> pd.Series:
    """Drawdown of each equity point from its running peak, in percent (<= 0), for plots.

    ``dd_t = (E_t / max(E_0..E_t) - 1) * 100``; with ``initial_equity`` the running peak starts
    at it, so a loss on the first point already shows. Same index as ``equity`` (a plain array
    gets a RangeIndex). Raises ValueError if the running peak is not positive.
    """
    eq = equity if isinstance(equity, pd.Series) else pd.Series(
        np.asarray(equity, dtype=np.float64).reshape(-1))
    vals = eq.to_numpy(dtype=np.float64)
    if len(vals) == 0:
        return pd.Series([], index=eq.index, dtype=np.float64, name="drawdown_pct")
    if not np.all(np.isfinite(vals)):
        raise ValueError("equity contains NaN or inf")
    peak = np.maximum.accumulate(vals)
    if initial_equity is not None:
        _require_positive(initial_equity, "initial_equity")
        peak = np.maximum(peak, float(initial_equity))
    if not (peak > 0).all():
        raise ValueError("the running equity peak must be positive to express drawdown in percent")
    return pd.Series((vals / peak - 1.0) * 100.0, index=eq.index, name="drawdown_pct")


def max_drawdown_pct(equity: Any, initial_equity: float | None = None) -> float | None:
    """Largest peak-to-trough fall of the equity curve, as a POSITIVE percentage.

    ``max_t (1 - E_t / max(E_0..E_t)) * 100``, e.g. 12.5 for a fall of 12.5 %; 0.0 for a curve
    that never falls. With ``initial_equity`` the peak includes the starting equity (a first-bar
    loss counts). Equals ``-100 * quantstats.stats.max_drawdown(r)`` and
    ``-100 * empyrical.max_drawdown(r)`` for ``equity = cumprod(1 + r)``, ``initial_equity = 1``.
    None for an empty curve.
    """
    dd = drawdown_series(equity, initial_equity)
    if len(dd) == 0:
        return None
    return float(-dd.min()) + 0.0  # + 0.0 turns -0.0 into 0.0


# --------------------------------------------------------------------------- trades


def win_rate(trades: Sequence[Any]) -> float | None:
    """Share of closed trades with ``pnl > 0``, in 0..1.

    Break-even (``pnl == 0``) and losing trades are not wins but count in the denominator
    (freqtrade's convention; backtrader's TradeAnalyzer counts pnl >= 0 as a win).
    None with no trades.
    """
    pnl = _pnls(trades)
    if len(pnl) == 0:
        return None
    return float(np.count_nonzero(pnl > 0)) / len(pnl)


def profit_factor(trades: Sequence[Any]) -> float | None:
    """Gross profit / |gross loss| over closed trades (sum of pnl > 0 over |sum of pnl < 0|).

    Break-even trades add to neither side. 0.0 when there are losses but no profit.
    None with no losing trade (the ratio is undefined), including no trades at all.
    """
    pnl = _pnls(trades)
    gross_loss = float(-pnl[pnl < 0].sum())
    if gross_loss == 0:
        return None
    return float(pnl[pnl > 0].sum()) / gross_loss


def expectancy(trades: Sequence[Any]) -> float | None:
    """Mean pnl per closed trade in USD, after fees: ``sum(pnl) / n``. None with no trades."""
    pnl = _pnls(trades)
    if len(pnl) == 0:
        return None
    return float(pnl.mean())


def average_r_multiple(trades: Sequence[Any]) -> float | None:
    """Mean R multiple ``pnl / risk`` over the trades whose ``risk`` (USD lost at the stop) is > 0.

    Trades without ``risk`` (missing, None or <= 0) are left out. None if no trade qualifies.
    """
    ratios = []
    for trade in trades:
        risk = _field(trade, "risk", None)
        if risk is None or not _finite(risk) or risk <= 0:
            continue
        ratios.append(float(_field(trade, "pnl")) / float(risk))
    if not ratios:
        return None
    return float(np.mean(ratios))


def average_holding_hours(trades: Sequence[Any]) -> float | None:
    """Mean ``exit - entry`` time of closed trades, in hours. None with no trades.

    Times are tz-aware datetimes / pandas Timestamps or int milliseconds since the epoch (UTC).
    """
    if len(trades) == 0:
        return None
    hours = []
    for trade in trades:
        entry = _trade_time_ms(trade, "entry")
        exit_ = _trade_time_ms(trade, "exit")
        if exit_ < entry:
            raise ValueError(f"trade exits before it enters: {trade!r}")
        hours.append((exit_ - entry) / _MS_PER_HOUR)
    return float(np.mean(hours))


def exposure_pct(in_market_flags: Any) -> float | None:
    """Percent of execution bars with at least one open position: ``100 * sum(flags) / n``.

    None for no bars.
    """
    flags = np.asarray(in_market_flags, dtype=bool).reshape(-1)
    if len(flags) == 0:
        return None
    return float(np.count_nonzero(flags)) / len(flags) * 100.0


# --------------------------------------------------------------------------- report


SUMMARY_KEYS = (
    "total_return_pct", "buy_hold_return_pct", "cagr_pct", "sharpe", "sortino", "max_drawdown_pct",
    "win_rate", "profit_factor", "expectancy", "avg_r_multiple", "avg_holding_hours",
    "exposure_pct", "trades", "initial_equity", "final_equity", "equity_curve",
)


def summarize(
    *,
    times: Any,
    values: Any,
    in_market: Any,
    initial_equity: float,
    trades: Sequence[Any],
    first_price: float | None,
    last_price: float | None,
) -> dict[str, Any]:
    """The backtest report's metrics as a JSON-safe dict with exactly the keys in ``SUMMARY_KEYS``.

    ``times``/``values``/``in_market`` are the per-bar mark-to-market record (``EquityRecorder``);
    ``times`` are tz-aware datetimes or int ms UTC. How each number is made:

    - ``equity_curve``: ``daily_equity(times, values)`` as ``[["YYYY-MM-DD", equity], ...]``.
    - ``sharpe``/``sortino``: on ``daily_returns(curve, initial_equity)``, 365 periods a year.
    - ``max_drawdown_pct``: on the *per-bar* values with ``initial_equity`` as the first peak
      (intraday troughs count; the daily curve would hide them).
    - ``cagr_pct``: over ``days = len(equity_curve)``, the number of UTC calendar days covered.
    - ``total_return_pct``: ``initial_equity`` to the last per-bar value (``final_equity``).
    - trade statistics from ``trades``; ``exposure_pct`` from ``in_market``.

    Floats are rounded to 6 significant digits (money to 10); NaN/inf become None, and every
    metric follows the module's None rule.
    """
    curve = daily_equity(times, values)
    vals = np.asarray(values, dtype=np.float64).reshape(-1)
    flags = np.asarray(in_market, dtype=bool).reshape(-1)
    if len(flags) != len(vals):
        raise ValueError(f"in_market and values differ in length ({len(flags)} vs {len(vals)})")
    _require_positive(initial_equity, "initial_equity")
    final = float(vals[-1]) if len(vals) else None
    rets = daily_returns(curve, initial_equity) if len(curve) else pd.Series([], dtype=float)
    dates = curve.index.strftime("%Y-%m-%d")
    report = {
        "total_return_pct": _sig(total_return_pct(initial_equity, final)),
        "buy_hold_return_pct": _sig(buy_hold_return_pct(first_price, last_price)),
        "cagr_pct": _sig(cagr_pct(initial_equity, final, len(curve)) if len(curve) else None),
        "sharpe": _sig(sharpe_ratio(rets)),
        "sortino": _sig(sortino_ratio(rets)),
        "max_drawdown_pct": _sig(max_drawdown_pct(vals, initial_equity)),
        "win_rate": _sig(win_rate(trades)),
        "profit_factor": _sig(profit_factor(trades)),
        "expectancy": _sig(expectancy(trades)),
        "avg_r_multiple": _sig(average_r_multiple(trades)),
        "avg_holding_hours": _sig(average_holding_hours(trades)),
        "exposure_pct": _sig(exposure_pct(flags)),
        "trades": len(trades),
        "initial_equity": _sig(initial_equity, 10),
        "final_equity": _sig(final, 10),
        "equity_curve": [[d, _sig(v, 10)]
                         for d, v in zip(dates, curve.to_numpy().tolist(), strict=True)],
    }
    return report


# --------------------------------------------------------------------------- helpers


def _to_utc_index(times: Any) -> pd.DatetimeIndex:
    """tz-aware datetimes or int ms UTC -> a UTC DatetimeIndex (ns); naive datetimes refused."""
    dtype = getattr(times, "dtype", None)
    if isinstance(dtype, pd.DatetimeTZDtype):
        return pd.DatetimeIndex(times).tz_convert("UTC").as_unit("ns")
    arr = np.asarray(times)
    if arr.ndim != 1:
        arr = arr.reshape(-1)
    if len(arr) == 0:
        return pd.DatetimeIndex([], tz="UTC").as_unit("ns")
    if arr.dtype.kind in "iu":
        return pd.to_datetime(arr.astype(np.int64), unit="ms", utc=True).as_unit("ns")
    if arr.dtype.kind == "O":
        if any(getattr(t, "tzinfo", None) is None or t.tzinfo.utcoffset(t) is None for t in arr):
            raise ValueError("times must be tz-aware datetimes or int ms UTC; localize naive "
                             "datetimes with tz_localize('UTC')")
        return pd.DatetimeIndex(pd.to_datetime(arr, utc=True)).as_unit("ns")
    raise TypeError(f"times must be tz-aware datetimes or int ms UTC, not dtype {arr.dtype}; "
                    "naive datetime64 is ambiguous: localize it to UTC")


def _time_ms(value: Any) -> int:
    """A tz-aware datetime/Timestamp, an ISO 8601 string with an offset, or int ms -> int ms UTC."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if isinstance(value, datetime):
        if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
            raise ValueError(f"trade time {value!r} is naive; use tz-aware UTC datetimes")
        return int(pd.Timestamp(value).value // 1_000_000)  # .value is always ns
    raise TypeError(f"trade time must be a tz-aware datetime, ISO string or int ms, "
                    f"not {type(value).__name__}")


def _field(trade: Any, key: str, default: Any = ...) -> Any:
    """``trade[key]`` for a mapping, ``trade.key`` otherwise; KeyError names the missing field."""
    if isinstance(trade, Mapping):
        if key in trade:
            return trade[key]
    elif hasattr(trade, key):
        return getattr(trade, key)
    if default is ...:
        raise KeyError(f"trade has no {key!r}: {trade!r}")
    return default


def _trade_time_ms(trade: Any, which: str) -> int:
    """``<which>_ms`` (a trade record) or ``<which>_time`` (a report entry) as epoch ms."""
    value = _field(trade, f"{which}_ms", None)
    return _time_ms(value if value is not None else _field(trade, f"{which}_time"))


def _pnls(trades: Iterable[Any]) -> np.ndarray:
    pnl = np.asarray([float(_field(t, "pnl")) for t in trades], dtype=np.float64)
    if not np.all(np.isfinite(pnl)):
        raise ValueError("a trade pnl is NaN or inf")
    return pnl


def _finite(x: Any) -> bool:
    try:
        return x is not None and math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def _require_positive(x: Any, name: str) -> None:
    if not _finite(x) or float(x) <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {x!r}")


def _sig(x: float | None, digits: int = 6) -> float | None:
    """Round to ``digits`` significant digits as a plain float; None for None, NaN and inf."""
    if x is None or not _finite(x):
        return None
    x = float(x)
    if x == 0:
        return 0.0
    return round(x, digits - 1 - int(math.floor(math.log10(abs(x)))))


__all__ = [
    "DAYS_PER_YEAR", "SUMMARY_KEYS", "average_holding_hours", "average_r_multiple", "buy_hold",
    "buy_hold_return_pct", "buy_hold_returns", "cagr_pct", "daily_equity", "daily_returns",
    "drawdown_series", "expectancy", "exposure_pct", "max_drawdown_pct",
    "probabilistic_sharpe_ratio", "profit_factor", "sharpe_ratio", "sortino_ratio", "summarize",
    "total_return_pct", "win_rate",
]
