"""Load and validate ``config.yaml`` into frozen dataclasses.

``config.yaml`` at the repository root holds every key with its default; the section dataclasses
below are its schema (type, default, one-sentence description with the unit, checks), and the
README's configuration table is checked against their descriptions by a test. An omitted key
takes its default; an omitted (or empty) section takes all defaults.

Validation runs in passes; the first problem stops the load with a ``ConfigError`` whose message
is one line, ``<file>: <dotted.key>: <problem>`` (file-level problems have no key):

1. **Read** (``core.config_engine.read_yaml``): the file must exist and be UTF-8, valid YAML
   (the message gives the line and column) without duplicate keys, a mapping of sections.
2. **Secrets**: any key whose name contains ``key`` or ``secret`` is refused, never echoed; API
   keys come from environment variables only.
3. **Retired keys** (``RETIRED``): a key that was removed says where it went or why.
4. **Structure, types and ranges**, in schema order: unknown sections and keys (with ``did you
   mean``), wrong types, per-field ranges and allowed values.
5. **Cross-field checks** (``_validate_*``).

``AppConfig.as_dict()`` gives the effective values as a plain JSON-safe dict; it round-trips
through ``config_from_dict``. ``apply_overrides`` returns a re-validated copy with some dotted
keys replaced (runners, benchmarks and tests).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.config_engine import (
    Fail,
    build,
    error,
    fraction,
    in_range,
    leaf_rows,
    num,
    one_of,
    plain,
    prefixed,
    read_yaml,
    reject_secrets,
    show,
    spec,
)
from core.exchange_rules import SYMBOL_PATTERN, quote_problem
from core.timeframes import BINANCE_INTERVALS, timeframe_ms

__all__ = ["AppConfig", "DEFAULT_CONFIG_PATH", "RETIRED", "apply_overrides", "config_from_dict",
           "default_config_path", "load_config", "reference_rows", "reference_table"]

DEFAULT_CONFIG_PATH = Path(__file__).resolve().parent.parent / "config.yaml"


# ------------------------------------------------------------------------------ domain checks

def _interval(v: str) -> str | None:
    if v in BINANCE_INTERVALS:
        return None
    return (f"unknown timeframe {show(v)}; expected a Binance interval: "
            f"{', '.join(BINANCE_INTERVALS)}")


def _symbol(sym: str) -> str | None:
    """What is wrong with a symbol as written in the config, or None."""
    if SYMBOL_PATTERN.fullmatch(sym):
        return quote_problem(sym)
    fixed = re.sub(r"[/\-_: ]", "", sym.strip()).upper()
    if sym != sym.upper() and SYMBOL_PATTERN.fullmatch(fixed):
        return ("must be upper case, e.g. BTCUSDT"
                + ("" if fixed == "BTCUSDT" else f"; write {fixed}"))
    if SYMBOL_PATTERN.fullmatch(fixed):
        return f"must be the Binance symbol without separators, e.g. BTCUSDT (write {fixed})"
    return "must be 2 to 20 upper-case letters or digits, e.g. BTCUSDT"


def _symbol_name(sym: str) -> str | None:
    problem = _symbol(sym)
    return f"{show(sym)} {problem}" if problem else None


def _symbols(v: tuple[str, ...]) -> str | None:
    if not v:
        return "must list at least one symbol, e.g. [BTCUSDT]"
    for i, sym in enumerate(v):
        problem = _symbol(sym)
        if problem:
            return f"entry {i} {show(sym)} {problem}"
    duplicates = sorted({s for s in v if v.count(s) > 1}, key=v.index)
    return f"{duplicates[0]} is listed twice" if duplicates else None


_SQLITE_EXAMPLE = "sqlite:///state/paper_trading.db"


def _sqlite_url(v: str) -> str | None:
    if not v.startswith("sqlite://"):
        return (f"must start with sqlite:// (only SQLite is supported), e.g. {_SQLITE_EXAMPLE}; "
                f"got {show(v)}")
    if v.startswith("sqlite:///") and not v[len("sqlite:///"):].strip():
        return f"{show(v)} names no database file; write e.g. {_SQLITE_EXAMPLE}"
    return None


def _non_empty(v: str) -> str | None:
    return "must not be empty" if not v.strip() else None


# environment variable names: upper case, digits and underscores (both checks below)
_ENV_NAME_RE = re.compile(r"^[A-Z_][A-Z0-9_]*$")
_HOST_NAME_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$")


def _env_name(v: str) -> str | None:
    if _ENV_NAME_RE.match(v):
        return None
    return f"must be the name of an environment variable, e.g. SMC_STATUS_TOKEN; got {show(v)}"


def _host_names(v: tuple[str, ...]) -> str | None:
    for i, name in enumerate(v):
        if not _HOST_NAME_RE.match(name):
            return f"entry {i} {show(name)} is not a host name (no scheme, port or path)"
    return None


_POSITIVE = in_range(0, lo_open=True)
_NOT_NEGATIVE = in_range(0)


# ----------------------------------------------------------------------------------- sections

@dataclass(frozen=True)
class AppSection:
    mode: str = spec("paper", "Trading mode: paper (simulated money) or real (only through "
                     "the go-live gate; no real-money broker exists yet, so it stops there).",
                     one_of("paper", "real"))
    log_level: str = spec("INFO", "Logging threshold: DEBUG, INFO, WARNING or ERROR.",
                          one_of("DEBUG", "INFO", "WARNING", "ERROR"))


@dataclass(frozen=True)
class PaperTradingSection:
    initial_balance: float = spec(10000.0, "Cash the paper account and every backtest start "
                                  "with, in USDT.", _POSITIVE)
    max_positions: int = spec(3, "Most positions plus pending entries open at once across all "
                              "symbols (a count).", in_range(1))


@dataclass(frozen=True)
class SymbolRulesOverride:
    tick_size: float | None = spec(None, "Price step (PRICE_FILTER tickSize), in USDT.", _POSITIVE)
    lot_step: float | None = spec(None, "Quantity step (LOT_SIZE stepSize), in the base asset.",
                                  _POSITIVE)
    min_qty: float | None = spec(None, "Smallest order quantity (LOT_SIZE minQty), in the base "
                                 "asset.", _NOT_NEGATIVE)
    min_notional: float | None = spec(None, "Smallest order value, price x quantity (NOTIONAL "
                                      "minNotional), in USDT.", _NOT_NEGATIVE)


@dataclass(frozen=True)
class BinanceSection:
    symbols: tuple[str, ...] = spec(("BTCUSDT",), "Binance spot symbols to trade, USDT pairs "
                                    "only, e.g. [BTCUSDT, ETHUSDT].", _symbols)
    ws_url: str = spec("wss://stream.binance.com:9443", "Base URL of the Binance WebSocket "
                       "market streams.", prefixed("ws://", "wss://"))
    stale_after_seconds: float = spec(90.0, "Seconds without data after which a live feed is "
                                      "DELAYED and no new entries are made.", in_range(5, 3600))
    rest_url: str = spec("https://api.binance.com", "Base URL of the Binance REST API (klines, "
                         "exchangeInfo, server time).", prefixed("http://", "https://"))
    rules: Mapping[str, SymbolRulesOverride] = spec(
        {}, "Per-symbol overrides of the exchange's order rules; a field not set comes from "
        "exchangeInfo (live) or data/exchange_rules.json (backtest).",
        names=_symbol_name, name_label="SYMBOL")


@dataclass(frozen=True)
class ExchangesSection:
    binance: BinanceSection = field(default_factory=BinanceSection)


@dataclass(frozen=True)
class RiskManagerSection:
    max_position_size: float = spec(1000.0, "Largest notional of one position, in USDT.",
                                    _POSITIVE)
    max_daily_loss: float = spec(500.0, "Realized plus unrealized loss of one UTC day, in USDT, "
                                 "at which new entries stop until the next day.", _POSITIVE)
    stop_loss_percent: float = spec(2.0, "Widest stop allowed, in % of the entry price; setups "
                                    "with a wider stop are skipped.", in_range(0, 50, lo_open=True))
    take_profit_ratio: float = spec(3.0, "Take-profit distance as a multiple of the stop "
                                    "distance (a ratio).", _POSITIVE)
    risk_per_trade_percent: float = spec(2.0, "Largest loss at the stop, fees and slippage "
                                         "included, in % of equity.",
                                         in_range(0, 10, lo_open=True))
    fee_percent: float = spec(0.1, "Trading fee per side, in % of the notional (Binance spot "
                              "taker: 0.1).", in_range(0, 5, hi_open=True))
    slippage_percent: float = spec(0.02, "Adverse price move on market and stop fills, in % of "
                                   "the price.", in_range(0, 5, hi_open=True))


@dataclass(frozen=True)
class DecisionEngineSection:
    mode: str = spec("heuristic", "How setups are scored: heuristic (the only engine so far).",
                     one_of("heuristic", hints={"ml": "the ml engine does not exist yet; use "
                                                      "heuristic (the only engine so far)"}))
    confidence_threshold: float = spec(0.70, "Lowest confidence, a fraction from 0 to 1, at "
                                       "which a setup is traded.", fraction)


@dataclass(frozen=True)
class StrategySection:
    signal_timeframe: str = spec("1h", "Binance interval on which the SMC structure and setups "
                                 "are read.", _interval)
    execution_timeframe: str = spec("1m", "Binance interval of the live feed on which orders "
                                    "fill (a backtest uses its data file's interval).", _interval)
    allow_short: bool = spec(False, "Whether short setups are traded; on a spot account they "
                             "are only logged (false).")
    entry_valid_bars: int = spec(3, "Signal bars after which an unfilled limit entry expires "
                                 "(a count).", in_range(1))
    stop_buffer_percent: float = spec(0.1, "Distance of the stop beyond the order block's far "
                                      "edge, in % of that price.", in_range(0, 10, hi_open=True))
    gap_cooldown_bars: int = spec(3, "Signal bars without new entries after a missing or "
                                  "zero-volume execution bar (a count).", in_range(0))
    warmup_bars: int = spec(10000, "Closed execution bars fetched over REST at live start to "
                            "build the structure (a count; 10000 x 1m = 7 days).",
                            in_range(0, 100_000))


@dataclass(frozen=True)
class SmcSection:
    swing_lookback: int = spec(5, "Bars on each side of an internal swing high or low (fractal "
                               "N, so a swing is known N bars after it).", in_range(1, 50))
    htf_swing_lookback: int = spec(20, "Bars on each side of a swing of the longer swing "
                                   "structure used for trend alignment; more than "
                                   "swing_lookback.", in_range(None, 200))
    break_on: str = spec("close", "What must cross a swing level for a break of structure: "
                         "close or wick.", one_of("close", "wick"))
    order_block: str = spec("lowest_low", "Which candle is the order block: lowest_low "
                            "(LuxAlgo) or last_opposite (the last opposite candle before the "
                            "break).", one_of("lowest_low", "last_opposite"))
    fvg_fill: str = spec("full", "When a fair value gap counts as filled: full, half or touch.",
                         one_of("full", "half", "touch"))
    max_order_block_age: int = spec(100, "Signal bars after which an untapped order block is no "
                                    "longer traded (a count).", in_range(1))
    displacement_factor: float = spec(1.5, "Break candle body, as a multiple of the mean body of "
                                      "the previous 20 bars, that counts as displacement.",
                                      _POSITIVE)


def _credential_variables(v: tuple[str, ...]) -> str | None:
    if len(v) != 2:
        return f"must name exactly two environment variables (API key, then secret), got {len(v)}"
    for i, name in enumerate(v):
        if not _ENV_NAME_RE.match(name):
            return (f"entry {i} {show(name)} is not an environment variable name (upper-case "
                    f"letters, digits and _, e.g. BINANCE_API_KEY)")
    return "names the same variable twice" if v[0] == v[1] else None


@dataclass(frozen=True)
class GoLiveSection:
    min_sharpe: float = spec(1.5, "Lowest Sharpe ratio (daily returns, annualized over 365 "
                             "days) the go-live check accepts.")
    max_drawdown_percent: float = spec(10.0, "Largest maximum drawdown the go-live check "
                                       "accepts, in %.", in_range(0, 100, lo_open=True))
    min_win_rate: float = spec(0.55, "Lowest win rate, a fraction from 0 to 1, the go-live "
                               "check accepts.", fraction)
    min_trades: int = spec(30, "Fewest closed paper trades the go-live check accepts (a count).",
                           in_range(0))
    min_paper_days: int = spec(30, "Fewest days of paper trading the go-live check accepts.",
                               in_range(0))
    min_confidence: float = spec(0.95, "Lowest probability, a fraction from 0 to 1, that the "
                                 "paper record's true Sharpe is above 0 (probabilistic Sharpe "
                                 "ratio); also the confidence of the minimum track record "
                                 "length.", fraction)
    min_engine_uptime: float = spec(0.95, "Lowest share of the paper period, a fraction from 0 "
                                    "to 1, during which the engine was running.", fraction)
    min_feed_uptime: float = spec(0.95, "Lowest share of the engine's running time, a fraction "
                                  "from 0 to 1, during which every market feed was LIVE.",
                                  fraction)
    min_match_rate: float = spec(0.9, "Lowest share of trades, a fraction from 0 to 1, found "
                                 "both in the paper record and in the backtest replayed on its "
                                 "recorded bars (same symbol and entry bar).", fraction)
    max_slippage_bps: float = spec(10.0, "Largest mean adverse difference between paper and "
                                   "backtest fill prices of matched trades, for entries and "
                                   "for exits, in basis points.", _NOT_NEGATIVE)
    max_tracking_error_percent: float = spec(20.0, "Largest root-mean-square difference between "
                                             "paper and backtest P&L of matched trades, in % "
                                             "of their mean absolute backtest P&L.",
                                             _NOT_NEGATIVE)
    credential_variables: tuple[str, ...] = spec(
        ("BINANCE_API_KEY", "BINANCE_API_SECRET"), "Names of the environment variables that "
        "hold the Binance API key and secret for real mode, in that order (the values are read "
        "from the environment only, never from this file).", _credential_variables)


@dataclass(frozen=True)
class DatabaseSection:
    url: str = spec(_SQLITE_EXAMPLE, "SQLite file of the paper account, as sqlite:///PATH "
                    "(relative to the working directory).", _sqlite_url)


@dataclass(frozen=True)
class StatusPageSection:
    host: str = spec("127.0.0.1", "Address the status page listens on.", _non_empty)
    port: int = spec(8000, "TCP port of the status page.", in_range(1, 65535))
    token_env: str = spec("SMC_STATUS_TOKEN", "Name of the environment variable holding the "
                          "status page's bearer token (never the token itself); a host other "
                          "than a loopback address needs it set.", _env_name)
    allowed_hosts: tuple[str, ...] = spec((), "Host names the status page answers to besides "
                                          "its bind address and localhost, e.g. "
                                          "[trader.lan] (any other Host header is refused).",
                                          _host_names)
    refresh_seconds: int = spec(5, "Seconds between the status page's automatic refreshes.",
                                in_range(1, 3600))
    heartbeat_stale_seconds: float = spec(15.0, "Seconds without an engine heartbeat after "
                                          "which the status page reports the engine as not "
                                          "running.", in_range(3, 3600))


@dataclass(frozen=True)
class AppConfig:
    app: AppSection = field(default_factory=AppSection)
    paper_trading: PaperTradingSection = field(default_factory=PaperTradingSection)
    exchanges: ExchangesSection = field(default_factory=ExchangesSection)
    risk_manager: RiskManagerSection = field(default_factory=RiskManagerSection)
    decision_engine: DecisionEngineSection = field(default_factory=DecisionEngineSection)
    strategy: StrategySection = field(default_factory=StrategySection)
    smc: SmcSection = field(default_factory=SmcSection)
    go_live: GoLiveSection = field(default_factory=GoLiveSection)
    database: DatabaseSection = field(default_factory=DatabaseSection)
    status_page: StatusPageSection = field(default_factory=StatusPageSection)

    def as_dict(self) -> dict[str, Any]:
        """Every effective value as a plain nested dict (lists, not tuples); JSON-safe."""
        return plain(self)


# Keys that existed once: an old config gets one line saying what to do instead.
_RULES_HINT = ("each symbol's {what} now comes from the exchange (exchangeInfo live, "
               "data/exchange_rules.json in a backtest); remove this key, or override one symbol "
               "with exchanges.binance.rules.BTCUSDT.{key}")
RETIRED = {
    "exchanges.binance.enabled": "not a setting any more: Binance is the only exchange and is "
                                 "always used; remove this key",
    "risk_manager.lot_step": _RULES_HINT.format(what="lot step", key="lot_step"),
    "risk_manager.min_notional": _RULES_HINT.format(what="minimum notional", key="min_notional"),
}


def _refuse_retired(data: Any) -> None:
    for dotted, hint in RETIRED.items():
        node = data
        for part in dotted.split("."):
            if not isinstance(node, Mapping) or part not in node:
                break
            node = node[part]
        else:
            raise Fail(dotted, hint)


# ------------------------------------------------------------------------- cross-field checks

def _validate_timeframes(cfg: AppConfig) -> None:
    signal, execution = cfg.strategy.signal_timeframe, cfg.strategy.execution_timeframe
    if timeframe_ms(signal) % timeframe_ms(execution) != 0:
        raise Fail("strategy.signal_timeframe",
                   f"{signal} is not a whole multiple of strategy.execution_timeframe {execution}; "
                   f"choose a signal timeframe made of whole {execution} bars")


def _validate_swing_lookbacks(cfg: AppConfig) -> None:
    if cfg.smc.htf_swing_lookback <= cfg.smc.swing_lookback:
        raise Fail("smc.htf_swing_lookback",
                   f"must be > smc.swing_lookback ({cfg.smc.swing_lookback}), "
                   f"got {cfg.smc.htf_swing_lookback}")


def _validate_min_notional(cfg: AppConfig) -> None:
    cap = cfg.risk_manager.max_position_size
    for symbol, override in cfg.exchanges.binance.rules.items():
        if override.min_notional is not None and override.min_notional > cap:
            raise Fail(f"exchanges.binance.rules.{symbol}.min_notional",
                       f"{num(override.min_notional)} exceeds risk_manager.max_position_size "
                       f"{num(cap)}, so no order could ever be placed")


_CROSS_CHECKS = (_validate_timeframes, _validate_swing_lookbacks, _validate_min_notional)


# --------------------------------------------------------------------------------- public API

def config_from_dict(data: dict, source: str = "<dict>") -> AppConfig:
    """Validate ``data`` (the parsed YAML) and build an AppConfig; errors name ``source``."""
    try:
        reject_secrets(data)
        _refuse_retired(data)
        cfg = build(AppConfig, data)
        for check in _CROSS_CHECKS:
            check(cfg)
    except Fail as f:
        raise error(source, f.key or None, f.problem) from None
    return cfg


def default_config_path() -> Path:
    """``config.yaml`` in the current folder when there is one (a user's own settings, beside
    the state and logs the runners write there), else the project's own ``config.yaml``."""
    here = Path("config.yaml")
    return here if here.is_file() else DEFAULT_CONFIG_PATH


