"""Persistence of the paper account: the SQLite database is its source of truth.

The engine writes through ``StateStore`` only (each write is one committed transaction). Readers
(status page, go-live report) use ``StateStore(url, readonly=True)``, whose reads return frozen
dataclasses, or their own sessions: ``Session = session_factory(init_db(url, readonly=True))``
and ``select()`` over the models, one session per request.

The front door below loads each name on first use (``bar_queries``, the bars' SQL for readers
with a raw connection, loads no SQLAlchemy).
"""

from core.lazy import lazy_package

__getattr__, __all__ = lazy_package(__name__, ["db", "migrations", "models", "store"])
