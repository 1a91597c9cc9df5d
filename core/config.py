"""Load and validate ``config.yaml`` into frozen dataclasses.

``config.yaml`` at the repository root is the schema: every key it holds is a typed field of one
section dataclass below, and its value is that field's default. An omitted key takes its default;
an omitted (or empty) section takes all defaults.

Validation runs in passes; the first problem found stops the load with a ``ConfigError`` whose
message is one line, ``<file>: <dotted.key>: <problem>`` (file-level problems have no key):

1. **Read**: the file must exist, be readable UTF-8 and be valid YAML (the error gives the line and
   column). Duplicate keys in one mapping are an error (plain YAML would keep the last one silently).
   The top level must be a mapping of sections.
2. **Secrets**: any key, at any depth, whose name contains ``key`` or ``secret`` is refused. API keys
   come from environment variables only; the message never echoes the value.
3. **Structure, types and ranges**, section by section in schema order: unknown sections and keys
   (with a ``did you mean`` suggestion from ``difflib``), a section that is not a mapping, wrong types
   (a bool is not a number; an int is accepted where a float is expected; a string is never coerced
   to a number) and per-field ranges or allowed values.
4. **Cross-field checks** (``_validate_*`` functions): the signal timeframe is a whole multiple of the
   execution timeframe, the HTF swing lookback is longer than the internal one, and one position may
   reach the exchange's minimum notional.

``AppConfig.as_dict()`` gives the effective values as a plain JSON-safe dict (for reports and for
logging the settings used); it round-trips through ``config_from_dict``. ``apply_overrides`` returns a
re-validated copy with some dotted keys replaced (for benchmarks and tests).
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import re
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from core.errors import ConfigError
from core.timeframes import BINANCE_INTERVALS, timeframe_ms

__all__ = [
    "AppConfig",
    "AppSection",
    "BinanceSection",
    "DatabaseSection",
    "DecisionEngineSection",
    "DEFAULT_CONFIG_PATH",
    "ExchangesSection",
    "GoLiveSection",
    "PaperTradingSection",
    "RiskManagerSection",
    "SmcSection",
    "StatusPageSection",
    "StrategySection",
    "apply_overrides",
    "config_from_dict",
    "load_config",
]

DEFAULT_CONFIG_PATH = Path(__file__).resolve().parent.parent / "config.yaml"

# A check takes the raw value (already of the right type) and returns a problem, or None if fine.
Check = Callable[[Any], "str | None"]


# --------------------------------------------------------------------------------------------
# Checks
# --------------------------------------------------------------------------------------------

def _show(value: Any, limit: int = 60) -> str:
    """A one-line, bounded rendering of a user value for an error message."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    else:
        text = repr(value)
    text = text.replace("\n", " ").replace("\r", " ")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _num(x: float) -> str:
    return str(int(x)) if isinstance(x, float) and x.is_integer() else str(x)


def _range(lo: float | None = None, hi: float | None = None, *,
           lo_open: bool = False, hi_open: bool = False) -> Check:
    """Bounds check; ``lo_open``/``hi_open`` exclude the bound itself."""
    parts = []
    if lo is not None:
        parts.append(f"{'>' if lo_open else '>='} {_num(lo)}")
    if hi is not None:
        parts.append(f"{'<' if hi_open else '<='} {_num(hi)}")
    rule = "must be " + " and ".join(parts)

    def check(v: Any) -> str | None:
        below = lo is not None and (v <= lo if lo_open else v < lo)
        above = hi is not None and (v >= hi if hi_open else v > hi)
        return f"{rule}, got {_show(v)}" if below or above else None

    return check


def _fraction(v: Any) -> str | None:
    if 0 <= v <= 1:
        return None
    hint = f" (a fraction: write {_num(v / 100)} for {_num(v)}%)" if 1 < v <= 100 else ""
    return f"must be >= 0 and <= 1{hint}, got {_show(v)}"


def _one_of(*choices: str, hints: Mapping[str, str] | None = None) -> Check:
    def check(v: Any) -> str | None:
        if v in choices:
            return None
        if hints and v in hints:
            return hints[v]
        return f"unknown value {_show(v)}; expected one of {', '.join(choices)}"

    return check


