"""Walk-forward analysis: optimize on a training window, trade the winner on the next window.

Folds (``make_folds``): from ``walk_forward.from`` (default: the first month start on or after
the earliest bar) the test windows follow each other, ``test_months`` long, while they end by
``walk_forward.to`` (default: the last month start on or before the end of the data). Fold k
tests ``[from + train + k x test, ... + test)``; it trains on the ``train_months`` before
(``rolling``) or on everything from ``from`` (``anchored``).

In each fold every candidate configuration runs on the training window of each dataset whose
data spans both windows (to within a day, ``research.data.covers``); the winner has the best
score (``research.evaluate.score``: the mean objective over those datasets, each with at least
``min_trades`` trades). One configuration is chosen for all markets: the question is whether
one setting works on more than one of them.
Then, per dataset, the winner runs on the test window, starting with the equity the previous
fold's test run ended with (``paper_trading.initial_balance``): the out-of-sample account is a
chain of real engine runs, each closing its positions at its end (a refit boundary costs the
exit fee). A fold without any qualifying configuration stays in cash, and says so.

The stitched out-of-sample curve is the concatenation of those runs' per-bar equity (and of
their trades), measured with ``analyzers.metrics.summarize``, the backtest report's own metric
function, against buy and hold over the same period. Degradation compares the winners'
in-sample objective with the out-of-sample one; the deflated Sharpe ratio discounts the
out-of-sample Sharpe for every configuration tried in every fold (``trials``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analyzers.metrics import (
    buy_hold,
    daily_equity,
    daily_returns,
    probabilistic_sharpe_ratio,
    summarize,
)
from core.config import AppConfig
from core.errors import UserInputError
from research.data import LoadedDataset, covers, dataset_span, window_klines
from research.evaluate import Scored, plan, rank, score_planned
from research.execute import Runner
from research.objective import calmar_ratio, deflated_sharpe_ratio, objective_value
from research.space import OptunaSearch
from research.spec import ResearchSpec, Window
from research.sweep import candidates, search_optuna
from research.tasks import METRIC_KEYS, decode_curve

__all__ = ["Fold", "FoldOutcome", "WalkForwardResult", "make_folds", "run_walk_forward"]

BALANCE_KEY = "paper_trading.initial_balance"


@dataclass(frozen=True)
class Fold:
    index: int
    train: Window
    test: Window


@dataclass
class FoldOutcome:
    fold: Fold
    datasets: list[str]                   # the datasets whose data spans both windows
    ranked: list[Scored]                  # every candidate on the training window
    test_rows: dict[str, dict] = field(default_factory=dict)

    @property
    def winner(self) -> Scored | None:
        return self.ranked[0] if self.ranked and self.ranked[0].score is not None else None


@dataclass
class DatasetOutOfSample:
    """One dataset's stitched out-of-sample result."""

    name: str
    report: dict                         # summarize() of the stitched curve, plus a few keys
    times_ms: np.ndarray
    values: np.ndarray
    buy_hold_times_ms: np.ndarray
    buy_hold_values: np.ndarray          # equal-weight basket, scaled to the initial equity
    fold_ends_ms: list[int]
    daily_returns: pd.Series


@dataclass
class WalkForwardResult:
    """``in_sample``/``degradation`` per dataset (``in_sample_summary``, ``degradation``)."""

    folds: list[FoldOutcome]
    out_of_sample: dict[str, DatasetOutOfSample]
    trial_rows: list[dict]
    in_sample: dict[str, dict | None] = field(default_factory=dict)
    degradation: dict[str, dict] = field(default_factory=dict)

    @property
    def trial_sharpes(self) -> list[float | None]:
        return [r["metrics"]["sharpe"] for r in self.trial_rows if r["status"] == "ok"]


def make_folds(spec: ResearchSpec, datasets: dict[str, LoadedDataset]) -> list[Fold]:
    wf = spec.walk_forward
    spans = [dataset_span(d) for d in datasets.values()]
    start = wf.start_ms if wf.start_ms is not None else _month_start(min(s for s, _ in spans),
                                                                     up=True)
    end = wf.end_ms if wf.end_ms is not None else _month_start(max(e for _, e in spans), up=False)
    folds = []
    origin = pd.Timestamp(start, unit="ms", tz="UTC")
    while True:
        k = len(folds)
        test_start = origin + pd.DateOffset(months=wf.train_months + k * wf.test_months)
        test_end = test_start + pd.DateOffset(months=wf.test_months)
        if _ms(test_end) > end:
            break
        train_start = origin if wf.mode == "anchored" else \
            test_start - pd.DateOffset(months=wf.train_months)
        folds.append(Fold(k, Window(_ms(train_start), _ms(test_start)),
                          Window(_ms(test_start), _ms(test_end))))
    if not folds:
        raise UserInputError(
            f"{spec.path}: walk_forward: {wf.train_months} + {wf.test_months} months do not fit "
            f"between {Window(start, end).label.replace('..', ' and ')}; shorten the windows")
    return folds


