"""Crafted paper accounts for the readiness tests, written through the ``StateStore`` write API
exactly as the engine writes them: an account, runs with heartbeats, feed status changes, closed
bars, and trades with their orders and fills (each fill with the cash right after it).

Prices are flat unless given, so the equity only moves when a trade closes and every figure of
the record can be computed by hand.
"""

from __future__ import annotations

import itertools
from pathlib import Path

from brokers.state.store import OrderSpec, StateStore
from core.config import apply_overrides, load_config

HOUR = 3_600_000
DAY = 24 * HOUR
T0 = 19_675 * DAY            # 2023-11-14 00:00 UTC
SYMBOL = "BTCUSDT"

_ids = itertools.count(1)


def crafted_config(db_path: Path, **go_live):
    """The default config on ``db_path``, 1h bars for execution and signals, and ``go_live``
    overrides (``min_sharpe=...``)."""
    overrides = {"database.url": f"sqlite:///{db_path}", "strategy.execution_timeframe": "1h",
                 "strategy.signal_timeframe": "1h"}
    overrides.update({f"go_live.{k}": v for k, v in go_live.items()})
    return apply_overrides(load_config(), overrides)


def _order(client_order_id, role, side, order_type, price, size) -> OrderSpec:
    return OrderSpec(client_order_id=client_order_id, role=role, side=side,
                     order_type=order_type, price=price, size=size)


class AccountBuilder:
    """One crafted account in the database at ``db_path``."""

    def __init__(self, db_path: Path, config, mode: str = "paper", initial: float = 10_000.0):
        self.store = StateStore(f"sqlite:///{db_path}")
        self.config = config
        self.mode = mode
        self.account_id = self.store.new_account(mode, initial, T0).id
        self.cash = initial
        self.run_id: int | None = None

    def close(self) -> None:
        self.store.close()

    def run(self, start_ms: int, end_ms: int, status: str = "stopped",
            feeds: list[tuple[int, str]] | None = None) -> int:
        """A run from ``start_ms`` with heartbeats to ``end_ms``, ended with ``status``
        (``running``: still alive); ``feeds`` are ``(time, status)`` of its feed (default: LIVE
        from its start)."""
        run_id = self.store.start_run(self.mode, self.config.as_dict(), start_ms,
                                      account_id=self.account_id)
        for time_ms, feed_status in feeds if feeds is not None else [(start_ms, "LIVE")]:
            self.store.record_feed_status(run_id, SYMBOL, feed_status, time_ms)
        self.store.heartbeat(run_id, end_ms)
        if status != "running":
            self.store.stop_run(run_id, end_ms, status=status)
        self.run_id = run_id
        return run_id

    def bars(self, hours: int, price: float = 100.0, start_ms: int = T0,
             trading: bool = True) -> None:
        """``hours`` flat 1h bars from ``start_ms``; ``trading`` marks the first as the start of
        the record."""
        rows = [(start_ms + i * HOUR, price, price, price, price, 1.0) for i in range(hours)]
        self.store.record_bars(self.account_id, SYMBOL, "1h", rows)
        if trading:
            self.store.set_trading_since(self.account_id, start_ms)

    def trade(self, entry_ms: int, exit_ms: int, entry: float, exit_: float, size: float = 10.0,
              side: str = "long", fee_rate: float = 0.001, reason: str = "take_profit") -> float:
        """A closed trade (entry fill, then an exit fill of ``reason``); returns its P&L."""
        n = next(_ids)
        buy, sell = ("buy", "sell") if side == "long" else ("sell", "buy")
        stop, target = (entry * 0.9, entry * 1.1) if side == "long" else (entry * 1.1, entry * 0.9)
        signal = self.store.record_signal(self.run_id, entry_ms, SYMBOL, side, 0.8, entry, stop,
                                          target, ["crafted"], True, "order placed")
        self.store.create_trade(
            symbol=SYMBOL, side=side, size=size, planned_entry=entry, stop_loss=stop,
            take_profit=target, confidence=0.8, risk=abs(entry - stop) * size, signal_id=signal,
            valid_until_ms=entry_ms + 3 * HOUR, now_ms=entry_ms, account_id=self.account_id,
            orders=[_order(f"c{n}-e", "entry", buy, "limit", entry, size),
                    _order(f"c{n}-sl", "stop_loss", sell, "stop", stop, size),
                    _order(f"c{n}-tp", "take_profit", sell, "limit", target, size)])
        sign = 1 if side == "long" else -1
        entry_fee, exit_fee = entry * size * fee_rate, exit_ * size * fee_rate
        self.cash += -sign * entry * size - entry_fee
        self.store.record_fill(f"c{n}-e", time_ms=entry_ms, price=entry, size=size,
                               fee=entry_fee, cash_after=self.cash)
        self.cash += sign * exit_ * size - exit_fee
        exit_order = f"c{n}-tp" if reason == "take_profit" else f"c{n}-sl"
        trade = self.store.record_fill(exit_order, time_ms=exit_ms, price=exit_,
                                       size=size, fee=exit_fee, cash_after=self.cash)
        return trade.pnl


def good_record(db_path: Path, config, days: int = 40, pattern=(1, 1, 0, 1, 0),
                win_exit: float = 103.0, loss_exit: float = 99.0) -> AccountBuilder:
    """A paper account with ``days`` days of flat 1h bars, one run for the whole period (feed
    LIVE throughout), and one trade a day from 01:00 to 02:00, winning (exit ``win_exit``) or
    losing (``loss_exit``) by ``pattern`` (1 = win) repeated."""
    b = AccountBuilder(db_path, config)
    b.run(T0, T0 + days * DAY)
    b.bars(days * 24)
    for day in range(days):
        win = pattern[day % len(pattern)]
        b.trade(T0 + day * DAY + HOUR, T0 + day * DAY + 2 * HOUR, 100.0,
                win_exit if win else loss_exit, reason="take_profit" if win else "stop_loss")
    return b