def _prefixed(*prefixes: str) -> Check:
    def check(v: Any) -> str | None:
        if any(v.startswith(p) and len(v) > len(p) for p in prefixes):
            return None
        return f"must start with {' or '.join(prefixes)} followed by a host, got {_show(v)}"

    return check


def _non_empty(v: str) -> str | None:
    return "must not be empty" if not v.strip() else None


def _interval(v: str) -> str | None:
    if v in BINANCE_INTERVALS:
        return None
    return f"unknown timeframe {_show(v)}; expected a Binance interval: {', '.join(BINANCE_INTERVALS)}"


_SYMBOL_RE = re.compile(r"^[A-Z0-9]{2,20}$")


def _symbols(v: tuple[str, ...]) -> str | None:
    if not v:
        return "must list at least one symbol, e.g. [BTCUSDT]"
    for i, sym in enumerate(v):
        if _SYMBOL_RE.match(sym):
            continue
        where = f"entry {i} {_show(sym)}"
        fixed = re.sub(r"[/\-_: ]", "", sym.strip()).upper()
        if sym != sym.upper() and _SYMBOL_RE.match(fixed):
            write = "" if fixed == "BTCUSDT" else f"; write {fixed}"
            return f"{where} must be upper case, e.g. BTCUSDT{write}"
        if _SYMBOL_RE.match(fixed):
            return f"{where} must be the Binance symbol without separators, e.g. BTCUSDT (write {fixed})"
        return f"{where} must be 2 to 20 upper-case letters or digits, e.g. BTCUSDT"
    seen: set[str] = set()
    for sym in v:
        if sym in seen:
            return f"{sym} is listed twice"
        seen.add(sym)
    return None


_SQLITE_EXAMPLE = "sqlite:///state/paper_trading.db"


def _sqlite_url(v: str) -> str | None:
    if not v.startswith("sqlite://"):
        return f"must start with sqlite:// (only SQLite is supported), e.g. {_SQLITE_EXAMPLE}; got {_show(v)}"
    if v.startswith("sqlite:///") and not v[len("sqlite:///"):].strip():
        return f"{_show(v)} names no database file; write e.g. {_SQLITE_EXAMPLE}"
    return None


def _spec(default: Any, *checks: Check) -> Any:
    """A dataclass field whose default is the config.yaml value and whose checks run at load."""
    return field(default=default, metadata={"checks": checks})


# --------------------------------------------------------------------------------------------
# Sections (defaults = the values shipped in config.yaml; units in its comments)
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class AppSection:
    mode: str = _spec("paper", _one_of("paper", "real"))
    log_level: str = _spec("INFO", _one_of("DEBUG", "INFO", "WARNING", "ERROR"))


@dataclass(frozen=True)
class PaperTradingSection:
    initial_balance: float = _spec(10000.0, _range(0, lo_open=True))  # USDT
    max_positions: int = _spec(3, _range(1))


@dataclass(frozen=True)
class BinanceSection:
    enabled: bool = _spec(True)
    symbols: tuple[str, ...] = _spec(("BTCUSDT",), _symbols)
    ws_url: str = _spec("wss://stream.binance.com:9443", _prefixed("ws://", "wss://"))
    stale_after_seconds: float = _spec(90.0, _range(5, 3600))
    rest_url: str = _spec("https://api.binance.com", _prefixed("http://", "https://"))


@dataclass(frozen=True)
class ExchangesSection:
    binance: BinanceSection = field(default_factory=BinanceSection)


@dataclass(frozen=True)
class RiskManagerSection:
    max_position_size: float = _spec(1000.0, _range(0, lo_open=True))  # USDT notional per position
    max_daily_loss: float = _spec(500.0, _range(0, lo_open=True))  # USDT per UTC day
    stop_loss_percent: float = _spec(2.0, _range(0, 50, lo_open=True))
    take_profit_ratio: float = _spec(3.0, _range(0, lo_open=True))
    risk_per_trade_percent: float = _spec(2.0, _range(0, 10, lo_open=True))
    fee_percent: float = _spec(0.1, _range(0, 5, hi_open=True))  # per side
    slippage_percent: float = _spec(0.02, _range(0, 5, hi_open=True))
    lot_step: float = _spec(0.00001, _range(0, lo_open=True))
    min_notional: float = _spec(5.0, _range(0))  # USDT


