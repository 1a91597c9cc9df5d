"""What the strategy tells the outside world: plain event records, sent to one ``EventSink``.

The strategy has no side effects of its own. Each decision and each order outcome becomes one
frozen event, handed to ``sink.emit(event)`` at the moment the strategy learns of it:

==================  ==========================================================================
event               when
==================  ==========================================================================
``SignalEvent``     a setup was scored at a signal bar's close, traded or not (and why not)
``BracketSubmitted`` a bracket (limit entry, stop-loss, take-profit) was placed
``PositionAdopted`` an open position the account already held got its stop-loss and take-profit
``OrderUpdate``     one of our orders changed status (submitted, accepted, canceled, ...)
``FillEvent``       an entry or exit order filled
``CancelEvent``     an entry ended unfilled (expired, canceled, rejected)
``ExitEvent``       a trade closed (the ``TradeRecord``)
``EquityPoint``     the account's marked-to-market equity at a signal bar's close or after an exit
==================  ==========================================================================

``NullSink`` drops everything (a backtest keeps its results in the strategy); the live sink is
``brokers.journal.PaperJournal``, which writes each event to the state database before the
strategy goes on. Orders are named by backtrader's ``ref`` (an int, unique in the process) and
grouped by ``bracket_id`` (the strategy's own counter); the sink maps them to durable ids.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from core.records import OrderRole, OrderStatus, OrderTerms, Side, TradeRecord

__all__ = [
    "BracketSubmitted", "CancelEvent", "EquityPoint", "EventSink", "ExitEvent", "FillEvent",
    "NullSink", "OrderInfo", "OrderUpdate", "PositionAdopted", "SignalEvent",
]


@dataclass(frozen=True, slots=True)
class OrderInfo(OrderTerms):
    """One order as placed: what it is, and backtrader's ``ref`` for it."""

    ref: int


@dataclass(frozen=True, slots=True)
class SignalEvent:
    """A scored setup and the decision taken on it (``bracket_id`` set when it was traded)."""

    time_ms: int
    symbol: str
    side: Side
    confidence: float
    entry: float
    stop_loss: float
    take_profit: float
    reasons: tuple[str, ...]
    traded: bool
    decision: str
    bracket_id: int | None = None

    def as_dict(self) -> dict:
        """The backtest's ``signals`` entry (``time`` in ISO form)."""
        from core.times import ms_to_iso

        return {"symbol": self.symbol, "time": ms_to_iso(self.time_ms), "side": str(self.side),
                "confidence": self.confidence, "entry": self.entry, "stop_loss": self.stop_loss,
                "take_profit": self.take_profit, "reasons": list(self.reasons),
                "traded": self.traded, "decision": self.decision}


@dataclass(frozen=True, slots=True)
class BracketSubmitted:
    bracket_id: int
    time_ms: int
    symbol: str
    side: Side
    size: float
    entry: float
    stop_loss: float
    take_profit: float
    confidence: float
    risk: float
    equity: float                          # the account's equity when the decision was taken
    valid_until_ms: int
    orders: tuple[OrderInfo, ...]          # entry, stop-loss, take-profit


@dataclass(frozen=True, slots=True)
class PositionAdopted:
    """An open position handed to the strategy at start (``trade_id`` is the account's id)."""

    bracket_id: int
    trade_id: int
    time_ms: int
    symbol: str
    side: Side
    orders: tuple[OrderInfo, ...]          # stop-loss, take-profit


@dataclass(frozen=True, slots=True)
class OrderUpdate:
    bracket_id: int
    order_ref: int
    status: OrderStatus
    time_ms: int


@dataclass(frozen=True, slots=True)
class FillEvent:
    bracket_id: int
    order_ref: int
    role: OrderRole
    time_ms: int                           # open time of the bar the fill happened in
    price: float
    size: float
    fee: float


@dataclass(frozen=True, slots=True)
class CancelEvent:
    bracket_id: int
    time_ms: int
    reason: str


@dataclass(frozen=True, slots=True)
class ExitEvent:
    bracket_id: int
    trade: TradeRecord


@dataclass(frozen=True, slots=True)
class EquityPoint:
    time_ms: int
    equity: float
    cash: float
    open_positions: int


class EventSink(Protocol):
    """Where the strategy's events go; ``emit`` returns once the event is handled."""

    def emit(self, event) -> None: ...


class NullSink:
    """Drops every event: a backtest keeps what it needs in the strategy itself."""

    def emit(self, event) -> None:
        return None
