"""``RiskSizer``: the backtrader face of ``strategies.risk.size_position``.

backtrader asks a Sizer for a size with no notion of a stop, so the strategy first calls
``prepare(entry, stop, side)`` (which returns the full ``SizingDecision`` with any skip reason),
then places the order without a size; backtrader calls ``_getsizing`` and gets the prepared size
exactly once. A size is never reused for a second order.
"""

from __future__ import annotations

import backtrader as bt

from strategies.risk import SizingDecision, size_position


class RiskSizer(bt.Sizer):
    """Sizes entries by risk at the stop; see ``strategies.risk`` for the caps.

    Params:
        limits (SizingLimits): the account's risk rules (required).
    """

    params = (("limits", None),)

    def __init__(self):
        if self.p.limits is None:
            raise ValueError("RiskSizer needs limits=SizingLimits(...)")
        self._prepared: float | None = None

    def prepare(self, entry: float, stop: float, side: int,
                reserved_cash: float = 0.0) -> SizingDecision:
        """Size the next order from the broker's equity and its cash not yet promised to other
        pending entries (``reserved_cash``)."""
        free_cash = self.broker.getcash() - reserved_cash
        decision = size_position(self.broker.getvalue(), free_cash, entry, stop, side,
                                 self.p.limits)
        self._prepared = decision.size if decision else None
        return decision

    def _getsizing(self, comminfo, cash, data, isbuy):
        size, self._prepared = self._prepared, None
        return size or 0
