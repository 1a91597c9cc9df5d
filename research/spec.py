"""The research spec: a YAML file naming what to test, validated into a frozen ``ResearchSpec``.

Example (every key but ``data`` and ``params`` is optional)::

    config: config.yaml              # the base config every run starts from
    data:                            # datasets; each is one backtest universe
      - data/BTCUSDT_spot_1h_2017-08-17_2023-12-31.csv.gz     # symbol from the file name
      - ETHUSDT: ../shared/ETHUSDT_1h.csv.gz                  # or SYMBOL: PATH
      - {BTCUSDT: a.csv.gz, ETHUSDT: b.csv.gz}                # several symbols in one run
    windows:                         # sweep: each dataset x each window (default: whole file)
      - {from: 2018-01-01, to: 2021-01-01}
    params:                          # any config key; the values to try
      smc.swing_lookback: [3, 5, 8]
      decision_engine.confidence_threshold: {from: 0.5, to: 0.9, step: 0.05}
      risk_manager.take_profit_ratio: {from: 1.5, to: 4.0}     # continuous: random/optuna only
    search: {method: grid, trials: 50, seed: 7}                # grid | random | optuna
    objective: {metric: sharpe, min_trades: 20}                # sharpe | calmar | psr
    holdout: {from: 2023-01-01, to: 2024-01-01}                # sweep: run the winner here too
    walk_forward: {train_months: 24, test_months: 6, mode: rolling,
                   from: 2018-01-01, to: 2024-01-01}

Relative paths are relative to the spec file's folder. Dates are UTC; ``to`` is exclusive. A
range ``{from, to, step}`` includes both ends when they are on the step. Each parameter value is
checked on its own against the config schema here (an unknown key or a value out of range stops
the run with one line); a combination the config refuses as a whole (say ``smc.swing_lookback``
above ``smc.htf_swing_lookback``) becomes a failed task, recorded with its error.
"""

from __future__ import annotations

import copy
import difflib
import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd

from core.config import AppConfig, load_config
from core.config_engine import Fail, build, read_yaml, show
from core.errors import ConfigError, UserInputError
from core.exchange_rules import SYMBOL_PATTERN, quote_problem
from klines.filenames import symbol_from_filename

__all__ = ["METHODS", "OBJECTIVES", "Dataset", "ParamRange", "ResearchSpec", "WalkForwardSpec",
           "Window", "iso_day", "load_spec"]

METHODS = ("grid", "random", "optuna")
OBJECTIVES = ("sharpe", "calmar", "psr")
MODES = ("rolling", "anchored")
DEFAULT_MIN_TRADES = 20
MAX_RANGE_VALUES = 10_000
MAX_GRID = 100_000

_TOP_KEYS = ("config", "data", "windows", "params", "search", "objective", "holdout",
             "walk_forward")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}([T ]|$)")
# The walk-forward carries each fold's final equity into the next fold's run.
_NOT_SWEPT_IN_WALK_FORWARD = ("paper_trading.initial_balance",)


@dataclass(frozen=True)
class Window:
    """A period ``[start_ms, end_ms)`` of bar open times (UTC ms); None leaves that side open."""

    start_ms: int | None = None
    end_ms: int | None = None

    @property
    def label(self) -> str:
        if self.start_ms is None and self.end_ms is None:
            return "all"
        return f"{iso_day(self.start_ms) or '...'}..{iso_day(self.end_ms) or '...'}"


@dataclass(frozen=True)
class Dataset:
    """One backtest universe: ``files`` are (symbol, path) pairs run together."""

    name: str
    files: tuple[tuple[str, Path], ...]


@dataclass(frozen=True)
class ParamRange:
    """The values one config key takes: ``values`` (discrete), or ``low``..``high`` (continuous,
    ``integer`` when both ends are whole numbers); ``step`` is kept for optuna."""

    key: str
    values: tuple | None = None
    low: float | None = None
    high: float | None = None
    integer: bool = False
    step: float | None = None

    @property
    def discrete(self) -> bool:
        return self.values is not None


