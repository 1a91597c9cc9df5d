"""Live Binance klines as backtrader feeds: ``LiveFeedManager`` and its ``LiveKlineFeed``s.

Threads::

    kline-stream (venue.stream)   socket -> parse -> stream queue        (never blocks)
    live-feed consumer (this module)   stream queue -> BarAssembler -> REST backfill when needed
                                       -> HtfAggregator -> per-feed output queues
    backtrader (the caller's thread)   LiveKlineFeed._load() <- its output queue (blocking wait)

Guarantees per symbol: closed bars only, in open-time order, none twice, none lost while REST can
provide it. REST (ccxt, through ``retry_transient``) fills: the warm-up (the last ``warmup_bars``
closed bars, fetched by ``start()``), everything after the last delivered bar on EVERY (re)connect,
every gap the assembler reports (a skipped bar, a missed closing update: ``confirm_inferred``
re-reads such a bar so its final values are used). A backfill that still fails after its retries is
retried by the consumer every ``rest_retry_s`` seconds; newer bars wait behind it
(never out of order).

Delivery matches the backtest (``engine.backtest``): the exec feed stamps a bar at its open
time, the signal feed at ``open + htf_stamp_offset_ms`` (the open of its last exec bar), and a
completed signal bar is queued together with (and before) the exec bar that completes it, so
backtrader hands both to the strategy on the same ``next``. Warm-up and backfilled bars are normal
bars; the feed notifies ``DELAYED`` before delivering them and ``LIVE`` for stream bars, and
``CONNBROKEN`` while the stream is down (``notify_data``). Every delivery is also handed to
``bar_sink`` (the session records the bars in the database).

``stop()`` ends at once: bars still queued for backtrader are dropped (they are recorded, and the
next start re-reads them as history), so an engine stops within a second or two however far
behind it is.

Do not use ``cerebro.resampledata``/``replaydata`` (they crash on live feeds) or ``exactbars=1``
(it crashes when ``_load`` returns None while an order is pending).
"""

from __future__ import annotations

import collections
import logging
import math
import queue
import threading
import time
from dataclasses import dataclass

import backtrader as bt
import numpy as np

from core.errors import UserInputError
from core.retry import Stopped, retry_transient
from core.timeframes import signal_feed_name, timeframe_ms
from core.times import date2num_ms
from feeds.bar_assembler import BarAssembler, ClosedBar, Gap, HtfAggregator
from feeds.feed_health import DISCONNECTED, LIVE, HealthBoard
from feeds.resample import htf_stamp_offset_ms
from venue import (
    Connected,
    Disconnected,
    KlineStream,
    KlineUpdate,
    fetch_closed_bars,
    fetch_server_time,
    make_exchange,
)

__all__ = ["LiveFeedManager", "LiveKlineFeed"]

log = logging.getLogger("smc.live_feed")



class _Channel:
    """The output queue of one feed; guarded by the manager's condition."""

    def __init__(self, symbol: str, role: str, interval_ms: int, stamp_offset_ms: int):
        self.symbol = symbol
        self.role = role
        self.interval_ms = interval_ms
        self.stamp_offset_ms = stamp_offset_ms
        # (bar, from the live stream, why entries were held when it arrived or None)
        self.items: collections.deque[tuple[ClosedBar, bool, str | None]] = collections.deque()
        self.queued = 0
        self.seen_seq = -1
        self.feed: LiveKlineFeed | None = None


