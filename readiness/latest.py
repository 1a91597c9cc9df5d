"""Where the latest readiness report on a database is kept, for the runner that writes it and
the status page that shows it."""

from __future__ import annotations

from pathlib import Path

__all__ = ["latest_report_paths"]


def latest_report_paths(db_path: str | Path) -> tuple[Path, Path]:
    """``(html, json)``: beside the database file and named after it (``paper_trading.db``:
    ``paper_trading-readiness.html`` and ``.json``), so a report on ``replay.db`` in the same
    folder never shows as the paper account's."""
    path = Path(db_path)
    return (path.with_name(f"{path.stem}-readiness.html"),
            path.with_name(f"{path.stem}-readiness.json"))
