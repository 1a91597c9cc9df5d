"""``PaperBroker``: the backtest broker plus stop-loss / take-profit exits between bar closes.

Live, a 1m bar closes once a minute but Binance sends the forming kline about every 2 s. The
backtest fills bracket exits when a CLOSED bar's range crosses them; live, waiting for the close
would leave a crossed stop open for up to a minute. ``PaperBroker`` therefore also checks every
active bracket exit against the FORMING bar of its feed each time backtrader's loop turns
(``Cerebro`` calls ``broker.next()`` on every queue poll, bar or not).

Fill rule (the same prices the backtest gives for that bar, only earlier):

- The forming bar's running open/high/low (as sent by Binance so far) stand in for the bar's.
- Sell stop (long stop-loss): if the bar OPENED at or below the stop, fill at the open; otherwise,
  once the running low reaches the stop, fill at the stop. Both slipped by ``slippage_percent``
  against us. Buy stops mirrored. (A backtest caps that slippage at the bar's final low, which
  live cannot know yet: a live stop fill is never better than the backtest's.)
- Take-profit limits fill at their limit price once the running high (low) reaches it, or at the
  open if the bar opened beyond it.
- When one update shows both the stop and the target crossed, the stop wins (as in the backtest).
  When the target was crossed in an earlier update, the target wins: live knows the order of
  events inside the bar, a backtest does not.
- The fill is stamped with the forming bar's open time, exactly like a backtest fill in that bar.

Forming bars are only looked at on loop turns that brought no new closed bar for that feed, so
the strategy always sees a closed bar before anything that happened after it. Entries still
fill only on closed bars, as in the backtest.
"""

from __future__ import annotations

from dataclasses import dataclass

import backtrader as bt

from brokers.bar_broker import BarBroker
from core.times import date2num_ms, utc_datetime

__all__ = ["FormingBar", "PaperBroker"]


@dataclass(frozen=True)
class FormingBar:
    """The running values of the bar that is still open on a feed."""

    open_time_ms: int
    open: float
    high: float
    low: float
    close: float


class PaperBroker(BarBroker):
    """BarBroker that also fills bracket exits from forming bars; see the module docstring.

    Params:
        forming_bar (callable | None): ``forming_bar(data) -> FormingBar | None``, the bar being
            built on ``data``'s stream right now (None: nothing newer than the last closed bar).
        opening_positions (sequence): ``(data, size, price, entry_ms)`` of the positions the
            account already holds (negative size: short); they are in place when the run starts.
    """

    params = (("forming_bar", None), ("opening_positions", ()))

    def start(self):
        super().start()
        for data, size, price, entry_ms in self.p.opening_positions:
            self.positions[data].update(size, price, utc_datetime(entry_ms).replace(tzinfo=None))

    def next(self):
        bar_counts = {id(o.data): len(o.data) for o in self.pending if o is not None}
        super().next()
        if self.p.forming_bar is not None:
            self._check_forming_bars(bar_counts)

    def _forming_fill_price(self, order, bar: FormingBar) -> float | None:
        """The fill price of a stop or limit exit on the forming bar so far, or None."""
        slip = self.p.slip_perc
        trigger = order.created.price
        if order.exectype == bt.Order.Stop:
            if order.isbuy():
                if bar.open >= trigger:
                    return bar.open * (1 + slip)
                return trigger * (1 + slip) if bar.high >= trigger else None
            if bar.open <= trigger:
                return bar.open * (1 - slip)
            return trigger * (1 - slip) if bar.low <= trigger else None
        if order.isbuy():
            if bar.open <= trigger:
                return min(bar.open * (1 + slip), trigger)
            return trigger if bar.low <= trigger else None
        if bar.open >= trigger:
            return max(bar.open * (1 - slip), trigger)
        return trigger if bar.high >= trigger else None

    def _is_exit(self, order) -> bool:
        """A bracket's stop-loss/take-profit, or a stand-alone protective order (restored after a
        restart, marked ``info.protective``)."""
        return order.parent is not None or bool(order.info.get("protective"))

    def _check_forming_bars(self, bar_counts_before: dict[int, int]) -> None:
        for order in [o for o in self.pending if o is not None]:
            if not self._is_exit(order) or not order.alive() or not order.active():
                continue
            if bar_counts_before.get(id(order.data), len(order.data)) != len(order.data):
                # A closed bar arrived in this very cycle and the strategy has not seen it yet:
                # acting on the bar after it now would run ahead of the strategy.
                continue
            if order.exectype not in (bt.Order.Stop, bt.Order.Limit):
                continue
            forming = self.p.forming_bar(order.data)
            if forming is None:
                continue
            bar_dt = float(date2num_ms([forming.open_time_ms])[0])
            if len(order.data) and bar_dt <= order.data.datetime[0]:
                continue  # not newer than the last closed bar: already handled there
            if bar_dt <= self._not_before.get(order.ref, order.created.dt):
                continue
            # Out of the queue (its slot held by None) while it is tried, as BackBroker.next does:
            # the OCO check that follows a fill cancels every group member still queued, the
            # filled one included.
            slot = self.pending.index(order)
            self.pending[slot] = None
            price = self._forming_fill_price(order, forming)
            if price is not None:
                self._execute(order, ago=0, price=price, dtcoc=bar_dt)
            slot = self.pending.index(None)
            if order.alive():
                self.pending[slot] = order        # keeps its place: stops stay ahead of targets
                continue
            del self.pending[slot]
            self._not_before.pop(order.ref, None)
            self._last_tried.pop(order.ref, None)
            if order.status == order.Completed and order.parent is not None:
                self._bracketize(order)
