"""``PaperJournal``: the live ``EventSink``, writing the strategy's events to the state database.

The strategy names orders by backtrader's ``ref`` and positions by its own ``bracket_id``, both
of which die with the process; the database speaks client order ids and trade ids that survive
restarts. The journal keeps that mapping and turns each event into one ``StateStore``
transaction, committed before ``emit`` returns (so before the strategy goes on):

==================  ==================================================================
event               database
==================  ==================================================================
SignalEvent         a ``signals`` row (linked to its trade when traded)
BracketSubmitted    a pending trade with its three orders
PositionAdopted     the held trade's live stop-loss/take-profit re-attached (same ids)
OrderUpdate         an order status change (created and completed are not: a fill
                    records completion, with the fill and the cash, in one transaction)
FillEvent           the fill, the order completed, the trade opened or closed, the cash
CancelEvent         the pending trade and its orders cancelled
EquityPoint         an ``equity_snapshots`` row
ExitEvent           nothing more (the exit fill already closed the trade)
==================  ==================================================================

``cash_after(order_ref)`` (the broker's) gives the cash right after a fill.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable

from brokers.state.store import OrderSpec, StateStore
from core.records import OrderRole, OrderStatus
from strategies.events import (
    BracketSubmitted,
    CancelEvent,
    EquityPoint,
    ExitEvent,
    FillEvent,
    OrderInfo,
    OrderUpdate,
    PositionAdopted,
    SignalEvent,
)

__all__ = ["PaperJournal", "new_client_order_id"]

log = logging.getLogger("smc.journal")

_NOT_RECORDED = (OrderStatus.CREATED, OrderStatus.COMPLETED)


def new_client_order_id(role: str) -> str:
    """A unique id for a new order: ``smc-<role>-<12 hex>`` (Binance allows 36 chars)."""
    return f"smc-{role.replace('_', '')}-{uuid.uuid4().hex[:12]}"


class PaperJournal:
    """Persists one paper account's events; see the module docstring."""

    def __init__(self, store: StateStore, account_id: int, run_id: int,
                 cash_after: Callable[[int], float]):
        self.store = store
        self.account_id = account_id
        self.run_id = run_id
        self.cash_after = cash_after
        self._client_ids: dict[int, str] = {}      # order ref -> client_order_id
        self._trade_of: dict[int, int] = {}        # bracket id -> trade id
        self._signal_of: dict[int, int] = {}       # bracket id -> signal id
        self._handlers = {
            SignalEvent: self._signal, BracketSubmitted: self._bracket,
            PositionAdopted: self._adopted, OrderUpdate: self._order_update,
            FillEvent: self._fill, CancelEvent: self._cancel, EquityPoint: self._equity,
            ExitEvent: lambda event: None,
        }

    def emit(self, event) -> None:
        self._handlers[type(event)](event)

    # ------------------------------------------------------------------ handlers
    def _signal(self, e: SignalEvent) -> None:
        signal_id = self.store.record_signal(
            self.run_id, e.time_ms, e.symbol, e.side, e.confidence, e.entry, e.stop_loss,
            e.take_profit, list(e.reasons), e.traded, e.decision)
        if e.bracket_id is not None:
            self._signal_of[e.bracket_id] = signal_id

    def _bracket(self, e: BracketSubmitted) -> None:
        trade = self.store.create_trade(
            symbol=e.symbol, side=e.side, size=e.size, planned_entry=e.entry,
            stop_loss=e.stop_loss, take_profit=e.take_profit, confidence=e.confidence,
            risk=e.risk, signal_id=self._signal_of.pop(e.bracket_id, None),
            valid_until_ms=e.valid_until_ms, now_ms=e.time_ms,
            orders=[self._spec(order) for order in e.orders], account_id=self.account_id,
            equity_at_signal=e.equity)
        self._trade_of[e.bracket_id] = trade.id

    def _adopted(self, e: PositionAdopted) -> None:
        """The previous run's live exit orders are kept (same client ids) when they still
        exist; a missing one is added. Their status is what the new orders report from now on."""
        self._trade_of[e.bracket_id] = e.trade_id
        trade = next((t for t in self.store.open_trades(self.account_id) if t.id == e.trade_id),
                     None)
        if trade is None:
            raise ValueError(f"trade {e.trade_id} is not open in the database")
        live = {o.role: o for o in trade.live_orders}
        for order in e.orders:
            previous = live.get(order.role)
            if previous is not None:
                self._client_ids[order.ref] = previous.client_order_id
            else:
                self.store.add_order(e.trade_id, self._spec(order), e.time_ms)

    def _order_update(self, e: OrderUpdate) -> None:
        client_id = self._client_ids.get(e.order_ref)
        if client_id is None or e.status in _NOT_RECORDED:
            return
        self.store.order_status(client_id, e.status, e.time_ms)

    def _fill(self, e: FillEvent) -> None:
        client_id = self._client_ids.get(e.order_ref)
        if client_id is None:
            return
        self.store.record_fill(client_id, time_ms=e.time_ms, price=e.price, size=e.size,
                               fee=e.fee, cash_after=self.cash_after(e.order_ref),
                               reason=None if e.role != OrderRole.CLOSE else "manual")

    def _cancel(self, e: CancelEvent) -> None:
        trade_id = self._trade_of.get(e.bracket_id)
        if trade_id is not None:
            self.store.cancel_trade(trade_id, e.time_ms, e.reason)

    def _equity(self, e: EquityPoint) -> None:
        self.store.snapshot_equity(self.run_id, e.time_ms, e.equity, e.cash, e.open_positions)

    # ------------------------------------------------------------------ helpers
    def _spec(self, order: OrderInfo) -> OrderSpec:
        client_id = new_client_order_id(order.role)
        self._client_ids[order.ref] = client_id
        return OrderSpec(role=order.role, side=order.side, order_type=order.order_type,
                         price=order.price, size=order.size, client_order_id=client_id)
