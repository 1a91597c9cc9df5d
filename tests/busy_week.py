"""The bundled 1m week and the busy settings the live tests trade it with: 15m signals, a low
threshold and shorts give a dozen trades in the week, one still open at the end."""

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WEEK_1M = ROOT / "data" / "BTCUSDT_spot_1m_2023-03-20_2023-03-26.csv"
BUSY = {"decision_engine.confidence_threshold": 0.4, "strategy.allow_short": True,
        "strategy.signal_timeframe": "15m"}
BUSY_YAML = """\
decision_engine:
  confidence_threshold: 0.4
strategy:
  allow_short: true
  signal_timeframe: 15m
"""


def env(**extra):
    """The environment of a runner started as a subprocess from the project's folder."""
    return {**os.environ, "PYTHONPATH": str(ROOT), **extra}
