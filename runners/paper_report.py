"""The paper account seen like a backtest: the state database turned into the report contract.

``python -m runners.live_paper --report-json PATH`` writes it; the status page and the go-live
readiness report can call ``paper_report`` too. It only reads the database.
"""

from __future__ import annotations

from datetime import datetime, timezone

from analyzers.metrics import summarize
from brokers.state.store import StateStore, TradeRow
from runners.backtest_engine import report_value


def _iso(ms: int | None) -> str | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, tz=timezone.utc).isoformat()


def trade_dict(t: TradeRow) -> dict:
    """A closed trade in the backtest report's ``trade_list`` shape."""
    fees = (t.entry_fee or 0.0) + (t.exit_fee or 0.0)
    return {key: report_value(value) for key, value in {
        "symbol": t.symbol, "side": t.side, "entry_time": _iso(t.entry_time_ms),
        "exit_time": _iso(t.exit_time_ms), "entry_price": t.entry_price,
        "exit_price": t.exit_price, "size": t.size, "stop_loss": t.stop_loss,
        "take_profit": t.take_profit, "pnl": t.pnl, "fees": fees, "exit_reason": t.exit_reason,
        "confidence": t.confidence, "risk": t.risk,
    }.items()}


def open_position_dict(t: TradeRow) -> dict:
    return {"symbol": t.symbol, "side": t.side, "size": t.size, "entry": t.entry_price,
            "stop_loss": t.stop_loss, "take_profit": t.take_profit,
            "opened_at": _iso(t.entry_time_ms), "trade_id": t.id}


def paper_report(store: StateStore, config) -> dict:
    """Report of the paper account in ``store``, with the backtest report's keys plus
    ``open_positions``. ``bars`` counts equity snapshots (one per closed signal bar and fill);
    buy-and-hold is null, since the database keeps no price history."""
    account = store.account()
    initial = account.initial_balance if account else config.paper_trading.initial_balance
    curve = store.equity_curve()
    snapshots_open = [count > 0 for _, count in store.open_position_counts()]
    closed = store.closed_trades()
    trades = [trade_dict(t) for t in closed]
    times = [ms for ms, _ in curve]
    values = [equity for _, equity in curve]
    metrics = summarize(times=times, values=values,
                        in_market=snapshots_open if len(snapshots_open) == len(values) else [False] * len(values),
                        initial_equity=initial, trades=trades, first_price=None, last_price=None)
    open_trades = [t for t in store.open_trades() if t.status == "open"]
    return {
        "symbols": list(config.exchanges.binance.symbols),
        "timeframe": config.strategy.execution_timeframe,
        "signal_timeframe": config.strategy.signal_timeframe,
        "start": _iso(times[0]) if times else None,
        "end": _iso(times[-1]) if times else None,
        "bars": len(times),
        **metrics,
        "trade_list": trades,
        "open_positions": [open_position_dict(t) for t in open_trades],
        "signals": len(store.signals(limit=None)),
        "cash": account.cash if account else initial,
        "runs": len(store.runs()),
        "config": config.as_dict(),
    }

