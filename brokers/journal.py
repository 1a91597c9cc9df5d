"""``PaperJournal``: the strategy's events, written to the state database as they happen.

The strategy speaks backtrader (orders with ``ref`` numbers that die with the process); the
database speaks client order ids that survive restarts. The journal keeps that mapping and turns
each event into one ``StateStore`` transaction, committed before the strategy goes on.
In a backtest there is no journal (the strategy's ``journal`` param is None).
"""

from __future__ import annotations

import logging
import uuid

import backtrader as bt

from brokers.state.store import OrderSpec, StateStore, TradeRow

log = logging.getLogger("smc.journal")

ROLE_TYPES = {bt.Order.Limit: "limit", bt.Order.Stop: "stop", bt.Order.Market: "market"}


def new_client_order_id(role: str) -> str:
    """A unique id for a new order: ``smc-<role>-<12 hex>`` (Binance allows 36 chars)."""
    return f"smc-{role.replace('_', '')}-{uuid.uuid4().hex[:12]}"


class PaperJournal:
    """Persists one paper account's signals, orders, fills and equity; see the module docstring."""

    def __init__(self, store: StateStore, run_id: int):
        self.store = store
        self.run_id = run_id
        self._client_ids: dict[int, str] = {}      # bt order ref -> client_order_id
        self._trade_of: dict[int, int] = {}        # bt order ref -> trade id
        self._roles: dict[int, str] = {}           # bt order ref -> role
        self._close_reasons: dict[int, str] = {}   # bt order ref -> exit reason of a close order

    # -- what the strategy reports
    def signal(self, record: dict, now_ms: int) -> int:
        return self.store.record_signal(
            self.run_id, now_ms, record["symbol"], record["side"], record["confidence"],
            record["entry"], record["stop_loss"], record["take_profit"], record["reasons"],
            record["traded"], record["decision"])

    def bracket(self, *, symbol: str, side: str, size: float, entry: float, stop: float,
                target: float, confidence: float, risk: float, signal_id: int | None,
                valid_until_ms: int | None, now_ms: int, parent: bt.Order, stop_order: bt.Order,
                target_order: bt.Order) -> int:
        """A new trade with its three orders; returns the trade id."""
        specs = [self._spec(parent, "entry", entry, size),
                 self._spec(stop_order, "stop_loss", stop, size),
                 self._spec(target_order, "take_profit", target, size)]
        trade = self.store.create_trade(
            symbol=symbol, side=side, size=size, planned_entry=entry, stop_loss=stop,
            take_profit=target, confidence=confidence, risk=risk, signal_id=signal_id,
            valid_until_ms=valid_until_ms, now_ms=now_ms, orders=specs)
        for order in (parent, stop_order, target_order):
            self._trade_of[order.ref] = trade.id
        return trade.id

    def exit_orders(self, trade: TradeRow, stop_order: bt.Order, target_order: bt.Order,
                    now_ms: int) -> None:
        """Re-attach a restored trade's stop-loss and take-profit to the new backtrader orders.

        The previous run's live exit orders are kept (same client ids) when they still match;
        their status is what the new orders report from now on.
        """
        live = {o.role: o for o in trade.live_orders}
        for order, role, price in ((stop_order, "stop_loss", trade.stop_loss),
                                   (target_order, "take_profit", trade.take_profit)):
            previous = live.get(role)
            if previous is not None:
                self._client_ids[order.ref] = previous.client_order_id
            else:
                spec = self._spec(order, role, price, trade.size)
                self.store.add_order(trade.id, spec, now_ms)
            self._trade_of[order.ref] = trade.id
            self._roles[order.ref] = role

    def close_order(self, trade: TradeRow, order: bt.Order, reason: str, now_ms: int) -> None:
        """A market order closing ``trade`` (e.g. its stop was crossed while we were down)."""
        self._spec_and_add(trade, order, "close", None, trade.size, now_ms)
        self._close_reasons[order.ref] = reason

    def order_status(self, order: bt.Order, now_ms: int) -> None:
        client_id = self._client_ids.get(order.ref)
        if client_id is None or order.status == order.Completed:
            return
        status = order.getstatusname().lower()
        if status == "created":
            return
        self.store.order_status(client_id, status, now_ms)

    def fill(self, order: bt.Order, time_ms: int, cash_after: float) -> TradeRow | None:
        client_id = self._client_ids.get(order.ref)
        if client_id is None:
            return None
        return self.store.record_fill(
            client_id, time_ms=time_ms, price=order.executed.price, size=abs(order.executed.size),
            fee=order.executed.comm, cash_after=cash_after,
            reason=self._close_reasons.get(order.ref))

    def cancel(self, order: bt.Order, reason: str, now_ms: int) -> None:
        trade_id = self._trade_of.get(order.ref)
        if trade_id is not None:
            self.store.cancel_trade(trade_id, now_ms, reason)

    def equity(self, now_ms: int, equity: float, cash: float, open_positions: int) -> None:
        self.store.snapshot_equity(self.run_id, now_ms, equity, cash, open_positions)

    def equity_before(self, time_ms: int) -> float | None:
        """The last recorded equity strictly before ``time_ms`` (any run), or None."""
        before = [equity for t, equity in self.store.equity_curve() if t < time_ms]
        return before[-1] if before else None

    def open_trades(self) -> list[TradeRow]:
        return self.store.open_trades()

    def trade_id(self, order: bt.Order) -> int | None:
        return self._trade_of.get(order.ref)

    # -- helpers
    def _spec(self, order: bt.Order, role: str, price: float | None, size: float) -> OrderSpec:
        client_id = new_client_order_id(role)
        self._client_ids[order.ref] = client_id
        self._roles[order.ref] = role
        return OrderSpec(client_id, role, "buy" if order.isbuy() else "sell",
                         ROLE_TYPES.get(order.exectype, "market"), price, size)

    def _spec_and_add(self, trade: TradeRow, order: bt.Order, role: str, price, size,
                      now_ms: int) -> None:
        self.store.add_order(trade.id, self._spec(order, role, price, size), now_ms)
        self._trade_of[order.ref] = trade.id
