"""One task = one backtest through ``engine.backtest.run_backtest``: its identity, and
the functions a worker runs.

A ``Task`` names a configuration (the searched parameters, plus ``extra`` engine overrides such
as the walk-forward's carried equity), a dataset and a window. Its ``task_id`` is a SHA-256 over
everything the result depends on: the effective config (base config with the overrides, as
validated), the dataset's file hashes, the window, whether the per-bar curve is kept, and
``RESULTS_VERSION``; so the results table can answer a task from an earlier run, and never
answers it when any of these changed. (A change of the engine's code is not seen: bump
``RESULTS_VERSION`` or start a new table.)

Worker functions (pure: their result depends on their arguments only, so any number of
workers gives the same rows):

- ``detect_task``: the SMC detection of a dataset's signal bars in a window, once per
  (dataset, window, signal timeframe, SMC settings); tasks varying only risk or threshold
  settings receive the same one (``run_backtest(detection=...)``).
- ``run_task``: the backtest, and its row for the results table. Any exception becomes a
  ``failed`` row carrying the error's one line: a bad combination fails alone, the sweep goes on.
"""

from __future__ import annotations

import hashlib
import json
import time
import traceback
import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from core.config import config_from_dict
from core.errors import UserInputError
from core.timeframes import timeframe_ms
from research.objective import calmar_ratio

__all__ = ["METRIC_KEYS", "RESULTS_VERSION", "Task", "decode_curve", "decode_daily", "detect_task",
           "run_task", "task_id"]

RESULTS_VERSION = 1

# The report's scalar metrics kept per task, and the two the research adds.
METRIC_KEYS = ("total_return_pct", "buy_hold_return_pct", "cagr_pct", "sharpe", "sortino",
               "max_drawdown_pct", "win_rate", "profit_factor", "expectancy", "avg_r_multiple",
               "avg_holding_hours", "exposure_pct", "trades", "initial_equity", "final_equity",
               "signals", "signals_traded", "psr", "calmar")


@dataclass(frozen=True)
class Task:
    """A backtest to run. ``config`` is the effective config as a dict (None when the overrides
    are refused; ``error`` then says why), ``detection_key`` groups tasks that share SMC
    detection."""

    task_id: str
    dataset: str
    start_ms: int | None
    end_ms: int | None
    params: tuple[tuple[str, Any], ...]
    extra: tuple[tuple[str, Any], ...] = ()
    keep_curve: bool = False
    config: dict | None = field(default=None, compare=False, repr=False)
    error: str | None = None
    detection_key: tuple | None = None