@dataclass(frozen=True)
class WalkForwardSpec:
    train_months: int
    test_months: int
    mode: str = "rolling"
    start_ms: int | None = None
    end_ms: int | None = None


@dataclass(frozen=True)
class ResearchSpec:
    path: Path
    config_path: Path | None
    datasets: tuple[Dataset, ...]
    windows: tuple[Window, ...]
    params: tuple[ParamRange, ...]
    method: str
    trials: int | None
    seed: int
    objective: str
    min_trades: int
    holdout: Window | None
    walk_forward: WalkForwardSpec | None

    def as_dict(self) -> dict:
        """JSON-safe echo of the effective spec (the report's ``spec``)."""
        def window(w: Window | None):
            return None if w is None else {"from": iso_day(w.start_ms), "to": iso_day(w.end_ms)}

        def param(p: ParamRange):
            if p.discrete:
                return list(p.values)
            return {"from": p.low, "to": p.high}

        wf = self.walk_forward
        return {
            "path": str(self.path),
            "config": None if self.config_path is None else str(self.config_path),
            "data": [{symbol: str(path) for symbol, path in d.files} for d in self.datasets],
            "windows": [window(w) for w in self.windows],
            "params": {p.key: param(p) for p in self.params},
            "search": {"method": self.method, "trials": self.trials, "seed": self.seed},
            "objective": {"metric": self.objective, "min_trades": self.min_trades},
            "holdout": window(self.holdout),
            "walk_forward": None if wf is None else {
                "train_months": wf.train_months, "test_months": wf.test_months, "mode": wf.mode,
                "from": iso_day(wf.start_ms), "to": iso_day(wf.end_ms)},
        }


def load_spec(path, *, method: str | None = None, trials: int | None = None,
              seed: int | None = None, objective: str | None = None,
              min_trades: int | None = None, walk_forward: bool = False
              ) -> tuple[ResearchSpec, AppConfig]:
    """Read and validate the spec at ``path`` and its base config; the keyword arguments override
    the spec (command-line options). ``walk_forward``: the spec must have a ``walk_forward``
    section. Every problem is one ``UserInputError`` naming the file and the key."""
    path = Path(path)
    source = str(path)
    try:
        raw = read_yaml(path, source)
    except ConfigError as exc:  # the same one-line reading errors as a config file ("config" file)
        raise UserInputError(str(exc).replace("config file", "spec file")) from None
    if not isinstance(raw, dict):
        raise UserInputError(f"{source}: expected a mapping of keys ({', '.join(_TOP_KEYS)}), "
                             f"got {show(raw)}")
    parser = _Parser(source, path.parent)
    for key in raw:
        if key not in _TOP_KEYS:
            raise parser.fail(str(key), "unknown key" + _did_you_mean(str(key), _TOP_KEYS))
    config_path = None if raw.get("config") is None else parser.path("config", raw["config"])
    config = load_config(config_path)
    search = parser.mapping("search", raw.get("search"), ("method", "trials", "seed"))
    goal = raw.get("objective")
    goal = parser.mapping("objective", {"metric": goal} if isinstance(goal, str) else goal,
                          ("metric", "min_trades"))
    spec = ResearchSpec(
        path=path,
        config_path=config_path,
        datasets=parser.datasets(raw.get("data")),
        windows=parser.windows(raw.get("windows")),
        params=parser.params(raw.get("params"), config),
        method=parser.choice("search.method", method or search.get("method", "grid"), METHODS),
        trials=parser.count("search.trials", trials if trials is not None
                            else search.get("trials"), minimum=1, optional=True),
        seed=parser.count("search.seed", seed if seed is not None else search.get("seed", 0),
                          minimum=0),
        objective=parser.choice("objective.metric",
                                objective or goal.get("metric", "sharpe"), OBJECTIVES),
        min_trades=parser.count("objective.min_trades", min_trades if min_trades is not None
                                else goal.get("min_trades", DEFAULT_MIN_TRADES), minimum=0),
        holdout=None if raw.get("holdout") is None else parser.window("holdout", raw["holdout"]),
        walk_forward=None if raw.get("walk_forward") is None
        else parser.walk_forward(raw["walk_forward"]),
    )
    _check_search(parser, spec)
    if spec.holdout is not None:
        for i, w in enumerate(spec.windows):
            if _overlap(w, spec.holdout):
                raise parser.fail("holdout", f"{spec.holdout.label} overlaps windows[{i}] "
                                  f"{w.label}; the holdout must lie outside the windows searched")
    if walk_forward:
        if spec.walk_forward is None:
            raise parser.fail("walk_forward", "missing: give train_months and test_months, e.g. "
                                              "walk_forward: {train_months: 24, test_months: 6}")
        for p in spec.params:
            if p.key in _NOT_SWEPT_IN_WALK_FORWARD:
                raise parser.fail(f"params.{p.key}", "cannot be swept in a walk-forward: each "
                                  "fold starts with the equity the previous fold ended with")
    return spec, config


