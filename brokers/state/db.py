"""Engine and sessions for the state database: one SQLite file shared by the engine and readers.

``init_db(url)`` accepts ``sqlite:///<path>`` (relative to the current directory; the parent
folder is created) and ``sqlite://`` (in memory, for tests), and anything else raises a one-line
``ConfigError`` naming ``database.url``. Every connection gets:

- ``journal_mode=WAL`` (file databases): readers never block the writer, nor it them;
- ``synchronous=FULL``: a commit is on disk (WAL fsynced) before it returns, so a committed fill
  survives kill -9 and power loss;
- ``foreign_keys=ON`` and ``busy_timeout=5000`` ms (a second writer waits instead of failing);
- ``check_same_thread=False`` (sessions are short and per operation, threads may share the pool).

Transactions are explicit: the pysqlite driver's own implicit BEGIN is switched off and every
transaction starts with ``BEGIN`` (readers: a consistent snapshot) or ``BEGIN IMMEDIATE``
(writers: the write lock is taken up front, so a write never fails half-way with "database is
locked" when another writer committed in between). ``session_factory(engine, write=True)``
gives the latter; use it as ``with Session.begin() as s:``.

``init_db(url, readonly=True)`` is for the status page and reports: no folder or file is created,
no migration runs, the schema must already be at ``SCHEMA_VERSION``, and every connection sets
``query_only=ON`` so a stray write fails loudly.
"""

from __future__ import annotations

import os
import sqlite3

from sqlalchemy import URL, Engine, create_engine, event
from sqlalchemy.exc import DatabaseError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from core.errors import ConfigError

from .migrations import SCHEMA_VERSION, SchemaVersionError, check_not_newer, migrate

__all__ = ["init_db", "session_factory", "sqlite_path"]

URL_EXAMPLE = "sqlite:///state/paper_trading.db"
BUSY_TIMEOUT_MS = 5000
_BEGIN_OPTION = "state_begin"        # execution option read by the "begin" listener


def sqlite_path(url: str, option: str = "database.url") -> str | None:
    """The absolute file path of a ``sqlite:///<path>`` URL, or None for ``sqlite://``.

    ``option`` names where the URL came from in messages (``database.url`` or ``--db``)."""
    form = f"write sqlite:///<path>, e.g. {URL_EXAMPLE} (or sqlite:// in memory, for tests)"
    if not isinstance(url, str):
        raise ConfigError(f"{option}: must be a string; {form}")
    if url == "sqlite://":
        return None
    if not url.startswith("sqlite:///"):
        scheme = url.split("://", 1)[0] + "://" if "://" in url else repr(url)
        raise ConfigError(f"{option}: only SQLite is supported, got {scheme}; {form}")
    path = url[len("sqlite:///"):]
    if not path.strip():
        raise ConfigError(f"{option}: {url!r} names no database file; {form}")
    if "?" in path or path == ":memory:":
        raise ConfigError(f"{option}: {url!r} has options or no file; {form}")
    return os.path.abspath(path)


def init_db(url: str, *, readonly: bool = False, option: str = "database.url") -> Engine:
    """Build the engine for ``url``, check the schema version and (unless readonly) migrate."""
    path = sqlite_path(url, option)
    where = f"{option} {url}"
    if readonly:
        if path is None:
            raise ConfigError(f"{option}: an in-memory database cannot be opened read-only")
        if not os.path.isfile(path):
            raise ConfigError(f"{option}: {path} does not exist yet (the engine creates it "
                              f"on its first start)")
    elif path is not None:
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"{option}: cannot create folder {os.path.dirname(path)}: "
                              f"{exc.strerror or exc}") from exc

    if path is None:
        engine = create_engine("sqlite+pysqlite://", poolclass=StaticPool,
                               connect_args={"check_same_thread": False})
    else:
        engine = create_engine(URL.create("sqlite+pysqlite", database=path),
                               connect_args={"check_same_thread": False,
                                             "timeout": BUSY_TIMEOUT_MS / 1000})
    _install_listeners(engine, wal=path is not None and not readonly, readonly=readonly,
                       where=where)
    try:
        if readonly:
            with engine.connect() as conn:
                version = int(conn.exec_driver_sql("PRAGMA user_version").scalar_one())
            if version != SCHEMA_VERSION:
                raise SchemaVersionError(f"{where}: schema version {version}, expected "
                                         f"{SCHEMA_VERSION}; start the engine once to upgrade it",
                                         version)
        else:
            migrate(engine, where)
    except DatabaseError as e:
        engine.dispose()
        if isinstance(e.orig, sqlite3.DatabaseError) and "not a database" in str(e.orig):
            raise ConfigError(f"{option}: {path} is not a SQLite database") from e
        raise
    except BaseException:
        engine.dispose()
        raise
    return engine


def session_factory(engine: Engine, *, write: bool = False) -> sessionmaker[Session]:
    """Sessions for ``with Session.begin() as s:``; ``write=True`` begins with BEGIN IMMEDIATE."""
    bind = engine.execution_options(**{_BEGIN_OPTION: "IMMEDIATE"}) if write else engine
    return sessionmaker(bind=bind, expire_on_commit=False)


def _install_listeners(engine: Engine, *, wal: bool, readonly: bool, where: str) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        dbapi_conn.isolation_level = None          # no implicit BEGIN: we send our own
        cur = dbapi_conn.cursor()
        try:
            cur.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS:d}")
            # before any PRAGMA that may write: never touch a file from newer code
            check_not_newer(cur.execute("PRAGMA user_version").fetchone()[0], where)
            if wal:
                mode = cur.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                if mode.lower() != "wal":
                    raise ConfigError(f"{where}: cannot use WAL journal mode (got {mode})")
            cur.execute("PRAGMA synchronous = FULL")
            cur.execute("PRAGMA foreign_keys = ON")
            if readonly:
                cur.execute("PRAGMA query_only = ON")
        finally:
            cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        mode = conn.get_execution_options().get(_BEGIN_OPTION, "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")
