"""Persistence of the paper account: the SQLite database is its source of truth.

The engine writes through ``StateStore`` only (each write is one committed transaction). Readers
(status page, go-live report) use ``StateStore(url, readonly=True)``, whose reads return frozen
dataclasses, or their own sessions: ``Session = session_factory(init_db(url, readonly=True))``
and ``select()`` over the models, one session per request.
"""

from .db import init_db, session_factory, sqlite_path
from .migrations import SCHEMA_VERSION, SchemaVersionError
from .models import (
    Account,
    Base,
    EquitySnapshot,
    FeedEvent,
    Fill,
    MarketStatus,
    Order,
    OrderEvent,
    Run,
    Signal,
    Trade,
    to_utc,
)
from .store import (
    AccountRow,
    FeedEventRow,
    FillRow,
    MarketRow,
    OrderEventRow,
    OrderRow,
    OrderSpec,
    RunRow,
    SignalRow,
    StateStore,
    TradeRow,
)

__all__ = [
    "SCHEMA_VERSION", "SchemaVersionError", "init_db", "session_factory", "sqlite_path",
    "StateStore", "OrderSpec",
    "AccountRow", "FeedEventRow", "FillRow", "MarketRow", "OrderEventRow", "OrderRow", "RunRow",
    "SignalRow", "TradeRow",
    "Base", "Account", "EquitySnapshot", "FeedEvent", "Fill", "MarketStatus", "Order",
    "OrderEvent", "Run", "Signal", "Trade", "to_utc",
]
