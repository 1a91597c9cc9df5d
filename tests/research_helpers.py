"""Shared by the research tests: writing specs, running the research CLI as a user does, and
reading a results table."""

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
ETH_1H = ROOT / "data" / "ETHUSDT_spot_1h_2023-01-01_2023-12-31.csv.gz"
BTC_1H = ROOT / "data" / "BTCUSDT_spot_1h_2017-08-17_2023-12-31.csv.gz"
BTC_1M = ROOT / "data" / "BTCUSDT_spot_1m_2023-03-20_2023-03-26.csv"

# Columns that depend on the task alone (not on when or where it ran).
VOLATILE = ("runtime_s", "finished_at")


def write_spec(folder: Path, body: dict, name: str = "spec.yaml") -> Path:
    body = {"config": str(ROOT / "config.yaml"), **body}
    path = folder / name
    path.write_text(yaml.safe_dump(body, sort_keys=False))
    return path


def run_research(*args, cwd=ROOT, timeout=600, env_extra=None):
    env = {**os.environ, "PYTHONPATH": str(ROOT), **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", "runners.research", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout, env=env)


def table(path: Path) -> dict[str, tuple]:
    """task_id -> the row's deterministic columns."""
    db = sqlite3.connect(path)
    try:
        names = [r[1] for r in db.execute("PRAGMA table_info(results)")]
        keep = [i for i, n in enumerate(names) if n not in VOLATILE]
        return {row[0]: tuple(row[i] for i in keep) for row in db.execute("SELECT * FROM results")}
    finally:
        db.close()


def column(path: Path, sql: str) -> list:
    db = sqlite3.connect(path)
    try:
        return list(db.execute(sql))
    finally:
        db.close()
