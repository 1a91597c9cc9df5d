"""The results table: one SQLite row per finished task, keyed by its ``task_id``.

A run writes each row as its task finishes (committed at once, so an interrupted sweep keeps
what it finished) and starts by reading the rows it already has: a task whose id is in the table
is never run again, whatever run or spec it came from (``research.tasks`` says what the id
covers). Failed tasks (bad parameters, a refused combination) are finished too; a task lost to
the cluster (a worker died) is not stored, so the next run retries it.

Columns: ``task_id``, ``dataset``, ``start_ms``/``end_ms`` (the window, UTC ms; NULL = open),
``params`` and ``extra`` (JSON lists of ``[key, value]``), ``status`` (``ok`` | ``failed``),
``error``, ``trades``, ``sharpe``, ``total_return_pct``, ``max_drawdown_pct``, ``psr``,
``calmar`` (copies of the metrics for SQL queries), ``metrics`` (JSON: every metric of
``research.tasks.METRIC_KEYS``), ``first_bar``/``end``/``bars`` (the run's period),
``final_equity_exact``, ``equity_sha256``/``trades_sha256`` (fingerprints of the per-bar equity
and of the trade list), ``daily`` (zlib of the first day and the daily equity), ``curve`` (zlib
of the per-bar times, equity and in-market flags; walk-forward test runs only) and
``trade_list`` (JSON, same runs), ``runtime_s`` and ``finished_at``.
Every column but the last two is a function of the task alone: the same spec and seed give the
same table whatever the number of workers.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from core.errors import UserInputError

__all__ = ["COLUMNS", "ResultStore"]

COLUMNS = ("task_id", "dataset", "start_ms", "end_ms", "params", "extra", "status", "error",
           "trades", "sharpe", "total_return_pct", "max_drawdown_pct", "psr", "calmar",
           "metrics", "first_bar", "end", "bars", "final_equity_exact", "equity_sha256",
           "trades_sha256", "daily", "curve", "trade_list", "runtime_s", "finished_at")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS results (
    task_id TEXT PRIMARY KEY,
    dataset TEXT NOT NULL,
    start_ms INTEGER,
    end_ms INTEGER,
    params TEXT NOT NULL,
    extra TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('ok', 'failed')),
    error TEXT,
    trades INTEGER,
    sharpe REAL,
    total_return_pct REAL,
    max_drawdown_pct REAL,
    psr REAL,
    calmar REAL,
    metrics TEXT,
    first_bar TEXT,
    "end" TEXT,
    bars INTEGER,
    final_equity_exact REAL,
    equity_sha256 TEXT,
    trades_sha256 TEXT,
    daily BLOB,
    curve BLOB,
    trade_list TEXT,
    runtime_s REAL,
    finished_at TEXT
)
"""
_METRIC_COLUMNS = ("trades", "sharpe", "total_return_pct", "max_drawdown_pct", "psr", "calmar")
_QUOTED = ", ".join(f'"{c}"' for c in COLUMNS)


class ResultStore:
    """The results table in the SQLite file at ``path`` (created with its folder)."""

    def __init__(self, path, option: str = "--results"):
        self.path = Path(path)
        try:
            self.path.resolve().parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(_SCHEMA)
            names = [r[1] for r in self._db.execute("PRAGMA table_info(results)")]
        except (OSError, sqlite3.Error) as exc:
            raise UserInputError(f"{option} {path}: not a usable SQLite results file: "
                                 f"{exc}") from exc
        if tuple(names) != COLUMNS:
            raise UserInputError(f"{option} {path}: its results table has other columns than "
                                 f"this version writes; use a new file")

    def close(self) -> None:
        self._db.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def get(self, task_ids: Iterable[str]) -> dict[str, dict]:
        """task_id -> row, for the ids already in the table."""
        ids = list(dict.fromkeys(task_ids))
        out = {}
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            marks = ",".join("?" * len(chunk))
            for values in self._db.execute(
                    f"SELECT {_QUOTED} FROM results WHERE task_id IN ({marks})", chunk):
                row = dict(zip(COLUMNS, values, strict=True))
                out[row["task_id"]] = _decode(row)
        return out

    def put(self, row: dict) -> None:
        """Store a finished task's row (``research.tasks.run_task``'s dict)."""
        metrics = row.get("metrics") or {}
        record = {
            **{c: row.get(c) for c in COLUMNS},
            **{c: metrics.get(c) for c in _METRIC_COLUMNS},
            "params": json.dumps(row["params"]),
            "extra": json.dumps(row["extra"]),
            "metrics": json.dumps(metrics, allow_nan=False) if row.get("metrics") else None,
            "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        with self._db:
            self._db.execute(f"INSERT OR REPLACE INTO results ({_QUOTED}) VALUES "
                             f"({','.join('?' * len(COLUMNS))})", [record[c] for c in COLUMNS])

    def all_rows(self) -> list[dict]:
        """Every row, ordered by task_id."""
        return [_decode(dict(zip(COLUMNS, values, strict=True))) for values in
                self._db.execute(f"SELECT {_QUOTED} FROM results ORDER BY task_id")]


def _decode(row: dict) -> dict:
    row["params"] = json.loads(row["params"])
    row["extra"] = json.loads(row["extra"])
    row["metrics"] = json.loads(row["metrics"]) if row["metrics"] else None
    return row
