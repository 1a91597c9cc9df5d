"""The paper account seen like a backtest: the state database turned into the report contract.

``python -m runners.live_paper --report-json PATH [--run N]`` writes it; the status page and the
go-live readiness report call ``paper_report`` too (the readiness report also reads the per-bar
record behind it, ``account_history``). It only reads the database.

One account, never a mix: the account of run ``N`` (default: the latest run), with every run
that traded on it (a resumed replay or a restarted paper account has several). Its record starts
at the first bar it traded live on (``accounts.trading_since_ms``; warm-up history before that
is not part of it) and ends with the last bar it recorded.

The numbers use the backtest's definitions, from the same inputs a backtest has: the recorded
closed bars and the fills (each with the cash right after it). The per-bar equity is rebuilt by
``analyzers.equity_curve.mark_to_market``, ``bars`` counts execution bars, buy-and-hold uses the
first and last recorded close, and positions still open are valued as a backtest values them at
the end of its data (the last close less the exit fee). So a replay and a backtest of the same
file, with the same trades, give the same metrics.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analyzers.equity_curve import Fill, mark_to_market, sample_times
from analyzers.metrics import buy_hold, summarize
from analyzers.report import open_position_entry, trade_entry
from brokers.state.store import AccountRow, RunRow, SignalRow, StateStore, TradeRow
from core.bars import Bars
from core.errors import UserInputError
from core.records import TradeRecord
from core.timeframes import timeframe_ms
from core.times import ms_to_iso

__all__ = ["AccountHistory", "account_history", "history_report", "paper_report",
           "report_account"]


def report_account(store: StateStore, run_id: int | None = None):
    """``(account, its runs)`` of run ``run_id`` (default: the latest run)."""
    runs = store.runs()
    if not runs:
        return store.account(), []
    if run_id is None:
        run = runs[-1]
    else:
        run = next((r for r in runs if r.id == run_id), None)
        if run is None:
            raise UserInputError(f"--run {run_id}: no such run; the database holds runs "
                                 f"{', '.join(str(r.id) for r in runs)}")
    return store.account(run.account_id), store.runs(account_id=run.account_id)


@dataclass(frozen=True, eq=False)
class AccountHistory:
    """What ``paper_report`` summarizes: one account's record, rebuilt from the database.

    ``times``/``values``/``in_market`` are the per-bar mark-to-market equity (the value at the
    close of the bar opening at each time; open positions valued at the last close less the
    exit fee at the end), ``trades`` the closed trades, ``used`` the config of its latest run.
    """

    account: AccountRow | None
    runs: list[RunRow]
    used: dict
    symbols: list[str]
    exec_tf: str
    signal_tf: str
    initial: float
    bars: dict[str, Bars]
    times: np.ndarray
    values: np.ndarray
    in_market: np.ndarray
    trades: list[TradeRecord]
    open_trades: list[TradeRow]
    signals: list[SignalRow]


def account_history(store: StateStore, config, run_id: int | None = None) -> AccountHistory:
    """The record of the account of run ``run_id`` (default: the latest run)."""
    account, runs = report_account(store, run_id)
    used = runs[-1].config if runs else config.as_dict()
    symbols = list(used["exchanges"]["binance"]["symbols"])
    exec_tf = used["strategy"]["execution_timeframe"]
    signal_tf = used["strategy"]["signal_timeframe"]
    fee_rate = used["risk_manager"]["fee_percent"] / 100.0
    initial = account.initial_balance if account else config.paper_trading.initial_balance
    account_id = account.id if account else None
    since = account.trading_since_ms if account else None

    exec_ms, signal_ms = timeframe_ms(exec_tf), timeframe_ms(signal_tf)
    bars, stamps = {}, []
    if account_id is not None and since is not None:
        for symbol in symbols:
            series = store.bars(account_id, symbol, exec_tf, since_ms=since)
            if len(series):
                bars[symbol] = series
            if signal_ms != exec_ms:
                signal = store.bars(account_id, symbol, signal_tf, since_ms=since)
                stamps.append(signal.open_time_ms + signal_ms - exec_ms)
    fills = _fills(store, account_id) if account_id is not None else []
    times = sample_times([b.open_time_ms for b in bars.values()], stamps)
    closes = {s: (b.open_time_ms, b.close) for s, b in bars.items()}
    values, in_market = mark_to_market(times, closes, fills, initial)
    open_trades = [t for t in store.open_trades(account_id) if t.status == "open"] \
        if account_id is not None else []
    if len(values):
        # Valued as a backtest values a position at the end of its data: last close, exit fee.
        values[-1] -= sum(fee_rate * float(bars[t.symbol].close[-1]) * t.size
                          for t in open_trades if t.symbol in bars)
    signals = store.signals(limit=None, account_id=account_id) if account_id is not None else []
    by_id = {sig.id: sig for sig in signals}
    records = [t.record(by_id.get(t.signal_id)) for t in store.closed_trades(account_id)] \
        if account_id is not None else []
    return AccountHistory(account, runs, used, symbols, exec_tf, signal_tf, initial, bars, times,
                          values, in_market, records, open_trades, signals)


def paper_report(store: StateStore, config, run_id: int | None = None) -> dict:
    """Report of one account in ``store`` (see the module docstring): the backtest report's keys
    plus ``account_id``, ``mode``, ``open_positions``, ``cash`` and ``runs``."""
    return history_report(account_history(store, config, run_id), config)


def history_report(h: AccountHistory, config) -> dict:
    """The report dict of an ``AccountHistory``."""
    account, runs, bars = h.account, h.runs, h.bars
    exec_ms = timeframe_ms(h.exec_tf)
    basket, by_symbol = buy_hold({s: (b.open_time_ms, b.close) for s, b in bars.items()})
    metrics = summarize(times=h.times, values=h.values, in_market=h.in_market,
                        initial_equity=h.initial, trades=h.trades,
                        first_price=1.0 if basket is not None else None, last_price=basket)
    first = min((int(b.open_time_ms[0]) for b in bars.values()), default=None)
    last = max((int(b.open_time_ms[-1]) for b in bars.values()), default=None)
    return {
        "symbols": h.symbols,
        "timeframe": h.exec_tf,
        "signal_timeframe": h.signal_tf,
        "start": ms_to_iso(first),
        "end": ms_to_iso(None if last is None else last + exec_ms),
        "bars": int(sum(len(b) for b in bars.values())),
        **metrics,
        "buy_hold_by_symbol_pct": by_symbol or None,
        "trade_list": [trade_entry(t) for t in h.trades],
        "open_positions": [open_position_entry(
            symbol=t.symbol, side=t.side, size=t.size, entry=t.entry_price,
            stop_loss=t.stop_loss, take_profit=t.take_profit, opened_ms=t.entry_time_ms,
            trade_id=t.id) for t in h.open_trades],
        "signals": len(h.signals),
        "signals_traded": sum(1 for sig in h.signals if sig.traded),
        "data_quality": None,
        "account_id": account.id if account else None,
        "mode": account.mode if account else None,
        "cash": account.cash if account else h.initial,
        "runs": [{"id": r.id, "mode": r.mode, "status": r.status,
                  "started": ms_to_iso(r.started_ms), "stopped": ms_to_iso(r.stopped_ms)}
                 for r in runs],
        "config": config.as_dict(),
    }


def _fills(store: StateStore, account_id: int) -> list[Fill]:
    """The account's fills as the equity curve needs them, in time order."""
    out = [(fill.time_ms, fill.id, Fill.recorded(fill.time_ms, trade.symbol, role, trade.side,
                                                 fill.size, fill.price, fill.cash_after))
           for fill, trade, role in store.account_fills(account_id)]
    return [f for _, _, f in sorted(out, key=lambda item: item[:2])]
