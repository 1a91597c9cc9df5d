"""``python -m runners.status_page``: serve the status page and its JSON API with waitress.

    python -m runners.status_page [--config config.yaml] [--db URL] [--threads N]

Reads the state database the engine writes (``database.url``, or ``--db``) read-only, so it
never slows or stops trading, and works before the engine ever ran (an empty page). Listens on
``status_page.host:port`` (default 127.0.0.1:8000). Any address other than a loopback one needs
a bearer token in the environment variable named by ``status_page.token_env``; without it the
server refuses to start with one line (exit 2). Never the Flask development server, never debug
mode. SIGTERM or Ctrl-C stops it.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys

from core.config import apply_overrides, load_config
from core.errors import EXIT_OK, UserInputError
from runners.cli import OneLineErrorParser, run_cli, runner_parser

log = logging.getLogger("smc.status")

THREADS = 4


def _threads(text: str) -> int:
    if not (text.isdigit() and 1 <= int(text) <= 32):
        raise argparse.ArgumentTypeError(f"must be a whole number from 1 to 32, got {text!r}")
    return int(text)


def build_parser() -> OneLineErrorParser:
    parser = runner_parser(
        "status_page", "Serve the read-only status page and JSON API of the paper-trading engine.",
        "0 stopped; 1 internal error; 2 bad input (config, --db, a non-loopback host without a "
        "token, a port in use)")
    parser.add_argument("--threads", type=_threads, default=THREADS, metavar="N",
                        help=f"worker threads answering requests, 1 to 32 (default {THREADS})")
    parser.add_argument("--db", metavar="URL",
                        help="state database to show, overriding database.url "
                             "(e.g. sqlite:///state/replay.db)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    def body() -> int:
        logging.basicConfig(level=logging.INFO, stream=sys.stdout, force=True,
                            format="%(asctime)s %(levelname)-7s %(name)s: %(message)s")
        config = load_config(args.config)
        db_option = "--db" if args.db else "database.url"
        if args.db:
            from brokers.state import sqlite_path

            sqlite_path(args.db, "--db")
            config = apply_overrides(config, {"database.url": args.db})
        logging.getLogger().setLevel(config.app.log_level)
        page = config.status_page
        from status_page import create_app
        from status_page.security import bind_policy

        token = bind_policy(page.host, page.token_env, os.environ)
        app = create_app(config, db_option=db_option, token=token, bind_host=page.host)
        server = _server(app, page.host, page.port, args.threads)
        signal.signal(signal.SIGTERM, lambda *_: server.close())
        shown = f"[{page.host}]" if ":" in page.host else page.host
        log.info("status page on http://%s:%d/ (database %s; bearer token %s)", shown,
                 page.port, config.database.url,
                 f"required, from ${page.token_env}" if token else "not required")
        try:
            server.run()
        except (OSError, ValueError):
            if not server.socket or server.socket.fileno() == -1:  # closed by SIGTERM
                return EXIT_OK
            raise
        return EXIT_OK

    return run_cli(body, logger=log)


def _server(app, host: str, port: int, threads: int):
    from waitress import create_server

    try:
        return create_server(app, host=host, port=port, threads=threads, ident="smc-status",
                             clear_untrusted_proxy_headers=True)
    except OSError as exc:
        raise UserInputError(f"status_page.host/port {host}:{port}: cannot listen there: "
                             f"{exc.strerror or exc}") from exc


if __name__ == "__main__":
    raise SystemExit(main())
