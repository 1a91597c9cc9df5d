"""One live paper-trading session: feeds, paper broker, strategy and state database wired up.

``runners.live_paper`` (the CLI) builds a ``PaperSession`` and calls ``run()``; tests and the
replay mode do the same against a local ``FakeBinance``. The strategy is the backtest's
``SmcStrategy`` with the same settings; what differs is wired here: the feeds (live), the broker
(``PaperBroker``: exits between bar closes), the sink (``PaperJournal``: every event committed to
the database), the gate (``LiveGate``: warm-up bars are history, the circuit breaker) and the
restart restore (``brokers.restore``: positions and the day's loss carried over).

Data flow: feeds -> strategy -> broker -> journal/store; the session only wires and watches.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
import time
from pathlib import Path

import backtrader as bt
from sqlalchemy.exc import SQLAlchemyError

from brokers.costs import configure_costs
from brokers.journal import PaperJournal
from brokers.paper_broker import FormingBar, PaperBroker
from brokers.restore import broker_positions, check_market_time, day_start_equity, restore_account
from brokers.state import sqlite_path
from brokers.state.store import StateStore
from core.config import apply_overrides
from core.errors import UserInputError
from core.records import RunMode, RunStatus
from core.retry import Stopped
from core.timeframes import timeframe_from_ms, timeframe_ms
from feeds.feed_health import StatusChanges
from feeds.live_feed import LiveFeedManager
from strategies.settings import StrategySettings
from strategies.smc_strategy import SmcStrategy
from venue import live_rules

__all__ = ["AccountLock", "LiveGate", "PaperSession"]

log = logging.getLogger("smc.paper")

MARKET_STATUS_EVERY_S = 2.0
HEARTBEAT_LOG_EVERY_S = 300.0   # a line in the log every 5 minutes: the run is alive, and how


class LiveGate:
    """What the strategy asks the live feeds: is a bar warm-up history, may it enter on it.

    Both answers are those of the bar the strategy is looking at, as the feed recorded them
    when the bar arrived: a replay faster than the engine, or a busy machine, cannot change a
    decision (the same stream gives the same trades). ``current_hold()`` is the live answer now.
    """

    def __init__(self, manager: LiveFeedManager, clock=time.time):
        self.manager = manager
        self.clock = clock

    def is_history(self, symbol: str) -> bool:
        """True for bars that came from REST (warm-up or a backfill): never traded on."""
        return not self.manager.exec_feed(symbol).last_live

    def entry_denial(self, symbol: str, now_ms: int) -> str | None:
        """The circuit breaker, as it stood when ``symbol``'s current bar arrived."""
        return self.manager.exec_feed(symbol).last_hold

    def current_hold(self) -> str | None:
        """The circuit breaker now (status page, tests)."""
        return self.manager.entry_hold(int(self.clock() * 1000))


