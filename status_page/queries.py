"""The SQL the status page runs: small reads on indexed columns, over one connection per request.

Every function takes a SQLAlchemy ``Connection`` (its read transaction already begun, see
``database.py``) and returns plain tuples, dicts or numpy arrays. Nothing here writes; the
tables and their meaning are those of ``brokers.state.models``.

Which account the page shows (``shown_account``): the paper account when the database has one
(a replay run into the paper database does not take the page over), otherwise the account of the
latest run (a replay database), otherwise the newest account.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
from sqlalchemy import Connection

from brokers.state.bar_queries import bars_query
from core.records import RunMode

__all__ = [
    "account", "bar_fingerprint", "bars", "closed_count", "closed_trade_ids",
    "closed_trades_page", "last_bar_open",
    "day_start_equity", "fills_after", "first_equity_of_day", "latest_run", "market",
    "open_trades", "runs", "shown_account", "signal_counts", "signals", "trades_in_window",
    "trades_of_ids",
]

_ACCOUNT_COLUMNS = "id, mode, initial_balance, cash, created_ms, updated_ms, trading_since_ms"
_TRADE_COLUMNS = ("id, symbol, side, status, signal_id, size, planned_entry, stop_loss, "
                  "take_profit, confidence, risk, equity_at_signal, entry_price, entry_time_ms, "
                  "entry_fee, exit_price, exit_time_ms, exit_fee, exit_reason, pnl, "
                  "valid_until_ms, created_ms, updated_ms")
_RUN_COLUMNS = "id, account_id, started_ms, stopped_ms, mode, status, last_heartbeat_ms"


def _raw(conn: Connection):
    """The sqlite3 connection under ``conn``, inside the same read transaction: plain tuples,
    without SQLAlchemy's per-row objects (they cost more than the query on large reads)."""
    return conn.connection.dbapi_connection


def _rows(conn: Connection, sql: str, params: tuple = ()) -> list[dict[str, Any]]:
    cursor = _raw(conn).execute(sql, params)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _one(conn: Connection, sql: str, params: tuple = ()) -> dict[str, Any] | None:
    rows = _rows(conn, sql, params)
    return rows[0] if rows else None


# ------------------------------------------------------------------------- account and runs

def shown_account(conn: Connection) -> dict[str, Any] | None:
    """The account the page shows (see the module docstring), or None in an empty database."""
    paper = _one(conn, f"SELECT {_ACCOUNT_COLUMNS} FROM accounts WHERE mode = ? "
                       f"ORDER BY id DESC LIMIT 1", (str(RunMode.PAPER),))
    if paper is not None:
        return paper
    latest = _one(conn, f"SELECT {_ACCOUNT_COLUMNS} FROM accounts WHERE id = (SELECT account_id "
                        f"FROM runs WHERE account_id IS NOT NULL ORDER BY id DESC LIMIT 1)")
    if latest is not None:
        return latest
    return _one(conn, f"SELECT {_ACCOUNT_COLUMNS} FROM accounts ORDER BY id DESC LIMIT 1")


def account(conn: Connection, account_id: int) -> dict[str, Any] | None:
    return _one(conn, f"SELECT {_ACCOUNT_COLUMNS} FROM accounts WHERE id = ?", (account_id,))


def latest_run(conn: Connection, account_id: int) -> dict[str, Any] | None:
    """The account's newest run, with its effective config (``config``, a dict)."""
    row = _one(conn, f"SELECT {_RUN_COLUMNS}, config_json FROM runs WHERE account_id = ? "
                     f"ORDER BY id DESC LIMIT 1", (account_id,))
    if row is not None:
        row["config"] = json.loads(row.pop("config_json"))
    return row


def runs(conn: Connection, account_id: int, limit: int = 20) -> list[dict[str, Any]]:
    """The account's runs, newest first."""
    return _rows(conn, f"SELECT {_RUN_COLUMNS} FROM runs WHERE account_id = ? "
                       f"ORDER BY id DESC LIMIT ?", (account_id, limit))


# ------------------------------------------------------------------------- market and trades

def market(conn: Connection) -> list[dict[str, Any]]:
    return _rows(conn, "SELECT symbol, last_price, last_price_ms, feed_status, last_message_ms, "
                       "last_closed_bar_ms, updated_ms FROM market_status ORDER BY symbol")


def open_trades(conn: Connection, account_id: int) -> list[dict[str, Any]]:
    """Pending and open trades, oldest first."""
    # By the status index (a handful of live trades), not the account's (every trade it had).
    return _rows(conn, f"SELECT {_TRADE_COLUMNS} FROM trades WHERE +account_id = ? AND status IN "
                       f"('pending', 'open') ORDER BY id", (account_id,))


def closed_trades_page(conn: Connection, account_id: int, limit: int, offset: int
                       ) -> list[dict[str, Any]]:
    """One page of closed trades, newest exit first."""
    # The unary + keeps SQLite off the account index, so it walks the exit-time index (whose
    # entries end with the id) newest first instead of sorting every closed trade per request.
    rows = _rows(conn, f"SELECT {_TRADE_COLUMNS} FROM trades WHERE +account_id = ? AND +status = "
                       f"'closed' AND exit_time_ms IS NOT NULL ORDER BY exit_time_ms DESC, id DESC "
                       f"LIMIT ? OFFSET ?", (account_id, limit, offset))
    return rows


def closed_count(conn: Connection, account_id: int) -> int:
    return int(_raw(conn).execute("SELECT count(*) FROM trades WHERE account_id = ? AND status = "
                                  "'closed'", (account_id,)).fetchone()[0])


