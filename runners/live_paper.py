"""``python -m runners.live_paper``: trade the SMC strategy live on Binance data with paper money.

    python -m runners.live_paper [--config config.yaml]
    python -m runners.live_paper --replay [SYMBOL=]FILE [--speed N] [--history-bars N] [--resume]
                                 [--report-json PATH]
    python -m runners.live_paper --report-json PATH [--db URL] [--run N]

Live: Binance WebSocket klines (REST warm-up and gap backfill), the backtest's strategy, a paper
broker whose every order, fill, position, equity point and closed bar is committed to SQLite
(``database.url``) before the engine goes on; a restart restores the account. If Binance cannot be
reached at start, it keeps trying (with back-off, each failure logged) until it can or is stopped.
Ctrl-C or SIGTERM stops within a second or two, whatever is queued (exit 130 after Ctrl-C, 0 after
SIGTERM, the service manager's stop); a second Ctrl-C exits at once. ``--replay`` serves a kline
file from a local Binance-compatible server on 127.0.0.1 and runs the same live path against it, on
a fresh account of its own each time (``--resume`` continues the last one); with ``--report-json``
it writes that replay's report when done. ``--report-json`` alone only reads the database.

``app.mode: real`` goes through the go-live gate (``readiness.gate``): readiness READY computed
from the database now, ``--confirm-real-money`` on the command line, and the API credentials in
the environment; no real-money broker exists yet, so even a passed gate stops there.
"""

from __future__ import annotations

import argparse
import json
import logging
import logging.handlers
import signal
import sys
import threading
from pathlib import Path

from core.config import apply_overrides, load_config
from core.errors import EXIT_INTERRUPTED, EXIT_OK, UserInputError
from core.records import RunMode
from runners.cli import config_notices, prepare_output, run_cli, runner_parser

LOG_FILE = Path("logs") / "smc_trading.log"
BANNER = "✅ Paper Trading Mode - Simulated orders only"
REPLAY_DB = "sqlite:///state/replay.db"

log = logging.getLogger("smc.live")


def build_parser() -> argparse.ArgumentParser:
    parser = runner_parser(
        "live_paper", "Live paper trading of the SMC strategy on Binance data.",
        "0 ok (stopped cleanly); 1 internal error, or the exchange failed for good; 2 bad input "
        "(config, data, arguments, or app.mode real); 130 interrupted (Ctrl-C; SIGTERM stops "
        "with 0)")
    parser.add_argument("--replay", metavar="[SYMBOL=]FILE", action="append", default=[],
                        help="serve this kline file from a local Binance-compatible server and "
                             "trade it through the live path (repeat for more symbols); the "
                             "symbol comes from the file name unless given as SYMBOL=FILE")
    parser.add_argument("--speed", type=float, default=None,
                        help="--replay: bars published per second (default: 50)")
    parser.add_argument("--history-bars", type=int, default=None,
                        help="--replay: bars of the file already in the past at start, served "
                             "over REST for the warm-up (default: 0)")
    parser.add_argument("--resume", action="store_true",
                        help="--replay: continue the last replay account (default: a fresh "
                             "account for every replay)")
    parser.add_argument("--db", metavar="URL",
                        help="state database, overriding database.url (default for --replay: "
                             f"{REPLAY_DB}, so a replay never touches the paper account)")
    parser.add_argument("--report-json", metavar="PATH",
                        help="write the account's report from the database (after the replay, "
                             "with --replay; otherwise at once, and exit)")
    parser.add_argument("--run", type=int, default=None, metavar="N",
                        help="--report-json: report the account of run N (default: the latest "
                             "run); one account's runs, never a mix")
    parser.add_argument("--confirm-real-money", action="store_true",
                        help="app.mode real: confirm, for this start, that real money is at "
                             "risk (also needs readiness READY and the API credentials in the "
                             "environment; see README, Go-live readiness)")
    parser.add_argument("--log-file", default=str(LOG_FILE),
                        help=f"rotating log file (default: {LOG_FILE})")
    return parser


