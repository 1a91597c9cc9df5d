"""Schema versions of the state database, kept in ``PRAGMA user_version``.

``migrate(engine)`` reads the version and runs the steps ``migrate_to_N(connection)`` above it,
in order, each followed by ``PRAGMA user_version = N``, all in ONE ``BEGIN IMMEDIATE``
transaction (SQLite DDL is transactional): a crash mid-upgrade leaves the old version intact,
and two processes opening a new file at once create it only once (the second waits, re-reads
the version and finds nothing to do).

A file whose version is newer than ``SCHEMA_VERSION`` was written by newer code: it is refused
with ``SchemaVersionError`` and never modified (``db.py`` checks this on every new connection,
before any PRAGMA that could write).

Version 1 is the frozen DDL in ``schema_v1.sql`` (what the first release created); each later
version is one ``migrate_to_N`` step, so a new file and an old one go through the same steps.
Adding version N+1: write ``migrate_to_N1`` (``ALTER TABLE ...`` or a table rebuild), register
it in ``STEPS``, bump ``SCHEMA_VERSION`` and update ``models.py`` to the new shape (the test
``test_migrated_schema_matches_the_models`` holds the two together).

Version 2: several accounts per file (``accounts`` replaces the one-row ``account``; a replay
starts its own), ``runs.account_id``, ``trades.account_id``, ``trades.equity_at_signal``,
``fills.cash_after`` (the cash right after each fill, so the equity curve can be rebuilt), and
``bars`` (every closed bar the engine received, per account).

Version 3: ``feed_events`` (each run's feed status changes, for the go-live report's feed
uptime).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Connection, Engine

from core.errors import UserInputError

__all__ = ["SCHEMA_VERSION", "SchemaVersionError"]

SCHEMA_VERSION = 3
SCHEMA_V1 = Path(__file__).with_name("schema_v1.sql")


class SchemaVersionError(UserInputError):
    """The database file was written by a newer (or no) version of this code; a human must act.
    ``version`` is the file's schema version (0: no tables yet)."""

    def __init__(self, message: str, version: int | None = None):
        super().__init__(message)
        self.version = version


def _script(connection: Connection, sql: str) -> None:
    for statement in sql.split(";"):
        lines = [line for line in statement.splitlines() if not line.strip().startswith("--")]
        if "".join(lines).strip():
            connection.exec_driver_sql("\n".join(lines))


def migrate_to_1(connection: Connection) -> None:
    """Version 1: the frozen first schema."""
    _script(connection, SCHEMA_V1.read_text(encoding="utf-8"))


_V2 = """
CREATE TABLE accounts (
    id INTEGER NOT NULL,
    mode VARCHAR(16) NOT NULL,
    initial_balance FLOAT NOT NULL,
    cash FLOAT NOT NULL,
    created_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL,
    trading_since_ms INTEGER,
    CONSTRAINT pk_accounts PRIMARY KEY (id)
);
INSERT INTO accounts (id, mode, initial_balance, cash, created_ms, updated_ms)
    SELECT id,
           CASE WHEN EXISTS (SELECT 1 FROM runs WHERE mode = 'replay')
                 AND NOT EXISTS (SELECT 1 FROM runs WHERE mode = 'paper')
                THEN 'replay' ELSE 'paper' END,
           initial_balance, cash, created_ms, updated_ms
    FROM account;
DROP TABLE account;
ALTER TABLE runs ADD COLUMN account_id INTEGER
    CONSTRAINT fk_runs_account_id_accounts REFERENCES accounts (id);
UPDATE runs SET account_id = (SELECT min(id) FROM accounts);
CREATE INDEX ix_runs_account_id ON runs (account_id);
ALTER TABLE trades ADD COLUMN account_id INTEGER
    CONSTRAINT fk_trades_account_id_accounts REFERENCES accounts (id);
UPDATE trades SET account_id = (SELECT min(id) FROM accounts);
CREATE INDEX ix_trades_account_id ON trades (account_id);
ALTER TABLE trades ADD COLUMN equity_at_signal FLOAT;
ALTER TABLE fills ADD COLUMN cash_after FLOAT;
CREATE TABLE bars (
    account_id INTEGER NOT NULL,
    symbol VARCHAR(32) NOT NULL,
    interval VARCHAR(8) NOT NULL,
    open_time_ms INTEGER NOT NULL,
    open FLOAT NOT NULL,
    high FLOAT NOT NULL,
    low FLOAT NOT NULL,
    close FLOAT NOT NULL,
    volume FLOAT NOT NULL,
    CONSTRAINT pk_bars PRIMARY KEY (account_id, symbol, interval, open_time_ms),
    CONSTRAINT fk_bars_account_id_accounts FOREIGN KEY(account_id) REFERENCES accounts (id)
) WITHOUT ROWID
"""


def migrate_to_2(connection: Connection) -> None:
    """Version 2 (see the module docstring); the cash after each old fill is replayed from the
    initial balance, fill by fill, in the order they were booked."""
    _script(connection, _V2)
    rows = connection.exec_driver_sql(
        "SELECT f.id, f.price, f.size, f.fee, o.side, o.role, a.initial_balance "
        "FROM fills f JOIN orders o ON o.id = f.order_id JOIN trades t ON t.id = o.trade_id "
        "JOIN accounts a ON a.id = t.account_id ORDER BY f.id").fetchall()
    cash = None
    for fill_id, price, size, fee, side, _role, initial in rows:
        cash = initial if cash is None else cash
        cash += (-price * size if side == "buy" else price * size) - fee
        connection.exec_driver_sql("UPDATE fills SET cash_after = ? WHERE id = ?", (cash, fill_id))


_V3 = """
CREATE TABLE feed_events (
    id INTEGER NOT NULL,
    run_id INTEGER NOT NULL,
    symbol VARCHAR(32) NOT NULL,
    time_ms INTEGER NOT NULL,
    status VARCHAR(16) NOT NULL,
    CONSTRAINT pk_feed_events PRIMARY KEY (id),
    CONSTRAINT fk_feed_events_run_id_runs FOREIGN KEY(run_id) REFERENCES runs (id)
);
CREATE INDEX ix_feed_events_run_id ON feed_events (run_id)
"""


def migrate_to_3(connection: Connection) -> None:
    """Version 3: the ``feed_events`` table (runs before it have no feed record)."""
    _script(connection, _V3)


STEPS: dict[int, Callable[[Connection], None]] = {1: migrate_to_1, 2: migrate_to_2,
                                                  3: migrate_to_3}


def read_version(connection: Connection) -> int:
    return int(connection.exec_driver_sql("PRAGMA user_version").scalar_one())


def check_not_newer(version: int, where: str) -> None:
    if version > SCHEMA_VERSION:
        raise SchemaVersionError(
            f"{where}: schema version {version} is newer than this code knows "
            f"({SCHEMA_VERSION}); upgrade the code or point database.url at another file "
            f"(the file was not modified)", version)


def migrate(engine: Engine, where: str) -> int:
    """Bring the database up to ``SCHEMA_VERSION``; returns the version it found."""
    with engine.connect() as conn:
        found = read_version(conn)
    check_not_newer(found, where)
    if found == SCHEMA_VERSION:
        return found
    with engine.execution_options(state_begin="IMMEDIATE").begin() as conn:
        found = read_version(conn)          # again, now that we hold the write lock
        check_not_newer(found, where)
        for n in range(found + 1, SCHEMA_VERSION + 1):
            STEPS[n](conn)
            conn.exec_driver_sql(f"PRAGMA user_version = {n:d}")
    return found
