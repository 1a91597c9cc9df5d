"""Schema versions of the state database, kept in ``PRAGMA user_version``.

``migrate(engine)`` reads the version and runs the steps ``migrate_to_N(connection)`` above it,
in order, each followed by ``PRAGMA user_version = N``, all in ONE ``BEGIN IMMEDIATE``
transaction (SQLite DDL is transactional): a crash mid-upgrade leaves the old version intact,
and two processes opening a new file at once create it only once (the second waits, re-reads
the version and finds nothing to do).

A file whose version is newer than ``SCHEMA_VERSION`` was written by newer code: it is refused
with ``SchemaVersionError`` and never modified (``db.py`` checks this on every new connection,
before any PRAGMA that could write).

Adding version 2: write ``migrate_to_2`` (``ALTER TABLE ...`` or a table rebuild), register it in
``STEPS`` and bump ``SCHEMA_VERSION``. At that moment ``migrate_to_1`` must stop calling
``create_all`` on the live models and create the frozen version-1 tables instead (their DDL is
what ``sqlite3 file.db .schema`` prints on a version-1 file), so that a new file still goes
1 -> 2 through the same steps as an old one.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Connection, Engine

from core.errors import UserInputError

from .models import Base

SCHEMA_VERSION = 1


class SchemaVersionError(UserInputError):
    """The database file was written by a newer (or no) version of this code; a human must act."""


def migrate_to_1(connection: Connection) -> None:
    """Version 1: every table and index of ``models.py``."""
    Base.metadata.create_all(connection)


STEPS: dict[int, Callable[[Connection], None]] = {1: migrate_to_1}


def read_version(connection: Connection) -> int:
    return int(connection.exec_driver_sql("PRAGMA user_version").scalar_one())


def check_not_newer(version: int, where: str) -> None:
    if version > SCHEMA_VERSION:
        raise SchemaVersionError(
            f"{where}: schema version {version} is newer than this code knows "
            f"({SCHEMA_VERSION}); upgrade the code or point database.url at another file "
            f"(the file was not modified)")


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
