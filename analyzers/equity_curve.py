"""The per-bar mark-to-market equity curve, rebuilt from bars and fills: one definition for the
backtest report and the paper report.

``mark_to_market(samples_ms, closes, fills, initial_cash)`` gives, at each sample time (a bar's
open time; the value is the equity at that bar's close, as the backtest's broker sees it after
the bar), ``cash + sum of the open positions valued at each symbol's last close``, and whether
any position is open. Its inputs are what both worlds have: the bars (the backtest's data files,
or the bars the live engine recorded) and the fills, each with the broker's cash right after it.
The arithmetic follows backtrader's ``BackBroker._get_value`` step by step (stock-like, leverage
1, short cash), so the values equal the broker's to the last bit:

    long:  value += (size*close - size*(close - price)) / 1.0 + size*(close - price)
    short: value += size*close                          (size < 0)

A fill applies from the sample of the bar it happened in (fills are stamped with that bar's open
time), and several fills in one bar apply in their order. ``sample_times`` gives the times the
backtest's strategy clock visits: every execution bar, plus the stamp of each signal bar (its
last execution bar's open time), which differs only when that execution bar is missing.

Pure numpy; no backtrader.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from core.records import OrderRole, Side

__all__ = ["Fill", "mark_to_market", "sample_times"]


@dataclass(frozen=True, slots=True)
class Fill:
    """One fill as the account saw it: the position of ``symbol`` right after it (signed size,
    average price) and the cash right after it."""

    time_ms: int
    symbol: str
    size_after: float
    price_after: float
    cash_after: float

    def apply(self, positions: dict[str, tuple[float, float]]) -> float:
        """Put this fill into ``positions`` (symbol -> (size, price), flat ones absent) and
        return the cash after it."""
        if self.size_after == 0:
            positions.pop(self.symbol, None)
        else:
            positions[self.symbol] = (self.size_after, self.price_after)
        return self.cash_after

    @classmethod
    def recorded(cls, time_ms: int, symbol: str, role: str, side: str, size: float,
                 price: float, cash_after: float | None) -> Fill:
        """A fill as the state database records it (of the trade's ``role`` order; the cash
        after it unknown as None). An entry opens the position; any other order closes it."""
        opening = role == OrderRole.ENTRY
        return cls(time_ms, symbol, size * Side(side).sign if opening else 0.0,
                   price if opening else 0.0, np.nan if cash_after is None else cash_after)


def sample_times(exec_open_ms: Sequence[np.ndarray], signal_stamp_ms: Sequence[np.ndarray]
                 ) -> np.ndarray:
    """The sorted union of every symbol's execution bar opens and signal bar stamps."""
    parts = [np.asarray(a, dtype=np.int64) for a in (*exec_open_ms, *signal_stamp_ms)]
    if not parts:
        return np.empty(0, dtype=np.int64)
    return np.unique(np.concatenate(parts))


def mark_to_market(samples_ms: np.ndarray, closes: Mapping[str, tuple[np.ndarray, np.ndarray]],
                   fills: Sequence[Fill], initial_cash: float
                   ) -> tuple[np.ndarray, np.ndarray]:
    """``(values, in_market)`` at each of ``samples_ms``; ``closes[symbol] = (open_ms, close)``.

    Symbols are summed in the order of ``closes`` (the broker's order of its feeds). A sample
    before a symbol's first bar values that symbol's position (there is none) at nothing.
    """
    samples = np.asarray(samples_ms, dtype=np.int64)
    values = np.full(len(samples), float(initial_cash))
    in_market = np.zeros(len(samples), dtype=bool)
    if not len(samples):
        return values, in_market
    last_close = {}
    for symbol, (open_ms, close) in closes.items():
        open_ms = np.asarray(open_ms, dtype=np.int64)
        close = np.asarray(close, dtype=np.float64)
        at = np.searchsorted(open_ms, samples, "right") - 1     # last bar opened at or before
        last_close[symbol] = np.where(at >= 0, close[np.maximum(at, 0)], np.nan)
    fill_times = np.asarray([f.time_ms for f in fills], dtype=np.int64)
    applied = np.searchsorted(fill_times, samples, "right")    # fills in effect at each sample
    if np.any(np.diff(fill_times) < 0):
        raise ValueError("fills must be in time order")
    cash = float(initial_cash)
    positions: dict[str, tuple[float, float]] = {}
    for k in range(len(fills) + 1):
        if k:
            cash = fills[k - 1].apply(positions)
        rows = np.flatnonzero(applied == k)
        if not len(rows):
            continue
        held = np.zeros(len(rows))
        for symbol in closes:
            if symbol not in positions:
                continue
            size, price = positions[symbol]
            close = last_close[symbol][rows]
            worth = size * close
            if size > 0:
                unrealized = size * (close - price) * 1.0
                worth = (worth - unrealized) / 1.0 + unrealized
            held = held + worth
        values[rows] = cash + held
        in_market[rows] = bool(positions)
    return values, in_market
