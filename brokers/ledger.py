"""``FillLedger``: the backtest's event sink, keeping the account's fills in memory.

The strategy's events go nowhere in a backtest except here: each fill is kept as an
``analyzers.equity_curve.Fill`` (the symbol's position and the broker's cash right after it),
which is all the equity curve needs besides the bars. The live sink, ``brokers.journal``,
writes the same fills to the database, so both reports rebuild their curve the same way.
"""

from __future__ import annotations

from collections.abc import Callable

from analyzers.equity_curve import Fill
from core.records import OrderRole
from strategies.events import BracketSubmitted, FillEvent, PositionAdopted

__all__ = ["FillLedger"]


class FillLedger:
    """Collects ``fills``; ``cash_after(order_ref)`` is the broker's cash right after a fill."""

    def __init__(self, cash_after: Callable[[int], float]):
        self.cash_after = cash_after
        self.fills: list[Fill] = []
        self._position_of: dict[int, tuple[str, int]] = {}   # bracket id -> (symbol, sign)

    def emit(self, event) -> None:
        if isinstance(event, (BracketSubmitted, PositionAdopted)):
            self._position_of[event.bracket_id] = (event.symbol, event.side.sign)
        elif isinstance(event, FillEvent):
            symbol, sign = self._position_of[event.bracket_id]
            opening = event.role == OrderRole.ENTRY
            self.fills.append(Fill(event.time_ms, symbol, sign * event.size if opening else 0.0,
                                   event.price if opening else 0.0,
                                   self.cash_after(event.order_ref)))
