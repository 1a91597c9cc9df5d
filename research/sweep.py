"""The sweep: every candidate configuration on every (dataset, window), ranked by the objective.

With ``holdout`` in the spec, the best configuration is then run on the holdout window of each
dataset; those runs are the sweep's out-of-sample result and are not counted as trials.
``trials`` are all the sweep's tasks that ran (each configuration on each dataset and window),
which is what the deflated Sharpe ratio must discount for: it is given for the best
configuration's runs and for its holdout runs (``dsr_by_task``), from their daily equity.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from analyzers.metrics import daily_returns
from core.config import AppConfig
from research.data import LoadedDataset
from research.evaluate import Scored, plan, rank, score_planned
from research.execute import Runner
from research.objective import deflated_sharpe_ratio
from research.space import OptunaSearch, grid, random_sample
from research.spec import ResearchSpec, Window
from research.tasks import decode_daily

__all__ = ["SweepResult", "candidates", "run_sweep", "search_optuna"]


@dataclass
class SweepResult:
    """``dsr_by_task``: the deflated Sharpe ratio (task id -> DSR) of the best configuration's
    runs, in sample and on the holdout."""

    ranked: list[Scored]
    units: list[tuple[str, Window]]
    trial_rows: list[dict]
    holdout_rows: list[dict] = field(default_factory=list)
    dsr_by_task: dict[str, float | None] = field(default_factory=dict)

    @property
    def best(self) -> Scored | None:
        return self.ranked[0] if self.ranked and self.ranked[0].score is not None else None


def candidates(spec: ResearchSpec) -> list:
    """The grid or random configurations of ``spec`` (optuna asks as it goes)."""
    if spec.method == "grid":
        return grid(spec.params)
    return random_sample(spec.params, spec.trials, spec.seed)


def run_sweep(spec: ResearchSpec, base: AppConfig, datasets: dict[str, LoadedDataset],
              runner: Runner) -> SweepResult:
    units = [(datasets[d.name], w) for d in spec.datasets for w in spec.windows]
    if spec.method == "optuna":
        search = OptunaSearch(spec.params, spec.seed)   # refuses first if optuna is missing
        runner.expect(spec.trials * len(units))
        scored = search_optuna(search, spec, base, units, runner, datasets)
    else:
        configs = candidates(spec)
        tasks = plan(base, configs, units)
        rows = runner.run(tasks, datasets)
        scored = score_planned(configs, tasks, rows, len(units), spec.objective, spec.min_trades)
    ranked = rank(scored)
    result = SweepResult(ranked, [(loaded.name, w) for loaded, w in units],
                         [r for s in scored for r in s.rows])
    if spec.holdout is not None and result.best is not None:
        holdout_units = [(datasets[d.name], spec.holdout) for d in spec.datasets]
        tasks = plan(base, [result.best.params], holdout_units)
        rows = runner.run(tasks, datasets)
        result.holdout_rows = [rows[t.task_id] for t in tasks]
    if result.best is not None:
        sharpes = [r["metrics"]["sharpe"] for r in result.trial_rows if r["status"] == "ok"]
        for row in result.best.rows + result.holdout_rows:
            result.dsr_by_task[row["task_id"]] = _dsr(row, sharpes)
    return result


def _dsr(row: dict, trial_sharpes: list) -> float | None:
    if row["status"] != "ok":
        return None
    returns = daily_returns(decode_daily(row["daily"]), row["metrics"]["initial_equity"])
    dsr = deflated_sharpe_ratio(returns, trial_sharpes)
    return None if dsr is None else float(f"{dsr:.6g}")


def search_optuna(search: OptunaSearch, spec: ResearchSpec, base: AppConfig,
                  units: list[tuple[LoadedDataset, Window]], runner: Runner,
                  datasets: dict[str, LoadedDataset]) -> list[Scored]:
    """``spec.trials`` configurations asked of ``search`` in batches, each scored on ``units``
    and told back before the next batch is asked (none when there are no units)."""
    from research.space import OPTUNA_BATCH

    scored: list[Scored] = []
    while units and len(scored) < spec.trials:
        asked = search.ask(min(OPTUNA_BATCH, spec.trials - len(scored)))
        configs = [config for _, config in asked]
        tasks = plan(base, configs, units)
        rows = runner.run(tasks, datasets, counted=True)
        batch = score_planned(configs, tasks, rows, len(units), spec.objective, spec.min_trades)
        for (trial, _), s in zip(asked, batch, strict=True):
            search.tell(trial, s.score)
        scored += batch
    return scored
