"""The REST side of the fake exchange (``shared/docs/binance-protocol.md`` §2).

``/api/v3/ping``, ``time``, ``exchangeInfo`` (all symbols, ``symbol=`` or ``symbols=[...]``; each
symbol with its own PRICE_FILTER, LOT_SIZE and NOTIONAL from the server's ``rules``, none for a
symbol without rules; the other fields and filters are BTCUSDT's [obs] of the protocol doc),
``klines`` and ``uiKlines`` (§2.3: default limit 500, values above 1000 are capped at 1000;
without ``startTime`` the newest rows up to ``endTime`` or the clock; with it the oldest from
there; ``startTime``/``endTime`` filter on open times, µs values accepted). Only published bars
are served, plus the bar the clock is inside of, as the newest row with its values so far (like
real Binance). Only the configured interval is served: any other interval, valid or not, is
answered 400 ``-1120``. ``startTime > endTime`` gives ``[]``.

``RestMixin`` is one base of ``fake_exchange.server.FakeBinance``; websockets' ``process_request``
hook calls ``_process_request`` for every plain HTTP GET on the shared port.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from urllib.parse import parse_qs, urlsplit

import numpy as np
from websockets.asyncio.server import ServerConnection
from websockets.http11 import Request, Response

from core.exchange_rules import SymbolRules
from fake_exchange.ws import dumps
from venue.filters import order_filters
from venue.wire import KLINE_INTERVALS, rest_kline_row

__all__ = ["RestMixin"]

_QUOTE_ASSETS = ("USDT", "FDUSD", "USDC", "TUSD", "BUSD", "BTC", "ETH", "BNB", "EUR", "TRY")


class _RestError(Exception):
    def __init__(self, status: int, code: int, msg: str):
        super().__init__(msg)
        self.status, self.code, self.msg = status, code, msg


class RestMixin:
    """The REST routes over the server's bars and clock (see the module docstring)."""

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        target = urlsplit(request.path)
        if target.path in ("/ws", "/stream") or target.path.startswith("/ws/"):
            return None  # WebSocket handshake (websockets answers 426 to a plain GET)
        if not target.path.startswith("/api/"):
            return _json_response(connection, 404,
                                  {"code": -1000, "msg": f"Unknown path {target.path}"})
        self.rest_requests.append(request.path)
        failure = self._next_rest_failure()
        if failure is not None:
            status, retry_after = failure
            body = ({"code": -1003, "msg": "Too many requests."} if status in (418, 429) else
                    {"code": -1001, "msg": "Internal error; unable to process your request. "
                                           "Please try again."})
            return _json_response(connection, status, body, {"Retry-After": str(retry_after)})
        query = {key: values[-1]
                 for key, values in parse_qs(target.query, keep_blank_values=True).items()}
        routes = {
            "/api/v3/ping": lambda q: {},
            "/api/v3/time": lambda q: {"serverTime": self._clock_ms},
            "/api/v3/exchangeInfo": self._exchange_info,
            "/api/v3/klines": self._klines,
            "/api/v3/uiKlines": self._klines,
        }
        route = routes.get(target.path)
        if route is None:
            return _json_response(connection, 404,
                                  {"code": -1000, "msg": f"Unknown path {target.path}"})
        try:
            return _json_response(connection, 200, route(query))
        except _RestError as exc:
            return _json_response(connection, exc.status, {"code": exc.code, "msg": exc.msg})

    def _symbol_param(self, query: dict) -> str:
        symbol = query.get("symbol", "")
        if not symbol:
            raise _RestError(400, -1102, "Mandatory parameter 'symbol' was not sent, "
                                         "was empty/null, or malformed.")
        if symbol not in self._bars:
            raise _RestError(400, -1121, "Invalid symbol.")
        return symbol

    def _exchange_info(self, query: dict) -> dict:
        if "symbol" in query:
            symbols = [self._symbol_param(query)]
        elif "symbols" in query:
            try:
                symbols = json.loads(query["symbols"])
            except ValueError:
                raise _RestError(400, -1100,
                                 "Illegal characters found in parameter 'symbols'.") from None
            if not isinstance(symbols, list) or not all(isinstance(s, str) for s in symbols):
                raise _RestError(400, -1100, "Illegal characters found in parameter 'symbols'.")
            for symbol in symbols:
                self._symbol_param({"symbol": symbol})
        else:
            symbols = list(self._bars)
        return {
            "timezone": "UTC",
            "serverTime": self._clock_ms,
            "rateLimits": [
                {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1,
                 "limit": 6000},
                {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
                {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 200000},
                {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5,
                 "limit": 300000},
            ],
            "exchangeFilters": [],
            "symbols": [_symbol_info(symbol, self.rules.get(symbol)) for symbol in symbols],
        }

    def _klines(self, query: dict) -> list:
        symbol = self._symbol_param(query)
        interval = query.get("interval", "")
        if not interval:
            raise _RestError(400, -1102, "Mandatory parameter 'interval' was not sent, "
                                         "was empty/null, or malformed.")
        if interval not in KLINE_INTERVALS or interval != self.interval:
            raise _RestError(400, -1120, "Invalid interval.")
        limit = min(_int_param(query, "limit", 500), 1000)
        if limit < 1:
            raise _RestError(400, -1100, "Illegal characters found in parameter 'limit'; "
                                         "legal range is '1..1000'.")
        start = _time_param(query, "startTime")
        end = _time_param(query, "endTime")
        if start is not None and end is not None and start > end:
            return []

        series, rows = self._bars[symbol], self._rows[symbol]
        index = self._published
        closed = len(series) if index >= len(self._times) else int(
            np.searchsorted(series.open_time_ms, self._times[index]))
        forming = None
        if index < len(self._times) and rows[index] >= 0 and self._times[index] <= self._clock_ms:
            forming = int(rows[index])
        # candidate rows [lo, hi) of the symbol's Bars, plus maybe the forming row ``closed``
        hi = closed + (1 if forming is not None else 0)
        lo = 0
        if start is not None:
            lo = int(np.searchsorted(series.open_time_ms[:hi], start, "left"))
        if end is not None:
            hi = int(np.searchsorted(series.open_time_ms[:hi], end, "right"))
        if start is not None:
            hi = min(hi, lo + limit)
        else:
            lo = max(lo, hi - limit)
        result = []
        for row in range(lo, hi):
            step = self._step if row == forming else self.updates_per_bar
            values = self._values(symbol, row, step)
            result.append(rest_kline_row(self.interval, int(series.open_time_ms[row]), *values))
        return result


def _int_param(query: dict, name: str, default: int) -> int:
    text = query.get(name)
    if text is None:
        return default
    if not re.fullmatch(r"-?\d{1,20}", text):
        raise _RestError(400, -1100, f"Illegal characters found in parameter '{name}'; legal range "
                                     f"is '^[0-9]{{1,20}}$'.")
    return int(text)


def _time_param(query: dict, name: str) -> int | None:
    if name not in query:
        return None
    value = _int_param(query, name, 0)
    return value // 1000 if value >= 10 ** 14 else value  # µs accepted (§2.3)


def _json_response(connection: ServerConnection, status: int, body,
                   headers: Mapping[str, str] = ()) -> Response:
    response = connection.respond(status, dumps(body))
    del response.headers["Content-Type"]
    response.headers["Content-Type"] = "application/json;charset=UTF-8"
    for key, value in dict(headers).items():
        response.headers[key] = value
    return response


_ORDER_FILTERS = ("PRICE_FILTER", "LOT_SIZE", "NOTIONAL")
# BTCUSDT's filters [obs] (protocol doc §2.4); the three order filters are each symbol's own.
_BTCUSDT_FILTERS = (
    {"filterType": "PRICE_FILTER", "minPrice": "0.01000000", "maxPrice": "1000000.00000000",
     "tickSize": "0.01000000"},
    {"filterType": "LOT_SIZE", "minQty": "0.00001000", "maxQty": "9000.00000000",
     "stepSize": "0.00001000"},
    {"filterType": "ICEBERG_PARTS", "limit": 25},
    {"filterType": "MARKET_LOT_SIZE", "minQty": "0.00000000", "maxQty": "97.92836420",
     "stepSize": "0.00000000"},
    {"filterType": "TRAILING_DELTA", "minTrailingAboveDelta": 10, "maxTrailingAboveDelta": 2000,
     "minTrailingBelowDelta": 10, "maxTrailingBelowDelta": 2000},
    {"filterType": "PERCENT_PRICE_BY_SIDE", "bidMultiplierUp": "5", "bidMultiplierDown": "0.2",
     "askMultiplierUp": "5", "askMultiplierDown": "0.2", "avgPriceMins": 5},
    {"filterType": "NOTIONAL", "minNotional": "5.00000000", "applyMinToMarket": True,
     "maxNotional": "9000000.00000000", "applyMaxToMarket": False, "avgPriceMins": 5},
    {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": 200},
    {"filterType": "MAX_NUM_ALGO_ORDERS", "maxNumAlgoOrders": 5},
)


def _symbol_info(symbol: str, rules: SymbolRules | None) -> dict:
    """One ``symbols[]`` entry of exchangeInfo: BTCUSDT's [obs]
    with ``rules`` as its order filters."""
    quote = next((q for q in _QUOTE_ASSETS if symbol.endswith(q) and len(symbol) > len(q)),
                 symbol[-4:])
    base = symbol[: len(symbol) - len(quote)]
    own = {f["filterType"]: f for f in order_filters(rules)} if rules is not None else {}
    filters = [own.get(f["filterType"], f) for f in _BTCUSDT_FILTERS
               if f["filterType"] not in _ORDER_FILTERS or f["filterType"] in own]
    return {
        "symbol": symbol, "status": "TRADING", "baseAsset": base, "baseAssetPrecision": 8,
        "quoteAsset": quote, "quotePrecision": 8, "quoteAssetPrecision": 8,
        "baseCommissionPrecision": 8, "quoteCommissionPrecision": 8,
        "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS", "STOP_LOSS_LIMIT",
                       "TAKE_PROFIT", "TAKE_PROFIT_LIMIT"],
        "icebergAllowed": True, "ocoAllowed": True, "otoAllowed": True, "opoAllowed": True,
        "quoteOrderQtyMarketAllowed": True, "allowTrailingStop": True, "cancelReplaceAllowed": True,
        "amendAllowed": True, "pegInstructionsAllowed": True, "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": True,
        "filters": filters,
        "permissions": [], "permissionSets": [["SPOT", "MARGIN"]],
        "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
        "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
    }
