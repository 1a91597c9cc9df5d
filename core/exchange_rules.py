"""What the exchange allows per symbol (price tick, quantity step, minimum quantity and notional),
the rounding to it, the quote currency, and the bundled snapshot used by backtests.

Pure (no network, no backtrader). Where the rules come from:

- live: the exchange's ``exchangeInfo`` at start (parsed by ``venue.filters``);
- backtest: ``data/exchange_rules.json``, a snapshot for common USDT pairs whose provenance is in
  the file and in ``data/README.md`` (refresh it with ``python -m runners.exchange_rules``);
- both: ``exchanges.binance.rules.<SYMBOL>`` in the config overrides single fields on top.

``resolve_rules`` merges them and refuses, in one line, a symbol whose rules are incomplete or
that is not quoted in USDT: the account, sizes, fees and P&L are all in USDT, so another quote
currency would be traded as if it were USDT.

Rounding (``floor_to_step``/``ceil_to_step``) is exact on the step's grid: a value already on it
(up to float noise) is kept, anything else goes to the next grid point in the asked direction.
A step of 0 means "not checked" (Binance's convention) and leaves the value as it is.
"""

from __future__ import annotations

import dataclasses
import decimal
import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import DataError, UserInputError

__all__ = ["FIELDS", "QUOTE_ASSET", "SNAPSHOT_PATH", "SYMBOL_PATTERN", "SymbolRules",
           "backtest_rules", "ceil_to_step", "floor_to_step", "load_snapshot", "quote_problem",
           "resolve_rules", "snapshot_document"]

QUOTE_ASSET = "USDT"
# a Binance spot symbol as written everywhere (config, file specs, research specs): BTCUSDT
SYMBOL_PATTERN = re.compile(r"[A-Z0-9]{2,20}")
SNAPSHOT_PATH = Path(__file__).resolve().parent.parent / "data" / "exchange_rules.json"
SNAPSHOT_NAME = "data/exchange_rules.json"

# field -> the Binance filter and its field it comes from
FIELDS = {
    "tick_size": "PRICE_FILTER tickSize",
    "lot_step": "LOT_SIZE stepSize",
    "min_qty": "LOT_SIZE minQty",
    "min_notional": "NOTIONAL (or MIN_NOTIONAL) minNotional",
}


def _decimals(step: float) -> int:
    exponent = decimal.Decimal(repr(step)).normalize().as_tuple().exponent
    return max(0, -int(exponent))


def _to_step(x: float, step: float, direction) -> float:
    if step <= 0:
        return x
    q = x / step
    n = round(q)
    if abs(q - n) > 1e-9 * max(1.0, abs(q)):  # not already on the grid
        n = direction(q)
    return round(n * step, _decimals(step))


def floor_to_step(x: float, step: float) -> float:
    """The largest multiple of ``step`` <= ``x`` (``x`` itself when it is one, despite float
    noise)."""
    return _to_step(x, step, math.floor)


def ceil_to_step(x: float, step: float) -> float:
    """The smallest multiple of ``step`` >= ``x``."""
    return _to_step(x, step, math.ceil)


@dataclass(frozen=True)
class SymbolRules:
    """One symbol's order rules: prices in USDT, quantities in the base asset."""

    tick_size: float      # price step (0: not checked)
    lot_step: float       # quantity step (0: not checked)
    min_qty: float        # smallest quantity
    min_notional: float   # smallest price x quantity, USDT

    def __post_init__(self):
        for name in FIELDS:
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")

    def price_down(self, price: float) -> float:
        return floor_to_step(price, self.tick_size)

    def price_up(self, price: float) -> float:
        return ceil_to_step(price, self.tick_size)

    def qty_down(self, qty: float) -> float:
        return floor_to_step(qty, self.lot_step)

    def as_dict(self) -> dict[str, float]:
        return dataclasses.asdict(self)


def quote_problem(symbol: str) -> str | None:
    """Why ``symbol`` cannot be traded here, to follow its name ("ETHBTC is not quoted..."), or
    None for a USDT pair."""
    if symbol.endswith(QUOTE_ASSET) and len(symbol) > len(QUOTE_ASSET):
        return None
    return (f"is not quoted in {QUOTE_ASSET}: only {QUOTE_ASSET} pairs are supported (the "
            f"account, sizes and P&L are in {QUOTE_ASSET})")


# ------------------------------------------------------------------------------------ snapshot

def load_snapshot(path: Path = SNAPSHOT_PATH) -> dict[str, SymbolRules]:
    """symbol -> rules of a snapshot file (see ``snapshot_document`` for its shape)."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
        return {symbol: SymbolRules(**{name: float(entry[name]) for name in FIELDS})
                for symbol, entry in doc["symbols"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise DataError(f"{path}: not a readable exchange rules snapshot "
                        f"({type(exc).__name__}: {exc})") from exc


def snapshot_document(rules: Mapping[str, SymbolRules], provenance: str,
                      sources: Mapping[str, str]) -> dict[str, Any]:
    """The JSON document of a snapshot: values as decimal strings, each symbol with its source."""
    def text(x: float) -> str:
        return format(decimal.Decimal(repr(x)).normalize(), "f")

    return {"provenance": provenance,
            "symbols": {symbol: {**{name: text(getattr(r, name)) for name in FIELDS},
                                 "source": sources.get(symbol, "")}
                        for symbol, r in sorted(rules.items())}}


# ------------------------------------------------------------------------------------- merging

def _given(override: Any) -> dict[str, float]:
    if override is None:
        return {}
    fields = dataclasses.asdict(override) if dataclasses.is_dataclass(override) else dict(override)
    return {k: float(v) for k, v in fields.items() if v is not None}


def resolve_rules(symbols: Iterable[str], known: Mapping[str, SymbolRules | Mapping[str, float]],
                  overrides: Mapping[str, Any], known_from: str) -> dict[str, SymbolRules]:
    """The rules of each of ``symbols``: ``known`` (whole rules, or the fields a source gave) with
    the config's ``overrides`` (``exchanges.binance.rules``) on top. ``known_from`` names the
    source in messages. A symbol not quoted in USDT, or missing a field, is refused in one line."""
    out = {}
    for symbol in symbols:
        problem = quote_problem(symbol)
        if problem:
            raise UserInputError(f"{symbol} {problem}")
        base = known.get(symbol)
        fields = (base.as_dict() if isinstance(base, SymbolRules) else dict(base or {}))
        fields.update(_given(overrides.get(symbol)))
        missing = [name for name in FIELDS if name not in fields]
        if missing:
            what = "has no entry for it" if base is None else \
                "lacks " + ", ".join(FIELDS[name] for name in missing)
            raise UserInputError(
                f"{symbol}: order rules unknown ({known_from} {what}); set "
                f"{', '.join(f'exchanges.binance.rules.{symbol}.{name}' for name in missing)} in "
                f"the config, or refresh {SNAPSHOT_NAME} with python -m runners.exchange_rules")
        out[symbol] = SymbolRules(**fields)
    return out


def backtest_rules(symbols: Iterable[str], overrides: Mapping[str, Any]) -> dict[str, SymbolRules]:
    """The rules a backtest uses: the bundled snapshot with the config's overrides on top."""
    return resolve_rules(symbols, load_snapshot(), overrides, SNAPSHOT_NAME)
