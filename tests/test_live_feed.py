"""LiveFeedManager end to end against FakeBinance on 127.0.0.1: warm-up, live bars, every fault the
fake can inject, and a backtrader run that sees exactly what the backtest ArrayFeeds give."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import backtrader as bt
import numpy as np
import pytest

from core.bars import Bars
from core.timeframes import signal_feed_name
from fake_exchange import FakeBinance
from feeds.array_feed import ArrayFeed
from feeds.bar_assembler import ClosedBar
from feeds.feed_health import DELAYED, LIVE
from feeds.live_feed import LiveFeedManager
from feeds.resample import htf_stamp_offset_ms, resample_bars
from klines import load_klines
from venue import BadSymbolError

ROOT = Path(__file__).resolve().parents[1]
WEEK = ROOT / "data" / "BTCUSDT_spot_1m_2023-03-20_2023-03-26.csv"
MINUTE = 60_000
HOUR = 3_600_000
_WEEK_BARS = load_klines(WEEK).bars()
GAP_AT = int(np.argmax(np.diff(_WEEK_BARS.open_time_ms)))  # 2023-03-24 12:39, then 14:00

FAST = {"bar_grace_s": 10.0, "wait_s": 0.05, "backoff_base_s": 0.05, "backoff_cap_s": 0.2,
        "rest_base_delay_s": 0.01, "rest_max_delay_s": 0.05, "rest_retry_s": 0.1, "poll_s": 0.05}


def closed(bars: Bars) -> list[ClosedBar]:
    return [ClosedBar(int(t), o, h, low, c, v) for t, o, h, low, c, v in zip(
        bars.open_time_ms.tolist(), bars.open.tolist(), bars.high.tolist(), bars.low.tolist(),
        bars.close.tolist(), bars.volume.tolist(), strict=True)]


def wait_until(predicate, timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def manager_for(fake: FakeBinance, warmup: int = 50, symbols=("BTCUSDT",), signal="1h",
                stale_after_s: float = 0.5, **overrides) -> LiveFeedManager:
    options = {**FAST, **overrides}
    return LiveFeedManager(list(symbols), "1m", signal, fake.ws_url, fake.rest_url, warmup,
                           stale_after_s, **options)


def connected(fake: FakeBinance, manager: LiveFeedManager, n: int = 1) -> None:
    wait_until(lambda: manager.stream.connections >= n and fake.open_connections >= 1,
               what=f"connection {n}")
    # the consumer has handled the Connected event (and its backfill)
    wait_until(lambda: manager.connects_handled >= n, what=f"connection {n} handled")


def exec_bars_until(manager: LiveFeedManager, source: Bars, first: int, last: int,
                    symbol="BTCUSDT"):
    """Wait until the queued exec bars are exactly ``source[first:last]``, then return them."""
    expected = closed(source.slice(first, last))
    wait_until(lambda: len(manager.pending(symbol)) >= len(expected), what=f"{len(expected)} bars")
    got = list(manager.pending(symbol))
    assert got == expected  # same bars, same values, in order, none twice
    return got


@pytest.fixture
def source() -> Bars:
    return _WEEK_BARS.slice(0, 400)


def test_warm_up_then_live_bars_with_forming_prices(source):
    with FakeBinance({"BTCUSDT": source}, history_bars=100) as fake:
        manager = manager_for(fake, warmup=50)
        with manager:
            # start() blocks
            assert list(manager.pending("BTCUSDT")) == closed(source.slice(50, 100))
            connected(fake, manager)
            fake.publish(20)
            exec_bars_until(manager, source, 50, 120)
            fake.step(1)  # one forming update of bar 120
            wait_until(lambda: manager.last_price("BTCUSDT")[1] == fake.now_ms,
                       what="forming price")
            price, at_ms = manager.last_price("BTCUSDT")
            assert at_ms == int(source.open_time_ms[120]) + 20_000
            assert source.low[120] <= price <= source.high[120]
            assert len(manager.pending("BTCUSDT")) == 70  # a forming bar is never delivered
            assert manager.health.all_live(int(time.time() * 1000))
            signal = manager.pending("BTCUSDT", signal=True)
            assert signal == tuple(closed(resample_bars(source.slice(50, 120), "1h")))
            assert manager.last_price("ETHUSDT") is None
        assert not manager.stream.running


def test_reconnect_after_drop_backfills_the_gap_over_rest(source):
    with (FakeBinance({"BTCUSDT": source}, history_bars=100) as fake,
          manager_for(fake) as manager):
        connected(fake, manager)
        fake.publish(5)
        exec_bars_until(manager, source, 50, 105)
        fake.drop_connections()
        fake.publish(5)  # nobody (or a new connection) hears these
        connected(fake, manager, 2)
        fake.publish(5)
        exec_bars_until(manager, source, 50, 115)
        assert fake.ws_connections >= 2
        snap = manager.health.snapshot(int(time.time() * 1000))["streams"]["BTCUSDT"]
        assert snap["disconnects"] >= 1 and snap["last_disconnect_reason"]


def test_skipped_bar_is_recovered_over_rest(source):
    with (FakeBinance({"BTCUSDT": source}, history_bars=100) as fake,
          manager_for(fake) as manager):
        connected(fake, manager)
        fake.skip_next_bar()
        fake.publish(4)
        exec_bars_until(manager, source, 50, 104)
        assert manager.stats("BTCUSDT")["gaps_reported"] == 1


def test_duplicated_and_reordered_closes_give_no_duplicate_and_exact_values(source):
    with (FakeBinance({"BTCUSDT": source}, history_bars=100) as fake,
          manager_for(fake) as manager):
        connected(fake, manager)
        fake.duplicate_next()
        fake.publish(2)
        fake.reorder_next()
        fake.publish(4)
        fake.duplicate_next()
        fake.reorder_next()
        fake.publish(4)
        exec_bars_until(manager, source, 50, 110)
        stats = manager.stats("BTCUSDT")
        assert stats["duplicates_dropped"] >= 1
        assert stats["inferred_closes"] >= 1  # confirmed over REST: values above are exact


def test_garbage_frames_are_logged_and_skipped(source, caplog):
    with (FakeBinance({"BTCUSDT": source}, history_bars=100) as fake,
          manager_for(fake) as manager):
        connected(fake, manager)
        with caplog.at_level(logging.ERROR, logger="smc.live_stream"):
            fake.send_garbage("{not json")
            fake.send_garbage('{"stream":"btcusdt@kline_1m","data":{"e":"kline","E":1}}')
            fake.publish(3)
            exec_bars_until(manager, source, 50, 103)
        assert manager.stream.parse_errors == 2
        assert manager.stream.connections == 1  # survived on the same connection
        assert sum("❌ Failed to parse live kline frame" in r.getMessage()
                   for r in caplog.records) == 2


def test_stall_makes_health_delayed_then_live_again(source):
    with (FakeBinance({"BTCUSDT": source}, history_bars=100) as fake,
          manager_for(fake, stale_after_s=0.3) as manager):
        connected(fake, manager)
        now = lambda: int(time.time() * 1000)  # noqa: E731
        fake.publish(1)
        wait_until(lambda: manager.health.status("BTCUSDT", now()) == LIVE, what="LIVE")
        fake.stall(1.2)
        publisher = threading.Thread(target=fake.publish, args=(2,))
        publisher.start()  # blocks inside the fake until the stall is over
        wait_until(lambda: manager.health.status("BTCUSDT", now()) == DELAYED, what="DELAYED")
        assert not manager.health.all_live(now())
        wait_until(lambda: manager.health.status("BTCUSDT", now()) == LIVE, what="LIVE again")
        publisher.join(5)
        exec_bars_until(manager, source, 50, 103)
        assert manager.stream.connections == 1


def test_rate_limited_rest_is_retried_during_warm_up_and_gap_backfill(source):
    with FakeBinance({"BTCUSDT": source}, history_bars=100) as fake:
        fake.fail_rest(429, count=2, retry_after=0)
        with manager_for(fake) as manager:  # warm-up survives two 429s
            assert len(manager.pending("BTCUSDT")) == 50
            connected(fake, manager)
            wait_until(lambda: manager.backfills >= 2, what="connect backfill")
            fake.fail_rest(429, count=2, retry_after=0)
            fake.skip_next_bar()
            fake.publish(3)
            exec_bars_until(manager, source, 50, 103)
            fake.fail_rest(503, count=6, retry_after=0)  # more than one retry_transient round
            fake.skip_next_bar()
            fake.publish(3)
            exec_bars_until(manager, source, 50, 106)
            assert manager.backfill_failures >= 1


def test_server_shutdown_triggers_an_immediate_reconnect(source):
    with (FakeBinance({"BTCUSDT": source}, history_bars=100) as fake,
          # a 30 s back-off base: only an immediate reconnect can pass this test
          manager_for(fake, backoff_base_s=30.0, backoff_cap_s=30.0) as manager):
        connected(fake, manager)
        fake.publish(2)
        fake.shutdown_event()
        connected(fake, manager, 2)
        fake.publish(2)
        exec_bars_until(manager, source, 50, 104)
        assert fake.ws_connections == 2


def test_bad_symbol_fails_at_start_and_leaves_no_thread(source):
    with FakeBinance({"BTCUSDT": source}, history_bars=100) as fake:
        manager = manager_for(fake, symbols=("BTCUSDT", "NOPEUSDT"))
        with pytest.raises(BadSymbolError):
            manager.start()
        assert not manager.stream.running


def test_equal_intervals_have_only_exec_feeds_and_names_match_the_strategy(source):
    with FakeBinance({"BTCUSDT": source}, history_bars=10) as fake:
        manager = manager_for(fake, signal="1m")
        assert [f._name for f in manager.feeds()] == ["BTCUSDT"]
        with pytest.raises(ValueError):
            manager.signal_feed("BTCUSDT")
        with pytest.raises(ValueError):
            manager.exec_feed("ETHUSDT")
        two = manager_for(fake)
        assert [f._name for f in two.feeds()] == ["BTCUSDT", "BTCUSDT@signal"]
        assert two.exec_feed("btcusdt") is two.exec_feed("BTCUSDT")
        assert two.exec_feed("BTCUSDT").islive()


# ------------------------------------------------------------------ backtrader, live vs backtest


class Recorder(bt.Strategy):
    """Records, on every next/prenext: exec and signal lengths, datetimes and closes."""

    def __init__(self):
        self.rows = []

    def _record(self):
        row = []
        for data in self.datas:
            n = len(data)
            row.append((n, data.datetime[0] if n else None, data.close[0] if n else None))
        self.rows.append(tuple(row))

    def next(self):
        self._record()

    def prenext(self):
        self._record()


def run_backtest(exec_bars: Bars) -> list:
    cerebro = bt.Cerebro(stdstats=False, runonce=False, preload=True)
    cerebro.adddata(ArrayFeed(bars=exec_bars, name="BTCUSDT"))
    cerebro.adddata(ArrayFeed(bars=resample_bars(exec_bars, "1h"), name=signal_feed_name("BTCUSDT"),
                              stamp_offset_ms=htf_stamp_offset_ms(MINUTE, HOUR)))
    cerebro.addstrategy(Recorder)
    return cerebro.run()[0].rows


def test_backtrader_sees_the_same_bars_on_the_same_next_calls_as_the_backtest():
    """Warm-up mid-hour, live hours, the real 80-minute gap (12:40..13:59): the live run's next()
    calls see exactly the backtest's bars; the 12:00 hour arrives with the 14:00 bar's cycle
    (stamped 12:59), each complete hour with its xx:59 bar; then the run ends on manager.stop()."""
    source = _WEEK_BARS.slice(GAP_AT - 170, GAP_AT + 100)  # 09:49 .. 15:39
    history, warmup = 100, 80
    with FakeBinance({"BTCUSDT": source}, history_bars=history) as fake:
        manager = manager_for(fake, warmup=warmup)
        cerebro = bt.Cerebro(stdstats=False, runonce=False, preload=False, live=True)
        for feed in manager.feeds():
            cerebro.adddata(feed)
        cerebro.addstrategy(Recorder)
        manager.start()
        result = {}
        runner = threading.Thread(target=lambda: result.update(strategy=cerebro.run()[0]),
                                  daemon=True)
        runner.start()
        connected(fake, manager)
        remaining = fake.total_bars - fake.published_index
        while remaining > 0:
            remaining -= fake.publish(min(25, remaining))
        expected_exec = source.slice(history - warmup, None)
        exec_feed, signal_feed = manager.feeds()
        wait_until(lambda: exec_feed.bars_delivered == len(expected_exec), timeout=20,
                   what="all bars through backtrader")
        idle_before = exec_feed.empty_loads + signal_feed.empty_loads
        time.sleep(0.5)  # idle: _load blocks (wait_s=0.05 per feed), it must not spin
        assert exec_feed.empty_loads + signal_feed.empty_loads - idle_before <= 0.5 / 0.05 + 4
        manager.stop()
        runner.join(10)
        assert not runner.is_alive(), "cerebro did not stop after manager.stop()"
    live_rows = result["strategy"].rows
    backtest_rows = run_backtest(expected_exec)
    assert live_rows == backtest_rows
    assert len(live_rows) == len(expected_exec) + 1  # + the 12:00 hour's own cycle (gap)
    assert signal_feed.bars_delivered == len(resample_bars(expected_exec, "1h")) == 3
    # the 12:00 hour is seen on the cycle of its stamp 12:59, with the exec feed still at 12:39
    first = next(r for r in live_rows if r[1][1] == bt.date2num(_dt("2023-03-24 12:59")))
    assert first[0][1] == bt.date2num(_dt("2023-03-24 12:39"))
    # and a complete hour arrives on the cycle of its xx:59 exec bar
    first = next(r for r in live_rows if r[1][1] == bt.date2num(_dt("2023-03-24 14:59")))
    assert first[0][1] == bt.date2num(_dt("2023-03-24 14:59"))


def _dt(text: str):
    import datetime as dt
    return dt.datetime.fromisoformat(text)


class HoldRecorder(bt.Strategy):
    """Records, for each new BTCUSDT bar, the circuit breaker's answer it arrived with."""

    def __init__(self):
        self.rows = []
        self._seen = 0

    def next(self):
        feed = self.getdatabyname("BTCUSDT")
        if len(feed) != self._seen:
            self._seen = len(feed)
            self.rows.append((feed.last_open_ms, feed.last_hold))

    prenext = next