def run_walk_forward(spec: ResearchSpec, base: AppConfig, datasets: dict[str, LoadedDataset],
                     runner: Runner) -> WalkForwardResult:
    folds = make_folds(spec, datasets)
    members = {f.index: [d.name for d in spec.datasets
                         if covers(datasets[d.name], Window(f.train.start_ms, f.test.end_ms))]
               for f in folds}
    if not any(members.values()):
        raise UserInputError(f"{spec.path}: walk_forward: no dataset covers the training and "
                             f"the test window of any fold")
    tests = sum(len(m) for m in members.values())  # the test runs, one per dataset and fold
    outcomes = (_train_optuna(spec, base, datasets, runner, folds, members, tests)
                if spec.method == "optuna"
                else _train(spec, base, datasets, runner, folds, members, tests))
    equity = {d.name: base.paper_trading.initial_balance for d in spec.datasets}
    for outcome in outcomes:
        names = outcome.datasets
        if outcome.winner is None or not names:
            continue
        extra = {name: ((BALANCE_KEY, equity[name]),) for name in names}
        units = [(datasets[name], outcome.fold.test) for name in names]
        tasks = plan(base, [outcome.winner.params], units, extra=extra, keep_curve=True)
        rows = runner.run(tasks, datasets, counted=True)
        for task in tasks:
            row = rows[task.task_id]
            outcome.test_rows[task.dataset] = row
            if row["status"] == "ok":
                equity[task.dataset] = row["final_equity_exact"]
    for outcome in outcomes:  # folds in cash never ran their test tasks
        skipped = [n for n in outcome.datasets if n not in outcome.test_rows]
        runner.progress.add(0, len(skipped), 0)
    out_of_sample = {d.name: _stitch(d.name, outcomes, datasets[d.name],
                                     base.paper_trading.initial_balance)
                     for d in spec.datasets if any(d.name in o.datasets for o in outcomes)}
    trial_rows = [r for o in outcomes for s in o.ranked for r in s.rows]
    result = WalkForwardResult(outcomes, out_of_sample, trial_rows)
    for name, oos in out_of_sample.items():
        oos.report["deflated_sharpe"] = _round(deflated_sharpe_ratio(
            oos.daily_returns, result.trial_sharpes))
        result.in_sample[name] = in_sample_summary(outcomes, name)
        result.degradation[name] = degradation(outcomes, oos, spec.objective, spec.min_trades)
    return result


def _train(spec, base, datasets, runner, folds, members, tests: int) -> list[FoldOutcome]:
    configs = candidates(spec)
    plans = []
    for fold in folds:
        units = [(datasets[name], fold.train) for name in members[fold.index]]
        plans.append((fold, units, plan(base, configs, units)))
    train = [t for _, _, tasks in plans for t in tasks]
    runner.expect(len({t.task_id for t in train}) + tests)
    rows = runner.run(train, datasets, counted=True)
    outcomes = []
    for fold, units, tasks in plans:
        scored = score_planned(configs, tasks, rows, len(units), spec.objective,
                               spec.min_trades) if units else []
        outcomes.append(FoldOutcome(fold, members[fold.index], rank(scored)))
    return outcomes


def _train_optuna(spec, base, datasets, runner, folds, members, tests: int
                  ) -> list[FoldOutcome]:
    outcomes = []
    runner.expect(spec.trials * sum(len(m) for m in members.values()) + tests)
    for fold in folds:
        units = [(datasets[name], fold.train) for name in members[fold.index]]
        scored = search_optuna(OptunaSearch(spec.params, spec.seed), spec, base, units, runner,
                               datasets)
        outcomes.append(FoldOutcome(fold, members[fold.index], rank(scored)))
    return outcomes


def _stitch(name: str, outcomes: list[FoldOutcome], loaded: LoadedDataset,
            initial: float) -> DatasetOutOfSample:
    """The dataset's out-of-sample runs, one after the other (cash where a fold did not trade:
    nothing qualified, or its test run failed; ``folds_failed`` counts the latter)."""
    times, values, flags, trades, fold_ends = [], [], [], [], []
    equity, first_ms, last_ms = initial, None, None
    traded = flat = failed = 0
    for outcome in outcomes:
        if name not in outcome.datasets:
            continue
        window = outcome.fold.test
        row = outcome.test_rows.get(name)
        if row is not None and row["status"] == "ok":
            t, v, m = decode_curve(row["curve"])
            trades.extend(json.loads(row["trade_list"]))
            equity = row["final_equity_exact"]
            traded += 1
        else:  # in cash: the equity stays, sampled at the window's bars
            t = np.unique(np.concatenate([
                window_klines(k, window.start_ms, window.end_ms).frame.index.as_unit("ms").asi8
                for k in loaded.klines.values()]))
            v, m = np.full(len(t), float(equity)), np.zeros(len(t), dtype=bool)
            flat += 1
            failed += row is not None
        times.append(t)
        values.append(v)
        flags.append(m)
        fold_ends.append(window.end_ms)
        first_ms = window.start_ms if first_ms is None else first_ms
        last_ms = window.end_ms
    times_ms, equity_values = np.concatenate(times), np.concatenate(values)
    in_market = np.concatenate(flags)
    closes = {}
    for symbol, k in loaded.klines.items():
        frame = window_klines(k, first_ms, last_ms).frame
        closes[symbol] = (frame.index.as_unit("ms").asi8, frame["close"].to_numpy())
    basket, by_symbol = buy_hold(closes)
    report = summarize(times=times_ms, values=equity_values, in_market=in_market,
                       initial_equity=initial, trades=trades,
                       first_price=1.0 if basket is not None else None, last_price=basket)
    returns = daily_returns(daily_equity(times_ms, equity_values), initial)
    report.update(
        psr=_round(probabilistic_sharpe_ratio(returns)),
        calmar=_round(calmar_ratio(report["cagr_pct"], report["max_drawdown_pct"])),
        buy_hold_by_symbol_pct=by_symbol, start=_iso(first_ms), end=_iso(last_ms),
        folds_traded=traded, folds_in_cash=flat, folds_failed=failed, trade_list=trades)
    bh_times, bh_values = _basket_curve(closes, initial)
    return DatasetOutOfSample(name, report, times_ms, equity_values, bh_times, bh_values,
                              fold_ends, returns)


