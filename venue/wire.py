"""Binance Spot wire formats, both directions, in pure Python (no sockets, no ccxt).

Venue -> internal: ``parse_stream_message`` turns one text frame of a stream connection into a
``KlineUpdate``, a ``ServerShutdown`` or None (control replies, other stream types), and raises
``WireFormatError`` for a frame that cannot be trusted.

Internal -> venue: ``kline_event``, ``combined`` and ``rest_kline_row`` build the exact payloads of
``shared/docs/binance-protocol.md`` (§1.4 stream kline, §1.1 combined envelope, §2.3 REST row); the
local fake exchange (``fake_exchange.server``) speaks through them.

Binance conventions kept here: stream names are lowercase (``btcusdt@kline_1m``), payload symbols
uppercase; prices and quantities travel as decimal strings, ids/counts/times as JSON numbers; a bar
is identified by its open time ``t`` and closes at ``T = t + interval - 1`` ms; ``x`` is true only
on the update that carries the bar's final values.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from core.timeframes import timeframe_ms
from venue.errors import WireFormatError

__all__ = [
    "KLINE_INTERVALS",
    "KlineUpdate",
    "ServerShutdown",
    "combined",
    "combined_stream_url",
    "format_decimal",
    "interval_ms",
    "kline_event",
    "parse_stream_message",
    "rest_kline_row",
    "stream_name",
]

# The 16 kline intervals of the stream and of REST klines (case-sensitive: 1m minute, 1M month).
KLINE_INTERVALS = (
    "1s", "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d", "1w",
    "1M",
)

_DECIMAL_TEXT = re.compile(r"-?\d+(\.\d+)?")
_KLINE_PRICE_KEYS = {"o": "open", "h": "high", "l": "low", "c": "close"}


@dataclass(frozen=True)
class KlineUpdate:
    """One kline stream update: the bar opened at ``open_time_ms`` as of ``event_ms``.

    ``closed`` is the venue's ``k.x``: only then are the values final. Several updates share one
    ``open_time_ms``; the last one with ``closed`` True is the bar.
    """

    symbol: str  # uppercase, e.g. "BTCUSDT"
    interval: str  # e.g. "1m"
    open_time_ms: int
    open: float
    high: float
    low: float
    close: float
    volume: float  # base asset
    closed: bool
    event_ms: int  # exchange event time "E"


@dataclass(frozen=True)
class ServerShutdown:
    """The venue announced a planned shutdown of this server: reconnect at once."""

    event_ms: int


# ----------------------------------------------------------------------------------- names, URLs


def interval_ms(interval: str) -> int:
    """Length of one ``interval`` bar in ms ("1s" included);
    ValueError for "1M" and unknown names."""
    if interval == "1s":
        return 1000
    if interval == "1M":
        raise ValueError("1M (month) bars have no fixed length")
    return timeframe_ms(interval)


def stream_name(symbol: str, interval: str) -> str:
    """The kline stream name: ``stream_name("BTCUSDT", "1m") == "btcusdt@kline_1m"``."""
    if interval not in KLINE_INTERVALS:
        raise ValueError(f"unknown kline interval {interval!r}; "
                         f"expected one of {', '.join(KLINE_INTERVALS)}")
    if not symbol or not symbol.isalnum():
        raise ValueError(f"bad symbol {symbol!r}: expected letters and digits, e.g. BTCUSDT")
    return f"{symbol.lower()}@kline_{interval}"


def combined_stream_url(ws_base: str, symbols: Iterable[str],
                        intervals: Iterable[str] | str) -> str:
    """``<ws_base>/stream?streams=a/b/...``: one kline stream per symbol and interval,
    in that order."""
    if isinstance(intervals, str):
        intervals = [intervals]
    intervals = list(intervals)
    names = [stream_name(symbol, interval) for symbol in symbols for interval in intervals]
    if not names:
        raise ValueError("combined_stream_url needs at least one symbol and one interval")
    return f"{ws_base.rstrip('/')}/stream?streams={'/'.join(names)}"


# --------------------------------------------------------------------------- internal -> venue


def format_decimal(value) -> str:
    """Decimal text as Binance sends it: floats with 8 decimals; str and Decimal passed through."""
    if isinstance(value, str):
        if not _DECIMAL_TEXT.fullmatch(value):
            raise ValueError(f"not a decimal string: {value!r}")
        return value
    if isinstance(value, Decimal):
        return format(value, "f")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"not a finite number: {value!r}")
    return f"{value:.8f}"


def kline_event(symbol: str, interval: str, open_time_ms: int, open_, high, low, close, volume,
                closed: bool, event_ms: int, trades: int = 0) -> dict:
    """The stream payload of one kline update (§1.4), every key present.

    Quote volume ``q`` is ``v * c``, taker-buy volumes ``V``/``Q`` are half of ``v``/``q``. Trade
    ids are not modelled: with ``trades == 0`` both ``f`` and ``L`` are -1, otherwise 0..trades-1.
    """
    symbol = symbol.upper()
    base_volume, close_price = float(volume), float(close)
    quote = base_volume * close_price
    return {
        "e": "kline",
        "E": int(event_ms),
        "s": symbol,
        "k": {
            "t": int(open_time_ms),
            "T": int(open_time_ms) + interval_ms(interval) - 1,
            "s": symbol,
            "i": interval,
            "f": 0 if trades else -1,
            "L": int(trades) - 1 if trades else -1,
            "o": format_decimal(open_),
            "c": format_decimal(close),
            "h": format_decimal(high),
            "l": format_decimal(low),
            "v": format_decimal(volume),
            "n": int(trades),
            "x": bool(closed),
            "q": format_decimal(quote),
            "V": format_decimal(base_volume / 2),
            "Q": format_decimal(quote / 2),
            "B": "0",
        },
    }


def combined(stream: str, payload: dict) -> dict:
    """The combined-stream envelope ``{"stream": ..., "data": ...}``."""
    return {"stream": stream, "data": payload}


def rest_kline_row(interval: str, open_time_ms: int, open_, high, low, close, volume,
                   trades: int = 0) -> list:
    """One 12-element row of ``GET /api/v3/klines`` (§2.3): numbers for times/count,
    strings else."""
    base_volume, close_price = float(volume), float(close)
    quote = base_volume * close_price
    return [
        int(open_time_ms),
        format_decimal(open_),
        format_decimal(high),
        format_decimal(low),
        format_decimal(close),
        format_decimal(volume),
        int(open_time_ms) + interval_ms(interval) - 1,
        format_decimal(quote),
        int(trades),
        format_decimal(base_volume / 2),
        format_decimal(quote / 2),
        "0",
    ]


# --------------------------------------------------------------------------- venue -> internal


def parse_stream_message(text: str | bytes) -> KlineUpdate | ServerShutdown | None:
    """Parse one frame of a stream connection (combined envelope or raw payload).

    Returns a ``KlineUpdate`` for a kline, a ``ServerShutdown`` for ``serverShutdown`` (raw or
    combined shape), and None for control replies (``{"result": ..., "id": ...}``, error replies
    ``{"code": ..., "msg": ...}``) and for other stream types. Raises ``WireFormatError`` for
    invalid JSON, missing keys, wrong types, non-numeric or non-positive prices, negative volume,
    or ``high < low``. An open or close outside low..high is let through: the documented sample
    itself (``o`` 0.0010 below ``l`` 0.0015) has one, so consumers that need ``low <= open, close
    <= high`` must check it themselves.
    """
    try:
        message = json.loads(text)
    except (ValueError, TypeError) as exc:
        raise WireFormatError(f"invalid JSON: {exc}") from None
    if isinstance(message, list):
        return None  # array streams such as !miniTicker@arr
    if not isinstance(message, dict):
        raise WireFormatError(f"expected a JSON object, got {type(message).__name__}")
    if "id" in message and ("result" in message or "code" in message):
        return None
    if "code" in message and "msg" in message and len(message) == 2:
        return None
    stream = None
    if "stream" in message or "data" in message:
        stream = message.get("stream")
        payload = message.get("data")
        if not isinstance(stream, str):
            raise WireFormatError("combined frame without a string 'stream'")
        if isinstance(payload, list):
            return None
        if not isinstance(payload, dict):
            raise WireFormatError(f"stream {stream}: 'data' is not an object")
    else:
        payload = message
    event = payload.get("e")
    if event == "kline":
        return _parse_kline(payload, stream)
    if event == "serverShutdown":
        return ServerShutdown(event_ms=_integer(payload, "E", "serverShutdown"))
    return None


def _parse_kline(payload: dict, stream: str | None) -> KlineUpdate:
    where = "kline" if stream is None else f"kline on {stream}"
    event_ms = _integer(payload, "E", where)
    symbol = _string(payload, "s", where)
    k = payload.get("k")
    if not isinstance(k, dict):
        raise WireFormatError(f"{where}: missing object 'k'")
    open_ms = _integer(k, "t", where, prefix="k.")
    close_ms = _integer(k, "T", where, prefix="k.")
    interval = _string(k, "i", where, prefix="k.")
    if _string(k, "s", where, prefix="k.") != symbol:
        raise WireFormatError(f"{where}: k.s {k['s']!r} differs from s {symbol!r}")
    if interval not in KLINE_INTERVALS:
        raise WireFormatError(f"{where}: unknown interval k.i {interval!r}")
    if close_ms <= open_ms:
        raise WireFormatError(f"{where}: k.T {close_ms} is not after k.t {open_ms}")
    if stream is not None and not stream.startswith(f"{symbol.lower()}@kline_{interval}"):
        raise WireFormatError(f"{where}: payload is {symbol} {interval}")
    closed = k.get("x")
    if not isinstance(closed, bool):
        raise WireFormatError(f"{where}: k.x must be a boolean, got {closed!r}")
    prices = {}
    for key, name in _KLINE_PRICE_KEYS.items():
        prices[name] = _decimal(k, key, where)
        if prices[name] <= 0:
            raise WireFormatError(f"{where}: {name} k.{key} must be > 0, got {k[key]!r}")
    volume = _decimal(k, "v", where)
    if volume < 0:
        raise WireFormatError(f"{where}: negative volume k.v {k['v']!r}")
    if prices["high"] < prices["low"]:
        raise WireFormatError(f"{where}: high {k['h']} < low {k['l']}")
    return KlineUpdate(symbol=symbol, interval=interval, open_time_ms=open_ms, closed=closed,
                       event_ms=event_ms, volume=volume, **prices)


def _integer(obj: dict, key: str, where: str, prefix: str = "") -> int:
    value = obj.get(key)
    if key not in obj:
        raise WireFormatError(f"{where}: missing {prefix}{key}")
    if isinstance(value, bool) or not isinstance(value, int):
        raise WireFormatError(f"{where}: {prefix}{key} must be an integer, got {value!r}")
    return value


def _string(obj: dict, key: str, where: str, prefix: str = "") -> str:
    value = obj.get(key)
    if key not in obj:
        raise WireFormatError(f"{where}: missing {prefix}{key}")
    if not isinstance(value, str) or not value:
        raise WireFormatError(f"{where}: {prefix}{key} must be a non-empty string, got {value!r}")
    return value


def _decimal(obj: dict, key: str, where: str) -> float:
    value = obj.get(key)
    if key not in obj:
        raise WireFormatError(f"{where}: missing k.{key}")
    if not isinstance(value, str):
        raise WireFormatError(f"{where}: k.{key} must be a decimal string, got {value!r}")
    if not _DECIMAL_TEXT.fullmatch(value):
        raise WireFormatError(f"{where}: k.{key} is not a number: {value!r}")
    return float(value)
