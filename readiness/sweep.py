"""How many configurations were tried before this one: the input of the deflated Sharpe ratio.

Two sources, one ``Sweep``:

- ``load_research(path)``: the research tool's results JSON, ``{"trials": int, "trial_sharpes":
  [annualized 365-day Sharpe of each trial], "objective": str, "chosen_params": {...},
  "in_sample": {...}, "out_of_sample": {...}, "seed": int, "spec": {...}}``. The variance of the
  trials' Sharpes is measured from ``trial_sharpes`` (sample variance, ddof 1; a trial whose
  Sharpe is null, e.g. one without trades, is left out of it but still counts as a trial).
- ``from_trials(n)`` (``--trials N``): only the count is known. The variance is then ASSUMED to
  be that of skill-less trials whose Sharpes differ by sampling noise only, ``1 / (T - 1)`` per
  day for ``T`` daily returns (``365 / (T - 1)`` annualized): the spread the deflated Sharpe
  ratio's null hypothesis itself implies. Variants of one strategy that are strongly alike
  spread less (this then deflates too much); very different strategies spread more (this then
  deflates too little). Give the research JSON for the measured figure.

Every problem with the file is one ``UserInputError`` naming ``--research-json`` and the field.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import UserInputError
from core.json_files import read_json_file

__all__ = ["Sweep", "config_differences", "from_trials", "load_research"]


@dataclass(frozen=True)
class Sweep:
    """``trials`` configurations tried; ``trial_variance_annual`` None = assumed (see above)."""

    trials: int
    source: str
    trial_variance_annual: float | None = None
    objective: str | None = None
    chosen_params: dict[str, Any] = field(default_factory=dict)
    in_sample: dict[str, Any] = field(default_factory=dict)
    out_of_sample: dict[str, Any] = field(default_factory=dict)
    seed: int | None = None
    spec: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"trials": self.trials, "source": self.source,
                "trial_sharpe_variance": self.trial_variance_annual,
                "variance_assumed": self.trial_variance_annual is None,
                "objective": self.objective, "chosen_params": self.chosen_params,
                "in_sample": self.in_sample, "out_of_sample": self.out_of_sample,
                "seed": self.seed, "spec": self.spec}


def from_trials(trials: int) -> Sweep:
    if trials < 1:
        raise UserInputError(f"--trials {trials}: must be at least 1 (the configurations tried, "
                             f"this one included)")
    return Sweep(trials=trials, source=f"--trials {trials}")


def load_research(path: str | Path) -> Sweep:
    option = f"--research-json {path}"
    data = read_json_file(path, option)
    if not isinstance(data, dict):
        raise UserInputError(f"{option}: expected a JSON object with trials and trial_sharpes")
    trials = data.get("trials")
    if not isinstance(trials, int) or isinstance(trials, bool) or trials < 1:
        raise UserInputError(f"{option}: trials must be a whole number >= 1, got {trials!r}")
    sharpes = data.get("trial_sharpes")
    if not isinstance(sharpes, list):
        raise UserInputError(f"{option}: trial_sharpes must be a list of the trials' Sharpe "
                             f"ratios")
    if len(sharpes) != trials:
        raise UserInputError(f"{option}: trial_sharpes has {len(sharpes)} entries but trials is "
                             f"{trials}; there must be one per trial")
    values = []
    for i, value in enumerate(sharpes):
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or not math.isfinite(value):
            raise UserInputError(f"{option}: trial_sharpes[{i}] must be a number or null, got "
                                 f"{value!r}")
        values.append(float(value))
    if trials > 1 and len(values) < 2:
        raise UserInputError(f"{option}: trial_sharpes needs at least two numbers to measure "
                             f"their variance")
    variance = float(np.var(values, ddof=1)) if len(values) >= 2 else 0.0
    dicts = {}
    for name in ("chosen_params", "in_sample", "out_of_sample", "spec"):
        value = data.get(name, {})
        if not isinstance(value, dict):
            raise UserInputError(f"{option}: {name} must be an object, got {type(value).__name__}")
        dicts[name] = value
    objective = data.get("objective")
    seed = data.get("seed")
    return Sweep(trials=trials, source=option, trial_variance_annual=variance,
                 objective=None if objective is None else str(objective),
                 seed=seed if isinstance(seed, int) else None, **dicts)


def _flatten(node: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(node, dict):
        return {prefix: node}
    out: dict[str, Any] = {}
    for key, value in node.items():
        out.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return out


def config_differences(sweep: Sweep, config) -> list[str]:
    """Chosen parameters (dotted config keys, or nested sections) whose value differs from the
    config being judged: then the research did not choose this config."""
    ours = _flatten(config.as_dict())
    out = []
    for key, value in _flatten(sweep.chosen_params).items():
        if key in ours and ours[key] != value:
            out.append(f"{key}: research chose {value!r}, the config has {ours[key]!r}")
    return out
