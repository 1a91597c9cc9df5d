"""PaperBroker fills bracket exits from the forming bar, at the prices the backtest would give."""

from datetime import datetime

import backtrader as bt
import pytest

from brokers.costs import configure_costs
from brokers.paper_broker import FormingBar, PaperBroker
from feeds.array_feed import ArrayFeed
from tests.test_brokers import HOUR, T0, OneBracket, bars_from


class FormingSource:
    """Plays the role of the live feed: the bar being built after the last closed one."""

    def __init__(self):
        self.bar = None

    def __call__(self, data):
        return self.bar


class Recorder(OneBracket):
    """OneBracket that shows a forming bar to the broker after the entry has filled, and notes
    what the broker did with it BEFORE the next closed bar arrives (``before_close``): the
    position left and the exits filled, as (type, price, time)."""

    params = (("source", None), ("forming", None))

    def next(self):
        super().next()
        if len(self) == 2 and self.p.forming is not None:
            self.p.source.bar = self.p.forming
            self.broker.next()          # what Cerebro's live loop does on every queue poll
            exits = [o for o in self.broker.orders if o.parent is not None]
            self.before_close = {
                "position": self.getposition().size,
                "fills": [(o.exectype, o.executed.price, bt.num2date(o.executed.dt))
                          for o in exits if o.status == o.Completed],
            }


def run_with_forming(forming, slip=0.0):
    source = FormingSource()
    # The third closed bar is the forming one, finished; its cycle delivers the notifications.
    final = [forming.open, forming.high, forming.low, forming.close]
    bars = bars_from([[100, 101, 99, 100], [100, 101, 99.5, 100], final])
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.broker = PaperBroker(forming_bar=source)
    cerebro.broker.setcash(10_000)
    configure_costs(cerebro.broker, 0.001, slip)
    cerebro.adddata(ArrayFeed(bars=bars))
    cerebro.addstrategy(Recorder, source=source, forming=forming)
    return cerebro.run()[0]


FORMING_OPEN = datetime(2023, 1, 1, 2, 0)      # the forming bar's open time (T0 + 2 h)


def test_stop_fills_inside_the_forming_bar_at_the_stop():
    strat = run_with_forming(FormingBar(T0 + 2 * HOUR, 100.0, 100.5, 94.0, 94.5), slip=0.001)
    # Filled from the forming bar, before its closed bar was delivered, stamped with its open.
    assert strat.before_close["position"] == 0
    assert strat.before_close["fills"] == [(bt.Order.Stop, pytest.approx(95.0 * 0.999),
                                            FORMING_OPEN)]
    # The closed bar that follows does not fill it again; the strategy hears of it once.
    assert [f[0] for f in strat.fills] == [bt.Order.Limit, bt.Order.Stop]
    assert strat.fills[1][1] == pytest.approx(95.0 * 0.999) and strat.fills[1][3] == FORMING_OPEN


def test_gap_open_below_the_stop_fills_at_the_open():
    strat = run_with_forming(FormingBar(T0 + 2 * HOUR, 93.0, 93.0, 92.0, 92.5))
    assert strat.before_close == {"position": 0, "fills": [(bt.Order.Stop, 93.0, FORMING_OPEN)]}
    assert strat.fills[1][1] == 93.0


def test_take_profit_from_forming_high():
    strat = run_with_forming(FormingBar(T0 + 2 * HOUR, 100.0, 111.0, 99.8, 110.5))
    assert strat.before_close == {"position": 0, "fills": [(bt.Order.Limit, 110.0, FORMING_OPEN)]}
    assert strat.fills[1][0] == bt.Order.Limit and strat.fills[1][1] == 110.0


def test_both_crossed_in_one_update_stop_wins():
    strat = run_with_forming(FormingBar(T0 + 2 * HOUR, 100.0, 112.0, 90.0, 100.0))
    assert strat.before_close["position"] == 0
    assert [f[0] for f in strat.before_close["fills"]] == [bt.Order.Stop]
    assert strat.fills[1][0] == bt.Order.Stop


def test_target_crossed_in_an_earlier_update_wins():
    """Live knows the order inside the bar: the target was reached first, then the bar fell
    through the stop. The backtest of the finished bar (stop wins) would say the opposite."""
    source = FormingSource()
    final = [100.0, 112.0, 90.0, 100.0]
    bars = bars_from([[100, 101, 99, 100], [100, 101, 99.5, 100], final])
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.broker = PaperBroker(forming_bar=source)
    cerebro.broker.setcash(10_000)
    configure_costs(cerebro.broker, 0.001, 0.0)
    cerebro.adddata(ArrayFeed(bars=bars))

    class TwoUpdates(Recorder):
        def next(self):
            super().next()
            if len(self) == 2:
                self.p.source.bar = FormingBar(T0 + 2 * HOUR, 100.0, 112.0, 90.0, 100.0)
                self.broker.next()

    cerebro.addstrategy(TwoUpdates, source=source,
                        forming=FormingBar(T0 + 2 * HOUR, 100.0, 111.0, 99.8, 110.5))
    strat = cerebro.run()[0]
    assert strat.before_close["fills"] == [(bt.Order.Limit, 110.0, FORMING_OPEN)]
    assert [f[0] for f in strat.fills] == [bt.Order.Limit, bt.Order.Limit]


def test_untouched_forming_bar_fills_nothing():
    strat = run_with_forming(FormingBar(T0 + 2 * HOUR, 100.0, 101.0, 99.0, 100.0))
    assert strat.before_close == {"position": 1.0, "fills": []}
    assert len(strat.fills) == 1


def test_forming_bar_of_the_entry_bar_is_ignored():
    """A forming bar that is not newer than the last closed bar is stale: no fill from it."""
    source = FormingSource()
    bars = bars_from([[100, 101, 99, 100], [100, 101, 99.5, 100], [99, 99.5, 98, 99]])
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.broker = PaperBroker(forming_bar=source)
    cerebro.broker.setcash(10_000)
    cerebro.adddata(ArrayFeed(bars=bars))
    cerebro.addstrategy(Recorder, source=source, forming=FormingBar(T0 + HOUR, 100, 101, 90, 95))
    strat = cerebro.run()[0]
    assert strat.before_close == {"position": 1.0, "fills": []}
    assert len(strat.fills) == 1
