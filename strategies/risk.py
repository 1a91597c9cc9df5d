"""Position sizing: how much to buy so that a stop-out costs at most the allowed risk.

Pure math, no backtrader import; `strategies.sizer.RiskSizer` and the strategy call it.

The size is the smallest of four caps, then rounded DOWN to the lot step:

1. risk:     loss at the stop (price move + entry fee + exit fee, stop filled with slippage)
             <= ``risk_fraction`` x equity;
2. notional: size x entry <= ``max_notional`` (``risk_manager.max_position_size``, USDT);
3. cash:     size x entry x (1 + fee) <= free cash (spot: no leverage);
4. lot:      a multiple of ``lot_step`` (Binance LOT_SIZE stepSize).

If the rounded size is worth less than ``min_notional`` (Binance NOTIONAL filter) the trade is
skipped with a reason. The loss per unit assumes the stop fills at ``stop x (1 -/+ slippage)``;
a market gap through the stop can still lose more, which no sizing rule can prevent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

LONG = 1
SHORT = -1


@dataclass(frozen=True)
class SizingLimits:
    """The account rules sizing obeys (fractions, not percents)."""

    risk_fraction: float        # e.g. 0.02 for 2 % of equity at risk per trade
    max_notional: float         # USDT per position
    fee_rate: float             # per side, e.g. 0.001
    slippage_rate: float        # applied against us on the stop fill
    lot_step: float             # e.g. 0.00001 BTC
    min_notional: float         # USDT

    @classmethod
    def from_config(cls, risk_manager) -> "SizingLimits":
        """Build from a ``RiskManagerSection`` (percent values in the config become fractions)."""
        return cls(
            risk_fraction=risk_manager.risk_per_trade_percent / 100.0,
            max_notional=float(risk_manager.max_position_size),
            fee_rate=risk_manager.fee_percent / 100.0,
            slippage_rate=risk_manager.slippage_percent / 100.0,
            lot_step=float(risk_manager.lot_step),
            min_notional=float(risk_manager.min_notional),
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
    """USDT lost per unit of base asset if a position entered at ``entry`` is stopped at ``stop``."""
    if side == LONG:
        stop_fill = stop * (1.0 - limits.slippage_rate)
        move = entry - stop_fill
    else:
        stop_fill = stop * (1.0 + limits.slippage_rate)
        move = stop_fill - entry
    return move + limits.fee_rate * (entry + stop_fill)


def floor_to_step(size: float, step: float) -> float:
    """Round ``size`` down to a whole number of ``step``s (tolerant of float noise like 2.9999999)."""
    steps = math.floor(size / step + 1e-9)
    decimals = max(0, -math.floor(math.log10(step))) if step < 1 else 0
    return round(steps * step, decimals + 2)


def size_position(
    equity: float, cash: float, entry: float, stop: float, side: int, limits: SizingLimits
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
    size = floor_to_step(caps[binding], limits.lot_step)
    notional = size * entry
    if notional < limits.min_notional or size <= 0:
        return SizingDecision(0.0, 0.0, 0.0, binding, tuple(adjustments), skip_reason=(
            f"size {size:.8g} ({notional:.2f} USDT) is below the minimum notional "
            f"{limits.min_notional:g} USDT"))
    return SizingDecision(size, notional, size * per_unit, binding, tuple(adjustments))
