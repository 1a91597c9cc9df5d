"""Every table of the paper account, in one module (SQLAlchemy 2.x typed declarative models).

Conventions:

- Times are UTC epoch milliseconds in ``*_ms`` integer columns: exact, sortable, and free of
  SQLite's naive datetimes. ``to_utc(ms)`` turns one into an aware ``datetime`` for display.
- Money and sizes are floats (IEEE doubles): enough for a paper account, and what backtrader
  hands us; do not use this schema for exact accounting.
- Status-like columns hold short strings; the allowed values are listed in ``store.py`` and
  checked there, not by CHECK constraints (SQLite cannot alter those without rebuilding a table).
- Constraint and index names follow one naming convention, so migrations can address them.

The schema itself is created and upgraded by ``migrations.py`` (``PRAGMA user_version``); these
classes describe the newest version (a test checks that the migrated schema matches them).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Boolean, Float, ForeignKey, Integer, MetaData, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

__all__ = ["Account", "Base", "EquitySnapshot", "FeedEvent", "Fill", "MarketStatus", "Order",
           "OrderEvent", "Run", "Signal", "Trade", "to_utc"]

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_name)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def to_utc(ms: int | None) -> datetime | None:
    """Epoch milliseconds -> timezone-aware UTC datetime (None stays None)."""
    return None if ms is None else datetime.fromtimestamp(ms / 1000, tz=UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Run(Base):
    """One start of the engine on one account; ``status`` running, stopped, crashed or refused."""

    __tablename__ = "runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"), index=True)
    started_ms: Mapped[int] = mapped_column(Integer)
    stopped_ms: Mapped[int | None] = mapped_column(Integer)
    mode: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), index=True)
    pid: Mapped[int] = mapped_column(Integer)
    config_json: Mapped[str] = mapped_column(Text)
    last_heartbeat_ms: Mapped[int] = mapped_column(Integer)


class Account(Base):
    """A simulated account: the paper account (``mode`` paper, one per database) or one replay.

    ``trading_since_ms`` is the open time of the first bar it traded live on (not warm-up
    history): the start of its record for reports.
    """

    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    mode: Mapped[str] = mapped_column(String(16))
    initial_balance: Mapped[float] = mapped_column(Float)
    cash: Mapped[float] = mapped_column(Float)
    created_ms: Mapped[int] = mapped_column(Integer)
    updated_ms: Mapped[int] = mapped_column(Integer)
    trading_since_ms: Mapped[int | None] = mapped_column(Integer)


class Bar(Base):
    """A closed kline the engine received (execution and signal timeframes), per account: the
    price record reports and charts are rebuilt from."""

    __tablename__ = "bars"
    __table_args__ = {"sqlite_with_rowid": False}

    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    symbol: Mapped[str] = mapped_column(String(32), primary_key=True)
    interval: Mapped[str] = mapped_column(String(8), primary_key=True)
    open_time_ms: Mapped[int] = mapped_column(Integer, primary_key=True)
    open: Mapped[float] = mapped_column(Float)
    high: Mapped[float] = mapped_column(Float)
    low: Mapped[float] = mapped_column(Float)
    close: Mapped[float] = mapped_column(Float)
    volume: Mapped[float] = mapped_column(Float)


class EquitySnapshot(Base):
    """Marked-to-market equity at one moment (the paper equity curve)."""

    __tablename__ = "equity_snapshots"

    id: Mapped[int] = mapped_column(primary_key=True)
    time_ms: Mapped[int] = mapped_column(Integer, index=True)
    equity: Mapped[float] = mapped_column(Float)
    cash: Mapped[float] = mapped_column(Float)
    open_positions: Mapped[int] = mapped_column(Integer)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"))


class Signal(Base):
    """A setup the strategy saw, traded or not, with the decision in words."""

    __tablename__ = "signals"

    id: Mapped[int] = mapped_column(primary_key=True)
    time_ms: Mapped[int] = mapped_column(Integer, index=True)
    symbol: Mapped[str] = mapped_column(String(32))
    side: Mapped[str] = mapped_column(String(8))
    confidence: Mapped[float] = mapped_column(Float)
    entry: Mapped[float] = mapped_column(Float)
    stop_loss: Mapped[float] = mapped_column(Float)
    take_profit: Mapped[float] = mapped_column(Float)
    reasons_json: Mapped[str] = mapped_column(Text)
    traded: Mapped[bool] = mapped_column(Boolean)
    decision: Mapped[str] = mapped_column(Text)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"))


class Trade(Base):
    """A position from entry order to exit; ``status`` pending, open, closed or cancelled."""

    __tablename__ = "trades"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"), index=True)
    symbol: Mapped[str] = mapped_column(String(32))
    side: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16), index=True)
    signal_id: Mapped[int | None] = mapped_column(ForeignKey("signals.id"))
    size: Mapped[float] = mapped_column(Float)
    planned_entry: Mapped[float] = mapped_column(Float)
    stop_loss: Mapped[float] = mapped_column(Float)
    take_profit: Mapped[float] = mapped_column(Float)
    confidence: Mapped[float] = mapped_column(Float)
    risk: Mapped[float] = mapped_column(Float)
    equity_at_signal: Mapped[float | None] = mapped_column(Float)
    entry_price: Mapped[float | None] = mapped_column(Float)
    entry_time_ms: Mapped[int | None] = mapped_column(Integer)
    entry_fee: Mapped[float | None] = mapped_column(Float)
    exit_price: Mapped[float | None] = mapped_column(Float)
    exit_time_ms: Mapped[int | None] = mapped_column(Integer, index=True)
    exit_fee: Mapped[float | None] = mapped_column(Float)
    exit_reason: Mapped[str | None] = mapped_column(String(32))
    pnl: Mapped[float | None] = mapped_column(Float)
    valid_until_ms: Mapped[int | None] = mapped_column(Integer)
    created_ms: Mapped[int] = mapped_column(Integer)
    updated_ms: Mapped[int] = mapped_column(Integer)

    orders: Mapped[list[Order]] = relationship(back_populates="trade", order_by="Order.id")


class Order(Base):
    """One order of a trade; ``client_order_id`` is ours and unique across the account."""

    __tablename__ = "orders"
    __table_args__ = (UniqueConstraint("client_order_id", name="uq_orders_client_order_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    client_order_id: Mapped[str] = mapped_column(String(64))
    trade_id: Mapped[int] = mapped_column(ForeignKey("trades.id"), index=True)
    symbol: Mapped[str] = mapped_column(String(32))
    role: Mapped[str] = mapped_column(String(16))
    side: Mapped[str] = mapped_column(String(8))
    order_type: Mapped[str] = mapped_column(String(16))
    price: Mapped[float | None] = mapped_column(Float)
    size: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(16), index=True)
    created_ms: Mapped[int] = mapped_column(Integer)
    updated_ms: Mapped[int] = mapped_column(Integer)

    trade: Mapped[Trade] = relationship(back_populates="orders")
    events: Mapped[list[OrderEvent]] = relationship(back_populates="order",
                                                    order_by="OrderEvent.id")
    fills: Mapped[list[Fill]] = relationship(back_populates="order", order_by="Fill.id")


class OrderEvent(Base):
    """One status change of an order (creation and submission included)."""

    __tablename__ = "order_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    time_ms: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(Text, default="")

    order: Mapped[Order] = relationship(back_populates="events")


class Fill(Base):
    """An execution of an order (the paper broker fills an order once, whole)."""

    __tablename__ = "fills"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    time_ms: Mapped[int] = mapped_column(Integer)
    price: Mapped[float] = mapped_column(Float)
    size: Mapped[float] = mapped_column(Float)
    fee: Mapped[float] = mapped_column(Float)
    cash_after: Mapped[float | None] = mapped_column(Float)   # the account's cash right after

    order: Mapped[Order] = relationship(back_populates="fills")


class FeedEvent(Base):
    """A market feed's status as a run saw it change (the first status of each run included):
    the record of feed uptime for the go-live report."""

    __tablename__ = "feed_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"), index=True)
    symbol: Mapped[str] = mapped_column(String(32))
    time_ms: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))


class MarketStatus(Base):
    """Latest price and feed health of one symbol (one row per symbol)."""

    __tablename__ = "market_status"

    symbol: Mapped[str] = mapped_column(String(32), primary_key=True)
    last_price: Mapped[float | None] = mapped_column(Float)
    last_price_ms: Mapped[int | None] = mapped_column(Integer)
    feed_status: Mapped[str | None] = mapped_column(String(16))
    last_message_ms: Mapped[int | None] = mapped_column(Integer)
    last_closed_bar_ms: Mapped[int | None] = mapped_column(Integer)
    updated_ms: Mapped[int] = mapped_column(Integer)