class AccountLock:
    """One engine per paper account: an exclusive lock on ``<database>.lock`` held for the run.

    Two engines on one database would overwrite each other's cash and double trades; the second
    one is refused with a clear message instead.
    """

    def __init__(self, url: str, option: str = "database.url"):
        path = sqlite_path(url, option)
        self.path = None if path is None else Path(path + ".lock")
        self.option = option
        self._fh = None

    def acquire(self) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(self.path, "a+")  # noqa: SIM115 - held open (and locked) until release()
        try:
            fcntl.flock(self._fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._fh.seek(0)
            holder = self._fh.read().strip() or "?"
            self._fh.close()
            self._fh = None
            raise UserInputError(f"{self.option}: another engine (pid {holder}) is running on "
                                 f"this paper account ({self.path.with_suffix('')}); stop it "
                                 f"first") from None
        self._fh.seek(0)
        self._fh.truncate()
        self._fh.write(str(os.getpid()))
        self._fh.flush()

    def release(self) -> None:
        if self._fh is not None:
            fcntl.flock(self._fh, fcntl.LOCK_UN)
            self._fh.close()
            self._fh = None


class PaperSession:
    """Everything one live paper run needs; ``run()`` blocks until ``stop()``."""

    def __init__(self, config, *, ws_url: str | None = None, rest_url: str | None = None,
                 symbols=None, exec_interval: str | None = None, clock=time.time,
                 manager_options: dict | None = None, analyzers: dict | None = None,
                 mode: str = RunMode.PAPER, resume: bool = True, db_option: str = "database.url",
                 wait_for_exchange: bool | None = None,
                 heartbeat_log_s: float = HEARTBEAT_LOG_EVERY_S):
        """``mode`` paper: the database's paper account (live Binance data). ``mode`` replay: a
        fresh account for this run, or, with ``resume``, the newest replay account continued.
        ``wait_for_exchange`` (default: True for paper) retries the start-up REST calls until
        the exchange answers or ``stop()`` is called, instead of giving up after a few tries."""
        # What this run really trades (a replay brings its own symbol and interval): recorded in
        # the run, so reports and the status page read the truth from the database.
        self.config = config = apply_overrides(config, {
            "exchanges.binance.symbols": list(symbols or config.exchanges.binance.symbols),
            "strategy.execution_timeframe": exec_interval or config.strategy.execution_timeframe})
        self.clock = clock
        self.mode = RunMode(mode)  # only paper runs count for go-live
        self.resume = resume or self.mode == RunMode.PAPER
        self.wait_for_exchange = (self.mode == RunMode.PAPER if wait_for_exchange is None
                                  else wait_for_exchange)
        self.heartbeat_log_s = heartbeat_log_s
        self.symbols = list(config.exchanges.binance.symbols)
        self.exec_interval = config.strategy.execution_timeframe
        self.signal_interval = config.strategy.signal_timeframe
        binance = config.exchanges.binance
        if timeframe_ms(self.signal_interval) % timeframe_ms(self.exec_interval):
            raise UserInputError(f"strategy.signal_timeframe {self.signal_interval} must be a "
                                 f"whole multiple of the execution interval "
                                 f"{self.exec_interval}")
        self.db_option = db_option
        self._lock = AccountLock(config.database.url, db_option)
        try:
            self.store = StateStore(config.database.url, option=db_option)
        except (OSError, SQLAlchemyError) as exc:
            raise UserInputError(f"{db_option} {config.database.url}: cannot open it: "
                                 f"{getattr(exc, 'orig', None) or exc}") from exc
        self.manager = LiveFeedManager(
            self.symbols, self.exec_interval, self.signal_interval,
            ws_url or binance.ws_url, rest_url or binance.rest_url,
            warmup_bars=config.strategy.warmup_bars,
            stale_after_s=binance.stale_after_seconds, clock=clock, **(manager_options or {}))
        self.manager.bar_sink = self._record_bars
        self.analyzers = dict(analyzers or {})   # name -> bt.Analyzer class (benchmarks, tests)
        self.account_id: int | None = None
        self.run_id: int | None = None
        self.strategy: SmcStrategy | None = None
        self.broker: PaperBroker | None = None
        self._stopping = threading.Event()
        self._status_thread: threading.Thread | None = None
        self._trading_since_set = False

    # ------------------------------------------------------------------ what others may watch
    @property
    def streaming(self) -> bool:
        """True once the warm-up is done and the stream's first connection is handled."""
        return self.manager.connects_handled > 0

    @property
    def stopping(self) -> bool:
        """True once ``stop()`` was called (or the run ended)."""
        return self._stopping.is_set()

    def last_bar_open_ms(self, symbol: str) -> int | None:
        """Open time of the last execution bar the strategy received for ``symbol``."""
        return self.manager.exec_feed(symbol).last_open_ms

    # ------------------------------------------------------------------ lifecycle
    def run(self) -> SmcStrategy | None:
        """Start the feeds (warm-up included), trade until ``stop()``, persist the end of run.

        Returns the strategy, or None when ``stop()`` came before the exchange answered."""
        self._lock.acquire()
        try:
            now_ms = int(self.clock() * 1000)
            initial = self.config.paper_trading.initial_balance
            if self.resume:
                account = self.store.ensure_account(initial, now_ms, mode=self.mode)
            else:
                account = self.store.new_account(self.mode, initial, now_ms)
            self.account_id = account.id
            self.run_id = self.store.start_run(self.mode, self.config.as_dict(), now_ms,
                                               account_id=account.id)
            log.info("%s account %d: %.2f USDT cash (initial %.2f); run %d",
                     self.mode.capitalize(), account.id, account.cash, account.initial_balance,
                     self.run_id)
            status = RunStatus.CRASHED
            try:
                restored = restore_account(self.store, account.id, self.symbols, now_ms)
                # Warm up from the oldest open position's entry: the whole downtime is then seen,
                # and a stop or target crossed while the engine was down fills where it was crossed.
                self.manager.warmup_since_ms = restored.warmup_since_ms
                try:
                    self.manager.start(until_stopped=self.wait_for_exchange)
                except Stopped:
                    status = RunStatus.STOPPED
                    log.info("stopped before the exchange answered")
                    return None
                market_ms = self.manager.market_time_ms or now_ms
                check_market_time(
                    restored.positions, market_ms, f"{self.db_option} {self.config.database.url}",
                    "drop --resume to replay into a fresh account" if self.mode == RunMode.REPLAY
                    else "use a fresh database")
                self._status_thread = threading.Thread(target=self._publish_status, daemon=True,
                                                       name="market-status")
                self._status_thread.start()
                cerebro = self._build_cerebro(account.cash, restored,
                                              day_start_equity(self.store, account.id, market_ms))
                self.strategy = cerebro.run()[0]
                status = RunStatus.STOPPED
                return self.strategy
            except UserInputError as exc:
                status = RunStatus.REFUSED
                log.error("refused to start: %s", exc)
                raise
            finally:
                self._stopping.set()
                self.manager.stop()
                if self._status_thread is not None:
                    self._status_thread.join(timeout=2)
                self.store.stop_run(self.run_id, int(self.clock() * 1000), status=status)
                log.info("%s run %d %s; state saved in %s", self.mode.capitalize(),
                         self.run_id, status, self.config.database.url)
        finally:
            self._lock.release()

    def stop(self) -> None:
        """Ask the run to end (thread-safe): the feeds end at once, whatever is still queued,
        and cerebro returns within a second or so. Everything done so far is already saved."""
        self._stopping.set()
        threading.Thread(target=self.manager.stop, daemon=True, name="stopper").start()

    # ------------------------------------------------------------------ wiring
    def _build_cerebro(self, cash: float, restored, day_start) -> bt.Cerebro:
        cfg = self.config
        # quicknotify: a fill between bar closes reaches the strategy (and the database) at
        # once, not with the next closed bar.
        cerebro = bt.Cerebro(stdstats=False, runonce=False, preload=False, live=True,
                             quicknotify=True)
        self.broker = PaperBroker(
            forming_bar=self._forming_bar,
            opening_positions=broker_positions(restored.positions, self.manager.exec_feed))
        cerebro.broker = self.broker
        self.broker.setcash(cash)
        configure_costs(self.broker, cfg.risk_manager.fee_percent / 100.0,
                        cfg.risk_manager.slippage_percent / 100.0)
        for feed in self.manager.feeds():
            cerebro.adddata(feed)
        # Each symbol's order rules from exchangeInfo, the config's overrides on top.
        rules = live_rules(self.manager.exchange, self.symbols, cfg.exchanges.binance.rules)
        settings = StrategySettings.from_config(
            cfg, symbols=self.symbols, rules=rules, exec_bar_ms=timeframe_ms(self.exec_interval),
            signal_bar_ms=timeframe_ms(self.signal_interval), preload=False, close_at_end=False,
            open_positions=restored.positions, day_start_equity=day_start)
        cerebro.addstrategy(
            SmcStrategy, settings=settings,
            sink=PaperJournal(self.store, self.account_id, self.run_id,
                              cash_after=self.broker.cash_after),
            gate=LiveGate(self.manager, self.clock))
        for name, analyzer in self.analyzers.items():
            cerebro.addanalyzer(analyzer, _name=name)
        return cerebro

    def _forming_bar(self, data) -> FormingBar | None:
        symbol = getattr(data, "symbol", None)
        if symbol is None or data.is_signal:
            return None
        bar = self.manager.forming_bar(symbol)
        if bar is None:
            return None
        return FormingBar(bar.open_time_ms, bar.open, bar.high, bar.low, bar.close)

    def _record_bars(self, symbol: str, bars, live: bool) -> None:
        """Every closed bar delivered (warm-up and backfill included) goes to the database; the
        first live one marks the start of the account's record."""
        by_interval: dict[int, list] = {}
        for interval_ms, bar in bars:
            by_interval.setdefault(interval_ms, []).append(
                (bar.open_time_ms, bar.open, bar.high, bar.low, bar.close, bar.volume))
        for interval_ms, rows in by_interval.items():
            self.store.record_bars(self.account_id, symbol, timeframe_from_ms(interval_ms), rows)
        if live and not self._trading_since_set:
            self.store.set_trading_since(self.account_id, min(
                bar.open_time_ms for interval_ms, bar in bars
                if interval_ms == self.manager.exec_ms))
            self._trading_since_set = True

    def _publish_status(self) -> None:
        """Every 2 s: last prices, feed status and the heartbeat into the database (for the
        status page); feed status changes into the log as they happen; and a heartbeat line in
        the log every ``heartbeat_log_s``."""
        changes = StatusChanges()
        recorded: dict[str, str] = {}     # each feed's last status in feed_events (uptime record)
        next_log = time.monotonic() + self.heartbeat_log_s
        while not self._stopping.wait(MARKET_STATUS_EVERY_S):
            now_ms = int(self.clock() * 1000)
            try:
                snapshot = self.manager.health.snapshot(now_ms)
                for line in changes.update(snapshot):
                    (log.info if line.endswith("LIVE") or "-> LIVE " in line else log.warning)(line)
                streams = snapshot["streams"]
                for symbol, info in streams.items():
                    if info.get("status") and recorded.get(symbol) != info["status"]:
                        self.store.record_feed_status(self.run_id, symbol, info["status"], now_ms)
                        recorded[symbol] = info["status"]
                for symbol in self.symbols:
                    price = self.manager.last_price(symbol)
                    info = streams.get(symbol, {})
                    self.store.update_market(
                        symbol, last_price=price[0] if price else None,
                        last_price_ms=price[1] if price else None,
                        feed_status=info.get("status"), last_message_ms=info.get("last_message_ms"),
                        last_closed_bar_ms=info.get("last_closed_open_ms"), now_ms=now_ms)
                self.store.heartbeat(self.run_id, now_ms)
                if time.monotonic() >= next_log:
                    next_log = time.monotonic() + self.heartbeat_log_s
                    log.info(self._heartbeat_line(streams))
            except Exception:  # the status thread must never take the engine down
                log.exception("could not publish the market status")

    def _heartbeat_line(self, streams: dict) -> str:
        parts = []
        for symbol in self.symbols:
            price = self.manager.last_price(symbol)
            status = streams.get(symbol, {}).get("status", "?")
            parts.append(f"{symbol} {price[0]:.8g} {status}" if price else f"{symbol} - {status}")
        broker = self.broker
        equity = f"{broker.getvalue():.2f}" if broker is not None else "-"
        held = len([t for t in self.store.open_trades(self.account_id) if t.status == "open"])
        return f"heartbeat: {'; '.join(parts)}; equity {equity} USDT; {held} open position(s)"
