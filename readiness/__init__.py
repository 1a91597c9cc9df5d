"""Go-live readiness: is the paper record good enough for real money, and how sure is it?

``record`` reads the paper account from the state database, ``confidence`` measures what its
returns and trades prove, ``drift`` replays the backtest on its recorded bars and compares the
trades, ``backtests`` and ``sweep`` add backtest evidence and the number of configurations
tried, ``criteria`` judges every figure against ``go_live`` and gives the verdict, ``assess``
puts it together, ``render`` and ``plots`` write the report, and ``gate`` is what
``app.mode: real`` must pass. ``runners.readiness`` is the command line. Pure statistics live in
``analyzers.statistics``; nothing here imports Flask, and backtrader only through the backtest.

The front door below loads each name on first use (importing the package loads nothing).
"""

from __future__ import annotations

import importlib
from typing import Any

_HOMES = {
    "NOT_READY": "readiness.criteria", "READY": "readiness.criteria",
    "PaperRecord": "readiness.record", "Readiness": "readiness.assess",
    "assess": "readiness.assess", "latest_report_paths": "readiness.latest",
    "load_record": "readiness.record",
    "real_mode_gate": "readiness.gate", "to_html": "readiness.render",
    "to_json": "readiness.render", "to_markdown": "readiness.render",
}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(importlib.import_module(_HOMES[name]), name)
    raise AttributeError(f"module 'readiness' has no attribute {name!r}")


__all__ = sorted(_HOMES)