def in_sample_summary(outcomes: list[FoldOutcome], name: str) -> dict | None:
    """Mean over folds of each metric of the winner's training run on dataset ``name``."""
    rows = [r for o in outcomes if o.winner is not None and name in o.datasets
            for r in o.winner.rows if r["dataset"] == name and r["status"] == "ok"]
    if not rows:
        return None
    out = {}
    for key in METRIC_KEYS:
        values = [r["metrics"][key] for r in rows if r["metrics"].get(key) is not None]
        out[key] = _round(sum(values) / len(values)) if values else None
    out["folds"] = len(rows)
    return out


def degradation(outcomes: list[FoldOutcome], oos: DatasetOutOfSample, objective: str,
                min_trades: int) -> dict:
    """In-sample against out-of-sample on one dataset: the objective and the Sharpe ratio."""
    name = oos.name
    is_obj, is_sharpe, fold_rows = [], [], []
    for o in outcomes:
        if o.winner is None or name not in o.datasets:
            continue
        train = next(r for r in o.winner.rows if r["dataset"] == name)
        test = o.test_rows.get(name)
        train_obj = objective_value(train["metrics"], objective, min_trades)
        test_obj = None if test is None or test["status"] != "ok" else \
            objective_value(test["metrics"], objective, 0)
        is_obj.append(train_obj)
        is_sharpe.append(train["metrics"]["sharpe"])
        fold_rows.append({"fold": o.fold.index, "in_sample": train_obj,
                          "out_of_sample": test_obj})
    oos_obj = objective_value(oos.report, objective, 0)
    is_mean, is_sharpe_mean = _mean(is_obj), _mean(is_sharpe)
    oos_sharpe = oos.report["sharpe"]
    return {
        "objective": objective,
        "in_sample_mean": is_mean,
        "out_of_sample": _round(oos_obj),
        "change": None if is_mean is None or oos_obj is None else _round(oos_obj - is_mean),
        "ratio": None if not is_mean or oos_obj is None else _round(oos_obj / is_mean),
        "in_sample_sharpe_mean": is_sharpe_mean,
        "out_of_sample_sharpe": oos_sharpe,
        "sharpe_change": None if is_sharpe_mean is None or oos_sharpe is None
        else _round(oos_sharpe - is_sharpe_mean),
        "by_fold": fold_rows,
    }


def _mean(values: list[float | None]) -> float | None:
    defined = [v for v in values if v is not None]
    return _round(sum(defined) / len(defined)) if defined else None


def _basket_curve(closes: dict, initial: float) -> tuple[np.ndarray, np.ndarray]:
    """Equal-weight buy and hold of the symbols over their common period, in account money."""
    start = max(int(t[0]) for t, _ in closes.values())
    end = min(int(t[-1]) for t, _ in closes.values())
    grid = np.unique(np.concatenate([t[(t >= start) & (t <= end)] for t, _ in closes.values()]))
    growth = np.zeros(len(grid))
    for t, c in closes.values():
        at = np.searchsorted(t, grid, "right") - 1
        growth += c[at] / c[np.searchsorted(t, start, "left")]
    return grid, initial * growth / len(closes)


def _month_start(ms: int, up: bool) -> int:
    stamp = pd.Timestamp(ms, unit="ms", tz="UTC")
    start = pd.Timestamp(year=stamp.year, month=stamp.month, day=1, tz="UTC")
    if up and start < stamp:
        start += pd.DateOffset(months=1)
    return _ms(start)


def _ms(stamp: pd.Timestamp) -> int:
    return int(stamp.value // 1_000_000)


def _iso(ms: int | None) -> str | None:
    return None if ms is None else pd.Timestamp(ms, unit="ms", tz="UTC").isoformat()


def _round(x: float | None) -> float | None:
    return None if x is None or not np.isfinite(x) else float(f"{x:.6g}")
