"""The paper account's repository: the only code that writes the state database.

The database is the source of truth. Every write method below is ONE transaction (``BEGIN
IMMEDIATE`` ... ``COMMIT`` with ``synchronous=FULL``) that is on disk before the method returns;
the engine moves on only after that, so a kill -9 at any moment leaves either the whole change or
none of it, and a restart restores cash, open positions and their live orders from here.

Tables (``models.py``): ``runs``, ``accounts``, ``equity_snapshots``, ``signals``, ``trades``,
``orders``, ``order_events``, ``fills``, ``market_status``, ``feed_events``, ``bars``. Times are
UTC epoch ms (``*_ms``); money and sizes are floats.

Reads open their own short session and return frozen dataclasses (never ORM objects), so the
status page and the go-live report can call them from any thread or process, concurrently with
the engine writing (WAL). Ordering: ``trades``/``signals`` newest first; ``closed_trades``,
``equity_curve``, ``runs``, ``orders_for``, ``order_events``, ``fills`` oldest first.

Bookkeeping rules (and nothing more):

- ``create_trade``: the trade (``pending``) with its orders (``created``, one ``entry`` exactly)
  and one ``created`` event per order.
- ``order_status``: a status change appends one event; repeating the current status is a no-op;
  a terminal order (completed, canceled, expired, margin, rejected, denied) cannot change.
- ``record_fill``: one fill per order (the paper broker fills whole orders); a second fill of
  the same order raises ``ValueError`` (a replay after a restart cannot duplicate a trade). An
  entry fill opens the trade; an exit fill (stop_loss, take_profit, close) closes it, computes
  ``pnl = dir * (exit - entry) * size - entry_fee - exit_fee`` (dir +1 long, -1 short) and cancels
  the trade's other live orders (the OCO sibling) in the same transaction. The account's cash is
  set to ``cash_after`` (the broker's figure) in that same transaction.
- ``cancel_trade``: a pending trade and all its live orders end together.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from core.bars import Bars
from core.records import (
    FeedStatus,
    OrderRole,
    OrderSide,
    OrderStatus,
    OrderTerms,
    OrderType,
    RunMode,
    RunStatus,
    Side,
    TradeRecord,
    TradeStatus,
    trade_pnl,
)
from core.timeframes import timeframe_ms

from .bar_queries import bars_query
from .db import init_db, session_factory
from .models import (
    Account,
    EquitySnapshot,
    FeedEvent,
    Fill,
    MarketStatus,
    Order,
    OrderEvent,
    Run,
    Signal,
    Trade,
)

__all__ = ["AccountRow", "FeedEventRow", "FillRow", "MarketRow", "OrderEventRow", "OrderRow",
           "OrderSpec", "RunRow", "SignalRow", "StateStore", "TradeRow"]

# The allowed values of the status-like columns: the enums of core.records, as plain strings.
TRADE_SIDES = tuple(Side)
TRADE_STATUSES = tuple(TradeStatus)
ORDER_ROLES = tuple(OrderRole)
ORDER_SIDES = tuple(OrderSide)
ORDER_TYPES = tuple(OrderType)
LIVE_ORDER_STATUSES = tuple(s for s in OrderStatus if s.live)
TERMINAL_ORDER_STATUSES = tuple(s for s in OrderStatus if not s.live)
ORDER_STATUSES = tuple(OrderStatus)
FEED_STATUSES = tuple(FeedStatus)
RUN_STATUSES = tuple(RunStatus)


# ---------------------------------------------------------------------------- read models

@dataclass(frozen=True, slots=True)
class OrderSpec(OrderTerms):
    """An order to create with a trade (or later, e.g. a ``close`` order), under our own id."""

    client_order_id: str


@dataclass(frozen=True, slots=True)
class RunRow:
    id: int
    account_id: int | None
    started_ms: int
    stopped_ms: int | None
    mode: str
    status: str
    pid: int
    config: dict[str, Any] = field(hash=False)
    last_heartbeat_ms: int


@dataclass(frozen=True, slots=True)
class AccountRow:
    id: int
    mode: str
    initial_balance: float
    cash: float
    created_ms: int
    updated_ms: int
    trading_since_ms: int | None


@dataclass(frozen=True, slots=True)
class SignalRow:
    id: int
    time_ms: int
    symbol: str
    side: str
    confidence: float
    entry: float
    stop_loss: float
    take_profit: float
    reasons: tuple[str, ...]
    traded: bool
    decision: str
    run_id: int


@dataclass(frozen=True, slots=True)
class OrderRow:
    id: int
    client_order_id: str
    trade_id: int
    symbol: str
    role: str
    side: str
    order_type: str
    price: float | None
    size: float
    status: str
    created_ms: int
    updated_ms: int

    @property
    def live(self) -> bool:
        return self.status in LIVE_ORDER_STATUSES


@dataclass(frozen=True, slots=True)
class OrderEventRow:
    id: int
    order_id: int
    time_ms: int
    status: str
    note: str


@dataclass(frozen=True, slots=True)
class FillRow:
    id: int
    order_id: int
    time_ms: int
    price: float
    size: float
    fee: float
    cash_after: float | None


@dataclass(frozen=True, slots=True)
class TradeRow:
    id: int
    account_id: int | None
    symbol: str
    side: str
    status: str
    signal_id: int | None
    size: float
    planned_entry: float
    stop_loss: float
    take_profit: float
    confidence: float
    risk: float
    equity_at_signal: float | None
    entry_price: float | None
    entry_time_ms: int | None
    entry_fee: float | None
    exit_price: float | None
    exit_time_ms: int | None
    exit_fee: float | None
    exit_reason: str | None
    pnl: float | None
    valid_until_ms: int | None
    created_ms: int
    updated_ms: int
    orders: tuple[OrderRow, ...]          # all orders of the trade, oldest first

    @property
    def live_orders(self) -> tuple[OrderRow, ...]:
        """The orders still working at the broker (to re-create after a restart)."""
        return tuple(o for o in self.orders if o.live)

    def record(self, signal: SignalRow | None = None) -> TradeRecord:
        """This closed trade as the one trade record (its signal gives the time and reasons)."""
        if self.status != "closed":
            raise ValueError(f"trade {self.id} is {self.status}, not closed")
        columns = {f.name: getattr(self, f.name) for f in fields(self)}
        return TradeRecord.from_columns(columns, signal.time_ms if signal else None,
                                        tuple(signal.reasons) if signal else ())


@dataclass(frozen=True, slots=True)
class FeedEventRow:
    id: int
    run_id: int
    symbol: str
    time_ms: int
    status: str


@dataclass(frozen=True, slots=True)
class MarketRow:
    symbol: str
    last_price: float | None
    last_price_ms: int | None
    feed_status: str | None
    last_message_ms: int | None
    last_closed_bar_ms: int | None
    updated_ms: int


def _plain(cls, obj, **extra):
    """Copy the same-named attributes of an ORM object into the dataclass ``cls``."""
    values = {f.name: getattr(obj, f.name) for f in fields(cls) if f.name not in extra}
    return cls(**values, **extra)


def _order_row(o: Order) -> OrderRow:
    return _plain(OrderRow, o)


def _trade_row(t: Trade) -> TradeRow:
    return _plain(TradeRow, t, orders=tuple(_order_row(o) for o in t.orders))


def _run_row(r: Run) -> RunRow:
    return _plain(RunRow, r, config=json.loads(r.config_json))


def _signal_row(s: Signal) -> SignalRow:
    return _plain(SignalRow, s, reasons=tuple(json.loads(s.reasons_json)))


def _of_account(stmt, model, account_id: int | None):
    return stmt if account_id is None else stmt.where(model.account_id == account_id)


def _of_runs(stmt, model, account_id: int | None):
    """Rows of the runs of one account (tables keyed by ``run_id``)."""
    if account_id is None:
        return stmt
    return stmt.where(model.run_id.in_(select(Run.id).where(Run.account_id == account_id)))


def _check(value: Any, allowed: Iterable[str], what: str) -> None:
    if value not in allowed:
        raise ValueError(f"{what} must be one of {', '.join(allowed)}; got {value!r}")


# ---------------------------------------------------------------------------- the store

class StateStore:
    """Repository over the state database at ``url`` (see ``db.init_db`` for the URL forms).

    ``readonly=True`` (status page, reports): no file is created, no migration runs, and any
    write method fails with the database's "attempt to write a readonly database".
    """

    def __init__(self, url: str, *, readonly: bool = False, option: str = "database.url") -> None:
        self.engine = init_db(url, readonly=readonly, option=option)
        self._write = session_factory(self.engine, write=True)
        self._read = session_factory(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    # -- runs and account

    def start_run(self, mode: str, config: dict[str, Any], now_ms: int,
                  account_id: int | None = None) -> int:
        """Mark every run still "running" as "crashed" (it never stopped), then open a new one
        on ``account_id`` (default: the paper account)."""
        if account_id is None:
            account_id = self.ensure_account(config.get("paper_trading", {}).get(
                "initial_balance", 10_000.0), now_ms).id
        with self._write.begin() as s:
            s.execute(update(Run).where(Run.status == "running")
                      .values(status="crashed", stopped_ms=Run.last_heartbeat_ms))
            run = Run(account_id=account_id, started_ms=now_ms, mode=mode, status="running",
                      pid=os.getpid(), config_json=json.dumps(config, sort_keys=True, default=str),
                      last_heartbeat_ms=now_ms)
            s.add(run)
            s.flush()
            return run.id

    def heartbeat(self, run_id: int, now_ms: int) -> None:
        with self._write.begin() as s:
            self._get(s, Run, run_id).last_heartbeat_ms = now_ms

    def stop_run(self, run_id: int, now_ms: int, status: str = "stopped") -> None:
        _check(status, (RunStatus.STOPPED, RunStatus.CRASHED, RunStatus.REFUSED), "run status")
        with self._write.begin() as s:
            run = self._get(s, Run, run_id)
            run.status, run.stopped_ms, run.last_heartbeat_ms = status, now_ms, now_ms

    def ensure_account(self, initial_balance: float, now_ms: int,
                       mode: str = RunMode.PAPER) -> AccountRow:
        """The newest account of ``mode``, created on first use (the paper account: there is
        one); an existing account is returned unchanged."""
        _check(mode, tuple(RunMode), "account mode")
        with self._write.begin() as s:
            acc = s.scalar(select(Account).where(Account.mode == mode)
                           .order_by(Account.id.desc()).limit(1))
            if acc is None:
                acc = self._new_account(s, mode, initial_balance, now_ms)
            return _plain(AccountRow, acc)

    def new_account(self, mode: str, initial_balance: float, now_ms: int) -> AccountRow:
        """A fresh account (a replay that does not resume gets one)."""
        _check(mode, tuple(RunMode), "account mode")
        with self._write.begin() as s:
            return _plain(AccountRow, self._new_account(s, mode, initial_balance, now_ms))

    def set_trading_since(self, account_id: int, time_ms: int) -> None:
        """Record the first live bar an account traded on (kept once set)."""
        with self._write.begin() as s:
            acc = self._get(s, Account, account_id)
            if acc.trading_since_ms is None:
                acc.trading_since_ms = time_ms

    def record_bars(self, account_id: int, symbol: str, interval: str, rows) -> int:
        """Store closed bars ``(open_ms, open, high, low, close, volume)``; a bar already stored
        is kept as it is. Returns the rows offered."""
        rows = [(account_id, symbol, interval, int(t), float(o), float(h), float(lo), float(c),
                 float(v)) for t, o, h, lo, c, v in rows]
        if not rows:
            return 0
        with self._write.begin() as s:
            s.connection().exec_driver_sql(
                "INSERT OR IGNORE INTO bars (account_id, symbol, interval, open_time_ms, open, "
                "high, low, close, volume) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        return len(rows)

    # -- signals, trades, orders, fills

    def record_signal(self, run_id: int, time_ms: int, symbol: str, side: str, confidence: float,
                      entry: float, stop_loss: float, take_profit: float, reasons: list[str],
                      traded: bool, decision: str) -> int:
        _check(side, TRADE_SIDES, "signal side")
        with self._write.begin() as s:
            sig = Signal(run_id=run_id, time_ms=time_ms, symbol=symbol, side=side,
                         confidence=confidence, entry=entry, stop_loss=stop_loss,
                         take_profit=take_profit, reasons_json=json.dumps(list(reasons)),
                         traded=traded, decision=decision)
            s.add(sig)
            s.flush()
            return sig.id

    def create_trade(self, *, symbol: str, side: str, size: float, planned_entry: float,
                     stop_loss: float, take_profit: float, confidence: float, risk: float,
                     signal_id: int | None, valid_until_ms: int | None, now_ms: int,
                     orders: list[OrderSpec], account_id: int | None = None,
                     equity_at_signal: float | None = None) -> TradeRow:
        """A pending trade, its orders ("created") and one event each, in one transaction."""
        _check(side, TRADE_SIDES, "trade side")
        if [o.role for o in orders].count("entry") != 1:
            raise ValueError("a trade needs exactly one order with role 'entry'")
        for spec in orders:
            self._check_spec(spec)
        trade = Trade(account_id=account_id, symbol=symbol, side=side, status="pending",
                      signal_id=signal_id, size=size, equity_at_signal=equity_at_signal,
                      planned_entry=planned_entry, stop_loss=stop_loss, take_profit=take_profit,
                      confidence=confidence, risk=risk, valid_until_ms=valid_until_ms,
                      created_ms=now_ms, updated_ms=now_ms)
        try:
            with self._write.begin() as s:
                if trade.account_id is None:
                    trade.account_id = self._current_account_id(s)
                s.add(trade)
                for spec in orders:
                    self._new_order(s, trade, spec, now_ms)
                s.flush()
                return _trade_row(trade)
        except IntegrityError as e:
            raise ValueError(f"cannot create the trade: {e.orig}") from e

    def add_order(self, trade_id: int, spec: OrderSpec, now_ms: int) -> OrderRow:
        """Add an order to an open trade (e.g. a market ``close``), with its "created" event."""
        self._check_spec(spec)
        if spec.role == "entry":
            raise ValueError("a trade has one entry order, given at create_trade")
        try:
            with self._write.begin() as s:
                trade = self._get(s, Trade, trade_id)
                if trade.status != "open":
                    raise ValueError(f"trade {trade_id} is {trade.status}, not open")
                order = self._new_order(s, trade, spec, now_ms)
                s.flush()
                return _order_row(order)
        except IntegrityError as e:
            raise ValueError(f"cannot add the order: {e.orig}") from e

    def order_status(self, client_order_id: str, status: str, now_ms: int,
                     note: str = "") -> OrderRow:
        """Set an order's status and append an event; the current status again is a no-op."""
        _check(status, ORDER_STATUSES, "order status")
        with self._write.begin() as s:
            order = self._order(s, client_order_id)
            if order.status != status:
                if status == "completed":
                    raise ValueError(f"order {client_order_id}: record a completion with "
                                     f"record_fill, which also books the fill and the cash")
                self._set_status(s, order, status, now_ms, note)
            return _order_row(order)

    def record_fill(self, client_order_id: str, *, time_ms: int, price: float, size: float,
                    fee: float, cash_after: float, reason: str | None = None) -> TradeRow:
        """Book a fill, complete its order, move the trade and set the cash: one transaction.

        ``reason`` is the exit reason of a ``close`` order (default "manual"); stop-loss and
        take-profit fills use their role.
        """
        with self._write.begin() as s:
            order = self._order(s, client_order_id)
            if order.fills:
                raise ValueError(f"order {client_order_id} is already filled; "
                                 f"refusing a second fill")
            if order.status in TERMINAL_ORDER_STATUSES:
                raise ValueError(f"order {client_order_id} is {order.status}; it cannot fill")
            trade = order.trade
            account = s.get(Account, trade.account_id) if trade.account_id is not None else None
            if account is None:
                raise ValueError(f"trade {trade.id} has no account: call ensure_account first")
            s.add(Fill(order=order, time_ms=time_ms, price=price, size=size, fee=fee,
                       cash_after=cash_after))
            self._set_status(s, order, "completed", time_ms, f"filled {size:g} @ {price:g}")
            if order.role == "entry":
                if trade.status != "pending":
                    raise ValueError(f"trade {trade.id} is {trade.status}; "
                                     f"an entry fill needs a pending trade")
                trade.status = "open"
                trade.entry_price, trade.entry_time_ms, trade.entry_fee = price, time_ms, fee
                trade.size = size
            else:
                if trade.status != "open":
                    raise ValueError(f"trade {trade.id} is {trade.status}; "
                                     f"an exit fill needs an open trade")
                if not math.isclose(size, trade.size, rel_tol=1e-9):
                    raise ValueError(f"order {client_order_id}: exit size {size} differs from "
                                     f"the position {trade.size} (partial exits are not supported)")
                trade.status = "closed"
                trade.exit_price, trade.exit_time_ms, trade.exit_fee = price, time_ms, fee
                trade.exit_reason = (reason or "manual") if order.role == "close" else order.role
                trade.pnl = trade_pnl(trade.side, trade.entry_price, price, trade.size,
                                      trade.entry_fee, fee)
                for other in trade.orders:
                    if other is not order and other.status in LIVE_ORDER_STATUSES:
                        self._set_status(s, other, "canceled", time_ms,
                                         f"trade closed by {client_order_id}")
            trade.updated_ms = time_ms
            account.cash, account.updated_ms = cash_after, time_ms
            s.flush()
            return _trade_row(trade)

    def cancel_trade(self, trade_id: int, now_ms: int, reason: str) -> TradeRow:
        """A pending trade whose entry expired or was canceled: it and its live orders end.

        The reason is kept in ``exit_reason``; cancelling a cancelled trade again is a no-op.
        """
        with self._write.begin() as s:
            trade = self._get(s, Trade, trade_id)
            if trade.status != "cancelled":
                if trade.status != "pending":
                    raise ValueError(f"trade {trade_id} is {trade.status}; only a pending trade "
                                     f"can be cancelled (close an open one with a close order)")
                trade.status, trade.exit_reason, trade.updated_ms = "cancelled", reason, now_ms
                for order in trade.orders:
                    if order.status in LIVE_ORDER_STATUSES:
                        self._set_status(s, order, "canceled", now_ms, reason)
            return _trade_row(trade)

    # -- equity and market

    def snapshot_equity(self, run_id: int, time_ms: int, equity: float, cash: float,
                        open_positions: int) -> None:
        with self._write.begin() as s:
            s.add(EquitySnapshot(run_id=run_id, time_ms=time_ms, equity=equity, cash=cash,
                                 open_positions=open_positions))

    def update_market(self, symbol: str, *, last_price: float | None = None,
                      last_price_ms: int | None = None, feed_status: str | None = None,
                      last_message_ms: int | None = None, last_closed_bar_ms: int | None = None,
                      now_ms: int) -> None:
        """Upsert one symbol's row; only the fields given (not None) change."""
        if feed_status is not None:
            _check(feed_status, FEED_STATUSES, "feed_status")
        given = {"last_price": last_price, "last_price_ms": last_price_ms,
                 "feed_status": feed_status, "last_message_ms": last_message_ms,
                 "last_closed_bar_ms": last_closed_bar_ms}
        with self._write.begin() as s:
            row = s.get(MarketStatus, symbol)
            if row is None:
                row = MarketStatus(symbol=symbol)
                s.add(row)
            for name, value in given.items():
                if value is not None:
                    setattr(row, name, value)
            row.updated_ms = now_ms

    def record_feed_status(self, run_id: int, symbol: str, status: str, time_ms: int) -> None:
        """A feed's status as run ``run_id`` saw it change (call it with each run's first
        status too): the feed uptime record."""
        _check(status, FEED_STATUSES, "feed status")
        with self._write.begin() as s:
            s.add(FeedEvent(run_id=run_id, symbol=symbol, time_ms=time_ms, status=status))

    # -- reads

    def account(self, account_id: int | None = None) -> AccountRow | None:
        """Account ``account_id``, or the account of the latest run (else the newest)."""
        with self._read.begin() as s:
            if account_id is None:
                account_id = self._current_account_id(s)
            acc = None if account_id is None else s.get(Account, account_id)
            return None if acc is None else _plain(AccountRow, acc)

    def accounts(self) -> list[AccountRow]:
        with self._read.begin() as s:
            return [_plain(AccountRow, a) for a in s.scalars(select(Account).order_by(Account.id))]

    def open_trades(self, account_id: int | None = None) -> list[TradeRow]:
        """Pending and open trades, oldest first, with all their orders (see ``live_orders``);
        of one account, or of all."""
        stmt = select(Trade).where(Trade.status.in_(("pending", "open"))).order_by(Trade.id)
        return self._trades(_of_account(stmt, Trade, account_id))

    def trades(self, status: str | None = None, limit: int | None = None,
               account_id: int | None = None) -> list[TradeRow]:
        """Trades newest first, optionally of one status and at most ``limit``."""
        stmt = select(Trade).order_by(Trade.id.desc()).limit(limit)
        if status is not None:
            _check(status, TRADE_STATUSES, "trade status")
            stmt = stmt.where(Trade.status == status)
        return self._trades(_of_account(stmt, Trade, account_id))

    def closed_trades(self, account_id: int | None = None) -> list[TradeRow]:
        """Closed trades by exit time (the input of the metrics and the go-live report)."""
        stmt = select(Trade).where(Trade.status == "closed").order_by(Trade.exit_time_ms, Trade.id)
        return self._trades(_of_account(stmt, Trade, account_id))

    def orders_for(self, trade_id: int) -> list[OrderRow]:
        with self._read.begin() as s:
            rows = s.scalars(select(Order).where(Order.trade_id == trade_id).order_by(Order.id))
            return [_order_row(o) for o in rows]

    def order_events(self, order_id: int) -> list[OrderEventRow]:
        with self._read.begin() as s:
            rows = s.scalars(select(OrderEvent).where(OrderEvent.order_id == order_id)
                             .order_by(OrderEvent.id))
            return [_plain(OrderEventRow, e) for e in rows]

    def fills(self, trade_id: int | None = None, account_id: int | None = None) -> list[FillRow]:
        """Every fill (or one trade's, or one account's), oldest first."""
        stmt = select(Fill).order_by(Fill.id)
        if trade_id is not None or account_id is not None:
            stmt = stmt.join(Fill.order).join(Order.trade)
        if trade_id is not None:
            stmt = stmt.where(Order.trade_id == trade_id)
        if account_id is not None:
            stmt = stmt.where(Trade.account_id == account_id)
        with self._read.begin() as s:
            return [_plain(FillRow, f) for f in s.scalars(stmt)]

    def account_fills(self, account_id: int) -> list[tuple[FillRow, TradeRow, str]]:
        """``(fill, its trade, its order role)`` of one account, in booking order."""
        with self._read.begin() as s:
            rows = s.execute(select(Fill, Order.role, Trade).join(Fill.order).join(Order.trade)
                             .where(Trade.account_id == account_id).order_by(Fill.id)
                             .options(selectinload(Trade.orders)))
            return [(_plain(FillRow, f), _trade_row(t), role) for f, role, t in rows]

    def equity_curve(self, account_id: int | None = None) -> list[tuple[int, float]]:
        """(time_ms, equity) of every snapshot, in time order."""
        return self._snapshots(EquitySnapshot.equity, account_id)

    def open_position_counts(self, account_id: int | None = None) -> list[tuple[int, int]]:
        """(time_ms, open_positions) of every snapshot, aligned with ``equity_curve()``."""
        return self._snapshots(EquitySnapshot.open_positions, account_id)

    def _snapshots(self, column, account_id: int | None) -> list[tuple[int, Any]]:
        stmt = select(EquitySnapshot.time_ms, column)
        with self._read.begin() as s:
            rows = s.execute(_of_runs(stmt, EquitySnapshot, account_id)
                             .order_by(EquitySnapshot.time_ms, EquitySnapshot.id))
            return [(t, value) for t, value in rows]

    def signals(self, limit: int | None = 100, account_id: int | None = None) -> list[SignalRow]:
        """The latest signals, newest first."""
        with self._read.begin() as s:
            stmt = _of_runs(select(Signal), Signal, account_id)
            rows = s.scalars(stmt.order_by(Signal.id.desc()).limit(limit))
            return [_signal_row(r) for r in rows]

    def market(self) -> list[MarketRow]:
        with self._read.begin() as s:
            return [_plain(MarketRow, m)
                    for m in s.scalars(select(MarketStatus).order_by(MarketStatus.symbol))]

    def runs(self, account_id: int | None = None) -> list[RunRow]:
        """Every run (of one account, or all), oldest first (the current one is last)."""
        with self._read.begin() as s:
            stmt = select(Run).order_by(Run.id)
            if account_id is not None:
                stmt = stmt.where(Run.account_id == account_id)
            return [_run_row(r) for r in s.scalars(stmt)]

    def feed_events(self, account_id: int | None = None) -> list[FeedEventRow]:
        """Feed status changes (of one account's runs, or all), in time order."""
        with self._read.begin() as s:
            stmt = _of_runs(select(FeedEvent), FeedEvent, account_id)
            rows = s.scalars(stmt.order_by(FeedEvent.time_ms, FeedEvent.id))
            return [_plain(FeedEventRow, r) for r in rows]

    def first_run_ms(self, account_id: int | None = None) -> int | None:
        """Start of the first run: day one of paper trading for the go-live gate."""
        with self._read.begin() as s:
            stmt = select(func.min(Run.started_ms))
            if account_id is not None:
                stmt = stmt.where(Run.account_id == account_id)
            return s.scalar(stmt)

    def bars(self, account_id: int, symbol: str, interval: str, since_ms: int | None = None,
             until_ms: int | None = None) -> Bars:
        """The recorded closed bars of ``symbol`` x ``interval``, open times in
        ``[since_ms, until_ms)``, as ``Bars``."""
        sql, params = bars_query(account_id, symbol, interval, since_ms=since_ms,
                                 until_ms=until_ms)
        with self._read.begin() as s:
            rows = s.connection().exec_driver_sql(sql, params).fetchall()
        table = np.asarray(rows, dtype=np.float64).reshape(-1, 6)
        return Bars(timeframe_ms(interval), table[:, 0].astype(np.int64), table[:, 1],
                    table[:, 2], table[:, 3], table[:, 4], table[:, 5])

    def bar_series(self, account_id: int) -> list[tuple[str, str, int]]:
        """``(symbol, interval, bars stored)`` of one account."""
        with self._read.begin() as s:
            rows = s.connection().exec_driver_sql(
                "SELECT symbol, interval, count(*) FROM bars WHERE account_id = ? "
                "GROUP BY symbol, interval ORDER BY symbol, interval", (account_id,)).fetchall()
            return [(sym, interval, n) for sym, interval, n in rows]

    # -- helpers

    @staticmethod
    def _new_account(s: Session, mode: str, initial_balance: float, now_ms: int) -> Account:
        acc = Account(mode=mode, initial_balance=initial_balance, cash=initial_balance,
                      created_ms=now_ms, updated_ms=now_ms)
        s.add(acc)
        s.flush()
        return acc

    @staticmethod
    def _current_account_id(s: Session) -> int | None:
        """The account of the latest run, else the newest account."""
        account_id = s.scalar(select(Run.account_id).where(Run.account_id.is_not(None))
                              .order_by(Run.id.desc()).limit(1))
        if account_id is None:
            account_id = s.scalar(select(func.max(Account.id)))
        return account_id

    def _trades(self, stmt) -> list[TradeRow]:
        with self._read.begin() as s:
            rows = s.scalars(stmt.options(selectinload(Trade.orders)))
            return [_trade_row(t) for t in rows]

    @staticmethod
    def _check_spec(spec: OrderSpec) -> None:
        _check(spec.role, ORDER_ROLES, "order role")
        _check(spec.side, ORDER_SIDES, "order side")
        _check(spec.order_type, ORDER_TYPES, "order type")

    @staticmethod
    def _new_order(s: Session, trade: Trade, spec: OrderSpec, now_ms: int) -> Order:
        order = Order(client_order_id=spec.client_order_id, trade=trade, symbol=trade.symbol,
                      role=spec.role, side=spec.side, order_type=spec.order_type,
                      price=spec.price, size=spec.size, status="created",
                      created_ms=now_ms, updated_ms=now_ms)
        s.add(order)
        s.add(OrderEvent(order=order, time_ms=now_ms, status="created", note=""))
        return order

    @staticmethod
    def _set_status(s: Session, order: Order, status: str, now_ms: int, note: str) -> None:
        if order.status in TERMINAL_ORDER_STATUSES:
            raise ValueError(f"order {order.client_order_id} is {order.status} (final); "
                             f"cannot become {status}")
        order.status, order.updated_ms = status, now_ms
        s.add(OrderEvent(order=order, time_ms=now_ms, status=status, note=note))

    @staticmethod
    def _order(s: Session, client_order_id: str) -> Order:
        order = s.scalar(select(Order).where(Order.client_order_id == client_order_id))
        if order is None:
            raise ValueError(f"no order with client_order_id {client_order_id!r}")
        return order

    @staticmethod
    def _get(s: Session, model, key):
        row = s.get(model, key)
        if row is None:
            raise ValueError(f"no {model.__tablename__} row with id {key!r}")
        return row
