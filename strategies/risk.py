"""Position sizing: how much to buy so that a stop-out costs at most the allowed risk.

Pure math, no backtrader import; the strategy calls ``size_position`` with the account's
``SizingLimits`` and the symbol's ``SymbolRules`` (``core.exchange_rules``).

The size is the smallest of three caps, then rounded DOWN to the symbol's lot step:

1. risk:     loss at the stop (price move + entry fee + exit fee, stop filled with slippage)
             <= ``risk_fraction`` x equity;
2. notional: size x entry <= ``max_notional`` (``risk_manager.max_position_size``, USDT);
3. cash:     size x entry x (1 + fee) <= free cash (spot: no leverage);
then         a multiple of the symbol's ``lot_step`` (Binance LOT_SIZE stepSize).

If the rounded size is below the symbol's ``min_qty`` (LOT_SIZE minQty) or worth less than its
``min_notional`` (NOTIONAL filter) the trade is skipped with a reason. Entry and stop are the
prices the orders will carry, already on the symbol's tick (``strategies.setups``). The loss per
unit assumes the stop fills at ``stop x (1 -/+ slippage)``; a market gap through the stop can
still lose more, which no sizing rule can prevent.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from core.exchange_rules import SymbolRules

__all__ = ["LONG", "SHORT", "SizingDecision", "SizingLimits", "loss_per_unit",
           "size_position"]

LONG = 1
SHORT = -1


@dataclass(frozen=True)
class SizingLimits:
    """The account's rules sizing obeys, the same for every symbol (fractions, not percents)."""

    risk_fraction: float        # e.g. 0.02 for 2 % of equity at risk per trade
    max_notional: float         # USDT per position
    fee_rate: float             # per side, e.g. 0.001
    slippage_rate: float        # applied against us on the stop fill

    @classmethod
    def from_config(cls, risk_manager) -> SizingLimits:
        """Build from a ``RiskManagerSection`` (percent values in the config become fractions)."""
        return cls(
            risk_fraction=risk_manager.risk_per_trade_percent / 100.0,
            max_notional=float(risk_manager.max_position_size),
            fee_rate=risk_manager.fee_percent / 100.0,
            slippage_rate=risk_manager.slippage_percent / 100.0,
        )


@dataclass(frozen=True)
class SizingDecision:
    """The outcome of sizing one entry; ``size == 0`` means skip, and ``skip_reason`` says why."""

    size: float
    notional: float
    risk_amount: float                     # USDT lost if the stop fills (fees included)
    binding_cap: str                       # "risk", "notional", "cash"
    adjustments: tuple[str, ...] = field(default=())
    skip_reason: str | None = None

    def __bool__(self) -> bool:
        return self.size > 0


def loss_per_unit(entry: float, stop: float, side: int, limits: SizingLimits) -> float:
    """USDT lost per unit of base asset if a position entered at ``entry`` is stopped at
    ``stop``."""
    if side == LONG:
        stop_fill = stop * (1.0 - limits.slippage_rate)
        move = entry - stop_fill
    else:
        stop_fill = stop * (1.0 + limits.slippage_rate)
        move = stop_fill - entry
    return move + limits.fee_rate * (entry + stop_fill)


def size_position(
    equity: float, cash: float, entry: float, stop: float, side: int, limits: SizingLimits,
    rules: SymbolRules,
) -> SizingDecision:
    """Size one entry under every cap; see the module docstring for the rules."""
    if side not in (LONG, SHORT):
        raise ValueError(f"side must be +1 (long) or -1 (short), got {side!r}")
    if not (entry > 0 and stop > 0):
        raise ValueError(f"entry and stop must be positive, got entry={entry!r} stop={stop!r}")
    if (side == LONG and stop >= entry) or (side == SHORT and stop <= entry):
        return SizingDecision(0.0, 0.0, 0.0, "risk", skip_reason=(
            f"stop {stop:g} is on the wrong side of entry {entry:g} for a "
            f"{'long' if side == LONG else 'short'}"))

    per_unit = loss_per_unit(entry, stop, side, limits)
    caps = {
        "risk": equity * limits.risk_fraction / per_unit,
        "notional": limits.max_notional / entry,
        "cash": max(cash, 0.0) / (entry * (1.0 + limits.fee_rate)),
    }
    binding = min(caps, key=caps.get)
    adjustments = []
    if binding != "risk":
        adjustments.append(
            f"Position size adjusted from {caps['risk']:.8g} to {caps[binding]:.8g} "
            f"({'notional cap' if binding == 'notional' else 'free cash'} "
            f"{limits.max_notional if binding == 'notional' else cash:.2f} USDT)")
    size = rules.qty_down(caps[binding])
    notional = size * entry
    if size <= 0 or size < rules.min_qty:
        return SizingDecision(0.0, 0.0, 0.0, binding, tuple(adjustments), skip_reason=(
            f"size {size:.8g} is below the minimum quantity {rules.min_qty:g}"))
    if notional < rules.min_notional:
        return SizingDecision(0.0, 0.0, 0.0, binding, tuple(adjustments), skip_reason=(
            f"size {size:.8g} ({notional:.2f} USDT) is below the minimum notional "
            f"{rules.min_notional:g} USDT"))
    return SizingDecision(size, notional, size * per_unit, binding, tuple(adjustments))