class LiveKlineFeed(bt.feed.DataBase):
    """A backtrader live feed of one symbol's exec or signal bars; made by ``LiveFeedManager``.

    ``_load`` waits (blocking, up to ``wait_s``) for the next bar: True after writing it to the
    lines, None when nothing came, False once the manager is stopped (queued bars are dropped).
    ``bars_delivered`` counts bars handed to backtrader; ``bars[-1]`` ... are not kept.
    """

    params = (
        ("manager", None),
        ("channel", None),
        ("wait_s", 0.5),
    )

    def __init__(self):
        if self.p.manager is None or self.p.channel is None:
            raise TypeError("LiveKlineFeed is created by LiveFeedManager.exec_feed()/signal_feed()")
        self._manager: LiveFeedManager = self.p.manager
        self._channel: _Channel = self.p.channel
        self._no_wait = False
        self.bars_delivered = 0
        self.empty_loads = 0  # _load calls that found no bar (idle cycles)
        self.last_open_ms: int | None = None
        self.last_live = False  # the last bar came from the stream (not warm-up or REST backfill)
        self.last_hold: str | None = None  # the circuit breaker's answer when that bar arrived

    @property
    def symbol(self) -> str:
        return self._channel.symbol

    @property
    def is_signal(self) -> bool:
        """True for the signal-timeframe feed, False for the execution feed."""
        return self._channel.role == "signal"

    def islive(self):
        return True

    def haslivedata(self):
        return bool(self._channel.items)

    def _check(self, forcedata=None):
        # cerebro calls _check(forcedata=master) right before retrying a feed that had no bar in a
        # cycle where another feed had one: that retry must not wait.
        if forcedata is not None:
            self._no_wait = True
        super()._check(forcedata)

    def _load(self):
        wait = not self._no_wait
        self._no_wait = False
        item = self._manager._take(self._channel, wait=wait, wait_s=self.p.wait_s)
        if item is None:
            self.empty_loads += 1
            self._notify_idle()
            return None
        if item is False:
            return False
        bar, live, held = item
        self.last_live = live
        self.last_hold = held
        if self.last_open_ms is not None and bar.open_time_ms <= self.last_open_ms:
            log.error("%s: dropped an out-of-order bar %d after %d", self._name, bar.open_time_ms,
                      self.last_open_ms)  # cannot happen: the manager orders bars
            return None
        self.put_notification(self.LIVE if live else self.DELAYED)
        lines = self.lines
        lines.datetime[0] = float(
            date2num_ms(np.asarray([bar.open_time_ms + self._channel.stamp_offset_ms]))[0])
        lines.open[0] = bar.open
        lines.high[0] = bar.high
        lines.low[0] = bar.low
        lines.close[0] = bar.close
        lines.volume[0] = bar.volume
        lines.openinterest[0] = math.nan
        self.bars_delivered += 1
        self.last_open_ms = bar.open_time_ms
        return True

    def _notify_idle(self) -> None:
        status = self._manager.health.status(self._channel.symbol, self._manager._now_ms())
        if status == DISCONNECTED:
            self.put_notification(self.CONNBROKEN)
        elif status == LIVE:
            self.put_notification(self.LIVE)
        else:
            self.put_notification(self.DELAYED)


@dataclass(frozen=True)
class RestRetry:
    """REST calls: tries per call, their back-off, and the pause before a failed backfill is
    tried again by the consumer."""

    attempts: int
    base_delay_s: float
    max_delay_s: float
    retry_s: float


@dataclass
class _SymbolState:
    symbol: str
    assembler: BarAssembler
    aggregator: HtfAggregator | None
    exec_channel: _Channel
    signal_channel: _Channel | None
    retry_at: float | None = None  # monotonic time of the next backfill retry
    retry_count: int = 0


