"""``StrategySettings``: everything ``SmcStrategy`` uses, frozen, and nothing else.

Built once by the runner from the validated config (``StrategySettings.from_config``); the
strategy never sees the config itself, the database or the broker's extensions. ``rules`` holds
each symbol's order rules (``core.exchange_rules.SymbolRules``): the runner passes them in, from
the bundled snapshot in a backtest and from exchangeInfo live, with the config's overrides on
top. Two fields carry what an account already has when the strategy starts (both empty in a
backtest):

- ``open_positions``: ``OpenPosition``s to manage from the first bar (the strategy places their
  stop-loss and take-profit; they fill on any bar after the entry bar, as in a backtest);
- ``day_start_equity``: ``(utc_day, equity)``, the equity at the start of that UTC day, so the
  daily loss limit counts the whole day even when the engine started in the middle of it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from core.errors import UserInputError
from core.exchange_rules import SymbolRules
from core.records import Side
from strategies.risk import SizingLimits
from strategies.setups import SetupParams

__all__ = ["OpenPosition", "StrategySettings"]


@dataclass(frozen=True, slots=True)
class OpenPosition:
    """A position the account holds at start: entered at ``entry_ms`` (the fill bar's open)."""

    trade_id: int
    symbol: str
    side: Side
    size: float
    planned_entry: float
    entry_price: float
    entry_ms: int
    entry_fee: float
    stop_loss: float
    take_profit: float
    confidence: float
    risk: float
    signal_ms: int | None
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class StrategySettings:
    """The strategy's inputs (ratios as fractions, times in ms)."""

    symbols: tuple[str, ...]
    exec_bar_ms: int
    signal_bar_ms: int
    setup: SetupParams
    sizing: SizingLimits
    rules: Mapping[str, SymbolRules]
    confidence_threshold: float
    allow_short: bool
    max_positions: int
    entry_valid_bars: int
    gap_cooldown_bars: int
    max_daily_loss: float
    preload: bool = True          # detect setups once over the preloaded signal bars (backtest)
    close_at_end: bool = True     # value positions still open at the end (backtest report)
    open_positions: tuple[OpenPosition, ...] = field(default=())
    day_start_equity: tuple[int, float] | None = None

    @classmethod
    def from_config(cls, config, *, symbols, rules: Mapping[str, SymbolRules], exec_bar_ms: int,
                    signal_bar_ms: int, preload: bool = True, close_at_end: bool = True,
                    open_positions=(), day_start_equity=None) -> StrategySettings:
        risk, strategy = config.risk_manager, config.strategy
        symbols = tuple(symbols)
        for symbol in symbols:
            if symbol not in rules:
                raise ValueError(f"no order rules given for {symbol}")
            if rules[symbol].min_notional > risk.max_position_size:
                raise UserInputError(
                    f"{symbol}: its minimum notional {rules[symbol].min_notional:g} USDT exceeds "
                    f"risk_manager.max_position_size {risk.max_position_size:g}, so no order "
                    f"could ever be placed")
        return cls(
            symbols=symbols, exec_bar_ms=int(exec_bar_ms), signal_bar_ms=int(signal_bar_ms),
            setup=SetupParams.from_config(config),
            sizing=SizingLimits.from_config(risk),
            rules=MappingProxyType({symbol: rules[symbol] for symbol in symbols}),
            confidence_threshold=config.decision_engine.confidence_threshold,
            allow_short=strategy.allow_short,
            max_positions=config.paper_trading.max_positions,
            entry_valid_bars=strategy.entry_valid_bars,
            gap_cooldown_bars=strategy.gap_cooldown_bars,
            max_daily_loss=risk.max_daily_loss,
            preload=preload, close_at_end=close_at_end,
            open_positions=tuple(open_positions), day_start_equity=day_start_equity)

    @property
    def fee_rate(self) -> float:
        return self.sizing.fee_rate

    def setup_for(self, symbol: str) -> SetupParams:
        """The setup parameters of ``symbol``: its prices round to its tick."""
        return dataclasses.replace(self.setup, tick_size=self.rules[symbol].tick_size)
