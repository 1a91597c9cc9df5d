"""The paper account seen like a backtest: the state database turned into the report contract.

``python -m runners.live_paper --report-json PATH`` writes it; the status page and the go-live
readiness report can call ``paper_report`` too. It only reads the database.
"""

from __future__ import annotations

from analyzers.metrics import summarize
from analyzers.report import open_position_entry, trade_entry
from brokers.state.store import StateStore
from core.times import ms_to_iso

__all__ = ["paper_report"]


def paper_report(store: StateStore, config) -> dict:
    """Report of the paper account in ``store``: the backtest report's keys plus
    ``open_positions``, ``cash`` and ``runs``.

    Differences from a backtest report, by nature: the equity curve is the recorded snapshots
    (one per closed signal bar and per fill), so ``bars`` counts snapshots and drawdown/exposure
    are measured on them rather than on every bar; buy-and-hold and data quality are null (the
    database keeps no price history). ``symbols`` and the timeframes come from the latest run.
    """
    runs = store.runs()
    if runs:
        config_used = runs[-1].config
        symbols = config_used["exchanges"]["binance"]["symbols"]
        exec_tf = config_used["strategy"]["execution_timeframe"]
        signal_tf = config_used["strategy"]["signal_timeframe"]
    else:
        symbols = list(config.exchanges.binance.symbols)
        exec_tf, signal_tf = config.strategy.execution_timeframe, config.strategy.signal_timeframe
    account = store.account()
    initial = account.initial_balance if account else config.paper_trading.initial_balance
    curve = store.equity_curve()
    snapshots_open = [count > 0 for _, count in store.open_position_counts()]
    all_signals = store.signals(limit=None)
    by_id = {sig.id: sig for sig in all_signals}
    records = [t.record(by_id.get(t.signal_id)) for t in store.closed_trades()]
    times = [ms for ms, _ in curve]
    values = [equity for _, equity in curve]
    metrics = summarize(times=times, values=values,
                        in_market=snapshots_open if len(snapshots_open) == len(values) else [False] * len(values),
                        initial_equity=initial, trades=records, first_price=None, last_price=None)
    open_trades = [t for t in store.open_trades() if t.status == "open"]
    return {
        "symbols": list(symbols),
        "timeframe": exec_tf,
        "signal_timeframe": signal_tf,
        "start": ms_to_iso(times[0]) if times else None,
        "end": ms_to_iso(times[-1]) if times else None,
        "bars": len(times),
        **metrics,
        "trade_list": [trade_entry(t) for t in records],
        "open_positions": [open_position_entry(
            symbol=t.symbol, side=t.side, size=t.size, entry=t.entry_price,
            stop_loss=t.stop_loss, take_profit=t.take_profit, opened_ms=t.entry_time_ms,
            trade_id=t.id) for t in open_trades],
        "signals": len(all_signals),
        "signals_traded": sum(1 for sig in all_signals if sig.traded),
        "buy_hold_by_symbol_pct": None,
        "data_quality": None,
        "cash": account.cash if account else initial,
        "runs": [{"id": r.id, "mode": r.mode, "status": r.status,
                  "started": ms_to_iso(r.started_ms), "stopped": ms_to_iso(r.stopped_ms)}
                 for r in runs],
        "config": config.as_dict(),
    }
