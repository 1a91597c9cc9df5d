"""``python -m runners.exchange_rules``: refresh the exchange rules snapshot from a live
exchangeInfo.

    python -m runners.exchange_rules --out data/exchange_rules.json [--symbols BTCUSDT ETHUSDT]

Reads PRICE_FILTER, LOT_SIZE and NOTIONAL (or MIN_NOTIONAL) of each symbol from
``GET /api/v3/exchangeInfo`` (``exchanges.binance.rest_url``, or ``--rest-url``) and writes the
snapshot backtests use (``core.exchange_rules``), every symbol marked with the server and the
server time it was read at. The symbols default to those already in ``--out`` (or in the bundled
snapshot when ``--out`` does not exist yet). The file is written to a temporary name and renamed,
so a failed run leaves the old one as it was.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from core.config import load_config
from core.errors import EXIT_OK
from core.exchange_rules import SNAPSHOT_PATH, load_snapshot, resolve_rules, snapshot_document
from core.times import ms_to_iso_z
from runners.cli import prepare_output, run_cli, runner_parser, write_atomically
from runners.download import check_rest_url

log = logging.getLogger("smc.exchange_rules")


def build_parser() -> argparse.ArgumentParser:
    parser = runner_parser(
        "exchange_rules", "Refresh the exchange rules snapshot (tick size, lot step, minimum "
        "quantity and notional per symbol) from a live Binance exchangeInfo.",
        "0 ok; 1 internal or network error; 2 bad input (arguments, config, unknown symbol, a "
        "pair not quoted in USDT, a symbol without those filters)")
    parser.add_argument("--out", required=True, help="snapshot file to write (JSON), e.g. "
                        "data/exchange_rules.json")
    parser.add_argument("--symbols", nargs="+", metavar="SYMBOL", type=str.upper,
                        help="symbols to read (default: those already in --out)")
    parser.add_argument("--rest-url", default=None,
                        help="REST base URL (default: exchanges.binance.rest_url of the config)")
    return parser


def refresh_snapshot(rest_url: str, symbols: list[str], out: Path) -> dict:
    """Read ``symbols``' rules from ``rest_url`` and write them to ``out``; returns the document."""
    from core.retry import retry_transient
    from venue import exchange_rules, fetch_server_time, make_exchange

    exchange = make_exchange(rest_url)
    fetched = retry_transient(lambda: exchange_rules(exchange, symbols), what="exchangeInfo")
    read_at = ms_to_iso_z(retry_transient(lambda: fetch_server_time(exchange), what="the time"))
    source = f"exchangeInfo of {rest_url} at {read_at}"
    rules = resolve_rules(symbols, fetched, {}, source)  # every field present, USDT pairs only
    doc = snapshot_document(rules, f"Binance spot order rules read from {source} by "
                                   f"python -m runners.exchange_rules.",
                            dict.fromkeys(rules, source))
    write_atomically(out, json.dumps(doc, indent=1) + "\n")
    return doc


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
                        stream=sys.stderr, force=True)
    return run_cli(lambda: _run(args), logger=log)


def _run(args) -> int:
    out = Path(args.out)
    prepare_output(out, "--out", ".json")
    rest_url = (check_rest_url(args.rest_url, "--rest-url") if args.rest_url is not None
                else load_config(args.config).exchanges.binance.rest_url)
    symbols = args.symbols or sorted(load_snapshot(out if out.exists() else SNAPSHOT_PATH))
    doc = refresh_snapshot(rest_url, list(dict.fromkeys(symbols)), out)
    print(f"{out}: order rules of {len(doc['symbols'])} symbol(s) from {rest_url}")
    return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
