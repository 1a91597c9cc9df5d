"""Configurations to tasks, and task rows back to scored, ranked configurations.

``plan(...)`` turns each configuration into one task per (dataset, window): the configuration is
applied to the base config with ``core.config.apply_overrides`` (so it is validated as a whole;
a refused combination gives tasks that fail with that one line, without running), and the
task's detection key is the SMC settings it detects with.

``score(...)`` (``score_planned``: of every configuration of a plan) gives a configuration's
objective over its tasks: the mean of their objectives when every task ran and has one
(``research.objective.objective_value``: a defined value and at least ``min_trades`` trades),
else None, so a configuration that fails or barely trades on one of the markets is never ranked
above one that works on all. ``rank`` sorts by that score, best first, undefined last, ties in
configuration order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from core.config import AppConfig, apply_overrides
from core.errors import ConfigError
from research.data import LoadedDataset
from research.objective import objective_value
from research.spec import Window
from research.tasks import Task, task_id

__all__ = ["Scored", "plan", "rank", "score", "score_planned"]

Config = tuple[tuple[str, Any], ...]


def plan(base: AppConfig, configs: list[Config], units: list[tuple[LoadedDataset, Window]],
         extra: dict[str, Config] | None = None, keep_curve: bool = False) -> list[Task]:
    """One task per configuration and (dataset, window) unit, in that order; ``extra`` maps a
    dataset name to overrides added for it only (the walk-forward's carried equity)."""
    base_dict = base.as_dict()
    tasks = []
    effective: dict[Config, tuple[dict | None, str | None]] = {}
    for config in configs:
        for loaded, window in units:
            more = (extra or {}).get(loaded.name, ())
            overrides = config + more
            if overrides not in effective:
                effective[overrides] = _apply(base, overrides)
            cfg, error = effective[overrides]
            identity = cfg if cfg is not None else {"base": base_dict,
                                                    "overrides": list(map(list, overrides))}
            tasks.append(Task(
                task_id=task_id(identity, loaded.fingerprint, window.start_ms, window.end_ms,
                                keep_curve),
                dataset=loaded.name, start_ms=window.start_ms, end_ms=window.end_ms,
                params=config, extra=more, keep_curve=keep_curve, config=cfg, error=error,
                detection_key=None if cfg is None else _detection_key(cfg, loaded, window)))
    return tasks


def _apply(base: AppConfig, overrides: Config) -> tuple[dict | None, str | None]:
    try:
        return apply_overrides(base, dict(overrides)).as_dict(), None
    except ConfigError as exc:
        return None, str(exc).replace("<overrides>: ", "config: ", 1)


def _detection_key(cfg: dict, loaded: LoadedDataset, window: Window) -> tuple:
    smc = cfg["smc"]
    return (loaded.name, window.start_ms, window.end_ms, cfg["strategy"]["signal_timeframe"],
            smc["swing_lookback"], smc["break_on"], smc["order_block"], smc["fvg_fill"],
            smc["htf_swing_lookback"])


@dataclass
class Scored:
    """A configuration, its rows (one per unit, in unit order) and its score."""

    params: Config
    rows: list[dict]
    score: float | None = None
    objectives: list[float | None] = field(default_factory=list)

    @property
    def worst(self) -> float | None:
        defined = [v for v in self.objectives if v is not None]
        return min(defined) if len(defined) == len(self.objectives) and defined else None

    @property
    def failed(self) -> int:
        return sum(r["status"] != "ok" for r in self.rows)

    def metric_mean(self, key: str) -> float | None:
        values = [r["metrics"][key] for r in self.rows
                  if r["status"] == "ok" and r["metrics"].get(key) is not None]
        return sum(values) / len(values) if values else None

    def metric_total(self, key: str) -> int:
        return sum(r["metrics"][key] for r in self.rows if r["status"] == "ok")


def score(params: Config, rows: list[dict], objective: str, min_trades: int) -> Scored:
    objectives = [objective_value(r["metrics"], objective, min_trades) if r["status"] == "ok"
                  else None for r in rows]
    defined = [v for v in objectives if v is not None]
    value = sum(defined) / len(defined) if defined and len(defined) == len(rows) else None
    return Scored(params, rows, value, objectives)


def score_planned(configs: list[Config], tasks: list[Task], rows: dict[str, dict], units: int,
                  objective: str, min_trades: int) -> list[Scored]:
    """``score`` of each configuration of a ``plan``: its ``units`` tasks are consecutive."""
    return [score(config, [rows[t.task_id] for t in tasks[i * units:(i + 1) * units]],
                  objective, min_trades) for i, config in enumerate(configs)]


def rank(scored: list[Scored]) -> list[Scored]:
    order = {id(s): i for i, s in enumerate(scored)}
    return sorted(scored, key=lambda s: (s.score is None, -(s.score or 0.0), order[id(s)]))
