"""What the status page tests share: the replay database they read, built as a user builds it
(``python -m runners.live_paper --replay`` of the bundled 1m week with a busy config), and small
helpers to derive other databases from it with plain SQL (a running engine, a stale feed...)."""

import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

from tests.busy_week import BUSY_YAML, ROOT, WEEK_1M, env


def run_replay(folder: Path) -> Path:
    """The replay database in ``folder`` (takes some 20-40 s)."""
    config = folder / "busy.yaml"
    config.write_text(BUSY_YAML)
    db = folder / "replay.db"
    proc = subprocess.run(
        [sys.executable, "-m", "runners.live_paper", "--config", str(config), "--replay",
         str(WEEK_1M), "--speed", "5000", "--db", f"sqlite:///{db}",
         "--log-file", str(folder / "replay.log")],
        cwd=ROOT, env=env(), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return db


def derived(db: Path, folder: Path, *statements: str, name: str = "derived.db") -> Path:
    """A copy of ``db`` in ``folder`` with SQL ``statements`` applied (``db`` is untouched)."""
    folder.mkdir(parents=True, exist_ok=True)
    copy = folder / name
    with sqlite3.connect(db) as src, sqlite3.connect(copy) as dst:
        src.backup(dst)
    with sqlite3.connect(copy) as conn:
        for sql in statements:
            conn.execute(sql)
    return copy


def copy_file(src: Path, dst: Path) -> Path:
    shutil.copyfile(src, dst)
    return dst
