"""``python -m runners.research``: parameter sweeps and walk-forward analysis of the SMC strategy.

    python -m runners.research sweep research.yaml --report reports/sweep.html
    python -m runners.research walk-forward research.yaml --json reports/wf.json
    python -m runners.research sweep research.yaml --scheduler tcp://10.0.0.5:8786

Every task is one backtest through ``engine.backtest.run_backtest``, on an embedded Dask
``LocalCluster`` (one worker process per core) by default, on an existing cluster with
``--scheduler``, or in this process with ``--in-process``. Results go to a SQLite table
(``--results``, default ``reports/<spec name>.sqlite``) that a later run resumes from. See
the ``research`` package for the spec, the studies and the report, and README.md ("Research").
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from core.errors import EXIT_OK, UserInputError
from runners.cli import OneLineErrorParser, prepare_output, run_cli

log = logging.getLogger("smc.research")


def build_parser() -> OneLineErrorParser:
    parser = OneLineErrorParser(
        prog="python -m runners.research",
        description="Sweep the strategy's parameters, or walk them forward, over many symbols "
                    "and years; every task is one backtest of the engine.",
        epilog="exit codes: 0 ok (failed tasks are reported, not fatal); 1 internal error; "
               "2 bad input (spec, config, data, arguments, or no task could run); "
               "130 interrupted (finished tasks stay in the results table)")
    studies = parser.add_subparsers(dest="study", required=True, metavar="STUDY")
    for name, text in (("sweep", "rank every candidate configuration"),
                       ("walk-forward", "optimize on each training window, trade the winner "
                                        "on the next")):
        sub = studies.add_parser(name, help=text, description=text)
        sub.add_argument("spec", metavar="SPEC.yaml", help="the research spec (README: Research)")
        sub.add_argument("--results", metavar="PATH.sqlite",
                         help="results table to resume from and add to (default: "
                              "reports/<spec name>.sqlite)")
        sub.add_argument("--search", choices=("grid", "random", "optuna"),
                         help="override search.method (optuna only if installed)")
        sub.add_argument("--trials", type=int, help="override search.trials (random, optuna)")
        sub.add_argument("--seed", type=int, help="override search.seed")
        sub.add_argument("--objective", choices=("sharpe", "calmar", "psr"),
                         help="override objective.metric")
        sub.add_argument("--min-trades", type=int, help="override objective.min_trades")
        where = sub.add_mutually_exclusive_group()
        where.add_argument("--scheduler", metavar="tcp://HOST:8786",
                           help="run on this existing Dask cluster")
        where.add_argument("--in-process", action="store_true",
                           help="run the tasks one by one in this process, without Dask")
        sub.add_argument("--workers", type=int, help="embedded cluster: worker processes "
                                                     "(default: one per core)")
        sub.add_argument("--report", metavar="PATH.html", help="write the HTML report")
        sub.add_argument("--json", metavar="PATH", help="write the JSON for the readiness "
                                                        "report")
        sub.add_argument("--top", type=int, default=20, help="rows of the ranked table "
                                                             "(default 20)")
        sub.add_argument("--quiet", action="store_true", help="no progress line")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s", force=True)
    return run_cli(lambda: _run(args), logger=log)


def _run(args) -> int:
    from research.data import load_datasets
    from research.execute import Runner, make_backend
    from research.progress import TaskProgress
    from research.spec import load_spec
    from research.store import ResultStore

    walk_forward = args.study == "walk-forward"
    for value, option in ((args.trials, "--trials"), (args.workers, "--workers"),
                          (args.top, "--top")):
        if value is not None and value < 1:
            raise UserInputError(f"{option} {value}: must be at least 1")
    if args.workers is not None and (args.scheduler or args.in_process):
        raise UserInputError("--workers is for the embedded cluster; not with --scheduler or "
                             "--in-process")
    prepare_output(args.report, "--report", ".html")
    prepare_output(args.json, "--json")
    spec, config = load_spec(args.spec, method=args.search, trials=args.trials, seed=args.seed,
                             objective=args.objective, min_trades=args.min_trades,
                             walk_forward=walk_forward)
    results = args.results or str(Path("reports") / f"{Path(args.spec).stem}.sqlite")
    prepare_output(results, "--results")
    datasets = load_datasets(spec)
    progress = TaskProgress(args.study, enabled=not args.quiet)
    with ResultStore(results) as store, \
            make_backend(args.scheduler, args.workers, args.in_process) as backend:
        runner = Runner(store, backend, progress)
        try:
            if walk_forward:
                from research.walkforward import run_walk_forward

                result = run_walk_forward(spec, config, datasets, runner)
            else:
                from research.sweep import run_sweep

                result = run_sweep(spec, config, datasets, runner)
        finally:
            progress.close()
        where = backend.description
    print(f"{runner.computed} task(s) run {where}, {progress.cached} answered from {results}"
          + (f", {runner.lost} lost (retried next run)" if runner.lost else ""))
    _report(args, spec, result, walk_forward)
    return EXIT_OK


def _report(args, spec, result, walk_forward: bool) -> None:
    from research import report

    if walk_forward:
        trial_rows = result.trial_rows
        if not any(r["status"] == "ok" for r in trial_rows):
            raise UserInputError(f"{spec.path}: no task could run; first error: "
                                 f"{trial_rows[0]['error']}")
        print(report.walk_forward_tables(result, spec))
        document = report.walk_forward_document(result, spec)
        sections = report.walk_forward_sections   # charts drawn only for --report
        title = f"Walk-forward: {spec.path.name}"
    else:
        if not any(r["status"] == "ok" for r in result.trial_rows):
            raise UserInputError(f"{spec.path}: no task could run; first error: "
                                 f"{result.trial_rows[0]['error']}")
        print(report.sweep_table(result, spec, args.top))
        document = report.sweep_document(result, spec, result.dsr_by_task)
        sections = report.sweep_sections
        title = f"Sweep: {spec.path.name}"
    if args.json:
        report.write_json(args.json, document)
        print(f"JSON written to {args.json}")
    if args.report:
        report.write_html(args.report, title, sections(result, spec, document))
        print(f"report written to {args.report}")


if __name__ == "__main__":
    raise SystemExit(main())
