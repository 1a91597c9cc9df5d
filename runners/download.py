"""``python -m runners.download``: download closed Binance klines into the normalized CSV format.

    python -m runners.download --symbol BTCUSDT --timeframe 1h --from 2024-01-01 \\
        --out data/BTCUSDT_spot_1h.csv.gz

Pages through ``GET /api/v3/klines`` (1000 rows a call, ccxt's rate limiter on, transient errors
retried with back-off) and writes ``timestamp,open,high,low,close,volume`` with ISO open times
(``YYYY-MM-DDTHH:MM:SSZ``), gzip-compressed when the name ends in ``.gz``. Only closed bars are
written: the bar still forming at the server's time is left for the next run.

Resume: when ``--out`` exists it is read with ``load_klines`` and only bars after its last one are
fetched and appended; earlier rows are never rewritten (their bytes are copied as they are; a gzip
file gets one more gzip member). The result is written to a temporary file next to ``--out``,
checked with ``load_klines`` and renamed over it, so a killed run leaves the old file intact. An
interrupted run (Ctrl-C, network give-up) still keeps the complete pages it fetched.
"""

from __future__ import annotations

import argparse
import gzip
import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pandas as pd

from core.config import load_config
from core.errors import EXIT_OK, UserInputError
from core.timeframes import BINANCE_INTERVALS, timeframe_ms
from core.times import ms_to_iso_z
from runners.cli import iso_date, prepare_output, run_cli, runner_parser

log = logging.getLogger("smc.download")

HEADER = "timestamp,open,high,low,close,volume\n"


def _timeframe(text: str) -> str:
    if text not in BINANCE_INTERVALS:
        raise argparse.ArgumentTypeError(f"unknown timeframe {text!r}; expected one of "
                                         f"{', '.join(BINANCE_INTERVALS)}")
    return text


def _symbol(text: str) -> str:
    symbol = text.strip().upper()
    if not symbol.isalnum():
        raise argparse.ArgumentTypeError(f"bad symbol {text!r}: "
                                         f"expected a Binance id such as BTCUSDT")
    return symbol


def build_parser() -> argparse.ArgumentParser:
    parser = runner_parser(
        "download", "Download closed Binance spot klines into the normalized CSV format the "
        "backtest reads; resumes an existing file from its last bar.",
        "0 ok (also when nothing was new); 1 internal or network error; 2 bad input (arguments, "
        "config, unknown symbol, unreadable --out file); 130 interrupted")
    parser.add_argument("--symbol", required=True, type=_symbol, help="Binance id, e.g. BTCUSDT")
    parser.add_argument("--timeframe", required=True, type=_timeframe,
                        help="kline interval, e.g. 1h")
    parser.add_argument("--from", dest="start", type=iso_date,
                        help="first bar, ISO date (UTC); required unless --out exists (then the "
                             "download resumes after its last bar)")
    parser.add_argument("--to", dest="end", type=iso_date,
                        help="end, ISO date, exclusive (UTC; default: up to the last closed bar)")
    parser.add_argument("--out", required=True, help="output file: .csv or .csv.gz")
    parser.add_argument("--rest-url", default=None,
                        help="REST base URL (default: exchanges.binance.rest_url of the config)")
    parser.add_argument("--quiet", action="store_true", help="only warnings, no progress bar")
    return parser


# ------------------------------------------------------------------------------------ writing


def format_rows(bars) -> str:
    """Normalized CSV lines (no header) for ``bars``; floats in their shortest round-trip form."""
    stamps = pd.to_datetime(bars.open_time_ms, unit="ms").strftime("%Y-%m-%dT%H:%M:%SZ")
    return "".join(
        f"{stamp},{o!r},{h!r},{lo!r},{c!r},{v!r}\n"
        for stamp, o, h, lo, c, v in zip(stamps, bars.open.tolist(), bars.high.tolist(),
                                         bars.low.tolist(), bars.close.tolist(),
                                         bars.volume.tolist(), strict=True)
    )


def _ends_with_newline(path: Path, compressed: bool) -> bool:
    if compressed:
        last = b""
        with gzip.open(path, "rb") as fh:
            while chunk := fh.read(1 << 20):
                last = chunk
        return last.endswith(b"\n") or not last
    with open(path, "rb") as fh:
        fh.seek(0, os.SEEK_END)
        if fh.tell() == 0:
            return True
        fh.seek(-1, os.SEEK_END)
        return fh.read(1) == b"\n"


class _AtomicAppender:
    """Builds ``<out>`` = existing bytes + appended text in a temp file; ``commit`` renames it."""

    def __init__(self, out: Path):
        self.out = out
        self.compressed = out.name.endswith(".gz")
        # a private folder next to ``out`` (same file system: the rename is atomic) holding a file
        # of the same name, so load_klines checks it exactly as it will read ``out``
        self.folder = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".part", dir=out.parent))
        self.temp = self.folder / out.name
        self.rows = 0
        prefix = ""
        if out.exists():
            shutil.copyfile(out, self.temp)
            if not _ends_with_newline(out, self.compressed):
                prefix = "\n"
        else:
            prefix = HEADER
        opener = gzip.open if self.compressed else open
        self._fh = opener(self.temp, "at", encoding="utf-8", newline="")
        self._fh.write(prefix)

    def write(self, text: str, rows: int) -> None:
        self._fh.write(text)
        self.rows += rows

    def commit(self) -> None:
        """Close, check the result reads back, and rename it over ``out``."""
        from klines import load_klines

        self._fh.close()
        with open(self.temp, "rb") as fh:
            os.fsync(fh.fileno())
        try:
            load_klines(self.temp)  # never replace a good file with one the backtest cannot read
            os.replace(self.temp, self.out)
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)

    def discard(self) -> None:
        if not self._fh.closed:
            self._fh.close()
        shutil.rmtree(self.folder, ignore_errors=True)


