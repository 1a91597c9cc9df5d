"""The report contract: the trade-list entry, the open-position entry, and one rounding rule.

The backtest report (``engine.backtest``) and the paper report (``engine.paper_report``)
both build their ``trade_list`` and ``open_positions`` here, from the one trade record
(``core.records.TradeRecord``) and the store's open trades, so the same trade reads the same in
both. Every float in these entries goes through ``report_value`` (10 significant digits: enough
for prices and sizes, free of float noise); the metrics keep their own rounding
(``analyzers.metrics.summarize``).
"""

from __future__ import annotations

from typing import Any

from core.records import TradeRecord
from core.times import ms_to_iso

__all__ = ["TRADE_KEYS", "open_position_entry", "report_value", "trade_entry"]

TRADE_KEYS = ("symbol", "side", "entry_time", "exit_time", "entry_price", "exit_price", "size",
              "stop_loss", "take_profit", "pnl", "fees", "exit_reason", "confidence", "risk",
              "risk_pct_of_equity", "notional", "signal_time", "reasons")


def report_value(value: Any) -> Any:
    """Floats in reports keep 10 significant digits (enough for prices and sizes, no float
    noise)."""
    return float(f"{value:.10g}") if isinstance(value, float) else value


def trade_entry(t: TradeRecord) -> dict:
    """One ``trade_list`` entry, keys in ``TRADE_KEYS`` order (``risk_pct_of_equity`` is null
    when the equity at the signal is not known)."""
    values = {
        "symbol": t.symbol, "side": str(t.side), "entry_time": ms_to_iso(t.entry_ms),
        "exit_time": ms_to_iso(t.exit_ms), "entry_price": t.entry_price,
        "exit_price": t.exit_price, "size": t.size, "stop_loss": t.stop_loss,
        "take_profit": t.take_profit, "pnl": t.pnl, "fees": t.fees,
        "exit_reason": str(t.exit_reason), "confidence": t.confidence, "risk": t.risk,
        "risk_pct_of_equity": t.risk_pct_of_equity, "notional": t.notional,
        "signal_time": ms_to_iso(t.signal_ms), "reasons": list(t.reasons),
    }
    return {key: report_value(values[key]) for key in TRADE_KEYS}


def open_position_entry(*, symbol: str, side: str, size: float, entry: float, stop_loss: float,
                        take_profit: float, opened_ms: int, trade_id: int | None) -> dict:
    """One ``open_positions`` entry, rounded like the trade list."""
    values = {"symbol": symbol, "side": str(side), "size": size, "entry": entry,
              "stop_loss": stop_loss, "take_profit": take_profit,
              "opened_at": ms_to_iso(opened_ms), "trade_id": trade_id}
    return {key: report_value(value) for key, value in values.items()}