def task_id(config_or_overrides: dict, data_fingerprint: str, start_ms, end_ms,
            keep_curve: bool) -> str:
    """The stable id of a task (see the module docstring)."""
    text = json.dumps({"version": RESULTS_VERSION, "config": config_or_overrides,
                       "data": data_fingerprint, "window": [start_ms, end_ms],
                       "curve": keep_curve}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def detect_task(config: dict, klines: dict, start_ms, end_ms) -> dict | None:
    """symbol -> ``strategies.setups.Structure`` over the window's signal bars, or None when it
    cannot be made (the backtest then detects by itself and reports any problem)."""
    from feeds.resample import resample_bars
    from research.data import window_klines
    from strategies.setups import SetupParams, detect_structure

    try:
        cfg = config_from_dict(config, source="<task>")
        params = SetupParams.from_config(cfg)
        signal_ms = timeframe_ms(cfg.strategy.signal_timeframe)
        out = {}
        for symbol, k in klines.items():
            bars = window_klines(k, start_ms, end_ms).bars()
            # The signal bars exactly as run_backtest builds them.
            signal = bars if signal_ms == bars.timeframe_ms else \
                resample_bars(bars, cfg.strategy.signal_timeframe)
            out[symbol] = detect_structure(signal, params)
        return out
    except Exception:  # the backtest itself reports the problem
        return None


def run_task(task: Task, klines: dict, detection: dict | None = None) -> dict:
    """Run ``task`` on ``klines`` (symbol -> whole-file Klines) and return its results row."""
    from engine.backtest import run_backtest
    from research.data import window_klines

    started = time.perf_counter()
    row = {"task_id": task.task_id, "dataset": task.dataset, "start_ms": task.start_ms,
           "end_ms": task.end_ms, "params": list(map(list, task.params)),
           "extra": list(map(list, task.extra)), "status": "failed", "error": task.error}
    if task.config is not None:
        try:
            config = config_from_dict(task.config, source="<task>")
            window = {s: window_klines(k, task.start_ms, task.end_ms) for s, k in klines.items()}
            result = run_backtest(config, window, detection=detection)
            row.update(_outcome(result, task.keep_curve), status="ok", error=None)
        except UserInputError as exc:
            row["error"] = " ".join(str(exc).split())
        except Exception as exc:  # recorded; the sweep goes on
            last = traceback.extract_tb(exc.__traceback__)[-1]
            row["error"] = (f"internal error: {type(exc).__name__}: {' '.join(str(exc).split())} "
                            f"({last.filename.rsplit('/', 1)[-1]}:{last.lineno})")
    row["runtime_s"] = time.perf_counter() - started
    return row


def _outcome(result, keep_curve: bool) -> dict:
    from analyzers.metrics import daily_equity, daily_returns, probabilistic_sharpe_ratio

    report = result.report
    metrics = {key: report.get(key) for key in METRIC_KEYS}
    times = np.ascontiguousarray(result.equity_times_ms, dtype=np.int64)
    values = np.ascontiguousarray(result.equity_values, dtype=np.float64)
    daily = daily_equity(times, values)
    returns = daily_returns(daily, report["initial_equity"])
    psr = probabilistic_sharpe_ratio(returns)
    metrics["psr"] = None if psr is None else float(f"{psr:.6g}")
    calmar = calmar_ratio(report["cagr_pct"], report["max_drawdown_pct"])
    metrics["calmar"] = None if calmar is None else float(f"{calmar:.6g}")
    trades_json = json.dumps(report["trade_list"], sort_keys=True, allow_nan=False)
    out = {
        "metrics": metrics,
        "first_bar": report["start"], "end": report["end"], "bars": report["bars"],
        "final_equity_exact": float(values[-1]) if len(values) else None,
        "equity_sha256": hashlib.sha256(times.tobytes() + values.tobytes()).hexdigest(),
        "trades_sha256": hashlib.sha256(trades_json.encode()).hexdigest(),
        "daily": _encode_daily(daily), "curve": None, "trade_list": None,
    }
    if keep_curve:
        flags = np.ascontiguousarray(result.equity_in_market, dtype=np.bool_)
        out["curve"] = zlib.compress(times.tobytes() + values.tobytes() + flags.tobytes())
        out["trade_list"] = trades_json
    return out


def _encode_daily(daily) -> bytes:
    first = np.asarray([daily.index[0].value // 1_000_000 if len(daily) else 0], dtype=np.int64)
    return zlib.compress(first.tobytes() + daily.to_numpy(dtype=np.float64).tobytes())


def decode_daily(blob: bytes):
    """The run's daily equity (``analyzers.metrics.daily_equity``) as a pandas Series."""
    import pandas as pd

    raw = zlib.decompress(blob)
    first = int(np.frombuffer(raw[:8], dtype=np.int64)[0])
    values = np.frombuffer(raw[8:], dtype=np.float64)
    index = pd.date_range(pd.Timestamp(first, unit="ms", tz="UTC"), periods=len(values),
                          freq="D", name="date")
    return pd.Series(values, index=index, name="equity")


def decode_curve(blob: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(times ms, equity, in market) of a kept per-bar curve."""
    raw = zlib.decompress(blob)
    n = len(raw) // 17  # 8 + 8 + 1 bytes a bar
    times = np.frombuffer(raw[:8 * n], dtype=np.int64)
    values = np.frombuffer(raw[8 * n:16 * n], dtype=np.float64)
    flags = np.frombuffer(raw[16 * n:], dtype=np.bool_)
    return times, values, flags