def _bt_timeframe(interval_ms: int) -> tuple[int, int]:
    week, day, minute = 7 * 86_400_000, 86_400_000, 60_000
    if interval_ms % week == 0:
        return bt.TimeFrame.Weeks, interval_ms // week
    if interval_ms % day == 0:
        return bt.TimeFrame.Days, interval_ms // day
    if interval_ms % minute == 0:
        return bt.TimeFrame.Minutes, interval_ms // minute
    return bt.TimeFrame.Seconds, max(1, interval_ms // 1000)


class LiveFeedManager:
    """Live kline feeds of ``symbols``; see the module docstring.

    Parameters
    ----------
    symbols : list of Binance ids ("BTCUSDT").
    exec_interval, signal_interval : Binance intervals; signal must be a multiple of exec.
    ws_url : stream base, e.g. ``wss://stream.binance.com:9443`` or ``FakeBinance.ws_url``.
    rest_url : REST base, e.g. ``https://api.binance.com`` or ``FakeBinance.rest_url``.
    warmup_bars : closed exec bars fetched over REST per symbol by ``start()`` (0: none).
    stale_after_s : no message for this long makes a stream DELAYED.
    clock : local wall clock in seconds (``time.time``), used for health only.

    Keyword-only tuning (defaults for production): ``bar_grace_s`` 10, ``wait_s`` 0.5 (longest
    block in ``_load``), ``backoff_base_s`` 0.5 / ``backoff_cap_s`` 30 / ``healthy_after_s`` 60
    (stream reconnects), ``rest_attempts`` 4 / ``rest_base_delay_s`` 0.5 / ``rest_max_delay_s`` 30
    (``retry_transient``), ``rest_retry_s`` 5 (retry of a backfill that gave up), ``poll_s`` 0.25
    (consumer wake-up), ``confirm_inferred`` True, ``stream_options``
    (extra ``KlineStream`` kwargs).
    """

    def __init__(self, symbols, exec_interval: str, signal_interval: str, ws_url: str,
                 rest_url: str, warmup_bars: int, stale_after_s: float, clock=time.time, *,
                 bar_grace_s: float = 10.0, wait_s: float = 0.5, backoff_base_s: float = 0.5,
                 backoff_cap_s: float = 30.0, healthy_after_s: float = 60.0,
                 rest_attempts: int = 4, rest_base_delay_s: float = 0.5,
                 rest_max_delay_s: float = 30.0, rest_retry_s: float = 5.0, poll_s: float = 0.25,
                 confirm_inferred: bool = True, stream_options: dict | None = None):
        self.symbols = [s.upper() for s in symbols]
        if not self.symbols:
            raise ValueError("LiveFeedManager needs at least one symbol")
        if len(set(self.symbols)) != len(self.symbols):
            raise ValueError(f"duplicate symbols in {self.symbols}")
        self.exec_interval = exec_interval
        self.signal_interval = signal_interval
        self.exec_ms = timeframe_ms(exec_interval)
        self.signal_ms = timeframe_ms(signal_interval)
        if self.signal_ms < self.exec_ms or self.signal_ms % self.exec_ms:
            raise ValueError(
                f"signal interval {signal_interval} must be a whole multiple of {exec_interval}"
            )
        if warmup_bars < 0:
            raise ValueError(f"warmup_bars must be >= 0, got {warmup_bars}")
        self.ws_url = ws_url
        self.rest_url = rest_url
        self.warmup_bars = int(warmup_bars)
        # Set before start() to reach further back than warmup_bars (e.g. to the entry of a
        # position restored after a crash, so the whole downtime is seen).
        self.warmup_since_ms: int | None = None
        self.market_time_ms: int | None = None  # the exchange clock, as last read over REST
        # Called with (symbol, [(interval_ms, ClosedBar), ...], live) after each delivery: the
        # session records every closed bar in the database.
        self.bar_sink = None
        self._warmup_forever = False
        self.clock = clock
        self.wait_s = wait_s
        self.poll_s = poll_s
        self.rest = RestRetry(rest_attempts, rest_base_delay_s, rest_max_delay_s, rest_retry_s)
        self.health = HealthBoard(stale_after_s, self.exec_ms, bar_grace_s, streams=self.symbols)
        self.exchange = make_exchange(rest_url)
        self.stream = KlineStream(ws_url, self.symbols, exec_interval,
                                  backoff_base_s=backoff_base_s, backoff_cap_s=backoff_cap_s,
                                  healthy_after_s=healthy_after_s, **(stream_options or {}))
        self.backfills = 0          # REST backfills that succeeded (warm-up, reconnect, gaps)
        self.backfill_failures = 0  # REST backfills that gave up after their retries
        self.connects_handled = 0   # Connected events fully processed (their backfill done)
        self._cond = threading.Condition()
        self._seq = 0
        self._finished = False
        self._stopping = threading.Event()
        self._consumer: threading.Thread | None = None
        self._started = False
        self._prices: dict[str, tuple[float, int]] = {}
        self._states: dict[str, _SymbolState] = {}
        with_signal = self.signal_ms != self.exec_ms
        offset = htf_stamp_offset_ms(self.exec_ms, self.signal_ms)
        for symbol in self.symbols:
            self._states[symbol] = _SymbolState(
                symbol,
                BarAssembler(symbol, self.exec_ms, confirm_inferred=confirm_inferred),
                HtfAggregator(self.exec_ms, self.signal_ms) if with_signal else None,
                _Channel(symbol, "exec", self.exec_ms, 0),
                _Channel(symbol, "signal", self.signal_ms, offset) if with_signal else None,
            )

    # ------------------------------------------------------------------ public API
    def exec_feed(self, symbol: str) -> LiveKlineFeed:
        """The backtrader feed of ``symbol``'s exec bars, named ``SYMBOL``
        (one instance per symbol)."""
        state = self._state(symbol)
        return self._feed_for(state.exec_channel, state.symbol)

    def signal_feed(self, symbol: str) -> LiveKlineFeed:
        """The feed of ``symbol``'s signal bars, named ``SYMBOL@signal``; ValueError when the signal
        interval equals the exec interval (the strategy then reads signals from the exec feed)."""
        state = self._state(symbol)
        if state.signal_channel is None:
            raise ValueError(
                f"signal interval {self.signal_interval} == exec interval: no signal feed"
            )
        return self._feed_for(state.signal_channel, signal_feed_name(state.symbol))

    def feeds(self) -> list[LiveKlineFeed]:
        """Every feed, exec then signal per symbol: ``for f in m.feeds(): cerebro.adddata(f)``."""
        out = []
        for symbol in self.symbols:
            out.append(self.exec_feed(symbol))
            if self._states[symbol].signal_channel is not None:
                out.append(self.signal_feed(symbol))
        return out

    def entry_hold(self, now_ms: int | None = None) -> str | None:
        """Why new entries must wait right now (a stream is not LIVE: the circuit breaker), or
        None. Each delivered bar carries this answer as of its arrival (``last_hold``)."""
        now_ms = self._now_ms() if now_ms is None else now_ms
        if self.health.all_live(now_ms):
            return None
        snapshot = self.health.snapshot(now_ms)["streams"]
        bad = ", ".join(f"{name} {info['status']}" for name, info in snapshot.items()
                        if info["status"] != "LIVE")
        return f"feed not live ({bad}): circuit breaker holds new entries"

    def last_price(self, symbol: str) -> tuple[float, int] | None:
        """(price, exchange time ms) of the newest update, forming or closed; None before any."""
        return self._prices.get(symbol.upper())

    def forming_bar(self, symbol: str) -> ClosedBar | None:
        """The bar of ``symbol`` still forming after the last one backtrader received (running
        open/high/low/close so far); None when there is none yet or closed bars are still queued
        for backtrader (they must be seen first)."""
        state = self._state(symbol)
        forming = state.assembler.forming      # a reference to an immutable bar (GIL-atomic read)
        feed = state.exec_channel.feed
        if forming is None or feed is None or feed.last_open_ms is None:
            return None
        if forming.open_time_ms <= feed.last_open_ms or state.exec_channel.items:
            return None
        # Normally the next bar; further ahead only while closed bars are held back behind a
        # gap that REST cannot fill yet: open positions are then still protected.
        return forming

    def pending(self, symbol: str, signal: bool = False) -> tuple[ClosedBar, ...]:
        """Bars queued for ``symbol``'s exec (or signal) feed and not yet taken by backtrader."""
        state = self._state(symbol)
        channel = state.signal_channel if signal else state.exec_channel
        if channel is None:
            return ()
        with self._cond:
            return tuple(item[0] for item in channel.items)

    def stats(self, symbol: str) -> dict:
        """Counters of ``symbol``: assembler stats plus bars queued per feed."""
        state = self._state(symbol)
        out = dict(vars(state.assembler.stats))
        out["exec_bars_queued"] = state.exec_channel.queued
        out["signal_bars_queued"] = state.signal_channel.queued if state.signal_channel else 0
        return out

    def start(self, *, until_stopped: bool = False) -> LiveFeedManager:
        """Connect the stream, fetch the warm-up bars, start consuming.

        The warm-up's REST calls are retried ``rest_attempts`` times, then the error is raised;
        with ``until_stopped`` they are retried for ever (with back-off, each failure logged)
        until they succeed or ``stop()`` is called (then ``core.retry.Stopped`` is raised): a
        24/7 engine waits out an exchange outage at start instead of exiting.
        """
        if self._started:
            raise RuntimeError("LiveFeedManager already started")
        self._started = True
        self._warmup_forever = until_stopped
        self.stream.start()  # first, so no update after the warm-up is missed
        try:
            for state in self._states.values():
                self._warm_up(state)
        except BaseException:
            self.stream.stop()
            raise
        self._consumer = threading.Thread(target=self._consume, name="live-feed-consumer",
                                          daemon=True)
        self._consumer.start()
        return self

    def stop(self, timeout: float = 1.0) -> None:
        """End at once: the feeds return False from their next look, whatever is still queued
        (those bars are in the database already and are re-read as history at the next start),
        then the stream and the consumer are stopped (each waited for at most ``timeout`` s)."""
        self._stopping.set()
        with self._cond:
            self._finished = True
            for state in self._states.values():
                for channel in (state.exec_channel, state.signal_channel):
                    if channel is not None:
                        channel.items.clear()
            self._cond.notify_all()
        self.stream.stop(timeout)
        if self._consumer is not None and self._consumer is not threading.current_thread():
            self._consumer.join(timeout)

    def __enter__(self) -> LiveFeedManager:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # ------------------------------------------------------------------ feeds side
    def _state(self, symbol: str) -> _SymbolState:
        try:
            return self._states[symbol.upper()]
        except KeyError:
            raise ValueError(f"unknown symbol {symbol!r}; "
                             f"this manager streams {', '.join(self.symbols)}") from None

    def _feed_for(self, channel: _Channel, name: str) -> LiveKlineFeed:
        if channel.feed is None:
            tf, compression = _bt_timeframe(channel.interval_ms)
            channel.feed = LiveKlineFeed(manager=self, channel=channel, wait_s=self.wait_s,
                                         name=name, timeframe=tf, compression=compression)
        return channel.feed

    def _take(self, channel: _Channel, wait: bool, wait_s: float):
        """Next (bar, live) of ``channel``; None if none came; False once stopped.

        A feed waits only if nothing was queued for ANY feed since its last look and no feed
        still holds a bar: then one idle backtrader cycle blocks instead of spinning, and a feed
        whose bar is not due this cycle returns at once while another feed delivers (a warm-up
        or backfill pushes many bars at once; the other feeds must not wait on each of them).
        """
        with self._cond:
            if (not channel.items and not self._finished and wait
                    and channel.seen_seq == self._seq and not self._anything_queued()):
                self._cond.wait(wait_s)
            channel.seen_seq = self._seq
            if self._finished:
                return False
            if channel.items:
                return channel.items.popleft()
            return None

    def _anything_queued(self) -> bool:
        for state in self._states.values():
            if state.exec_channel.items or (state.signal_channel is not None
                                            and state.signal_channel.items):
                return True
        return False

    def _push(self, items: list[tuple[_Channel, ClosedBar, bool, str | None]]) -> None:
        if not items:
            return
        with self._cond:  # all at once: a signal bar and its exec bar are seen together
            if self._finished:
                return    # stopped: nothing more is handed to backtrader
            for channel, bar, live, held in items:
                channel.items.append((bar, live, held))
                channel.queued += 1
            self._seq += 1
            self._cond.notify_all()

    # ------------------------------------------------------------------ consumer side
    def _now_ms(self) -> int:
        return int(self.clock() * 1000)

    def _deliver(self, state: _SymbolState, bars, live: bool) -> None:
        items = []
        now = self._now_ms()
        for bar in bars:
            self.health.on_closed_bar(state.symbol, bar.open_time_ms, now)
        # The circuit breaker's answer travels with each bar: the health of every stream when
        # the bar ARRIVED, so a decision on it does not depend on how far behind the engine is.
        held = self.entry_hold(now)
        for bar in bars:
            if state.aggregator is not None:
                for signal_bar in state.aggregator.on_bar(bar):
                    items.append((state.signal_channel, signal_bar, live, held))
            items.append((state.exec_channel, bar, live, held))
        if bars and state.symbol not in self._prices:
            last = bars[-1]
            self._prices[state.symbol] = (last.close, last.open_time_ms + self.exec_ms)
        self._push(items)
        if items and self.bar_sink is not None:
            try:
                self.bar_sink(state.symbol, [(item[0].interval_ms, item[1]) for item in items],
                              live)
            except Exception:
                log.exception("%s: could not record %d bar(s)", state.symbol, len(items))

    def _warm_up(self, state: _SymbolState) -> None:
        if self.warmup_bars == 0 and self.warmup_since_ms is None:
            return
        symbol, count = state.symbol, self.warmup_bars

        def fetch():
            now = fetch_server_time(self.exchange)
            self.market_time_ms = max(self.market_time_ms or 0, now)
            since = now - (count + 1) * self.exec_ms
            if self.warmup_since_ms is not None:
                since = min(since, self.warmup_since_ms)
            return fetch_closed_bars(self.exchange, symbol, self.exec_interval, since_ms=since,
                                     now_ms=now)

        bars = self._retry(fetch, f"{symbol} warm-up klines", forever=self._warmup_forever)
        if len(bars) > count and self.warmup_since_ms is None:
            bars = bars.slice(len(bars) - count)
        out = state.assembler.accept_backfill(bars)
        self.backfills += 1
        log.info("%s: warm-up with %d closed %s bar(s) over REST", symbol, len(out),
                 self.exec_interval)
        self._deliver(state, out, live=False)

    def _retry(self, fn, what: str, *, forever: bool = False):
        return retry_transient(fn, attempts=None if forever else self.rest.attempts,
                               base_delay_s=self.rest.base_delay_s,
                               max_delay_s=self.rest.max_delay_s, what=what, stop=self._stopping)

    def _backfill(self, state: _SymbolState, why: str) -> bool:
        """Fetch the pending gap, or everything after the last delivered bar; True if done."""
        assembler = state.assembler
        gap: Gap | None = assembler.pending_gap
        if gap is not None:
            since, until = gap.from_ms, gap.to_ms
        elif assembler.last_emitted_ms is not None:
            since, until = assembler.last_emitted_ms + self.exec_ms, None
        else:
            return True  # nothing delivered yet (no warm-up): the stream starts the series
        symbol = state.symbol
        self.health.on_backfill_start(symbol, self._now_ms())
        try:
            bars = self._retry(lambda: fetch_closed_bars(self.exchange, symbol, self.exec_interval,
                                                         since_ms=since, until_ms=until),
                               f"{symbol} klines for the {why} backfill")
        except Stopped:
            return False
        except UserInputError as exc:  # not retryable: deliver what is held, leave the hole
            log.error("❌ Failed to fetch live OHLCV data: %s %s backfill: %s", symbol, why, exc)
            self._deliver(state, assembler.accept_backfill(()), live=True)
            return True
        except Exception as exc:
            self.backfill_failures += 1
            state.retry_count += 1
            state.retry_at = time.monotonic() + min(60.0, self.rest.retry_s * state.retry_count)
            log.error("❌ Failed to fetch live OHLCV data: %s %s backfill: %s; retrying in %.0fs",
                      symbol, why, exc, state.retry_at - time.monotonic())
            return False
        finally:
            self.health.on_backfill_end(symbol, self._now_ms())
        state.retry_at, state.retry_count = None, 0
        out = assembler.accept_backfill(bars)
        self.backfills += 1
        # An empty backfill (nothing was missing) is routine: not worth a line at INFO.
        (log.info if len(bars) or len(out) else log.debug)(
            "%s: %s backfill over REST: %d bar(s) fetched, %d delivered", symbol, why, len(bars),
            len(out))
        # bars behind a gap came from the stream; the fetched ones are historical
        self._deliver(state, out, live=False)
        return True

    def _consume(self) -> None:
        while not self._stopping.is_set():
            try:
                self._retry_due()
                try:
                    item = self.stream.queue.get(timeout=self.poll_s)
                except queue.Empty:
                    continue
                self._handle(item)
            except Exception:
                log.exception("live feed consumer: unexpected error (continuing)")

    def _retry_due(self) -> None:
        now = time.monotonic()
        for state in self._states.values():
            if state.retry_at is not None and now >= state.retry_at:
                self._backfill(state, "retried")

    def _handle(self, item) -> None:
        now = self._now_ms()
        if isinstance(item, KlineUpdate):
            state = self._states.get(item.symbol.upper())
            if state is None or item.interval != self.exec_interval:
                return
            self.health.on_message(state.symbol, now, item.event_ms)
            previous = self._prices.get(state.symbol)
            if previous is None or item.event_ms >= previous[1]:
                self._prices[state.symbol] = (item.close, item.event_ms)
            step = state.assembler.on_update(item)
            self._deliver(state, step.bars, live=True)
            if step.gap is not None and state.retry_at is None:
                self._backfill(state, "gap")
        elif isinstance(item, Connected):
            self.health.on_connect(now)
            # The first connection follows the warm-up: its backfill only closes the short window
            # between the two; later ones refill what the outage missed.
            why = "stream start" if item.connection == 1 else "reconnect"
            if item.connection > 1:
                log.info("Live stream reconnected (%d): backfilling over REST", item.connection)
            for state in self._states.values():
                if state.retry_at is None:
                    self._backfill(state, why)
            self.connects_handled += 1
        elif isinstance(item, Disconnected):
            self.health.on_disconnect(now, item.reason)