def load_config(path: str | os.PathLike | None = None) -> AppConfig:
    """Read, validate and return the config at ``path`` (default: ``default_config_path()``)."""
    file = default_config_path() if path is None else Path(path)
    data = read_yaml(file, str(file))
    return config_from_dict({} if data is None else data, source=str(file))  # None: only comments


def apply_overrides(config: AppConfig, dotted: Mapping[str, object]) -> AppConfig:
    """A re-validated copy of ``config`` with keys replaced, e.g.
    {"strategy.signal_timeframe": "1h"}."""
    data = config.as_dict()
    for key, value in dotted.items():
        parts = key.split(".")
        node: Any = data
        for depth, part in enumerate(parts[:-1]):
            if not isinstance(node, dict):
                raise error("<overrides>", ".".join(parts[:depth]), "is a value, not a section")
            node = node.setdefault(part, {})  # an unknown section is reported by validation
        if not isinstance(node, dict):
            raise error("<overrides>", ".".join(parts[:-1]), "is a value, not a section")
        node[parts[-1]] = list(value) if isinstance(value, tuple) else value
    return config_from_dict(data, source="<overrides>")


def _render(value: Any) -> str:
    if value is None:
        return "(from the exchange)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(map(str, value)) + "]"
    return "{}" if value == {} else num(value) if isinstance(value, float) else str(value)


def reference_rows() -> list[tuple[str, str, str]]:
    """``(key, default, meaning)`` of every config key, as the README's table shows them."""
    return [(key, _render(default), doc) for key, default, doc in leaf_rows(AppConfig)]


def reference_table() -> str:
    """The README's configuration table (Markdown)."""
    lines = ["| key | default | meaning |", "|---|---|---|"]
    lines += [f"| `{key}` | `{default}` | {doc} |" for key, default, doc in reference_rows()]
    return "\n".join(lines)
