"""Fill rules of the backtest broker: fees, the stop-wins rule, and no fills on stale bars."""

import backtrader as bt
import numpy as np
import pytest

from brokers.bar_broker import BarBroker
from brokers.costs import configure_costs
from core.bars import Bars
from feeds.array_feed import ArrayFeed
from feeds.resample import htf_stamp_offset_ms, resample_bars

MIN = 60_000
HOUR = 3_600_000
T0 = 1_672_531_200_000  # 2023-01-01T00:00Z


def bars_from(rows, start_ms=T0, step=HOUR, times=None):
    rows = np.asarray(rows, dtype=float)
    open_time = np.asarray(times if times is not None else start_ms + step * np.arange(len(rows)),
                           dtype=np.int64)
    return Bars(step, open_time, rows[:, 0], rows[:, 1], rows[:, 2], rows[:, 3],
                np.ones(len(rows)))


class OneBracket(bt.Strategy):
    """Places one long bracket on the first bar and records what filled."""

    params = (("entry", 100.0), ("stop", 95.0), ("target", 110.0), ("size", 1.0))

    def __init__(self):
        self.fills = []

    def next(self):
        if len(self) == 1:
            self.buy_bracket(size=self.p.size, price=self.p.entry, stopprice=self.p.stop,
                             limitprice=self.p.target, exectype=bt.Order.Limit)

    def notify_order(self, order):
        if order.status == order.Completed:
            self.fills.append((order.exectype, order.executed.price, order.executed.comm,
                               bt.num2date(order.executed.dt)))


def run(strategy_bars, broker_cls=BarBroker, fee=0.001, slip=0.0, **params):
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.broker = broker_cls()
    cerebro.broker.setcash(10_000)
    configure_costs(cerebro.broker, fee, slip)
    cerebro.adddata(ArrayFeed(bars=strategy_bars))
    cerebro.addstrategy(OneBracket, **params)
    return cerebro.run()[0]


def test_fee_is_a_tenth_of_a_percent_of_notional():
    bars = bars_from([[100, 101, 99, 100], [100, 101, 99.5, 100], [100, 111, 99.5, 110]])
    strat = run(bars)
    entry, target = strat.fills
    assert entry[1] == 100.0 and entry[2] == pytest.approx(0.1)      # 0.1 % of 100 USDT
    assert target[1] == 110.0 and target[2] == pytest.approx(0.11)


def test_stop_wins_when_stop_and_target_share_a_bar():
    bars = bars_from([[100, 101, 99, 100], [100, 101, 99.5, 100], [100, 120, 90, 105]])
    strat = run(bars)
    assert [f[0] for f in strat.fills] == [bt.Order.Limit, bt.Order.Stop]
    assert strat.fills[1][1] == 95.0


def test_stop_slips_against_us_and_gap_fills_at_open():
    bars = bars_from([[100, 101, 99, 100], [100, 101, 99.5, 100], [96, 97, 94, 95]])
    strat = run(bars, slip=0.001)
    assert strat.fills[1][1] == pytest.approx(95.0 * 0.999)          # trigger price, slipped
    gap = bars_from([[100, 101, 99, 100], [100, 101, 99.5, 100], [90, 91, 89, 90]])
    assert run(gap).fills[1][1] == 90.0                             # gapped through: the open


def test_stop_counts_on_the_entry_bar():
    """Entry fills at 100 on bar 1, whose low (90) is below the stop (95): the bar may have
    fallen after the fill, so the position is stopped out in that bar, at the stop."""
    bars = bars_from([[100, 101, 99, 100], [100, 101, 90, 100], [100, 120, 99, 101]])
    strat = run(bars)
    assert [f[0] for f in strat.fills] == [bt.Order.Limit, bt.Order.Stop]
    assert strat.fills[1][1] == 95.0 and strat.fills[1][3] == strat.fills[0][3]


def test_entry_at_an_open_beyond_the_stop_exits_at_that_open():
    bars = bars_from([[100, 101, 99, 100], [93, 94, 92, 93.5], [94, 95, 93, 94]])
    strat = run(bars)
    assert strat.fills[0][1] == 93.0 and strat.fills[1][1] == 93.0


def test_take_profit_never_on_the_entry_bar():
    """The entry bar's high (115) may have come before the fill: no target credited there."""
    bars = bars_from([[100, 101, 99, 100], [100, 115, 99.5, 100], [100, 101, 99.5, 100]])
    strat = run(bars)
    assert len(strat.fills) == 1


@pytest.mark.parametrize("broker_cls", [bt.brokers.BackBroker, BarBroker])
def test_stock_broker_misses_the_entry_bar_stop(broker_cls):
    bars = bars_from([[100, 101, 99, 100], [100, 101, 90, 100], [100, 120, 99, 101]])
    fills = run(bars, broker_cls=broker_cls).fills
    if broker_cls is BarBroker:
        assert fills[1][0] == bt.Order.Stop
    else:
        assert fills[1][0] == bt.Order.Limit     # the stock broker credits the target instead


class PlaceOnSignal(bt.Strategy):
    """Places a limit buy when the 1m feed reaches 10:39 and records the fill bar."""

    def __init__(self):
        self.fill_time = None

    def next(self):
        if (bt.num2date(self.datas[0].datetime[0]).strftime("%H:%M") == "00:39"
                and not self.fill_time):
            self.buy(data=self.datas[0], size=0.01, price=100.0, exectype=bt.Order.Limit)
            self.fill_time = "pending"

    prenext = next      # act before the hourly feed has its first bar

    def notify_order(self, order):
        if order.status == order.Completed:
            self.fill_time = bt.num2date(order.executed.dt)


@pytest.mark.parametrize("broker_cls, expect_stale_fill", [(bt.brokers.BackBroker, True),
                                                           (BarBroker, False)])
def test_no_fill_on_a_stale_bar_when_only_the_signal_feed_advances(broker_cls, expect_stale_fill):
    """1m bars 00:00-00:39 then a halt until 02:00. The 1h bar of 00:00 arrives alone at its
    00:59 stamp; the stock broker then retries the order on the unchanged 00:39 bar, whose low
    traded before the order existed. BarBroker waits for a real new bar."""
    minutes = list(range(40)) + list(range(120, 180))
    rows = [[101, 102, 99, 101] if m == 39 else [101, 102, 100.5, 101] for m in minutes]
    one_min = bars_from(rows, times=[T0 + m * MIN for m in minutes], step=MIN)
    hourly = resample_bars(one_min, "1h")
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.broker = broker_cls()
    cerebro.broker.setcash(10_000)
    cerebro.adddata(ArrayFeed(bars=one_min))
    cerebro.adddata(ArrayFeed(bars=hourly, stamp_offset_ms=htf_stamp_offset_ms(MIN, HOUR)))
    cerebro.addstrategy(PlaceOnSignal)
    strat = cerebro.run()[0]
    stale = strat.fill_time is not None and strat.fill_time != "pending" and \
        strat.fill_time.strftime("%H:%M") == "00:39"
    assert stale == expect_stale_fill
    if not expect_stale_fill:
        assert strat.fill_time == "pending"     # no later bar traded down to 100
