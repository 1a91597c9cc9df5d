"""Trading costs for backtrader's broker: Binance spot fees and slippage, set in one place.

Used by the backtest and (later) the paper broker, so both charge exactly the same.

- Fee: ``fee_percent`` of the traded notional on every fill (0.1 % = Binance spot taker).
  backtrader's ``CommInfoBase(commission=0.001)`` would mean 0.001 % (its percent mode divides by
  100 unless ``percabs=True``), so ``SpotCommission`` sets ``percabs=True`` and takes a fraction.
- Slippage: market and stop fills move ``slippage_percent`` against us (backtrader's
  ``slip_perc`` with ``slip_open=True``). A limit order fills at its limit price, or at a bar's
  open that is already better than the limit; that open is slipped too but never past the
  limit, so a limit never fills worse than its price.
- When a stop and a take-profit both lie inside one bar, the stop wins: the bracket's stop is
  submitted before its target and backtrader checks pending orders in submission order, then
  the OCO link cancels the target. This is the pessimistic assumption, on purpose.
"""

from __future__ import annotations

import backtrader as bt

__all__ = ["SpotCommission", "configure_costs"]


class SpotCommission(bt.CommInfoBase):
    """Percentage fee on notional, spot style (no leverage, no margin)."""

    params = (
        ("commission", 0.001),          # fraction of notional per side
        ("commtype", bt.CommInfoBase.COMM_PERC),
        ("percabs", True),              # 0.001 means 0.1 %, not 0.001 %
        ("stocklike", True),
    )


def configure_costs(broker: bt.brokers.BackBroker, fee_rate: float, slippage_rate: float) -> None:
    """Install the fee and slippage model on ``broker`` (rates as fractions, e.g. 0.001)."""
    broker.addcommissioninfo(SpotCommission(commission=fee_rate))
    if slippage_rate > 0:
        broker.set_slippage_perc(slippage_rate, slip_open=True, slip_limit=False,
                                 slip_match=True, slip_out=False)
