"""Which kline files a run reads, and reading them: ``data_spec`` parses one ``[SYMBOL=]PATH``
(of ``--data``, ``--replay`` or the fake exchange's files), ``resolve_data`` maps ``--data``
specs (or, with none, the bundled file of each configured symbol) to paths, ``load_data`` loads
them as ``Klines`` and logs their gaps. Shared by the runners and the readiness report.

``klines`` (and so pandas) is imported inside the functions: the live engine parses ``--replay``
specs with ``data_spec`` and must not load pandas for it."""

from __future__ import annotations

import logging
from pathlib import Path

from core.errors import UserInputError
from core.exchange_rules import SYMBOL_PATTERN, quote_problem
from core.timeframes import timeframe_ms

__all__ = ["BUNDLED_DATA", "bundled_file", "data_spec", "load_data", "resolve_data"]

REPO_ROOT = Path(__file__).resolve().parent.parent
BUNDLED_DATA = REPO_ROOT / "data"

log = logging.getLogger("smc.backtest")


def resolve_data(specs: list[str], config) -> dict[str, Path]:
    """symbol -> path from ``--data`` arguments, or the bundled files of the configured symbols."""
    if not specs:
        return {symbol: bundled_file(symbol, config.strategy.signal_timeframe)
                for symbol in config.exchanges.binance.symbols}
    result: dict[str, Path] = {}
    for spec in specs:
        symbol, path = data_spec(spec, "--data")
        if symbol in result:
            raise UserInputError(f"--data {spec}: symbol {symbol} given twice")
        result[symbol] = path
    return result


def bundled_file(symbol: str, signal_timeframe: str) -> Path:
    """The bundled file of ``symbol`` to backtest ``signal_timeframe`` signals with: the coarsest
    interval that divides the signal timeframe (so 1h data for 1h or 4h signals), the longest
    file on a tie."""
    from klines import timeframe_from_filename

    signal_ms = timeframe_ms(signal_timeframe)
    usable = []
    for path in BUNDLED_DATA.glob(f"{symbol}_spot_*.csv*"):
        tf = timeframe_from_filename(path)
        if tf and signal_ms % timeframe_ms(tf) == 0:
            usable.append((timeframe_ms(tf), path.stat().st_size, path))
    if not usable:
        raise UserInputError(f"no bundled data for {symbol} fit for {signal_timeframe} signals in "
                             f"{BUNDLED_DATA}; pass --data {symbol}=PATH")
    return max(usable)[2]


def load_data(paths: dict[str, Path], start=None, end=None) -> dict:
    from klines import load_klines

    klines = {}
    for symbol, path in paths.items():
        k = load_klines(path, symbol=symbol, start=start, end=end)
        if k.gaps:
            log.info("%s: %d gap(s) in %s, %d missing bars, largest %d bars after %s (not filled)",
                     symbol, len(k.gaps), path, k.missing_bars, k.largest_gap.missing_bars,
                     k.largest_gap.last_before)
        klines[symbol] = k
    return klines


def data_spec(spec: str, option: str) -> tuple[str, Path]:
    """``[SYMBOL=]PATH`` of ``--data``/``--replay``: the symbol given, or the one the file name
    starts with (``BTCUSDT_spot_1h_...``)."""
    from klines.filenames import symbol_from_filename

    symbol, sep, path = spec.partition("=")
    if not sep:
        if not Path(spec).exists():
            raise UserInputError(f"{option} {spec}: file not found")
        if Path(spec).is_dir():
            raise UserInputError(f"{option} {spec}: is a folder, not a kline file")
        path, symbol = spec, symbol_from_filename(spec)
        if not symbol:
            raise UserInputError(f"{option} {spec}: cannot tell the symbol from the file name; "
                                 f"write it as SYMBOL={spec}")
    symbol = symbol.strip().upper()
    if not SYMBOL_PATTERN.fullmatch(symbol):
        raise UserInputError(f"{option} {spec}: {symbol!r} is not a Binance symbol "
                             f"(write it like BTCUSDT=PATH)")
    problem = quote_problem(symbol)
    if problem:
        raise UserInputError(f"{option} {spec}: {symbol} {problem}")
    return symbol, Path(path)
