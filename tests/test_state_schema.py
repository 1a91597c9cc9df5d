"""The state database's schema: the migrated schema matches the models, a version-1 file upgrades
to the current version with nothing lost, and the store's row types match the columns they are
read from."""

import dataclasses
import sqlite3
import typing

import pytest
from sqlalchemy import Boolean, Float, Integer, String, Text

from brokers.state import SCHEMA_VERSION, StateStore, models
from brokers.state import store as store_module
from brokers.state.migrations import SCHEMA_V1

T0 = 1_700_000_000_000


def _columns(conn, table):
    return {row[1]: (row[2].upper(), bool(row[3]), bool(row[5]))  # name: (type, notnull, pk)
            for row in conn.execute(f"PRAGMA table_info({table})")}


def _sql_type(column) -> str:
    if isinstance(column.type, Boolean):
        return "BOOLEAN"
    if isinstance(column.type, Integer):
        return "INTEGER"
    if isinstance(column.type, Float):
        return "FLOAT"
    if isinstance(column.type, (String,)) and not isinstance(column.type, Text):
        return f"VARCHAR({column.type.length})"
    return "TEXT"


def test_migrated_schema_matches_the_models(tmp_path):
    """A new file is built by the migrations (frozen v1 DDL, then v2, v3); the ORM models describe
    the newest version. Every table and column must agree: name, type, NOT NULL, primary key."""
    path = tmp_path / "new.db"
    StateStore(f"sqlite:///{path}").close()
    conn = sqlite3.connect(path)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert tables == set(models.Base.metadata.tables)
    for name, table in models.Base.metadata.tables.items():
        expected = {c.name: (_sql_type(c), not c.nullable, c.primary_key) for c in table.columns}
        assert _columns(conn, name) == expected, name
    conn.close()


def test_a_version_1_file_upgrades_with_nothing_lost(tmp_path):
    """A database written by the first release (schema_v1.sql, one account row, no cash per
    fill) opens at the current version: the account, its runs and trades carry over, each old
    fill gets the cash the account had right after it, and the file says so."""
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.executescript(SCHEMA_V1.read_text())
    conn.executescript(f"""
        INSERT INTO account VALUES (1, 1000.0, 989.8, {T0}, {T0});
        INSERT INTO runs VALUES (1, {T0}, {T0 + 5}, 'paper', 'stopped', 1, '{{}}', {T0 + 5});
        INSERT INTO trades (id, symbol, side, status, size, planned_entry, stop_loss, take_profit,
            confidence, risk, entry_price, entry_time_ms, entry_fee, exit_price, exit_time_ms,
            exit_fee, exit_reason, pnl, created_ms, updated_ms)
            VALUES (1, 'BTCUSDT', 'long', 'closed', 0.1, 100, 95, 110, 0.8, 0.6, 100, {T0},
                    0.01, 99, {T0 + 1}, 0.0099, 'stop_loss', -0.1199, {T0}, {T0 + 1});
        INSERT INTO orders VALUES (1, 'smc-entry-a', 1, 'BTCUSDT', 'entry', 'buy', 'limit', 100,
            0.1, 'completed', {T0}, {T0});
        INSERT INTO orders VALUES (2, 'smc-stoploss-a', 1, 'BTCUSDT', 'stop_loss', 'sell', 'stop',
            95, 0.1, 'completed', {T0}, {T0 + 1});
        INSERT INTO fills VALUES (1, 1, {T0}, 100, 0.1, 0.01);
        INSERT INTO fills VALUES (2, 2, {T0 + 1}, 99, 0.1, 0.0099);
        PRAGMA user_version = 1;
    """)
    conn.close()
    store = StateStore(f"sqlite:///{path}")
    account = store.account()
    assert (account.id, account.mode, account.initial_balance, account.cash) == \
        (1, "paper", 1000.0, 989.8)
    assert [r.account_id for r in store.runs()] == [1]
    assert [t.account_id for t in store.trades()] == [1]
    assert [f.cash_after for f in store.fills()] == pytest.approx([1000 - 10 - 0.01,
                                                                   1000 - 10 - 0.01 + 9.9 - 0.0099])
    assert len(store.bars(1, "BTCUSDT", "1m")) == 0
    store.close()
    raw = sqlite3.connect(path)
    assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 3
    raw.close()


_PY_TYPES = {"INTEGER": int, "FLOAT": float, "BOOLEAN": bool, "TEXT": str}


@pytest.mark.parametrize("row_type, model", [
    (store_module.RunRow, models.Run), (store_module.AccountRow, models.Account),
    (store_module.SignalRow, models.Signal), (store_module.TradeRow, models.Trade),
    (store_module.OrderRow, models.Order), (store_module.OrderEventRow, models.OrderEvent),
    (store_module.FillRow, models.Fill), (store_module.MarketRow, models.MarketStatus),
    (store_module.FeedEventRow, models.FeedEvent),
])
def test_store_row_types_match_the_columns(row_type, model):
    """Each frozen row the store hands out has one field per column, of the column's Python
    type, optional exactly when the column is nullable (derived fields: config, reasons,
    orders)."""
    derived = {"config": "config_json", "reasons": "reasons_json", "orders": None}
    hints = typing.get_type_hints(row_type)
    columns = {c.name: c for c in model.__table__.columns}
    fields = [f.name for f in dataclasses.fields(row_type)]
    assert {derived.get(f, f) for f in fields} - {None} == set(columns)
    for name in fields:
        if name in derived:
            continue
        column = columns[name]
        expected = _PY_TYPES.get(_sql_type(column), str)
        hint = hints[name]
        args = set(typing.get_args(hint)) or {hint}
        assert expected in args, f"{row_type.__name__}.{name}: {hint} vs {column.type}"
        assert (type(None) in args) == column.nullable, f"{row_type.__name__}.{name} nullability"
