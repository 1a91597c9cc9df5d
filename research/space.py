"""The candidate configurations of a study: every grid point, a seeded random sample, or optuna.

A configuration is a tuple of ``(dotted config key, value)`` pairs in the spec's key order.

- ``grid``: the product of every key's values, the first key varying slowest.
- ``random`` (``trials`` N, ``seed``): N distinct configurations drawn with
  ``numpy.random.default_rng(seed)``. When every key is discrete the draw is without
  replacement from the grid (the whole grid, in grid order, if N covers it); a continuous range
  ``{from, to}`` is drawn uniformly (whole numbers when both ends are), floats kept to 6
  significant digits.
- ``optuna`` (optional, only when the package is installed): ``OptunaSearch`` asks a TPE
  sampler seeded with ``seed`` for batches of ``OPTUNA_BATCH`` trials and is told each trial's
  objective. The batch size is fixed, not the number of workers, so a seed gives the same
  trials on any cluster.

The same spec and seed always give the same configurations in the same order.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np

from core.errors import UserInputError
from research.spec import ParamRange

__all__ = ["OPTUNA_BATCH", "OptunaSearch", "grid", "grid_size", "random_sample"]

Config = tuple[tuple[str, Any], ...]
OPTUNA_BATCH = 8
_MAX_DRAWS = 100


def grid_size(ranges: tuple[ParamRange, ...]) -> int:
    return math.prod(len(p.values) for p in ranges)


def grid(ranges: tuple[ParamRange, ...]) -> list[Config]:
    """Every combination of the (discrete) ranges."""
    keys = [p.key for p in ranges]
    combos = itertools.product(*(p.values for p in ranges))
    return [tuple(zip(keys, combo, strict=True)) for combo in combos]


def random_sample(ranges: tuple[ParamRange, ...], trials: int, seed: int) -> list[Config]:
    """``trials`` distinct configurations drawn with ``seed`` (fewer only if the space is
    smaller)."""
    rng = np.random.default_rng(seed)
    if all(p.discrete for p in ranges):
        size = grid_size(ranges)
        if trials >= size:
            return grid(ranges)
        picks = rng.choice(size, size=trials, replace=False)
        return [_grid_point(ranges, int(i)) for i in picks]
    seen, out = set(), []
    for _ in range(trials * _MAX_DRAWS):
        config = tuple((p.key, _draw(p, rng)) for p in ranges)
        if config not in seen:
            seen.add(config)
            out.append(config)
            if len(out) == trials:
                break
    return out


def _grid_point(ranges: tuple[ParamRange, ...], index: int) -> Config:
    """The ``index``-th point of ``grid(ranges)`` without building the grid."""
    values = []
    for p in reversed(ranges):
        index, k = divmod(index, len(p.values))
        values.append((p.key, p.values[k]))
    return tuple(reversed(values))


def _draw(p: ParamRange, rng: np.random.Generator) -> Any:
    if p.discrete:
        return p.values[int(rng.integers(len(p.values)))]
    if p.integer:
        return int(rng.integers(int(p.low), int(p.high) + 1))
    return float(f"{rng.uniform(p.low, p.high):.6g}")


class OptunaSearch:
    """Ask-and-tell over optuna's TPE sampler (maximizing the objective)."""

    def __init__(self, ranges: tuple[ParamRange, ...], seed: int):
        try:
            import optuna
        except ImportError:
            raise UserInputError("search method optuna: the optuna package is not installed "
                                 "(pip install optuna), or use grid or random search") from None
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self._optuna = optuna
        self.ranges = ranges
        self.study = optuna.create_study(direction="maximize",
                                         sampler=optuna.samplers.TPESampler(seed=seed))

    def ask(self, n: int) -> list[tuple[Any, Config]]:
        """``n`` new trials and their configurations."""
        asked = []
        for _ in range(n):
            trial = self.study.ask()
            asked.append((trial, tuple((p.key, self._suggest(trial, p)) for p in self.ranges)))
        return asked

    def tell(self, trial, value: float | None) -> None:
        """The trial's objective; None (failed, too few trades, undefined) is a failed trial."""
        if value is None:
            self.study.tell(trial, state=self._optuna.trial.TrialState.FAIL)
        else:
            self.study.tell(trial, value)

    @staticmethod
    def _suggest(trial, p: ParamRange) -> Any:
        if p.step is not None and p.integer:
            return trial.suggest_int(p.key, int(p.low), int(p.high), step=int(p.step))
        if p.step is not None:
            value = trial.suggest_float(p.key, p.low, p.high, step=p.step)
            return min(p.values, key=lambda v: abs(v - value))  # the exact grid value
        if p.discrete:
            return trial.suggest_categorical(p.key, list(p.values))
        if p.integer:
            return trial.suggest_int(p.key, int(p.low), int(p.high))
        return trial.suggest_float(p.key, p.low, p.high)