def _check_search(parser: _Parser, spec: ResearchSpec) -> None:
    continuous = [p.key for p in spec.params if not p.discrete]
    if spec.method == "grid" and continuous:
        raise parser.fail(f"params.{continuous[0]}", "a range without a step has no grid; add "
                          "step: or use search: {method: random, trials: N}")
    if spec.method != "grid" and spec.trials is None:
        raise parser.fail("search.trials", f"required for {spec.method} search "
                          f"(or --trials N)")
    if spec.method == "grid":
        size = 1
        for p in spec.params:
            size *= len(p.values)
        if size > MAX_GRID:
            raise parser.fail("params", f"the grid has {size:,} configurations (more than "
                              f"{MAX_GRID:,}); use search: {{method: random, trials: N}}")


class _Parser:
    """Validation of the spec's parts; every failure names the file and the key."""

    def __init__(self, source: str, folder: Path):
        self.source = source
        self.folder = folder

    def fail(self, key: str, problem: str) -> UserInputError:
        return UserInputError(f"{self.source}: {key}: {problem}")

    def path(self, key: str, value: Any) -> Path:
        if not isinstance(value, str) or not value.strip():
            raise self.fail(key, f"expected a file path, got {show(value)}")
        p = Path(value).expanduser()
        p = p if p.is_absolute() else self.folder / p
        if not p.is_file():
            raise self.fail(key, f"{value}: no such file")
        return p

    def mapping(self, key: str, value: Any, allowed: tuple[str, ...]) -> dict:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.fail(key, f"expected a mapping of {', '.join(allowed)}, got {show(value)}")
        for k in value:
            if k not in allowed:
                raise self.fail(f"{key}.{k}", "unknown key" + _did_you_mean(str(k), allowed))
        return value

    def choice(self, key: str, value: Any, choices: tuple[str, ...]) -> str:
        if value not in choices:
            raise self.fail(key, f"unknown value {show(value)}; expected one of "
                                 f"{', '.join(choices)}")
        return value

    def count(self, key: str, value: Any, *, minimum: int, optional: bool = False) -> int | None:
        if value is None and optional:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(key, f"expected a whole number, got {show(value)}")
        if value < minimum:
            raise self.fail(key, f"must be >= {minimum}, got {value}")
        return value

    # ----------------------------------------------------------------------- data and windows

    def datasets(self, value: Any) -> tuple[Dataset, ...]:
        if value is None:
            raise self.fail("data", "missing: list the kline files to test, e.g. "
                                    "data: [data/BTCUSDT_spot_1h_2017-08-17_2023-12-31.csv.gz]")
        if not isinstance(value, list) or not value:
            raise self.fail("data", f"expected a non-empty list of files, got {show(value)}")
        datasets, names = [], set()
        for i, entry in enumerate(value):
            key = f"data[{i}]"
            if isinstance(entry, str):
                symbol = symbol_from_filename(entry)
                if not symbol:
                    raise self.fail(key, f"{entry}: cannot tell the symbol from the file name; "
                                         f"write it as {{SYMBOL: {entry}}}")
                pairs = [(symbol, entry)]
            elif isinstance(entry, dict) and entry:
                pairs = list(entry.items())
            else:
                raise self.fail(key, f"expected a file path or SYMBOL: PATH, got {show(entry)}")
            files = []
            for symbol, file in pairs:
                if not isinstance(symbol, str) or not SYMBOL_PATTERN.fullmatch(symbol):
                    raise self.fail(key, f"{show(symbol)} is not a Binance symbol "
                                         f"(write it like BTCUSDT: PATH)")
                problem = quote_problem(symbol)
                if problem:
                    raise self.fail(key, f"{symbol} {problem}")
                files.append((symbol, self.path(key, file)))
            name = "+".join(symbol for symbol, _ in files)
            if name in names:
                raise self.fail(key, f"dataset {name} is listed twice")
            names.add(name)
            datasets.append(Dataset(name, tuple(files)))
        return tuple(datasets)

    def windows(self, value: Any) -> tuple[Window, ...]:
        if value is None:
            return (Window(),)
        if not isinstance(value, list) or not value:
            raise self.fail("windows", f"expected a non-empty list of {{from, to}}, "
                                       f"got {show(value)}")
        windows = tuple(self.window(f"windows[{i}]", w) for i, w in enumerate(value))
        if len(set(windows)) != len(windows):
            raise self.fail("windows", "a window is listed twice")
        return windows

    def window(self, key: str, value: Any) -> Window:
        value = self.mapping(key, value, ("from", "to"))
        start = self.when(f"{key}.from", value.get("from"))
        end = self.when(f"{key}.to", value.get("to"))
        if start is not None and end is not None and start >= end:
            raise self.fail(key, f"from {iso_day(start)} is not before to {iso_day(end)}")
        return Window(start, end)

    def when(self, key: str, value: Any) -> int | None:
        if value is None:
            return None
        if isinstance(value, (date, datetime)) or (isinstance(value, str)
                                                    and _ISO_DATE.match(value.strip())):
            try:
                stamp = pd.Timestamp(value)
                stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else \
                    stamp.tz_convert("UTC")
                return int(stamp.value // 1_000_000)
            except (ValueError, TypeError, OverflowError):
                pass
        raise self.fail(key, f"not an ISO date: {show(value)} (expected e.g. 2023-01-01)")

    def walk_forward(self, value: Any) -> WalkForwardSpec:
        value = self.mapping("walk_forward", value,
                             ("train_months", "test_months", "mode", "from", "to"))
        for k in ("train_months", "test_months"):
            if k not in value:
                raise self.fail(f"walk_forward.{k}", "missing (a number of months)")
        window = self.window("walk_forward", {k: value[k] for k in ("from", "to") if k in value})
        return WalkForwardSpec(
            train_months=self.count("walk_forward.train_months", value["train_months"],
                                    minimum=1),
            test_months=self.count("walk_forward.test_months", value["test_months"], minimum=1),
            mode=self.choice("walk_forward.mode", value.get("mode", "rolling"), MODES),
            start_ms=window.start_ms, end_ms=window.end_ms)

    # ----------------------------------------------------------------------------- parameters

    def params(self, value: Any, config: AppConfig) -> tuple[ParamRange, ...]:
        if value is None:
            raise self.fail("params", "missing: give at least one config key and its values, "
                                      "e.g. params: {smc.swing_lookback: [3, 5, 8]}")
        if not isinstance(value, dict) or not value:
            raise self.fail("params", f"expected a mapping of config keys to values, "
                                      f"got {show(value)}")
        base = config.as_dict()
        ranges = []
        for key, spec in value.items():
            where = f"params.{key}"
            if not isinstance(key, str) or not key:
                raise self.fail("params", f"{show(key)} is not a config key")
            ranges.append(self.param_range(where, key, spec))
            p = ranges[-1]
            for v in p.values if p.discrete else (p.low, p.high):
                problem = _schema_problem(base, key, int(v) if p.integer and not p.discrete
                                          else v)
                if problem:
                    raise self.fail(where, problem)
        return tuple(ranges)

    def param_range(self, where: str, key: str, spec: Any) -> ParamRange:
        if isinstance(spec, list):
            if not spec:
                raise self.fail(where, "an empty list of values")
            for v in spec:
                if isinstance(v, (list, dict)) or v is None:
                    raise self.fail(where, f"each value must be a number, a string or a "
                                           f"boolean, got {show(v)}")
            if len({(type(v), v) for v in spec}) != len(spec):
                raise self.fail(where, f"a value is listed twice in {show(spec)}")
            return ParamRange(key, values=tuple(spec))
        if isinstance(spec, dict):
            spec = self.mapping(where, spec, ("from", "to", "step"))
            for k in ("from", "to"):
                if k not in spec:
                    raise self.fail(f"{where}.{k}", "missing (a range needs from and to)")
            numbers = {k: spec[k] for k in ("from", "to", "step") if k in spec}
            for k, v in numbers.items():
                if isinstance(v, bool) or not isinstance(v, (int, float)):
                    raise self.fail(f"{where}.{k}", f"expected a number, got {show(v)}")
            low, high = numbers["from"], numbers["to"]
            if low > high:
                raise self.fail(where, f"from {low} is above to {high}")
            integer = all(isinstance(v, int) for v in numbers.values())
            if "step" not in numbers:
                return ParamRange(key, low=low, high=high, integer=integer)
            step = numbers["step"]
            if step <= 0:
                raise self.fail(f"{where}.step", f"must be > 0, got {step}")
            return ParamRange(key, values=self.stepped(where, low, high, step, integer),
                              low=low, high=high, integer=integer, step=step)
        if isinstance(spec, (int, float, str, bool)):
            return ParamRange(key, values=(spec,))
        raise self.fail(where, f"expected a list of values or {{from, to, step}}, "
                               f"got {show(spec)}")

    def stepped(self, where: str, low, high, step, integer: bool) -> tuple:
        # Decimal steps: 0.5 + 2 x 0.05 is 0.6, not 0.6000000000000001.
        lo, hi, st = (Decimal(str(v)) for v in (low, high, step))
        count = int((hi - lo) / st) + 1
        if count > MAX_RANGE_VALUES:
            raise self.fail(where, f"{count:,} values (more than {MAX_RANGE_VALUES:,}); "
                                   f"use a larger step")
        values = [lo + i * st for i in range(count)]
        return tuple(int(v) if integer else float(v) for v in values)


def _schema_problem(base: dict, key: str, value: Any) -> str | None:
    """Whether the config schema accepts ``key: value`` on its own (types, ranges, unknown keys);
    cross-field checks are left to each task's whole configuration."""
    data = copy.deepcopy(base)
    node = data
    parts = key.split(".")
    for depth, part in enumerate(parts[:-1]):
        if not isinstance(node, dict):
            return f"{'.'.join(parts[:depth])} is a value, not a section"
        node = node.setdefault(part, {})
    if not isinstance(node, dict):
        return f"{'.'.join(parts[:-1])} is a value, not a section"
    if isinstance(node.get(parts[-1]), dict):
        return "is a section, not a value; name one of its keys"
    node[parts[-1]] = value
    try:
        build(AppConfig, data)
    except Fail as f:
        return f"{f.key}: {f.problem}" if f.key != key else f.problem
    return None


def _overlap(a: Window, b: Window) -> bool:
    inf = float("inf")
    a0, a1 = -inf if a.start_ms is None else a.start_ms, inf if a.end_ms is None else a.end_ms
    b0, b1 = -inf if b.start_ms is None else b.start_ms, inf if b.end_ms is None else b.end_ms
    return a0 < b1 and b0 < a1


def _did_you_mean(word: str, choices) -> str:
    hint = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean {hint[0]}?)" if hint else f"; expected one of {', '.join(choices)}"


def iso_day(ms: int | None) -> str | None:
    """``2023-01-01`` (or ``2023-01-01T12:00`` off midnight) of UTC ms; None stays None."""
    if ms is None:
        return None
    stamp = pd.Timestamp(ms, unit="ms", tz="UTC")
    return stamp.strftime("%Y-%m-%d") if stamp == stamp.normalize() else \
        stamp.strftime("%Y-%m-%dT%H:%M")
