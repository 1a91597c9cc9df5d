"""Drift: does the paper record trade the way the backtest says it should?

``drift_check(store, record)`` replays the backtest (``engine.backtest.run_backtest``)
on the execution bars the engine recorded for the account (warm-up history included, so the
SMC structure is built from the same bars), with the config of the record's latest run, and
entries held until the first bar the account traded live on (``HeldBefore``: the live engine
never trades on its warm-up history). Then it compares the two trade lists trade by trade,
matched by symbol and entry bar (the open time of the bar the entry filled in):

- **match rate** = matched / (paper trades + backtest trades - matched): every trade only one
  side has lowers it (a missed trade, or one the backtest never made);
- **entry and exit slippage**, in basis points of the backtest's price, signed so that a
  positive figure is worse for the account (a long bought higher or sold lower); exits are
  compared where both sides closed the trade (not a backtest's ``end_of_data``);
- **P&L tracking error** = sqrt(mean((paper P&L - backtest P&L)^2)) over the trades both closed,
  in % of their mean absolute backtest P&L.

Open paper positions are matched on their entry too. What the backtest cannot know shows up as
drift: bars that reached the engine over REST while it reconnected (never traded on live),
downtime, and rule or fee differences between the exchange and the bundled snapshot.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from core.config import config_from_dict
from core.records import ExitReason, Side, TradeRecord
from core.timeframes import timeframe_ms
from core.times import ms_to_iso
from readiness.record import PaperRecord

__all__ = ["Drift", "HeldBefore", "TradePair", "closed_trade", "compare_trades", "drift_check",
           "replay_record"]

HELD_REASON = "before the paper record (the live engine was warming up)"


class HeldBefore:
    """A ``strategies.gate.MarketGate`` that holds entries on bars closing before
    ``first_close_ms`` (the close of the first bar traded live) and never otherwise."""

    def __init__(self, first_close_ms: int):
        self.first_close_ms = int(first_close_ms)

    def is_history(self, symbol: str) -> bool:
        return False

    def entry_denial(self, symbol: str, now_ms: int) -> str | None:
        return HELD_REASON if now_ms < self.first_close_ms else None


@dataclass(frozen=True)
class TradePair:
    """One trade of either side, or both; slippage in bps (positive = worse for the account)."""

    symbol: str
    side: str
    entry_ms: int
    paper: TradeRecord | None
    backtest: TradeRecord | None
    entry_bps: float | None = None
    exit_bps: float | None = None
    pnl_difference: float | None = None

    def as_dict(self) -> dict[str, Any]:
        def side_of(t):
            if t is None:
                return None
            closed = closed_trade(t)
            return {"entry_price": t.entry_price, "exit_price": t.exit_price if closed else None,
                    "exit_time": ms_to_iso(t.exit_ms) if closed else None,
                    "exit_reason": str(t.exit_reason) if closed else "open",
                    "size": t.size, "pnl": t.pnl if closed else None}

        return {"symbol": self.symbol, "side": self.side, "entry_time": ms_to_iso(self.entry_ms),
                "paper": side_of(self.paper), "backtest": side_of(self.backtest),
                "entry_slippage_bps": self.entry_bps, "exit_slippage_bps": self.exit_bps,
                "pnl_difference": self.pnl_difference}


@dataclass(frozen=True)
class Drift:
    paper_trades: int
    backtest_trades: int
    matched: int
    match_rate: float | None
    entry_slippage_bps: float | None          # mean over matched trades
    exit_slippage_bps: float | None           # mean over trades both sides closed
    tracking_error_pct: float | None
    rms_pnl_difference: float | None          # USDT
    pairs: list[TradePair] = field(default_factory=list)
    note: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"paper_trades": self.paper_trades, "backtest_trades": self.backtest_trades,
                "matched": self.matched, "match_rate": self.match_rate,
                "entry_slippage_bps": self.entry_slippage_bps,
                "exit_slippage_bps": self.exit_slippage_bps,
                "tracking_error_pct": self.tracking_error_pct,
                "rms_pnl_difference": self.rms_pnl_difference, "note": self.note,
                "trades": [p.as_dict() for p in self.pairs]}


def closed_trade(t: TradeRecord | None) -> bool:
    """Whether ``t`` closed (not missing, and not a position valued at the end of the data)."""
    return t is not None and t.exit_ms is not None and t.exit_reason != ExitReason.END_OF_DATA


def compare_trades(paper: list[TradeRecord], backtest: list[TradeRecord]) -> Drift:
    """Match two trade lists by (symbol, entry bar) and measure the differences (see the module
    docstring). An open paper position is a record without ``exit_ms``."""
    by_key: dict[tuple[str, int], list] = {}
    for t in paper:
        by_key.setdefault((t.symbol, int(t.entry_ms)), [None, None])[0] = t
    for t in backtest:
        by_key.setdefault((t.symbol, int(t.entry_ms)), [None, None])[1] = t
    pairs = []
    for (symbol, entry_ms), (p, b) in sorted(by_key.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        entry_bps = exit_bps = pnl_diff = None
        if p is not None and b is not None and p.side == b.side:
            sign = Side(p.side).sign
            entry_bps = sign * (p.entry_price - b.entry_price) / b.entry_price * 1e4
            if closed_trade(p) and closed_trade(b):
                exit_bps = sign * (b.exit_price - p.exit_price) / b.exit_price * 1e4
                pnl_diff = p.pnl - b.pnl
        side = (p or b).side
        pairs.append(TradePair(symbol, str(side), entry_ms, p, b, entry_bps, exit_bps, pnl_diff))
    matched = [x for x in pairs if x.entry_bps is not None]
    union = len(pairs)
    closed = [x for x in matched if x.pnl_difference is not None]
    rms = math.sqrt(float(np.mean([x.pnl_difference ** 2 for x in closed]))) if closed else None
    scale = float(np.mean([abs(x.backtest.pnl) for x in closed])) if closed else 0.0
    return Drift(
        paper_trades=len(paper), backtest_trades=len(backtest), matched=len(matched),
        match_rate=len(matched) / union if union else None,
        entry_slippage_bps=_mean([x.entry_bps for x in matched]),
        exit_slippage_bps=_mean([x.exit_bps for x in closed]),
        tracking_error_pct=(None if rms is None or scale == 0 else 100.0 * rms / scale),
        rms_pnl_difference=rms, pairs=pairs)


def _mean(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None


def replay_record(store, record: PaperRecord):
    """The backtest replayed on the record's bars (``BacktestResult``), entries held until the
    record starts; None without a record."""
    if record.history is None or record.start_ms is None or not record.history.bars:
        return None
    from engine.backtest import run_backtest
    from klines import Klines, find_gaps

    history = record.history
    config = config_from_dict(history.used, source=f"run {record.runs[-1].id} config")
    exec_ms = timeframe_ms(history.exec_tf)
    klines = {}
    for symbol in history.symbols:
        bars = store.bars(record.account.id, symbol, history.exec_tf)
        if len(bars):
            klines[symbol] = Klines(
                path=f"account {record.account.id} {symbol} {history.exec_tf} bars",
                symbol=symbol, timeframe=history.exec_tf, frame=bars.to_frame(),
                gaps=find_gaps(bars.open_time_ms, exec_ms), duplicates_dropped=0,
                reordered=False, source_format="state database")
    return run_backtest(config, klines, gate=HeldBefore(record.start_ms + exec_ms))


def drift_check(store, record: PaperRecord) -> Drift | None:
    """Replay the backtest on the record's bars and compare (see the module docstring); None
    without a record."""
    result = replay_record(store, record)
    if result is None:
        return None
    history = record.history
    paper = list(history.trades) + [_open_record(t) for t in history.open_trades]
    backtest = [t for t in result.trades if t.entry_ms >= record.start_ms]
    drift = compare_trades(paper, backtest)
    if len({json.dumps(r.config, sort_keys=True, default=str) for r in record.runs}) > 1:
        drift = replace(drift, note="the config changed between runs; the replay uses the "
                                    "latest run's")
    return drift


def _open_record(t) -> TradeRecord:
    """An open paper trade as a record without an exit (entry-only matching)."""
    return TradeRecord(symbol=t.symbol, side=Side(t.side), signal_ms=None,
                       entry_ms=t.entry_time_ms, exit_ms=None, entry_price=t.entry_price,
                       exit_price=None, size=t.size, stop_loss=t.stop_loss,
                       take_profit=t.take_profit, entry_fee=t.entry_fee or 0.0, exit_fee=0.0,
                       exit_reason="open", confidence=t.confidence, risk=t.risk)