def trades_in_window(conn: Connection, account_id: int, symbol: str, since_ms: int,
                     until_ms: int) -> list[dict[str, Any]]:
    """Open and closed trades of ``symbol`` held at some time in ``[since_ms, until_ms)``."""
    return _rows(conn, f"SELECT {_TRADE_COLUMNS} FROM trades WHERE account_id = ? AND status IN "
                       f"('open', 'closed') AND symbol = ? AND coalesce(exit_time_ms, ?) >= ? "
                       f"AND entry_time_ms < ? ORDER BY id",
                 (account_id, symbol, until_ms, since_ms, until_ms))


def closed_trade_ids(conn: Connection, account_id: int) -> list[int]:
    return [r[0] for r in _raw(conn).execute(
        "SELECT id FROM trades WHERE account_id = ? AND status = 'closed'", (account_id,))]


def trades_of_ids(conn: Connection, ids: list[int]) -> list[dict[str, Any]]:
    """Trades by id, with their signal's time and reasons (``signal_ms``, ``reasons``)."""
    out: list[dict[str, Any]] = []
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        marks = ", ".join("?" * len(chunk))
        out += _rows(conn, f"SELECT t.{_TRADE_COLUMNS.replace(', ', ', t.')}, s.time_ms AS "
                           f"signal_ms, s.reasons_json FROM trades t LEFT JOIN signals s ON "
                           f"s.id = t.signal_id WHERE t.id IN ({marks})", tuple(chunk))
    for row in out:
        reasons = row.pop("reasons_json")
        row["reasons"] = tuple(json.loads(reasons)) if reasons else ()
    return out


def fills_after(conn: Connection, account_id: int, after_id: int) -> list[dict[str, Any]]:
    """The account's fills with ``id > after_id``, with their order's role and trade's side."""
    return _rows(conn, "SELECT f.id, f.time_ms, f.price, f.size, f.fee, f.cash_after, o.role, "
                       "t.symbol, t.side FROM fills f JOIN orders o ON o.id = f.order_id JOIN "
                       "trades t ON t.id = o.trade_id WHERE t.account_id = ? AND f.id > ? "
                       "ORDER BY f.id", (account_id, after_id))


def day_start_equity(conn: Connection, account_id: int, day_start_ms: int) -> float | None:
    """The last equity snapshot at or before ``day_start_ms`` (as ``brokers.restore`` reads it)."""
    row = _raw(conn).execute(
        "SELECT e.equity FROM equity_snapshots e WHERE e.run_id IN (SELECT id FROM runs WHERE "
        "account_id = ?) AND e.time_ms <= ? ORDER BY e.time_ms DESC, e.id DESC LIMIT 1",
        (account_id, day_start_ms)).fetchone()
    return None if row is None else float(row[0])


def first_equity_of_day(conn: Connection, account_id: int, day_start_ms: int) -> float | None:
    """The first equity snapshot after ``day_start_ms`` (the day's start when none is before)."""
    row = _raw(conn).execute(
        "SELECT e.equity FROM equity_snapshots e WHERE e.run_id IN (SELECT id FROM runs WHERE "
        "account_id = ?) AND e.time_ms > ? ORDER BY e.time_ms, e.id LIMIT 1",
        (account_id, day_start_ms)).fetchone()
    return None if row is None else float(row[0])


def signals(conn: Connection, account_id: int, limit: int) -> list[dict[str, Any]]:
    """The latest signals of the account's runs, newest first."""
    rows = _rows(conn, "SELECT id, time_ms, symbol, side, confidence, entry, stop_loss, "
                       "take_profit, reasons_json, traded, decision, run_id FROM signals WHERE "
                       "run_id IN (SELECT id FROM runs WHERE account_id = ?) ORDER BY id DESC "
                       "LIMIT ?", (account_id, limit))
    for row in rows:
        row["reasons"] = json.loads(row.pop("reasons_json"))
        row["traded"] = bool(row["traded"])
    return rows


def signal_counts(conn: Connection, account_id: int) -> tuple[int, int]:
    """``(signals, signals traded)`` of the account."""
    n, traded = _raw(conn).execute(
        "SELECT count(*), coalesce(sum(traded), 0) FROM signals WHERE run_id IN (SELECT id FROM "
        "runs WHERE account_id = ?)", (account_id,)).fetchone()
    return int(n), int(traded)


# ------------------------------------------------------------------------- bars

def bars(conn: Connection, account_id: int, symbol: str, interval: str, *,
         after_ms: int | None = None, last: int | None = None) -> np.ndarray:
    """Recorded closed bars as a float array ``[open_ms, open, high, low, close, volume]`` per
    row, oldest first: those opened after ``after_ms``, or the ``last`` N."""
    sql, params = bars_query(account_id, symbol, interval, after_ms=after_ms, last=last)
    rows = _raw(conn).execute(sql, params).fetchall()
    return np.asarray(rows, dtype=np.float64).reshape(-1, 6)


def last_bar_open(conn: Connection, account_id: int, symbol: str, interval: str) -> int | None:
    """Open time of the newest recorded bar of one series (the primary key answers it)."""
    return _raw(conn).execute("SELECT max(open_time_ms) FROM bars WHERE account_id = ? AND "
                              "symbol = ? AND interval = ?", (account_id, symbol,
                                                              interval)).fetchone()[0]


def bar_fingerprint(conn: Connection, account_id: int, series: list[tuple[str, str]]
                    ) -> tuple:
    """What changes when the account's record changes: the newest bar of each series, and the
    account's cash and last update (every fill sets both), and when it started trading."""
    parts: list[Any] = [last_bar_open(conn, account_id, s, i) for s, i in series]
    parts += _raw(conn).execute("SELECT cash, updated_ms, trading_since_ms FROM accounts WHERE "
                                "id = ?", (account_id,)).fetchone() or ()
    return tuple(parts)
