"""``python -m runners.fake_exchange``: run the local Binance-compatible exchange by itself.

    python -m runners.fake_exchange [SYMBOL=]FILE [...] [--port 8765] [--history-bars N] [--speed S]

It serves the kline files on 127.0.0.1 (REST ``/api/v3/...`` and WebSocket ``/stream`` on one
port, following the Binance protocol), prints the two base URLs and runs until Ctrl-C. By
default every bar is in the past: REST serves them all and the stream sends nothing, which is
what ``runners.download --rest-url http://127.0.0.1:PORT`` needs to be tried offline. With
``--history-bars N --speed S`` the first N bars are history and the rest are streamed, S bars a
second (point ``exchanges.binance.ws_url``/``rest_url`` of a config at it to watch a live run).
"""

from __future__ import annotations

import argparse
import logging
import math
import signal
import sys
import threading

from core.errors import EXIT_OK, UserInputError
from engine.data import data_spec
from runners.cli import run_cli, runner_parser

log = logging.getLogger("smc.fake_exchange")


def build_parser() -> argparse.ArgumentParser:
    parser = runner_parser(
        "fake_exchange", "Serve kline files from a local Binance-compatible exchange on 127.0.0.1.",
        "0 stopped with Ctrl-C or SIGTERM; 1 internal error; 2 bad input", config=False)
    parser.add_argument("files", nargs="+", metavar="[SYMBOL=]FILE",
                        help="kline files, one per symbol, all of one interval")
    parser.add_argument("--port", type=int, default=8765, help="port on 127.0.0.1 (default "
                        "8765; 0 picks a free one)")
    parser.add_argument("--history-bars", type=int, default=None,
                        help="bars already in the past at start (default: all of them)")
    parser.add_argument("--speed", type=float, default=None,
                        help="bars per second streamed after the history (default: none)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, force=True,
                        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    return run_cli(lambda: _serve(args), logger=log)


def _serve(args) -> int:
    from fake_exchange import FakeBinance
    from klines import load_klines

    if not 0 <= args.port <= 65535:
        raise UserInputError(f"--port {args.port}: must be between 0 and 65535")
    if args.speed is not None and not (math.isfinite(args.speed) and args.speed > 0):
        raise UserInputError(f"--speed {args.speed}: must be a number of bars per second > 0")
    bars, intervals = {}, set()
    for spec in args.files:
        symbol, path = data_spec(spec, "file")
        klines = load_klines(path, symbol=symbol)
        bars[symbol] = klines.bars()
        intervals.add(klines.timeframe)
    if len(intervals) != 1:
        raise UserInputError(f"files: all must have the same interval, got {sorted(intervals)}")
    interval = intervals.pop()
    total = len({int(t) for b in bars.values() for t in b.open_time_ms})
    history = total if args.history_bars is None else args.history_bars
    if not 0 <= history <= total:
        raise UserInputError(f"--history-bars {history}: must be between 0 and {total}")
    try:
        server = FakeBinance(bars, interval=interval, speed=args.speed, history_bars=history,
                             port=args.port).start()
    except RuntimeError as exc:
        raise UserInputError(f"--port {args.port}: cannot listen: {exc}") from exc
    print(f"fake Binance serving {', '.join(bars)} {interval} ({total} bars, {history} in the "
          f"past)\n  rest_url: {server.rest_url}\n  ws_url:   {server.ws_url}", flush=True)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    try:
        stopped.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
