"""``python -m runners.readiness``: is the paper record good enough for real money? The report.

    python -m runners.readiness [--config config.yaml] [--db URL] [--backtest-json FILE ...]
                                [--research-json FILE | --trials N] [--out report.html|report.md]
                                [--json PATH] [--seed N] [--oos-fraction F] [--account N]

Reads the state database (read-only), judges the paper account against the ``go_live``
thresholds (``readiness.criteria``), shows the statistical evidence and the drift against a
backtest replayed on the recorded bars, adds backtest evidence in-sample and out-of-sample (the
reports given, or a fresh backtest of the config over its bundled history), prints the criteria
and the one-line verdict, and writes the report: ``--out`` (HTML or Markdown, by suffix),
``--json``, and always a copy of the latest report next to the database file and named after
it, ``paper_trading-readiness.html`` and ``.json`` for ``paper_trading.db`` (the status page of
that database links to them).

Exit codes: 0 READY, 1 NOT READY, 2 bad input. An internal error also exits 1 (with "internal
error" on stderr): only 0 means READY.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from core.config import apply_overrides, load_config
from core.errors import EXIT_NOT_READY, EXIT_OK, UserInputError
from readiness.latest import latest_report_paths
from runners.cli import prepare_output, run_cli, runner_parser, write_atomically

log = logging.getLogger("smc.readiness")


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1 (exclusive), got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = runner_parser(
        "readiness", "Go-live readiness report of the paper account: every criterion with its "
        "threshold, the statistical confidence, the drift against the backtest, and the verdict "
        "READY or NOT READY.",
        "0 READY; 1 NOT READY (an internal error also exits 1: only 0 means READY); 2 bad input "
        "(config, database, arguments, report files)")
    parser.add_argument("--db", metavar="URL", help="state database, overriding database.url")
    parser.add_argument("--backtest-json", metavar="FILE", nargs="+", action="extend",
                        default=[],
                        help="backtest reports (runners.backtest --report-json) to show as "
                             "evidence, one or more (default: a fresh backtest of the config "
                             "over its bundled history)")
    sweep = parser.add_mutually_exclusive_group()
    sweep.add_argument("--research-json", metavar="FILE",
                       help="the research tool's results: its trials and their Sharpe "
                            "ratios deflate the backtest's in-sample Sharpe")
    sweep.add_argument("--trials", type=int, metavar="N",
                       help="configurations tried before choosing this one (their Sharpes' "
                            "variance is then assumed; see README)")
    parser.add_argument("--out", metavar="report.html|report.md",
                        help="write the report as HTML (images embedded) or Markdown")
    parser.add_argument("--json", metavar="PATH", help="write the report as JSON")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the bootstrap intervals (default: 0)")
    parser.add_argument("--oos-fraction", type=_fraction, default=None, metavar="F",
                        help="out-of-sample share of each backtest, the last F of its days "
                             "(default: 0.3)")
    parser.add_argument("--account", type=int, metavar="N",
                        help="report on account N instead of the paper account (e.g. a "
                             "replay, to look at it: a replay account is never READY)")
    return parser


def _print_summary(readiness) -> None:
    width = max(len(c.name) for c in readiness.criteria)
    for c in readiness.criteria:
        print(f"{str(c.result):<5} {c.name:<{width}}  {c.shown}  ({c.threshold})")
    print(readiness.headline)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, force=True,
                        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    logging.getLogger("smc.strategy").setLevel(logging.WARNING)
    return run_cli(lambda: _run(args), logger=log)


def _run(args) -> int:
    from brokers.state import sqlite_path
    from brokers.state.store import StateStore
    from readiness.assess import assess, with_evidence
    from readiness.backtests import DEFAULT_OOS_FRACTION, evidence, fresh_report, load_report
    from readiness.render import blocks, to_html, to_json, to_markdown
    from readiness.sweep import config_differences, from_trials, load_research

    if args.out is not None:
        suffix = Path(args.out).suffix.lower()
        if suffix not in (".html", ".md"):
            raise UserInputError(f"--out {args.out}: must end in .html or .md")
        prepare_output(args.out, "--out")
    prepare_output(args.json, "--json")
    config = load_config(args.config)
    db_option = "--db" if args.db else "database.url"
    if args.db:
        sqlite_path(args.db, "--db")
        config = apply_overrides(config, {"database.url": args.db})
    sweep = None
    if args.research_json:
        sweep = load_research(args.research_json)
    elif args.trials is not None:
        sweep = from_trials(args.trials)
    reports = [(load_report(path), f"--backtest-json {path}") for path in args.backtest_json]
    db_path = sqlite_path(config.database.url, db_option)
    if db_path is None:
        raise UserInputError(f"{db_option}: the readiness report reads a database file, not an "
                             f"in-memory database")
    if not args.db and not Path(db_path).is_file():
        raise UserInputError(f"{db_option}: {db_path} does not exist yet (the paper engine creates "
                             f"it on its first start); to judge a replay's account instead: "
                             f"--db sqlite:///state/replay.db")

    store = StateStore(config.database.url, readonly=True, option=db_option)
    try:
        readiness = assess(store, config, now_ms=int(time.time() * 1000),
                           account_id=args.account, seed=args.seed)
    finally:
        store.close()
    if not reports:
        reports = [fresh_report(config)]
    oos = DEFAULT_OOS_FRACTION if args.oos_fraction is None else args.oos_fraction
    notes = []
    if sweep is not None:
        notes += [f"the config is not the research's choice: {d}"
                  for d in config_differences(sweep, config)]
    readiness = with_evidence(readiness, [evidence(rep, label, oos, sweep)
                                          for rep, label in reports], sweep, notes)

    laid_out = blocks(readiness)
    page = to_html(readiness, laid_out)
    data = to_json(readiness)
    try:
        if args.out:
            write_atomically(Path(args.out), page if args.out.lower().endswith(".html")
                             else to_markdown(readiness, laid_out))
        if args.json:
            write_atomically(Path(args.json), data)
    except OSError as exc:
        raise UserInputError(f"{exc.filename}: cannot write: {exc.strerror}") from exc
    latest_html, latest_json = latest_report_paths(db_path)
    try:
        write_atomically(latest_html, page)
        write_atomically(latest_json, data)
    except OSError as exc:
        log.warning("could not write the latest report next to the database in %s: %s",
                    latest_html.parent, exc.strerror or exc)
    _print_summary(readiness)
    return EXIT_OK if readiness.ready else EXIT_NOT_READY


if __name__ == "__main__":
    raise SystemExit(main())
