"""Binance exchangeInfo filters <-> ``SymbolRules`` (``shared/docs/binance-protocol.md`` §2.4).

``rules_fields(entry)`` reads one ``symbols[]`` entry: PRICE_FILTER ``tickSize``, LOT_SIZE
``stepSize`` and ``minQty``, NOTIONAL ``minNotional`` (or the older MIN_NOTIONAL's), all decimal
strings. It returns only the fields the entry has, so ``core.exchange_rules.resolve_rules`` can
name what is missing (or take it from the config). ``order_filters(rules)`` is the inverse, for
the fake exchange. ``exchange_rules(exchange, symbols)`` reads them from a ccxt exchange's
markets (their raw ``info``), loading the markets once; ``live_rules`` adds the config's
overrides on top, for the live engine.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping
from typing import Any

from core.exchange_rules import QUOTE_ASSET, SymbolRules, resolve_rules
from venue.errors import BadSymbolError, WireFormatError

__all__ = ["exchange_rules", "live_rules", "order_filters", "rules_fields"]

log = logging.getLogger("smc.rest")

# (filterType, field in the filter, field of SymbolRules)
_SOURCES = (
    ("PRICE_FILTER", "tickSize", "tick_size"),
    ("LOT_SIZE", "stepSize", "lot_step"),
    ("LOT_SIZE", "minQty", "min_qty"),
    ("NOTIONAL", "minNotional", "min_notional"),
    ("MIN_NOTIONAL", "minNotional", "min_notional"),  # older symbols; NOTIONAL wins when both
)


def _decimal(text: Any, where: str) -> float:
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise WireFormatError(f"{where}: not a decimal string: {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise WireFormatError(f"{where}: must be a finite number >= 0, got {text!r}")
    return value


def rules_fields(entry: Mapping[str, Any]) -> dict[str, float]:
    """The ``SymbolRules`` fields an exchangeInfo ``symbols[]`` entry gives (maybe not all)."""
    symbol = entry.get("symbol", "?")
    by_type = {f.get("filterType"): f for f in entry.get("filters") or () if isinstance(f, Mapping)}
    fields: dict[str, float] = {}
    for filter_type, key, name in _SOURCES:
        f = by_type.get(filter_type)
        if f is not None and key in f and name not in fields:
            fields[name] = _decimal(f[key], f"{symbol} {filter_type} {key}")
    return fields


def _text(x: float) -> str:
    return f"{x:.8f}"


def order_filters(rules: SymbolRules) -> list[dict[str, Any]]:
    """PRICE_FILTER, LOT_SIZE and NOTIONAL entries as Binance writes them (8-decimal strings)."""
    return [
        {"filterType": "PRICE_FILTER", "minPrice": _text(rules.tick_size),
         "maxPrice": "1000000.00000000", "tickSize": _text(rules.tick_size)},
        {"filterType": "LOT_SIZE", "minQty": _text(rules.min_qty), "maxQty": "9000.00000000",
         "stepSize": _text(rules.lot_step)},
        {"filterType": "NOTIONAL", "minNotional": _text(rules.min_notional),
         "applyMinToMarket": True, "maxNotional": "9000000.00000000", "applyMaxToMarket": False,
         "avgPriceMins": 5},
    ]


def exchange_rules(exchange, symbols: Iterable[str]) -> dict[str, dict[str, float]]:
    """symbol -> the rules fields exchangeInfo gives for it, from ``exchange``'s spot markets.

    A symbol the exchange does not list raises ``BadSymbolError``; one quoted in another currency
    than USDT is refused the same way (the exchange's ``quoteAsset`` is the truth).
    """
    from venue.rest import ccxt_symbol, rest_base_url

    out = {}
    for symbol in symbols:
        name = ccxt_symbol(exchange, symbol)  # loads the markets once
        info = exchange.markets[name].get("info") or {}
        quote = info.get("quoteAsset")
        if quote != QUOTE_ASSET:
            raise BadSymbolError(f"{symbol} is quoted in {quote} on {rest_base_url(exchange)}, "
                                 f"not {QUOTE_ASSET}: only {QUOTE_ASSET} pairs are supported")
        try:
            out[symbol] = rules_fields(info)
        except WireFormatError as exc:
            raise BadSymbolError(f"exchangeInfo of {rest_base_url(exchange)}: {exc}") from exc
    return out


def live_rules(exchange, symbols: Iterable[str],
               overrides: Mapping[str, Any]) -> dict[str, SymbolRules]:
    """Each symbol's rules from exchangeInfo (retried like any REST call) with the config's
    ``exchanges.binance.rules`` on top; logs what it uses and every override that differs."""
    from core.retry import retry_transient
    from venue.rest import rest_base_url

    symbols = list(symbols)
    fetched = retry_transient(lambda: exchange_rules(exchange, symbols), what="exchangeInfo")
    source = f"exchangeInfo of {rest_base_url(exchange)}"
    rules = resolve_rules(symbols, fetched, overrides, source)
    for symbol, r in rules.items():
        log.info("%s order rules: tick %g, step %g, min qty %g, min notional %g USDT (%s)",
                 symbol, r.tick_size, r.lot_step, r.min_qty, r.min_notional, source)
        for name, value in fetched[symbol].items():
            if getattr(r, name) != value:
                log.warning("%s: exchanges.binance.rules.%s.%s %g overrides %g of %s", symbol,
                            symbol, name, getattr(r, name), value, source)
    return rules
