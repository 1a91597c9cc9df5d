"""backtrader's BackBroker, made safe for several feeds of different timeframes.

With a 1m execution feed and a 1h signal feed in one cerebro, a cycle can advance only the
signal feed (the hour's last minute is missing in the data). The stock broker then retries every
pending order against the execution feed's *unchanged* last bar, so an order placed after that
bar closed, or a bracket's stop activated on the bar its entry filled in, could fill on prices
that traded before it existed. ``BarBroker`` tries an order only on a bar of its own feed that is
newer than the bar it was created (or activated) on, and never twice on the same bar. On a
single feed it behaves exactly like ``BackBroker``.

An order placed with ``active_after_ms=T`` (an order ``info`` key, as backtrader passes extra
keyword arguments) is also not tried on bars opening at or before ``T``: the stop-loss and
take-profit of a position held from an earlier run may fill from the bar after its entry bar.
``cash_after(ref)`` is the cash right after that order filled (several fills can share one loop
turn), for the journal of a paper account.

Idle cycles are skipped: while no order is submitted, pending or waiting for activation, no
position is open and no cash is being added, ``BackBroker.next`` could only recompute the value
it already holds (cash plus zero), so ``next`` returns at once. Everything it would have set
(``_value``, ``_valuelever``, ``_leverage``, ...) already has that value from the last full
``next``, so ``getvalue()`` and ``getcash()`` answer exactly as the stock broker would.
The value adds up the positions in feed order (the order the feeds were added to cerebro),
whichever symbol filled first, so it is the same to the last bit in a backtest and live.
"""

from __future__ import annotations

import backtrader as bt

from core.times import date2num_ms

__all__ = ["BarBroker"]


class BarBroker(bt.brokers.BackBroker):
    """BackBroker that executes orders only against bars newer than the order."""

    def start(self):
        super().start()
        self._not_before: dict[int, float] = {}  # order ref -> bar datetime it must exceed
        self._last_tried: dict[int, float] = {}  # order ref -> bar datetime it was last tried on
        self._cash_after: dict[int, float] = {}  # order ref -> broker cash right after its fill
        self._positions_ordered = 0  # len(positions) when they were last put in feed order
        # False until a full next() has seen every position flat (and after any fill): a
        # position set up before the run (PaperBroker) is seen on the first turn.
        self._flat = False

    def next(self):
        if (self._flat and not self.pending and not self.submitted and not self._toactivate
                and not self._cash_addition and not self._userhist and not self._fundhist):
            return
        super().next()
        for order in self._toactivate:
            # Queued for activation because its bracket parent filled on the current bar: it
            # may trade from the next bar of its feed on, never on the fill bar itself.
            self._not_before.setdefault(order.ref, order.data.datetime[0])
        self._flat = not any(position.size for position in self.positions.values())

    def _get_value(self, datas=None, lever=False):
        if len(self.positions) != self._positions_ordered:
            self._order_positions()
        return super()._get_value(datas=datas, lever=lever)

    def _order_positions(self) -> None:
        """Keep ``positions`` in feed order. The value adds the positions up in this order, so it
        does not depend on which symbol happened to fill first."""
        datas = getattr(getattr(self, "cerebro", None), "datas", ())
        rank = {id(data): i for i, data in enumerate(datas)}
        items = sorted(self.positions.items(), key=lambda item: rank.get(id(item[0]), len(rank)))
        self.positions.clear()
        self.positions.update(items)
        self._positions_ordered = len(self.positions)

    def _execute(self, order, ago=None, price=None, cash=None, position=None, dtcoc=None):
        result = super()._execute(order, ago=ago, price=price, cash=cash, position=position,
                                  dtcoc=dtcoc)
        if ago is not None and order.executed.size:
            self._cash_after[order.ref] = self.cash
            self._flat = False
        return result

    def cash_after(self, order_ref: int) -> float:
        """The cash right after order ``order_ref`` filled (several fills can share one turn)."""
        return self._cash_after.get(order_ref, self.cash)

    def submit(self, order, check=True):
        after_ms = order.info.get("active_after_ms")
        if after_ms is not None:
            after_dt = float(date2num_ms([int(after_ms)])[0])
            self._not_before[order.ref] = max(order.created.dt, after_dt)
        return super().submit(order, check)

    def _bracketize(self, order, cancel=False):
        entry_filled = (not cancel and order.parent is None
                        and order.status == order.Completed)
        children = list(self._pchildren.get(order.ref, ())) if entry_filled else []
        super()._bracketize(order, cancel)
        for child in children:
            if child is not order and child.exectype == bt.Order.Stop and child.alive():
                self._try_stop_on_fill_bar(child)

    def _try_stop_on_fill_bar(self, stop) -> None:
        """Activate a bracket's stop now and try it on the bar its entry just filled in."""
        bar_dt = stop.data.datetime[0]
        self._toactivate.remove(stop)
        stop.activate()
        self._not_before[stop.ref] = bar_dt
        self._last_tried[stop.ref] = bar_dt
        # Out of the queue while it is tried (its slot held by None, restored before anything
        # else runs): a fill's OCO check cancels every queued member of the stop's group.
        slot = self.pending.index(stop)
        self.pending[slot] = None
        try:
            super()._try_exec(stop)
        finally:
            if stop.alive():
                self.pending[slot] = stop
            else:
                del self.pending[slot]
        if stop.status == stop.Completed:
            self._bracketize(stop)

    def _try_exec(self, order):
        # order.plen is useless here: backtrader resets it when the order is accepted, one bar
        # late; the creation datetime is exact.
        bar_dt = order.data.datetime[0]
        if bar_dt <= self._not_before.get(order.ref, order.created.dt):
            return
        if self._last_tried.get(order.ref) == bar_dt:
            return
        self._last_tried[order.ref] = bar_dt
        super()._try_exec(order)
        if not order.alive():
            self._not_before.pop(order.ref, None)
            self._last_tried.pop(order.ref, None)
