"""The state database as the status page sees it: opened read-only once the file exists, and one
connection holding one read transaction (a consistent snapshot) per request.

A fresh install has no database yet (``missing``), or a file the engine has not given its schema
yet (``empty``); both show an empty page, not an error. A file of another schema version, or not
SQLite at all, is ``unreadable`` with the reason. Nothing here writes: the engine is opened with
``init_db(url, readonly=True)`` (``query_only``), which never creates a file or migrates.
"""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from brokers.state import SchemaVersionError, init_db, sqlite_path
from core.errors import UserInputError

__all__ = ["StateDatabase", "Unavailable"]

MISSING, EMPTY, UNREADABLE = "missing", "empty", "unreadable"


class Unavailable(Exception):
    """The database cannot be read now; ``state`` is missing, empty or unreadable."""

    def __init__(self, state: str, message: str):
        super().__init__(message)
        self.state, self.message = state, message


class StateDatabase:
    """The engine's SQLite file, opened read-only on first use (and again until it exists)."""

    def __init__(self, url: str, option: str = "database.url"):
        self.url, self.option = url, option
        path = sqlite_path(url, option)
        if path is None:
            raise UserInputError(f"{option}: the status page reads a database file; "
                                 f"an in-memory database (sqlite://) has nothing to show")
        self.path = Path(path)
        self._engine: Engine | None = None
        self._lock = threading.Lock()

    @property
    def folder(self) -> Path:
        return self.path.parent

    def engine(self) -> Engine:
        """The read-only engine; raises ``Unavailable`` while there is nothing to read."""
        if self._engine is not None:
            return self._engine
        with self._lock:
            if self._engine is None:
                self._engine = self._open()
            return self._engine

    def _open(self) -> Engine:
        if not self.path.is_file():
            raise Unavailable(MISSING, f"no database yet at {self.path.name} (the engine creates "
                                       f"it on its first start)")
        try:
            return init_db(self.url, readonly=True, option=self.option)
        except SchemaVersionError as exc:
            if exc.version == 0:   # a file without tables: the engine has not set it up
                raise Unavailable(EMPTY, "the database has no data yet") from None
            raise Unavailable(UNREADABLE, _without_path(str(exc), self.path)) from None
        except (UserInputError, SQLAlchemyError, OSError) as exc:
            raise Unavailable(UNREADABLE, _without_path(str(exc), self.path)) from None

    def connect(self) -> Connection:
        """A connection with its read transaction begun (close it when done)."""
        conn = self.engine().connect()
        conn.begin()
        return conn

    def size_bytes(self) -> int:
        """The database file with its WAL and shared-memory files, in bytes (0 if missing)."""
        total = 0
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(OSError):
                total += os.path.getsize(f"{self.path}{suffix}")
        return total

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()


def _without_path(message: str, path: Path) -> str:
    """Messages name the file, not where it lives on this machine (they reach HTTP clients)."""
    return " ".join(message.replace(str(path), path.name).split())