def test_each_bar_carries_the_circuit_breaker_of_its_arrival():
    """ETHUSDT goes silent while BTCUSDT keeps trading: the BTC bars that arrive while ETH is
    DELAYED carry the hold, the ones before and after do not; what the strategy is told about a
    bar never depends on how late it looks at it."""
    btc = _WEEK_BARS.slice(0, 60)
    keep = np.r_[0:10, 40:60]
    eth = Bars(MINUTE, btc.open_time_ms[keep], btc.open[keep], btc.high[keep], btc.low[keep],
               btc.close[keep], btc.volume[keep])
    with FakeBinance({"BTCUSDT": btc, "ETHUSDT": eth}, history_bars=1) as fake:
        manager = manager_for(fake, warmup=1, symbols=("BTCUSDT", "ETHUSDT"), signal="1m",
                              stale_after_s=0.5)
        cerebro = bt.Cerebro(stdstats=False, runonce=False, preload=False, live=True)
        for feed in manager.feeds():
            cerebro.adddata(feed)
        cerebro.addstrategy(HoldRecorder)
        manager.start()
        result = {}
        runner = threading.Thread(target=lambda: result.update(strategy=cerebro.run()[0]),
                                  daemon=True)
        runner.start()
        connected(fake, manager)
        fake.publish(9)                       # bars 1..9: both symbols
        for _ in range(30):                   # bars 10..39: ETH silent for 1.5 s
            fake.publish(1)
            time.sleep(0.05)
        fake.publish(20)                      # bars 40..59: both again
        wait_until(lambda: manager.exec_feed("BTCUSDT").last_open_ms == int(btc.open_time_ms[-1]),
                   timeout=20, what="all bars")
        time.sleep(0.3)
        manager.stop()
        runner.join(10)
    rows = dict(result["strategy"].rows)
    at = [int(t) for t in btc.open_time_ms]
    assert all(rows[t] is None for t in at[1:10])
    held = [t for t in at[10:40] if rows[t] is not None]
    assert len(held) >= 10
    assert all("ETHUSDT DELAYED" in rows[t] and "circuit breaker" in rows[t] for t in held)
    assert rows[at[-1]] is None


def test_stop_drops_what_is_queued_and_ends_the_feeds_at_once():
    """A thousand closed bars waiting for backtrader: after stop() the feeds answer False (the
    end) at their next look instead of handing out every queued bar first."""
    with FakeBinance({"BTCUSDT": _WEEK_BARS.slice(0, 1200)}, history_bars=1) as fake:
        manager = manager_for(fake, warmup=1, signal="1m")
        manager.start()
        connected(fake, manager)
        fake.publish(1000)
        wait_until(lambda: len(manager.pending("BTCUSDT")) >= 900, timeout=20, what="queued bars")
        feed = manager.exec_feed("BTCUSDT")
        manager.stop()
        assert manager.pending("BTCUSDT") == ()
        assert feed._load() is False
