"""``python -m runners.live_paper``: trade the SMC strategy live on Binance data with paper money.

    python -m runners.live_paper [--config config.yaml]
    python -m runners.live_paper --replay FILE.csv [--speed N] [--history-bars N]
    python -m runners.live_paper --report-json PATH

Live: Binance WebSocket klines (REST warm-up and gap backfill), the backtest's strategy, a paper
broker whose every order, fill, position and equity point is committed to SQLite
(``database.url``) before the engine goes on; a restart restores the account. Ctrl-C or SIGTERM
stops cleanly. ``--replay`` serves a kline file from a local Binance-compatible server on
127.0.0.1 and runs the same live path against it. ``--report-json`` only reads the database.
"""

from __future__ import annotations

import argparse
import json
import logging
import logging.handlers
import math
import signal
import sys
import threading
import time
from pathlib import Path

from core.config import apply_overrides, load_config
from core.errors import EXIT_OK, UserInputError
from runners.cli import OneLineErrorParser, prepare_output, run_cli

REPO_ROOT = Path(__file__).resolve().parent.parent
LOG_FILE = Path("logs") / "smc_trading.log"
BANNER = "✅ Paper Trading Mode - Simulated orders only"
REPLAY_DB = "sqlite:///state/replay.db"

log = logging.getLogger("smc.live")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineErrorParser(prog="python -m runners.live_paper",
                     description="Live paper trading of the SMC strategy on Binance data.",
                     epilog="exit codes: 0 ok (stopped cleanly); 1 internal error; 2 bad input "
                            "(config, data, arguments, or app.mode real)")
    parser.add_argument("--config", default=None, help="YAML config (default: config.yaml)")
    parser.add_argument("--replay", metavar="FILE", help="serve this kline file from a local "
                        "Binance-compatible server and trade it through the live path")
    parser.add_argument("--speed", type=float, default=None,
                        help="--replay: bars published per second (default: 50)")
    parser.add_argument("--history-bars", type=int, default=None,
                        help="--replay: bars of the file already in the past at start, served "
                             "over REST for the warm-up (default: 0)")
    parser.add_argument("--db", metavar="URL",
                        help="state database, overriding database.url (default for --replay: "
                             f"{REPLAY_DB}, so a replay never touches the paper account)")
    parser.add_argument("--report-json", metavar="PATH",
                        help="write the paper account's report from the database and exit")
    parser.add_argument("--log-file", default=str(LOG_FILE),
                        help=f"rotating log file (default: {LOG_FILE})")
    return parser


def configure_logging(level: str, log_file: str) -> None:
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stdout)]
    path = Path(log_file)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.handlers.RotatingFileHandler(path, maxBytes=5_000_000,
                                                             backupCount=5, encoding="utf-8"))
    except OSError as exc:
        raise UserInputError(f"--log-file {log_file}: cannot write it: {exc.strerror}") from exc
    logging.basicConfig(level=getattr(logging, level), handlers=handlers, force=True,
                        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s")


def write_report(config, path: str) -> None:
    from brokers.state.store import StateStore
    from runners.paper_report import paper_report

    store = StateStore(config.database.url, readonly=True)
    try:
        report = paper_report(store, config)
    finally:
        store.close()
    with open(path, "w") as fh:
        json.dump(report, fh, indent=1, allow_nan=False)
    print(f"paper report written to {path}: {report['trades']} closed trade(s), "
          f"{len(report['open_positions'])} open position(s)")


class Replay:
    """A local FakeBinance serving one file, published bar by bar once the engine is connected."""

    def __init__(self, path: str, speed: float, history_bars: int):
        from klines import load_klines
        from fake_exchange import FakeBinance
        from core.exchange_rules import quote_problem

        if not (math.isfinite(speed) and speed > 0):
            raise UserInputError(f"--speed {speed}: must be a number of bars per second > 0")
        klines = load_klines(path)
        if not klines.symbol:
            raise UserInputError(f"--replay {path}: cannot tell the symbol from the file name")
        if quote_problem(klines.symbol):
            raise UserInputError(f"--replay {path}: {klines.symbol} {quote_problem(klines.symbol)}")
        if not 0 <= history_bars < len(klines.frame):
            raise UserInputError(f"--history-bars {history_bars}: must be between 0 and "
                                 f"{len(klines.frame) - 1}")
        self.symbol, self.interval, self.speed = klines.symbol, klines.timeframe, speed
        self.bars = klines.bars()
        self.server = FakeBinance({self.symbol: self.bars}, interval=self.interval, speed=None,
                                  history_bars=history_bars).start()
        self.done = threading.Event()

    def publish_all(self, session) -> None:
        """Publish every bar after the engine connects, wait until it has them all, then stop."""
        try:
            deadline = time.monotonic() + 120
            while not session.streaming and time.monotonic() < deadline:
                if session.stopping:
                    return
                time.sleep(0.02)   # publish only once the warm-up is done and the stream is up
            if not session.streaming:
                log.error("replay: the engine never connected")
                return
            while self.server.published_index < self.server.total_bars:
                if session.stopping:
                    return
                self.server.publish(1)
                time.sleep(1.0 / self.speed)
            last_open = int(self.bars.open_time_ms[-1])
            while session.last_bar_open_ms(self.symbol) != last_open and not session.stopping:
                time.sleep(0.05)
            time.sleep(0.5)   # let the last bar's orders and journal writes settle
            log.info("replay: all %d bars published and delivered", self.server.total_bars)
        finally:
            self.done.set()
            session.stop()

    def close(self) -> None:
        self.server.stop()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    replay = None

    def body() -> int:
        nonlocal replay
        if not args.replay and (args.speed is not None or args.history_bars is not None):
            raise UserInputError("--speed and --history-bars go with --replay")
        config = load_config(args.config)
        db_url = args.db or (REPLAY_DB if args.replay else config.database.url)
        config = apply_overrides(config, {"database.url": db_url})
        configure_logging(config.app.log_level, args.log_file)
        if args.report_json:
            prepare_output(args.report_json, "--report-json")
            write_report(config, args.report_json)
            return EXIT_OK
        if config.app.mode == "real":
            raise UserInputError(
                "app.mode is 'real', but no real-money broker exists yet: refusing to start. "
                "Set app.mode: paper to trade with simulated money.")

        from runners.paper_session import PaperSession

        if args.replay:
            replay = Replay(args.replay, 50.0 if args.speed is None else args.speed,
                            args.history_bars or 0)
            session = PaperSession(config, ws_url=replay.server.ws_url,
                                   rest_url=replay.server.rest_url, symbols=[replay.symbol],
                                   exec_interval=replay.interval, mode="replay")
        else:
            session = PaperSession(config)
        print(BANNER, flush=True)
        log.info(BANNER)
        if replay is not None:
            threading.Thread(target=replay.publish_all, args=(session,), daemon=True,
                             name="replay").start()

        def on_signal(signum, _frame):
            log.info("%s received: stopping (state is saved as it goes)",
                     signal.Signals(signum).name)
            session.stop()

        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGTERM, on_signal)
        strategy = session.run()
        log.info("stopped: %d trade(s) closed in this run, %d signal(s)",
                 len(strategy.trades_closed), len(strategy.signals))
        return EXIT_OK

    try:
        return run_cli(body, logger=log)
    finally:
        if replay is not None:
            replay.close()


if __name__ == "__main__":
    raise SystemExit(main())