class _FileOnly(logging.Filter):
    """Keeps records marked ``file_only`` off the console (the banner is printed there once)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(record, "file_only", False)


def configure_logging(level: str, log_file: str) -> None:
    console = logging.StreamHandler(sys.stdout)
    console.addFilter(_FileOnly())
    handlers: list[logging.Handler] = [console]
    path = Path(log_file)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.handlers.RotatingFileHandler(path, maxBytes=5_000_000,
                                                             backupCount=5, encoding="utf-8"))
    except OSError as exc:
        logging.basicConfig(level=logging.INFO, handlers=[console], force=True)
        raise UserInputError(f"--log-file {log_file}: cannot write it: "
                             f"{exc.strerror or exc}") from exc
    logging.basicConfig(level=getattr(logging, level), handlers=handlers, force=True,
                        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s")


def write_report(config, path: str, run_id: int | None, db_option: str) -> None:
    from brokers.state.store import StateStore
    from engine.paper_report import paper_report

    store = StateStore(config.database.url, readonly=True, option=db_option)
    try:
        report = paper_report(store, config, run_id)
    finally:
        store.close()
    with open(path, "w") as fh:
        json.dump(report, fh, indent=1, allow_nan=False)
    print(f"report written to {path}: {report['mode'] or 'no'} account {report['account_id']}, "
          f"{report['trades']} closed trade(s), {len(report['open_positions'])} open position(s)")


def _check_arguments(args) -> None:
    replay_only = {"--speed": args.speed is not None,
                   "--history-bars": args.history_bars is not None,
                   "--resume": args.resume}
    if not args.replay:
        given = [name for name, used in replay_only.items() if used]
        if given:
            raise UserInputError(f"{' and '.join(given)} go{'es' if len(given) == 1 else ''} "
                                 f"with --replay")
    if args.run is not None and not args.report_json:
        raise UserInputError(f"--run {args.run} goes with --report-json")
    if args.run is not None and args.replay:
        raise UserInputError("--run goes with --report-json alone (a replay reports its own run)")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    replay = None

    def body() -> int:
        nonlocal replay
        configure_logging("INFO", args.log_file)    # refusals below reach the log file too
        _check_arguments(args)
        config = load_config(args.config)
        db_option = "--db" if args.db else "database.url"
        if args.db:
            from brokers.state import sqlite_path

            sqlite_path(args.db, "--db")
        db_url = args.db or (REPLAY_DB if args.replay else config.database.url)
        config = apply_overrides(config, {"database.url": db_url})
        configure_logging(config.app.log_level, args.log_file)
        if args.report_json:
            prepare_output(args.report_json, "--report-json")
            if not args.replay:
                write_report(config, args.report_json, args.run, db_option)
                return EXIT_OK
        for notice in config_notices(config):
            log.warning(notice)
        if args.confirm_real_money and config.app.mode != "real":
            raise UserInputError(f"--confirm-real-money goes with app.mode: real (the config "
                                 f"says {config.app.mode})")
        if config.app.mode == "real":
            from readiness.gate import real_mode_gate

            real_mode_gate(config, confirmed=args.confirm_real_money, db_option=db_option,
                           logger=log)
            raise UserInputError("the real-mode gate passed (readiness READY, confirmed, "
                                 "credentials set), but no real-money broker exists yet: "
                                 "nothing was started")

        from runners.paper_session import PaperSession

        if args.replay:
            from runners.replay import Replay

            replay = Replay(args.replay, 50.0 if args.speed is None else args.speed,
                            args.history_bars or 0)
            session = PaperSession(config, ws_url=replay.server.ws_url,
                                   rest_url=replay.server.rest_url, symbols=replay.symbols,
                                   exec_interval=replay.interval, mode=RunMode.REPLAY,
                                   resume=args.resume, db_option=db_option)
        else:
            session = PaperSession(config, db_option=db_option)
        print(BANNER, flush=True)
        log.info(BANNER, extra={"file_only": True})
        if replay is not None:
            threading.Thread(target=replay.publish_all, args=(session,), daemon=True,
                             name="replay").start()
        received = _stop_on_signals(session)
        strategy = session.run()
        if strategy is not None:
            log.info("stopped: %d trade(s) closed in this run, %d signal(s)",
                     len(strategy.trades_closed), len(strategy.signals))
        if args.replay and args.report_json:
            write_report(config, args.report_json, session.run_id, db_option)
        # Ctrl-C is an interruption like in every command; SIGTERM is the service manager's
        # normal stop
        return EXIT_INTERRUPTED if signal.SIGINT in received else EXIT_OK

    try:
        return run_cli(body, logger=log, log_refusals=True)
    finally:
        if replay is not None:
            replay.close()


def _stop_on_signals(session) -> set[int]:
    """SIGINT/SIGTERM: stop now (the state is saved as it goes); a second Ctrl-C exits at once.
    Returns the set the signals received are added to."""
    received: set[int] = set()

    def on_signal(signum, _frame):
        log.info("%s received: stopping (state is saved as it goes)", signal.Signals(signum).name)
        received.add(signum)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        session.stop()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    return received


if __name__ == "__main__":
    raise SystemExit(main())