# --------------------------------------------------------------------------------------- run


def _to_ms(stamp: pd.Timestamp) -> int:
    return int(stamp.value // 1_000_000)


def resume_point(out: Path, symbol: str, timeframe: str) -> int | None:
    """Open time (ms) of the first bar to fetch for an existing ``out``, or None if it is new."""
    from klines import load_klines, symbol_from_filename

    if not out.exists():
        return None
    named = symbol_from_filename(out)
    if named is not None and named != symbol:
        raise UserInputError(f"--out {out}: the file name says {named}, not {symbol}")
    klines = load_klines(out, symbol=symbol)
    if klines.source_format != "normalized-csv":
        raise UserInputError(f"--out {out}: can only append to the normalized format "
                             f"(timestamp,open,...), this file is {klines.source_format}")
    if klines.timeframe != timeframe:
        raise UserInputError(f"--out {out}: holds {klines.timeframe} bars, not {timeframe}")
    last = _to_ms(klines.frame.index[-1])
    return last + timeframe_ms(timeframe)


def download(symbol: str, timeframe: str, out: Path, rest_url: str, start_ms: int | None,
             end_ms: int | None, progress=None) -> int:
    """Fetch and append the missing closed bars; returns the number of bars written."""
    from core.retry import retry_transient
    from venue import ccxt_symbol, fetch_server_time, iter_closed_pages, make_exchange

    resume_ms = resume_point(out, symbol, timeframe)
    if resume_ms is None:
        if start_ms is None:
            raise UserInputError(f"--out {out} does not exist yet: give --from")
        since_ms = start_ms
    else:
        if start_ms is not None and start_ms > resume_ms:
            raise UserInputError(f"--from {ms_to_iso_z(start_ms)} would leave a hole after the "
                                 f"last bar of {out} "
                                 f"({ms_to_iso_z(resume_ms - timeframe_ms(timeframe))})")
        since_ms = resume_ms
        log.info("%s: resuming after its last bar, from %s", out, ms_to_iso_z(resume_ms))
    if end_ms is not None and since_ms >= end_ms:
        log.info("%s is already complete up to %s", out, ms_to_iso_z(end_ms))
        return 0

    exchange = make_exchange(rest_url)
    # BadSymbolError early
    retry_transient(lambda: ccxt_symbol(exchange, symbol), what="the markets")
    now_ms = retry_transient(lambda: fetch_server_time(exchange), what="the server time")
    stop_ms = min(now_ms, end_ms) if end_ms is not None else now_ms
    log.info("downloading %s %s from %s to %s from %s", symbol, timeframe, ms_to_iso_z(since_ms),
             ms_to_iso_z(stop_ms), rest_url)
    appender = None
    try:
        for page in iter_closed_pages(exchange, symbol, timeframe, since_ms, end_ms, now_ms=now_ms,
                                      attempts=4):
            if appender is None:
                appender = _AtomicAppender(out)
            appender.write(format_rows(page), len(page))
            if progress is not None and stop_ms > since_ms:
                progress((int(page.open_time_ms[-1]) + timeframe_ms(timeframe) - since_ms)
                         / (stop_ms - since_ms))
    except BaseException:
        if appender is not None:
            if appender.rows:
                appender.commit()
                log.warning("interrupted: kept the %d complete bars fetched so far in %s",
                            appender.rows, out)
            else:
                appender.discard()
        raise
    if appender is None:
        if resume_ms is None:
            raise UserInputError(f"no closed {symbol} {timeframe} bars "
                                 f"from {ms_to_iso_z(since_ms)} "
                                 f"to {ms_to_iso_z(stop_ms)} on {rest_url}")
        log.info("%s: no new closed bar yet", out)
        return 0
    appender.commit()
    if progress is not None:
        progress(1.0)
    return appender.rows


def check_rest_url(url: str, option: str) -> str:
    """A REST base must be ``http(s)://host[:port]``; anything else is refused in one line."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UserInputError(f"{option} {url!r}: must start with http:// or https:// followed by "
                             f"a host, e.g. https://api.binance.com")
    return url


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO,
                        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
                        stream=sys.stderr, force=True)
    return run_cli(lambda: _run(args), logger=log)


def _run(args) -> int:
    out = Path(args.out)
    if not (out.name.endswith(".csv") or out.name.endswith(".csv.gz")):
        raise UserInputError(f"--out {out}: must end in .csv or .csv.gz")
    prepare_output(out, "--out")
    if args.start is not None and args.end is not None and args.start >= args.end:
        raise UserInputError(f"--from {args.start.date()} is not before --to {args.end.date()}")
    if args.rest_url is not None:
        rest_url = check_rest_url(args.rest_url, "--rest-url")
    else:
        rest_url = load_config(args.config).exchanges.binance.rest_url
    from runners.progress import ProgressBar

    written = download(
        args.symbol, args.timeframe, out, rest_url,
        None if args.start is None else _to_ms(args.start),
        None if args.end is None else _to_ms(args.end),
        progress=None if args.quiet else ProgressBar(f"download {args.symbol} {args.timeframe}"),
    )
    print(f"{out}: {written} new bar(s)")
    return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
