"""The Binance venue: wire formats (``wire``), REST market data through ccxt (``rest``), the kline
WebSocket stream (``stream``), the order rules of exchangeInfo (``filters``) and their errors
(``errors``).

Nothing outside this package speaks Binance's JSON or touches ccxt; callers get ``Bars``,
``KlineUpdate``s and the error classes of ``core.errors``.
"""

from venue.errors import BadRequestError, BadSymbolError, ExchangeError, WireFormatError
from venue.filters import exchange_rules, live_rules, order_filters, rules_fields
from venue.rest import (
                        ccxt_symbol,
                        fetch_closed_bars,
                        fetch_server_time,
                        iter_closed_pages,
                        make_exchange,
)
from venue.stream import Connected, Disconnected, KlineStream
from venue.wire import KlineUpdate, ServerShutdown, parse_stream_message

__all__ = [
    "BadRequestError", "BadSymbolError", "Connected", "Disconnected", "ExchangeError",
    "KlineStream", "KlineUpdate", "ServerShutdown", "WireFormatError", "ccxt_symbol",
    "exchange_rules", "fetch_closed_bars", "fetch_server_time", "iter_closed_pages", "live_rules",
    "make_exchange", "order_filters", "parse_stream_message", "rules_fields",
]
