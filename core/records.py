"""The record vocabulary every layer speaks: enums for sides and statuses, one trade record and
one P&L rule.

The strategy builds ``TradeRecord``s as trades close, the state store hands them back from the
database (``TradeRow.record()``), and the reports turn them into the report contract
(``analyzers.report``). ``trade_pnl`` is the only place P&L is computed.

The enums are ``StrEnum``s: they compare equal to their values (``Side.LONG == "long"``), so they
go into JSON, SQLite and log lines as plain strings.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

__all__ = [
    "ExitReason", "FeedStatus", "OrderRole", "OrderSide", "OrderStatus", "OrderTerms", "OrderType",
    "RunMode",
    "RunStatus", "Side", "TradeRecord", "TradeStatus", "trade_pnl",
]


class Side(StrEnum):
    """Direction of a trade."""

    LONG = "long"
    SHORT = "short"

    @property
    def sign(self) -> int:
        """+1 for a long, -1 for a short: P&L = sign x (exit - entry) x size."""
        return 1 if self is Side.LONG else -1

    @classmethod
    def of(cls, sign: int) -> Side:
        return cls.LONG if sign > 0 else cls.SHORT


class OrderSide(StrEnum):
    BUY = "buy"
    SELL = "sell"


class OrderRole(StrEnum):
    """What an order is for within its trade."""

    ENTRY = "entry"
    STOP_LOSS = "stop_loss"
    TAKE_PROFIT = "take_profit"
    CLOSE = "close"


class OrderType(StrEnum):
    LIMIT = "limit"
    STOP = "stop"
    MARKET = "market"


class OrderStatus(StrEnum):
    """backtrader's order states, lower case; ``denied`` is our own pre-trade refusal."""

    CREATED = "created"
    SUBMITTED = "submitted"
    ACCEPTED = "accepted"
    PARTIAL = "partial"
    COMPLETED = "completed"
    CANCELED = "canceled"
    EXPIRED = "expired"
    MARGIN = "margin"
    REJECTED = "rejected"
    DENIED = "denied"

    @property
    def live(self) -> bool:
        """Still working at the broker (can fill or change)."""
        return self in _LIVE_ORDER_STATUSES


_LIVE_ORDER_STATUSES = frozenset({OrderStatus.CREATED, OrderStatus.SUBMITTED,
                                  OrderStatus.ACCEPTED, OrderStatus.PARTIAL})


@dataclass(frozen=True, slots=True)
class OrderTerms:
    """What an order is: its role in its trade, side, type, price (None for market) and size."""

    role: OrderRole
    side: OrderSide
    order_type: OrderType
    price: float | None
    size: float


class TradeStatus(StrEnum):
    PENDING = "pending"       # entry order working
    OPEN = "open"             # entry filled, exits working
    CLOSED = "closed"
    CANCELLED = "cancelled"   # entry expired or canceled before filling


class ExitReason(StrEnum):
    STOP_LOSS = "stop_loss"
    TAKE_PROFIT = "take_profit"
    END_OF_DATA = "end_of_data"   # a backtest's open position, valued at the last close
    MANUAL = "manual"             # a close order without a named reason


class FeedStatus(StrEnum):
    """Health of one live kline stream (``feeds.feed_health`` gives the rules)."""

    LIVE = "LIVE"
    DELAYED = "DELAYED"
    DISCONNECTED = "DISCONNECTED"
    BACKFILLING = "BACKFILLING"


class RunStatus(StrEnum):
    RUNNING = "running"
    STOPPED = "stopped"
    CRASHED = "crashed"       # it never said goodbye (kill -9, power loss, an internal error)
    REFUSED = "refused"       # it did not start: the reason is in the log and on stderr


class RunMode(StrEnum):
    PAPER = "paper"           # live Binance data, the paper account: counts for go-live
    REPLAY = "replay"         # a kline file served by the local fake exchange: never counts


def trade_pnl(side: Side | str, entry_price: float, exit_price: float, size: float,
              entry_fee: float, exit_fee: float) -> float:
    """P&L of a closed trade in quote currency, after both fees."""
    return Side(side).sign * (exit_price - entry_price) * size - (entry_fee + exit_fee)


@dataclass(frozen=True, slots=True)
class TradeRecord:
    """One closed trade (or, in a backtest, a position valued at the end of the data).

    Times are UTC epoch ms: ``entry_ms``/``exit_ms`` are the open time of the bar the fill
    happened in (an ``end_of_data`` exit: the last bar's close); ``signal_ms`` is the close of
    the signal bar the decision was taken at. ``equity_at_signal`` is None when unknown.
    """

    symbol: str
    side: Side
    signal_ms: int | None
    entry_ms: int
    exit_ms: int
    entry_price: float
    exit_price: float
    size: float
    stop_loss: float
    take_profit: float
    entry_fee: float
    exit_fee: float
    exit_reason: str
    confidence: float
    risk: float
    equity_at_signal: float | None = None
    reasons: tuple[str, ...] = field(default=())

    @classmethod
    def from_columns(cls, row: Mapping[str, Any], signal_ms: int | None,
                     reasons: tuple[str, ...] = ()) -> TradeRecord:
        """A closed trade from the ``trades`` table's columns (fees recorded as NULL are 0)."""
        return cls(
            symbol=row["symbol"], side=Side(row["side"]), signal_ms=signal_ms,
            entry_ms=row["entry_time_ms"], exit_ms=row["exit_time_ms"],
            entry_price=row["entry_price"], exit_price=row["exit_price"], size=row["size"],
            stop_loss=row["stop_loss"], take_profit=row["take_profit"],
            entry_fee=row["entry_fee"] or 0.0, exit_fee=row["exit_fee"] or 0.0,
            exit_reason=row["exit_reason"], confidence=row["confidence"], risk=row["risk"],
            equity_at_signal=row["equity_at_signal"], reasons=tuple(reasons))

    @property
    def pnl(self) -> float:
        return trade_pnl(self.side, self.entry_price, self.exit_price, self.size, self.entry_fee,
                         self.exit_fee)

    @property
    def fees(self) -> float:
        return self.entry_fee + self.exit_fee

    @property
    def notional(self) -> float:
        return self.size * self.entry_price

    @property
    def risk_pct_of_equity(self) -> float | None:
        if not self.equity_at_signal:
            return None
        return 100.0 * self.risk / self.equity_at_signal

    @property
    def holding_ms(self) -> int:
        return self.exit_ms - self.entry_ms
