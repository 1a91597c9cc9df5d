"""Binance REST market data through ccxt: closed klines as ``Bars``, errors named for what to do.

ccxt stays at this boundary. ``make_exchange`` builds a spot-only ``ccxt.binance`` pointed at any
Binance-compatible base URL (the real one, the testnet, or ``fake_exchange.server.FakeBinance``),
following the recipe of ``shared/docs/binance-protocol.md`` §4.2. ccxt exceptions are translated
into the classes below (``raise ... from exc``):

====================================================  =====================================
ccxt                                                   here
====================================================  =====================================
``DDoSProtection`` / ``RateLimitExceeded`` (429, 418)  ``RateLimited`` (a ``TemporaryError``)
``OperationFailed`` (``NetworkError``, timeouts, 5xx)  ``TemporaryError``
``BadSymbol``                                          ``BadSymbolError`` (a ``UserInputError``)
``BadRequest`` (e.g. -1120 bad interval)               ``BadRequestError`` (a ``UserInputError``)
any other ``ccxt.BaseError``                           ``ExchangeError``
====================================================  =====================================

``core.retry.retry_transient`` retries only ``TemporaryError`` (so ``RateLimited`` too), with
capped exponential back-off and jitter; a ``RateLimited`` waits at least its ``retry_after_s``,
because ccxt does not honour ``Retry-After`` by itself.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from typing import TypeVar

import numpy as np

from core.bars import Bars
from core.errors import RateLimited, TemporaryError
from core.retry import retry_transient
from core.timeframes import timeframe_ms
from venue.ccxt_loader import ccxt_package
from venue.errors import BadRequestError, BadSymbolError, ExchangeError

ccxt = ccxt_package()  # Binance only: not the ~105 exchanges of ``import ccxt`` (see ccxt_loader)

__all__ = [
    "ccxt_symbol",
    "fetch_closed_bars",
    "fetch_server_time",
    "iter_closed_pages",
    "make_exchange",
    "rest_base_url",
]

log = logging.getLogger("smc.rest")

T = TypeVar("T")

PAGE_LIMIT = 1000  # Binance's maximum rows per klines call (§2.3)
DEFAULT_RETRY_AFTER_S = {429: 1.0, 418: 120.0}  # when a response carries no usable Retry-After


# --------------------------------------------------------------------------------- exchange


def make_exchange(rest_url: str) -> ccxt.binance:
    """A spot-only ``ccxt.binance`` whose public and private REST calls go to ``rest_url/api/v3``.

    ``rest_url`` is a base such as ``https://api.binance.com`` or ``http://127.0.0.1:PORT``.
    Markets come from one ``exchangeInfo`` call (no futures hosts, no currencies or margin calls);
    ccxt's client-side rate limiter is on.
    """
    exchange = ccxt.binance({
        "enableRateLimit": True,
        "options": {"fetchMarkets": {"types": ["spot"]}, "fetchCurrencies": False,
                    "fetchMargins": False},
    })
    base = rest_url.rstrip("/") + "/api/v3"
    exchange.urls["api"]["public"] = base
    exchange.urls["api"]["private"] = base
    return exchange


def rest_base_url(exchange) -> str:
    """The base URL ``exchange`` was made for (``http://host:port``)."""
    base = exchange.urls["api"]["public"]
    return base[: -len("/api/v3")] if base.endswith("/api/v3") else base


def _translate(exc: Exception, exchange, what: str) -> Exception:
    """The class of ``core.errors`` hierarchy for a ccxt exception
    (the caller raises it ``from exc``)."""
    where = f"{what} on {rest_base_url(exchange)}"
    if isinstance(exc, (ccxt.DDoSProtection, ccxt.RateLimitExceeded)):
        status, retry_after = _rate_limit_details(exc, exchange)
        return RateLimited(f"rate limited ({status or 'code -1003'}) during {where}; "
                           f"retry after {retry_after:g}s", retry_after, status)
    # timeouts, connection errors, 5xx, -1001 DISCONNECTED
    if isinstance(exc, ccxt.OperationFailed):
        return TemporaryError(f"{type(exc).__name__} during {where}: {_short(exc)}")
    if isinstance(exc, ccxt.BadSymbol):
        return BadSymbolError(f"unknown symbol during {where}: {_short(exc)}")
    if isinstance(exc, ccxt.BadRequest):
        return BadRequestError(f"request refused during {where}: {_short(exc)}")
    return ExchangeError(f"{type(exc).__name__} during {where}: {_short(exc)}")


def _short(exc: Exception, limit: int = 200) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _rate_limit_details(exc: Exception, exchange) -> tuple[int | None, float]:
    """(HTTP status, seconds to wait) of a rate-limit error: ``Retry-After`` or a default."""
    match = re.search(r"\b(418|429)\b", str(exc))
    status = int(match.group(1)) if match else None
    headers = getattr(exchange, "last_response_headers", None) or {}
    try:
        retry_after = float(headers.get("Retry-After"))
    except (TypeError, ValueError):
        retry_after = DEFAULT_RETRY_AFTER_S.get(status, DEFAULT_RETRY_AFTER_S[429])
    return status, max(retry_after, 0.0)


def _call(exchange, what: str, fn: Callable[[], T]) -> T:
    try:
        return fn()
    except ccxt.BaseError as exc:
        raise _translate(exc, exchange, what) from exc


def ccxt_symbol(exchange, symbol: str) -> str:
    """The ccxt symbol ('BTC/USDT') of a Binance id ('BTCUSDT'); loads the markets once."""
    if not exchange.markets:
        _call(exchange, "loading markets", exchange.load_markets)
    markets = exchange.markets_by_id.get(symbol.upper()) if exchange.markets_by_id else None
    spot = [m for m in markets or [] if m.get("spot")]
    if not spot:
        raise BadSymbolError(f"unknown symbol {symbol} on {rest_base_url(exchange)}")
    return spot[0]["symbol"]


def fetch_server_time(exchange) -> int:
    """The exchange clock in epoch ms (``GET /api/v3/time``)."""
    return int(_call(exchange, "fetching the server time", exchange.fetch_time))


# ----------------------------------------------------------------------------------- klines


def iter_closed_pages(exchange, symbol: str, timeframe: str, since_ms: int | None = None,
                      until_ms: int | None = None, limit: int = PAGE_LIMIT,
                      now_ms: int | None = None, *, attempts: int = 1) -> Iterator[Bars]:
    """Yield the closed bars of ``[since_ms, until_ms)`` one klines page at a time, oldest first.

    ``since_ms=None`` asks for the newest page only. A row whose close time is after ``now_ms``
    (default: the server time, read once before the first page) is still forming and is dropped,
    which ends the walk. Open times are strictly increasing across pages (duplicates dropped).
    Each call is retried by ``retry_transient`` when ``attempts > 1``.
    """
    step_ms = timeframe_ms(timeframe)
    limit = max(1, min(int(limit), PAGE_LIMIT))
    market = ccxt_symbol(exchange, symbol)

    def attempt(fn: Callable[[], T]) -> T:
        return retry_transient(fn, attempts=attempts) if attempts > 1 else fn()

    def fetch_page(what: str, cursor: int | None, params: dict) -> list:
        return attempt(lambda: _call(exchange, what, lambda: exchange.fetch_ohlcv(
            market, timeframe, since=cursor, limit=limit, params=params)))

    if now_ms is None:
        now_ms = attempt(lambda: fetch_server_time(exchange))
    last_open = None
    cursor = since_ms
    while True:
        params = {"until": until_ms - 1} if until_ms is not None else {}
        what = (f"fetching {symbol} {timeframe} klines"
                + (f" from {cursor}" if cursor is not None else ""))
        rows = fetch_page(what, cursor, params)
        kept = [row for row in rows
                if (last_open is None or row[0] > last_open)
                and row[0] + step_ms - 1 <= now_ms
                and (until_ms is None or row[0] < until_ms)
                and (since_ms is None or row[0] >= since_ms)]
        forming_seen = any(row[0] + step_ms - 1 > now_ms for row in rows)
        if kept:
            array = np.asarray(kept, dtype=np.float64)
            last_open = int(kept[-1][0])
            yield Bars(step_ms, array[:, 0].astype(np.int64), array[:, 1], array[:, 2], array[:, 3],
                       array[:, 4], array[:, 5])
        if since_ms is None or not rows or len(rows) < limit or forming_seen:
            return
        next_cursor = int(rows[-1][0]) + step_ms
        if (until_ms is not None and next_cursor >= until_ms) or next_cursor > now_ms \
                or (cursor is not None and next_cursor <= cursor):
            return
        cursor = next_cursor


def fetch_closed_bars(exchange, symbol: str, timeframe: str, since_ms: int | None = None,
                      until_ms: int | None = None, limit: int = PAGE_LIMIT,
                      now_ms: int | None = None, *, attempts: int = 1) -> Bars:
    """All closed bars of ``symbol`` (Binance id) in ``[since_ms, until_ms)`` as one ``Bars``.

    Pages through klines ``limit`` rows per call (max 1000) from ``since_ms``; see
    ``iter_closed_pages``. Errors are this module's classes; with the default ``attempts=1``
    nothing is retried (wrap the call in ``retry_transient`` or pass ``attempts``).
    """
    pages = list(iter_closed_pages(exchange, symbol, timeframe, since_ms, until_ms, limit, now_ms,
                                   attempts=attempts))
    step_ms = timeframe_ms(timeframe)
    if not pages:
        empty = np.empty(0)
        return Bars(step_ms, np.empty(0, np.int64), empty, empty, empty, empty, empty)
    return Bars(step_ms, *(np.concatenate([getattr(p, name) for p in pages])
                           for name in ("open_time_ms", "open", "high", "low", "close", "volume")))