@dataclass(frozen=True)
class DecisionEngineSection:
    mode: str = _spec("heuristic", _one_of("heuristic", hints={
        "ml": "the ml engine does not exist yet; use heuristic (the only engine so far)",
    }))
    confidence_threshold: float = _spec(0.70, _fraction)


@dataclass(frozen=True)
class StrategySection:
    signal_timeframe: str = _spec("1h", _interval)
    execution_timeframe: str = _spec("1m", _interval)
    allow_short: bool = _spec(False)
    entry_valid_bars: int = _spec(3, _range(1))
    stop_buffer_percent: float = _spec(0.1, _range(0, 10, hi_open=True))
    gap_cooldown_bars: int = _spec(3, _range(0))
    warmup_bars: int = _spec(10000, _range(0, 100_000))


@dataclass(frozen=True)
class SmcSection:
    swing_lookback: int = _spec(5, _range(1, 50))
    htf_swing_lookback: int = _spec(20, _range(None, 200))  # and > swing_lookback (cross-field)
    break_on: str = _spec("close", _one_of("close", "wick"))
    order_block: str = _spec("lowest_low", _one_of("lowest_low", "last_opposite"))
    fvg_fill: str = _spec("full", _one_of("full", "half", "touch"))
    max_order_block_age: int = _spec(100, _range(1))
    displacement_factor: float = _spec(1.5, _range(0, lo_open=True))


@dataclass(frozen=True)
class GoLiveSection:
    min_sharpe: float = _spec(1.5)
    max_drawdown_percent: float = _spec(10.0, _range(0, 100, lo_open=True))
    min_win_rate: float = _spec(0.55, _fraction)
    min_trades: int = _spec(30, _range(0))
    min_paper_days: int = _spec(14, _range(0))


@dataclass(frozen=True)
class DatabaseSection:
    url: str = _spec(_SQLITE_EXAMPLE, _sqlite_url)


@dataclass(frozen=True)
class StatusPageSection:
    host: str = _spec("127.0.0.1", _non_empty)
    port: int = _spec(8000, _range(1, 65535))


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
        return _plain(self)


def _plain(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj):
        return {f.name: _plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, tuple):
        return [_plain(x) for x in obj]
    return obj


# --------------------------------------------------------------------------------------------
# Pass 1: reading
# --------------------------------------------------------------------------------------------

