"""``python -m runners.backtest``: run the SMC strategy over historical klines and report.

With no arguments it backtests the bundled BTCUSDT 1h data (2017-2023) with ``config.yaml`` and
prints a summary table. See ``--help`` for the options and README.md for the report contract.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import sys

from core.config import load_config
from core.errors import EXIT_CHECK_FAILED, EXIT_OK, UserInputError
from core.exchange_rules import backtest_rules
from engine.data import load_data, resolve_data
from runners.cli import config_notices, iso_date, prepare_output, run_cli, runner_parser

log = logging.getLogger("smc.backtest")


def build_parser() -> argparse.ArgumentParser:
    parser = runner_parser(
        "backtest", "Backtest the SMC strategy on historical Binance klines.",
        "0 ok; 1 internal error; 2 bad input (config, data or arguments); 3 --check-lookahead "
        "found differences; 130 interrupted (Ctrl-C)")
    parser.add_argument("--data", action="append", default=[], metavar="[SYMBOL=]PATH",
                        help="kline file (.csv, .csv.gz, .zip, .json, .feather); repeat for more "
                             "symbols; the symbol comes from the file name unless given as "
                             "SYMBOL=PATH (default: the bundled file of each configured symbol)")
    parser.add_argument("--from", dest="start", type=iso_date, help="first bar, ISO date (UTC)")
    parser.add_argument("--to", dest="end", type=iso_date, help="end, ISO date, exclusive (UTC)")
    parser.add_argument("--report-json", metavar="PATH", help="write the full report as JSON")
    parser.add_argument("--trades-csv", metavar="PATH", help="write the trade list as CSV")
    parser.add_argument("--plot", metavar="PATH.png", help="write a chart: prices with trades, "
                        "equity and drawdown")
    chatter = parser.add_mutually_exclusive_group()
    chatter.add_argument("--quiet", action="store_true", help="only warnings and the summary")
    chatter.add_argument("--verbose", action="store_true", help="log every signal and order")
    parser.add_argument("--check-lookahead", action="store_true",
                        help="re-run on prefixes ending at many cut points and list every trade "
                             "or signal that differs from the full run")
    parser.add_argument("--cuts", type=int, default=None,
                        help="cut points for --check-lookahead (default: 12)")
    return parser


def format_summary(report: dict) -> str:
    """The human summary table printed at the end of a run."""
    def fmt(value, spec="{:,.2f}", suffix=""):
        if value is None:
            return "n/a"
        text = spec.format(value)
        if text.startswith("-") and not text.strip("-0.,"):
            text = text[1:]  # no "-0.00"
        return text + suffix

    rows = [
        ("Symbols", ", ".join(report["symbols"])),
        ("Period", f"{report['start'][:16]} -> {report['end'][:16]} UTC"),
        ("Bars", f"{report['bars']:,} x {report['timeframe']} "
                 f"(signals on {report['signal_timeframe']})"),
        ("Initial equity", fmt(report["initial_equity"], suffix=" USDT")),
        ("Final equity", fmt(report["final_equity"], suffix=" USDT")),
        ("Total return", fmt(report["total_return_pct"], suffix=" %")),
        ("Buy & hold return", fmt(report["buy_hold_return_pct"], suffix=" %")),
        ("CAGR", fmt(report["cagr_pct"], suffix=" %")),
        ("Sharpe (daily, 365)", fmt(report["sharpe"], "{:.2f}")),
        ("Sortino", fmt(report["sortino"], "{:.2f}")),
        ("Max drawdown", fmt(report["max_drawdown_pct"], suffix=" %")),
        ("Trades", f"{report['trades']:,}"),
        ("Win rate", fmt(None if report["win_rate"] is None else report["win_rate"] * 100,
                         suffix=" %")),
        ("Profit factor", fmt(report["profit_factor"], "{:.2f}")),
        ("Expectancy", fmt(report["expectancy"], suffix=" USDT/trade")),
        ("Average R", fmt(report.get("avg_r_multiple"), "{:.2f}")),
        ("Average holding", fmt(report.get("avg_holding_hours"), "{:.1f}", " h")),
        ("Exposure", fmt(report["exposure_pct"], suffix=" %")),
        ("Setups (orders placed)", f"{report['signals']:,} ({report['signals_traded']:,})"),
    ]
    width = max(len(name) for name, _ in rows)
    line = "-" * (width + 32)
    return "\n".join([line, *(f"{name:<{width}}  {value}" for name, value in rows), line])


def write_trades_csv(path: str, trades: list[dict]) -> None:
    from analyzers.report import TRADE_KEYS

    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=TRADE_KEYS)
        writer.writeheader()
        for t in trades:
            writer.writerow({**t, "reasons": "; ".join(t["reasons"])})


def _write_outputs(args, result, klines: dict) -> None:
    report = result.report
    try:
        if args.report_json:
            with open(args.report_json, "w") as fh:
                json.dump(report, fh, indent=1, allow_nan=False)
            log.info("report written to %s", args.report_json)
        if args.trades_csv:
            write_trades_csv(args.trades_csv, report["trade_list"])
            log.info("trades written to %s", args.trades_csv)
        if args.plot:
            from analyzers.plotting import plot_backtest

            plot_backtest(report, {s: k.frame for s, k in klines.items()}, args.plot,
                          equity_times_ms=result.equity_times_ms,
                          equity_values=result.equity_values)
            log.info("chart written to %s", args.plot)
    except OSError as exc:
        raise UserInputError(f"{exc.filename}: cannot write: {exc.strerror}") from exc


def configure_logging(quiet: bool, verbose: bool, default_level: str = "INFO") -> None:
    level = (logging.WARNING if quiet else logging.DEBUG if verbose
             else getattr(logging, default_level))
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
                        stream=sys.stderr, force=True)
    if not verbose:
        # Per-signal and per-order messages are INFO on the strategy logger: hundreds of lines
        # over six years. A default run shows the setup, warnings and the summary.
        logging.getLogger("smc.strategy").setLevel(logging.WARNING)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(args.quiet, args.verbose)
    return run_cli(lambda: _run(args), logger=log)


def _run(args) -> int:
    for path, option, suffix in ((args.report_json, "--report-json", None),
                                 (args.trades_csv, "--trades-csv", None),
                                 (args.plot, "--plot", ".png")):
        prepare_output(path, option, suffix)
    if args.start is not None and args.end is not None and args.start >= args.end:
        raise UserInputError(f"--from {args.start.date()} is not before --to {args.end.date()}")
    if args.cuts is not None and not args.check_lookahead:
        raise UserInputError(f"--cuts {args.cuts} goes with --check-lookahead")
    cuts = 12 if args.cuts is None else args.cuts
    if cuts < 1:
        raise UserInputError(f"--cuts {cuts}: must be at least 1")
    config = load_config(args.config)
    configure_logging(args.quiet, args.verbose, config.app.log_level)
    for notice in config_notices(config):
        log.warning(notice)
    if config.app.mode != "paper":
        log.info("app.mode is %s: a backtest always simulates, no order leaves this machine",
                 config.app.mode)
    paths = resolve_data(args.data, config)
    backtest_rules(paths, config.exchanges.binance.rules)  # refuse unknown symbols before loading
    klines = load_data(paths, args.start, args.end)

    from engine.backtest import run_backtest
    from runners.progress import ProgressBar

    progress = None if args.quiet else ProgressBar("backtest")
    result = run_backtest(config, klines, progress=progress)
    report = result.report
    print(format_summary(report))
    _write_outputs(args, result, klines)
    if args.check_lookahead:
        from engine.lookahead import check_lookahead

        check = check_lookahead(config, klines, cuts=cuts, full=result)
        skipped = f" ({check.cuts_skipped} skipped: too early for a complete signal bar)" \
            if check.cuts_skipped else ""
        if check.differences:
            print(f"LOOKAHEAD CHECK: {len(check.differences)} difference(s) between prefix "
                  f"runs and the full run over {check.cuts_compared} cut points{skipped}:")
            for line in check.differences:
                print("  " + line)
            return EXIT_CHECK_FAILED
        print(f"LOOKAHEAD CHECK: 0 differences over {check.cuts_compared} cut points{skipped}")
    return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