class _Fail(Exception):
    """Internal: a problem at a dotted key; turned into ConfigError with the source name."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(problem)
        self.key = key
        self.problem = problem


def _error(source: str, key: str | None, problem: str) -> ConfigError:
    text = f"{source}: {key}: {problem}" if key else f"{source}: {problem}"
    return ConfigError(" ".join(text.split("\n")).replace("\r", " "))


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys in a mapping."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    loader.flatten_mapping(node)
    seen: dict[Any, Any] = {}
    for key_node, _value_node in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            duplicate = key in seen
        except TypeError:  # unhashable key; let the base constructor report it
            break
        if duplicate:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {_show(key)} (first at line {seen[key].line + 1})",
                key_node.start_mark,
            )
        seen[key] = key_node.start_mark
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _read_yaml(path: Path, source: str) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise _error(source, None, "config file not found") from None
    except IsADirectoryError:
        raise _error(source, None, "is a directory, not a config file") from None
    except PermissionError:
        raise _error(source, None, "config file is not readable (permission denied)") from None
    except UnicodeDecodeError as e:
        raise _error(source, None, f"config file is not UTF-8 text (byte {e.start})") from None
    except OSError as e:
        raise _error(source, None, f"cannot read config file: {e.strerror or e}") from None
    try:
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as e:
        # Built from the parts, not str(e): that would quote the offending source line, which may
        # hold a secret.
        mark = e.problem_mark or e.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = e.problem or e.context or "syntax error"
        if e.problem and e.context and e.context_mark:
            problem += f" ({e.context} at line {e.context_mark.line + 1})"
        if "\\t" in problem:
            problem += "; indent with spaces, not tabs"
        raise _error(source, None, f"{where}invalid YAML: {problem}") from None
    except yaml.YAMLError as e:
        raise _error(source, None, f"invalid YAML: {type(e).__name__}") from None


# --------------------------------------------------------------------------------------------
# Pass 2: secrets
# --------------------------------------------------------------------------------------------

_SECRET_WORDS = ("key", "secret")


def _reject_secrets(node: Any, prefix: str = "") -> None:
    if isinstance(node, Mapping):
        for k, v in node.items():
            dotted = f"{prefix}.{k}" if prefix else str(k)
            if isinstance(k, str) and any(w in k.lower() for w in _SECRET_WORDS):
                raise _Fail(dotted, "secrets do not belong in the config file; remove this key and "
                                    "provide the value through an environment variable instead")
            _reject_secrets(v, dotted)
    elif isinstance(node, (list, tuple)):
        for i, v in enumerate(node):
            _reject_secrets(v, f"{prefix}[{i}]")


# --------------------------------------------------------------------------------------------
# Pass 3: structure, types, ranges
# --------------------------------------------------------------------------------------------

_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, (list, tuple)):
        return "a list"
    return f"a {type(value).__name__}"


def _type_problem(expected: str, value: Any, hint: str = "") -> str:
    if value is None:
        problem = f"expected {expected}, got an empty value"
    else:
        problem = f"expected {expected}, got {_show(value)} ({_kind(value)})"
    return f"{problem}; {hint}" if hint else problem


def _coerce(key: str, tp: Any, value: Any) -> Any:
    """Return ``value`` as type ``tp`` or raise _Fail; never parses strings into numbers."""
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise _Fail(key, _type_problem("true or false", value))
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            raise _Fail(key, _type_problem("a whole number", value, f"write {int(value)}"))
        hint = "remove the quotes" if isinstance(value, str) and _looks_numeric(value) else ""
        raise _Fail(key, _type_problem("a whole number", value, hint))
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            try:
                number = float(value)
            except OverflowError:
                raise _Fail(key, f"number too large, got {_show(value)}") from None
            if not math.isfinite(number):
                raise _Fail(key, f"must be a finite number, got {_show(value)}")
            return number
        hint = "remove the quotes" if isinstance(value, str) and _looks_numeric(value) else ""
        raise _Fail(key, _type_problem("a number", value, hint))
    if tp is str:
        if isinstance(value, str):
            return value
        hint = ("YAML reads yes/no/on/off/true/false as booleans; quote the value"
                if isinstance(value, bool) else "")
        raise _Fail(key, _type_problem("a string", value, hint))
    if typing.get_origin(tp) is tuple:  # tuple[str, ...]
        if isinstance(value, str):
            raise _Fail(key, _type_problem("a list", value, f"write [{value}]"))
        if not isinstance(value, (list, tuple)):
            raise _Fail(key, _type_problem("a list", value))
        (item_tp, _ellipsis) = typing.get_args(tp)
        items = []
        for i, item in enumerate(value):
            try:
                items.append(_coerce(key, item_tp, item))
            except _Fail as f:
                raise _Fail(key, f"entry {i}: {f.problem}") from None
        return tuple(items)
    raise TypeError(f"unsupported field type {tp!r} for {key}")  # programming error


def _looks_numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _unknown_key(key: str, prefix: str, known: list[str], what: str) -> _Fail:
    dotted = f"{prefix}.{key}" if prefix else key
    close = difflib.get_close_matches(key, known, n=1)
    if close:
        return _Fail(dotted, f"unknown {what} (did you mean {close[0]}?)")
    return _Fail(dotted, f"unknown {what}; expected one of {', '.join(known)}")


def _build(cls: type, data: Any, prefix: str) -> Any:
    """Build dataclass ``cls`` from mapping ``data`` (None = all defaults), checking every key."""
    what = "section" if not prefix else "key"
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        if prefix:
            raise _Fail(prefix, _type_problem("a mapping of keys", data))
        raise _Fail("", f"the top level must be a mapping of sections, got {_kind(data)}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for raw_key in data:
        if not isinstance(raw_key, str) or raw_key not in fields:
            raise _unknown_key(str(raw_key), prefix, list(fields), what)
    hints = _hints(cls)
    values = {}
    for name, f in fields.items():
        if name not in data:
            continue
        dotted = f"{prefix}.{name}" if prefix else name
        tp = hints[name]
        raw = data[name]
        if dataclasses.is_dataclass(tp):
            values[name] = _build(tp, raw, dotted)
            continue
        value = _coerce(dotted, tp, raw)
        shown = raw if tp in (int, float) else value  # messages echo -5, not -5.0
        for check in f.metadata.get("checks", ()):
            problem = check(shown)
            if problem:
                raise _Fail(dotted, problem)
        values[name] = value
    return cls(**values)


# --------------------------------------------------------------------------------------------
# Pass 4: cross-field checks
# --------------------------------------------------------------------------------------------

def _validate_timeframes(cfg: AppConfig) -> None:
    signal, execution = cfg.strategy.signal_timeframe, cfg.strategy.execution_timeframe
    if timeframe_ms(signal) % timeframe_ms(execution) != 0:
        raise _Fail("strategy.signal_timeframe",
                    f"{signal} is not a whole multiple of strategy.execution_timeframe {execution}; "
                    f"choose a signal timeframe made of whole {execution} bars")


def _validate_swing_lookbacks(cfg: AppConfig) -> None:
    if cfg.smc.htf_swing_lookback <= cfg.smc.swing_lookback:
        raise _Fail("smc.htf_swing_lookback",
                    f"must be > smc.swing_lookback ({cfg.smc.swing_lookback}), "
                    f"got {cfg.smc.htf_swing_lookback}")


def _validate_min_notional(cfg: AppConfig) -> None:
    risk = cfg.risk_manager
    if risk.min_notional > risk.max_position_size:
        raise _Fail("risk_manager.min_notional",
                    f"{_num(risk.min_notional)} exceeds risk_manager.max_position_size "
                    f"{_num(risk.max_position_size)}, so no order could ever be placed")


_CROSS_CHECKS = (_validate_timeframes, _validate_swing_lookbacks, _validate_min_notional)


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------

def config_from_dict(data: dict, source: str = "<dict>") -> AppConfig:
    """Validate ``data`` (the parsed YAML) and build an AppConfig; errors name ``source``."""
    try:
        _reject_secrets(data)
        cfg = _build(AppConfig, data, "")
        for check in _CROSS_CHECKS:
            check(cfg)
    except _Fail as f:
        raise _error(source, f.key or None, f.problem) from None
    return cfg


def load_config(path: str | os.PathLike | None = None) -> AppConfig:
    """Read, validate and return the config at ``path`` (default: config.yaml at the repo root)."""
    file = DEFAULT_CONFIG_PATH if path is None else Path(path)
    source = str(file)
    data = _read_yaml(file, source)
    if data is None:  # an empty file (or only comments): every default
        data = {}
    return config_from_dict(data, source=source)


def apply_overrides(config: AppConfig, dotted: Mapping[str, object]) -> AppConfig:
    """A re-validated copy of ``config`` with keys replaced, e.g. {"strategy.signal_timeframe": "1h"}."""
    data = config.as_dict()
    for key, value in dotted.items():
        parts = key.split(".")
        node: Any = data
        for depth, part in enumerate(parts[:-1]):
            if not isinstance(node, dict):
                raise _error("<overrides>", ".".join(parts[:depth]), "is a value, not a section")
            node = node.setdefault(part, {})  # an unknown section is reported by validation
        if not isinstance(node, dict):
            raise _error("<overrides>", ".".join(parts[:-1]), "is a value, not a section")
        node[parts[-1]] = list(value) if isinstance(value, tuple) else value
    return config_from_dict(data, source="<overrides>")
