"""``SmcStrategy``: the one backtrader Strategy shared by the backtest and the live paper runner.

It is a thin shell: SMC detection and setups (``strategies.setups``), sizing
(``strategies.risk`` through ``strategies.sizer.RiskSizer``) and the entry guards
(``strategies.guards``) are pure modules; this class feeds them bars and turns decisions into
bracket orders.

Feeds, per symbol (names set by the runner):
    ``SYMBOL``           execution bars (fills happen here)
    ``SYMBOL@signal``    signal-timeframe bars, stamped so each one arrives with the last
                         execution bar of its period (absent when both timeframes are equal)

On each new signal bar: the data-gap guard sees the bar; setups known at its close are scored;
the best one per symbol that passes every check becomes a bracket order:
    entry  LIMIT at the setup's entry, valid ``entry_valid_bars`` signal bars
    stop   STOP at the setup's stop      (children are good till cancelled, linked OCO)
    target LIMIT at the setup's target
Stacking: at most one position or pending entry per symbol, so a long is never netted against a
short; ``max_positions`` counts positions plus pending entries across all symbols.
Positions still open when the data ends are reported with ``exit_reason="end_of_data"`` at the
last close, less the exit fee (the report's final equity is that liquidation value).

Live paper trading uses the same class with three extra params (all None in a backtest):
``journal`` persists every signal, order status, fill and equity point before the loop goes on
(``brokers.journal.PaperJournal``) and hands back, at start, the trades a previous run left open;
``live`` says which bars are warm-up history (never traded) and whether the feeds are healthy
(no new entries otherwise: the circuit breaker); open positions are always managed.
Restored positions get their stop-loss and take-profit back once the warm-up is over; one whose
stop or target was crossed while the process was down is closed at the first live price, with
``exit_reason`` ``stop_loss_while_down`` / ``take_profit_while_down``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import backtrader as bt

from core.errors import UserInputError
from core.timeframes import DAY_MS
from feeds.array_feed import num_to_ms
from strategies.guards import DailyLossGuard, DataGapGuard, max_positions_denial
from strategies.setups import Setup, SetupParams, SetupTracker

log = logging.getLogger("smc.strategy")

SIGNAL_SUFFIX = "@signal"


def ms_to_iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).isoformat()


@dataclass
class _OpenBracket:
    """One bracket from submission to exit."""

    setup: Setup
    parent: bt.Order | None            # None for a position restored after a restart
    stop_order: bt.Order | None
    target_order: bt.Order | None
    signal_ms: int
    planned_size: float
    planned_risk: float
    equity_at_signal: float
    entry_price: float | None = None
    entry_ms: int | None = None
    entry_fee: float = 0.0
    trade_id: int | None = None         # in the journal (live paper)
    close_order: bt.Order | None = None  # a market close (exit crossed while down)
    close_reason: str | None = None


@dataclass
class _SymbolBook:
    symbol: str
    exec_feed: bt.feeds.DataBase
    signal_feed: bt.feeds.DataBase
    tracker: SetupTracker
    gap_guard: DataGapGuard
    signal_bar_ms: int
    seen_signal_len: int = 0
    seen_exec_len: int = 0
    bracket: _OpenBracket | None = None
    restored: object | None = None      # a journal TradeRow waiting for its exits after restart
    low_since_down: float = float("inf")
    high_since_down: float = float("-inf")


class SmcStrategy(bt.Strategy):
    """SMC order-block strategy; see the module docstring.

    Params:
        config (AppConfig): the validated configuration (required).
        symbols (sequence of str): symbols to trade; each needs feeds named as above.
        exec_bar_ms (int): execution bar length in ms.
        signal_bar_ms (int): signal bar length in ms.
        preload (bool): detect setups once over each signal feed's full array (backtest) instead
            of re-detecting on every bar (live); the same setups at the same bars (tested), and
            --check-lookahead re-runs the preloaded path on prefixes.
        progress (callable | None): called with the fraction of execution bars done.
        journal (PaperJournal | None): persistence of the paper account (live only).
        live (LiveGate | None): ``is_history(symbol, close_ms)`` and ``entry_denial(now_ms)``.
        close_at_end (bool): report open positions as closed at the last bar (backtest).
    """

    params = (
        ("config", None),
        ("symbols", ()),
        ("exec_bar_ms", 3_600_000),
        ("signal_bar_ms", 3_600_000),
        ("preload", True),
        ("progress", None),
        ("journal", None),
        ("live", None),
        ("close_at_end", True),
    )

    def __init__(self):
        cfg = self.p.config
        if cfg is None:
            raise ValueError("SmcStrategy needs config=AppConfig")
        self.setup_params = SetupParams.from_config(cfg)
        self.threshold = cfg.decision_engine.confidence_threshold
        self.allow_short = cfg.strategy.allow_short
        self.max_positions = cfg.paper_trading.max_positions
        self.fee_rate = cfg.risk_manager.fee_percent / 100.0
        self.entry_valid = timedelta(milliseconds=cfg.strategy.entry_valid_bars * self.p.signal_bar_ms)
        self.daily_guard = DailyLossGuard(cfg.risk_manager.max_daily_loss)
        self.books: list[_SymbolBook] = []
        for symbol in self.p.symbols:
            exec_feed = self.getdatabyname(symbol)
            try:
                signal_feed = self.getdatabyname(symbol + SIGNAL_SUFFIX)
            except KeyError:
                signal_feed = exec_feed
            preloaded = getattr(signal_feed, "bars", None) if self.p.preload else None
            self.books.append(_SymbolBook(
                symbol, exec_feed, signal_feed,
                SetupTracker(self.setup_params, preloaded=preloaded),
                DataGapGuard(self.p.exec_bar_ms,
                             cfg.strategy.gap_cooldown_bars * self.p.signal_bar_ms),
                self.p.signal_bar_ms))
        self.journal = self.p.journal
        self.live = self.p.live
        self._live_seen = self.live is None
        self._by_order: dict[int, _SymbolBook] = {}
        self.trades_closed: list[dict] = []
        self.signals: list[dict] = []
        self._cycles = 0
        self._progress_total = max(1, sum(len(getattr(b.exec_feed, "bars", ())) for b in self.books))

    # ------------------------------------------------------------------ bar loop
    def next(self):
        # The strategy clock is the latest datetime among the feeds that have started; adding one
        # execution bar gives the close of the bar just completed.
        now_ms = num_to_ms(self.datetime[0]) + self.p.exec_bar_ms
        self.daily_guard.update(now_ms, self.broker.getvalue())
        signal_bar_closed = False
        for book in self.books:
            n = len(book.exec_feed)
            if n != book.seen_exec_len:
                book.seen_exec_len = n
                self._on_exec_bar(book)
                if book.restored is not None:
                    self._watch_restored(book, now_ms)
            n = len(book.signal_feed)
            if n != book.seen_signal_len:
                book.seen_signal_len = n
                signal_bar_closed = True
                self._on_signal_bar(book, now_ms)
        if self.journal is not None and self.live is not None and not self._live_seen:
            self._first_live_bar(now_ms)
        if self.journal is not None and signal_bar_closed and self._live_seen:
            self._journal_equity(now_ms)   # warm-up bars are history: no equity points for them
        self._cycles += 1
        if self.p.progress is not None and not self._cycles & 4095:
            self.p.progress(self._exec_bars_done() / self._progress_total)

    def prenext(self):
        # Symbols whose data starts later (or the signal feed's first bar not yet complete)
        # must not hold back the others: trade whatever has bars.
        self.next()

    def _exec_bars_done(self) -> int:
        return sum(len(b.exec_feed) for b in self.books)

    def _on_exec_bar(self, book: _SymbolBook) -> None:
        feed = book.exec_feed
        open_ms = num_to_ms(feed.datetime[0])
        already_blocked = book.gap_guard.check(open_ms + self.p.exec_bar_ms) is not None
        gap = book.gap_guard.on_bar(open_ms, feed.volume[0])
        if gap:
            (log.debug if already_blocked else log.info)("%s %s: %s; no new entries for %.1f h", book.symbol, ms_to_iso(open_ms),
                     gap, book.gap_guard.cooldown_ms / 3_600_000)

    def _on_signal_bar(self, book: _SymbolBook, now_ms: int) -> None:
        feed = book.signal_feed
        index = len(feed) - 1
        bar = None if self.p.preload else (feed.open[0], feed.high[0], feed.low[0], feed.close[0])
        setups = book.tracker.on_bar(index, bar)
        if not setups:
            return
        if self.live is not None and self.live.is_history(book.symbol, now_ms):
            return  # warm-up bars build the structure; their setups are in the past
        log.info("%s %s: Detected %d valid order block(s)", ms_to_iso(now_ms), book.symbol,
                 len(setups))
        for setup in sorted(setups, key=lambda s: -s.confidence):
            self._consider(book, setup, now_ms)

    def _consider(self, book: _SymbolBook, setup: Setup, now_ms: int) -> None:
        record = {
            "symbol": book.symbol, "time": ms_to_iso(now_ms), "side": setup.side_name,
            "confidence": setup.confidence, "entry": setup.entry, "stop_loss": setup.stop,
            "take_profit": setup.take_profit, "reasons": list(setup.reasons),
            "traded": False, "decision": "",
        }
        self.signals.append(record)
        reason = self._entry_denial(book, setup, now_ms)
        if reason is None:
            sizer = self.getsizer()
            decision = sizer.prepare(setup.entry, setup.stop, setup.side,
                                     reserved_cash=self._reserved_cash())
            for note in decision.adjustments:
                log.info("%s: %s", book.symbol, note)
            if not decision:
                reason = decision.skip_reason
        if reason is not None:
            record["decision"] = reason
            log.info("%s %s %s setup (confidence: %.0f%%) not traded: %s", ms_to_iso(now_ms),
                     book.symbol, setup.side_name, setup.confidence * 100, reason)
            if self.journal is not None:
                self.journal.signal(record, now_ms)
            return
        log.info("%s %s signal generated (confidence: %.0f%%) %s entry %.8g stop %.8g target %.8g "
                 "size %.8g", ms_to_iso(now_ms), "BUY" if setup.side > 0 else "SELL",
                 setup.confidence * 100, book.symbol, setup.entry, setup.stop, setup.take_profit,
                 decision.size)
        place = self.buy_bracket if setup.side > 0 else self.sell_bracket
        parent, stop_order, target_order = place(
            data=book.exec_feed, exectype=bt.Order.Limit, price=setup.entry,
            stopprice=setup.stop, limitprice=setup.take_profit, valid=self.entry_valid,
            stopargs={"valid": None}, limitargs={"valid": None})
        book.bracket = _OpenBracket(setup, parent, stop_order, target_order, now_ms,
                                    decision.size, decision.risk_amount, self.broker.getvalue())
        for order in (parent, stop_order, target_order):
            self._by_order[order.ref] = book
        record["traded"] = True
        record["decision"] = "order placed"
        if self.journal is not None:
            signal_id = self.journal.signal(record, now_ms)
            book.bracket.trade_id = self.journal.bracket(
                symbol=book.symbol, side=setup.side_name, size=decision.size, entry=setup.entry,
                stop=setup.stop, target=setup.take_profit, confidence=setup.confidence,
                risk=decision.risk_amount, signal_id=signal_id,
                valid_until_ms=now_ms + int(self.entry_valid.total_seconds() * 1000),
                now_ms=now_ms, parent=parent, stop_order=stop_order, target_order=target_order)

    def _reserved_cash(self) -> float:
        """Cash promised to entries that are placed but not filled yet (notional plus fee)."""
        return sum(b.bracket.planned_size * b.bracket.setup.entry * (1 + self.fee_rate)
                   for b in self.books if b.bracket is not None and b.bracket.entry_price is None)

    def _entry_denial(self, book: _SymbolBook, setup: Setup, now_ms: int) -> str | None:
        """The first reason this setup may not be traded now, or None."""
        if setup.skip_reason:
            return setup.skip_reason
        if setup.confidence < self.threshold:
            return f"confidence {setup.confidence:.3f} below threshold {self.threshold:.3f}"
        if setup.side < 0 and not self.allow_short:
            return "short setups are disabled (allow_short: false)"
        if book.bracket is not None or book.restored is not None:
            return "a position or pending entry is already open on this symbol"
        if self.live is not None:
            blocked = self.live.entry_denial(now_ms)
            if blocked:
                return blocked
        open_count = sum(b.bracket is not None or b.restored is not None for b in self.books)
        for denial in (book.gap_guard.check(now_ms), self.daily_guard.check(now_ms),
                       max_positions_denial(open_count, self.max_positions)):
            if denial is not None:
                return denial.reason
        return None

    # ------------------------------------------------------------------ order events
    def notify_order(self, order):
        book = self._by_order.get(order.ref)
        if book is None or book.bracket is None:
            return
        bracket = book.bracket
        event_ms = num_to_ms(self.datetime[0]) + self.p.exec_bar_ms
        if self.journal is not None:
            self.journal.order_status(order, event_ms)
        if order.status in (order.Submitted, order.Accepted):
            return
        if bracket.parent is not None and order.ref == bracket.parent.ref:
            if order.status == order.Completed:
                bracket.entry_price = order.executed.price
                bracket.entry_ms = num_to_ms(order.executed.dt)
                bracket.entry_fee = order.executed.comm
                log.info("%s %s entry filled: %s %.8g @ %.8g (fee %.4f)",
                         ms_to_iso(bracket.entry_ms), book.symbol, bracket.setup.side_name,
                         abs(order.executed.size), order.executed.price, order.executed.comm)
                if self.journal is not None:
                    self.journal.fill(order, bracket.entry_ms, self.broker.cash_after(order))
            elif order.status in (order.Canceled, order.Expired, order.Margin, order.Rejected):
                status = order.getstatusname().lower()
                log.info("%s entry %s before filling", book.symbol, status)
                if self.journal is not None:
                    self.journal.cancel(order, f"entry {status}", event_ms)
                self._forget(book)
            return
        if order.status == order.Completed:
            if bracket.stop_order is not None and order.ref == bracket.stop_order.ref:
                reason = "stop_loss"
            elif bracket.target_order is not None and order.ref == bracket.target_order.ref:
                reason = "take_profit"
            else:
                reason = bracket.close_reason or "manual"
            exit_ms = num_to_ms(order.executed.dt)
            if self.journal is not None:
                self.journal.fill(order, exit_ms, self.broker.cash_after(order))
            self._close_trade(book, order.executed.price, exit_ms, order.executed.comm, reason)
            if self.journal is not None:
                self._journal_equity(event_ms)

    def _close_trade(self, book: _SymbolBook, exit_price: float, exit_ms: int, exit_fee: float,
                     reason: str) -> None:
        b = book.bracket
        side = b.setup.side
        size = b.planned_size
        fees = b.entry_fee + exit_fee
        pnl = side * (exit_price - b.entry_price) * size - fees
        trade = {
            "symbol": book.symbol,
            "side": b.setup.side_name,
            "signal_time": ms_to_iso(b.signal_ms),
            "entry_time": ms_to_iso(b.entry_ms),
            "exit_time": ms_to_iso(exit_ms),
            "entry_price": b.entry_price,
            "exit_price": exit_price,
            "size": size,
            "stop_loss": b.setup.stop,
            "take_profit": b.setup.take_profit,
            "pnl": pnl,
            "fees": fees,
            "entry_fee": b.entry_fee,
            "exit_fee": exit_fee,
            "exit_reason": reason,
            "confidence": b.setup.confidence,
            "risk": b.planned_risk,
            "risk_pct_of_equity": 100.0 * b.planned_risk / b.equity_at_signal,
            "notional": size * b.entry_price,
            "reasons": list(b.setup.reasons),
        }
        self.trades_closed.append(trade)
        log.info("%s %s %s closed by %s: %.8g -> %.8g, P&L %.2f USDT", ms_to_iso(exit_ms),
                 book.symbol, b.setup.side_name, reason, b.entry_price, exit_price, pnl)
        self._forget(book)

    def _forget(self, book: _SymbolBook) -> None:
        b = book.bracket
        for order in (b.parent, b.stop_order, b.target_order, b.close_order):
            if order is not None:
                self._by_order.pop(order.ref, None)
        book.bracket = None

    def stop(self):
        if self.p.close_at_end:
            for book in self.books:
                b = book.bracket
                if b is None or b.entry_price is None:
                    continue
                last_close = float(book.exec_feed.close[0])
                last_ms = num_to_ms(book.exec_feed.datetime[0]) + self.p.exec_bar_ms
                exit_fee = self.fee_rate * last_close * b.planned_size
                self._close_trade(book, last_close, last_ms, exit_fee, "end_of_data")
        if self.p.progress is not None:
            self.p.progress(1.0)

    # ------------------------------------------------------------------ live paper: journal, restart
    def start(self):
        if self.journal is None:
            return
        by_symbol = {b.symbol: b for b in self.books}
        now_ms = self._wall_ms()
        for trade in self.journal.open_trades():
            book = by_symbol.get(trade.symbol)
            if book is None:
                log.warning("open %s trade %d is not in exchanges.binance.symbols: left untouched",
                            trade.symbol, trade.id)
                continue
            if trade.status == "pending":
                self.journal.store.cancel_trade(trade.id, now_ms, "pending entry dropped on restart")
                log.info("%s: pending entry of trade %d dropped on restart", trade.symbol, trade.id)
                continue
            size = trade.size if trade.side == "long" else -trade.size
            position = self.broker.positions[book.exec_feed]
            position.update(size, trade.entry_price,
                            datetime.fromtimestamp(trade.entry_time_ms / 1000, timezone.utc)
                            .replace(tzinfo=None))
            book.restored = trade
            log.info("%s: restored open %s %.8g @ %.8g (SL %.8g, TP %.8g) from trade %d",
                     trade.symbol, trade.side, trade.size, trade.entry_price, trade.stop_loss,
                     trade.take_profit, trade.id)

    def _watch_restored(self, book: _SymbolBook, now_ms: int) -> None:
        """While warm-up bars replay the downtime, note how far price went; at the first live bar,
        re-arm the exits or, if one was crossed while down, close at the next price."""
        trade, feed = book.restored, book.exec_feed
        bar_open_ms = num_to_ms(feed.datetime[0])
        if self.live is not None and not self.live.is_history(book.symbol, now_ms) \
                and bar_open_ms < trade.entry_time_ms:
            raise UserInputError(
                f"{book.symbol}: the database holds a position opened at "
                f"{ms_to_iso(trade.entry_time_ms)} but the market data is at {ms_to_iso(bar_open_ms)}: "
                f"time went backwards (a replay into a used account?); use a fresh database.url")
        # Bars after the entry bar (the entry bar's own range was judged by the previous run).
        if num_to_ms(feed.datetime[0]) > trade.entry_time_ms:
            book.low_since_down = min(book.low_since_down, feed.low[0])
            book.high_since_down = max(book.high_since_down, feed.high[0])
        if self.live is not None and self.live.is_history(book.symbol, now_ms):
            return
        long = trade.side == "long"
        setup = Setup(1 if long else -1, -1, -1, float("nan"), float("nan"), trade.planned_entry,
                      trade.stop_loss, trade.take_profit, trade.confidence,
                      ("restored after restart",))
        bracket = _OpenBracket(setup, None, None, None, trade.created_ms, trade.size, trade.risk,
                               self.broker.getvalue(), entry_price=trade.entry_price,
                               entry_ms=trade.entry_time_ms, entry_fee=trade.entry_fee or 0.0,
                               trade_id=trade.id)
        book.bracket, book.restored = bracket, None
        stop_hit = book.low_since_down <= trade.stop_loss if long else \
            book.high_since_down >= trade.stop_loss
        target_hit = book.high_since_down >= trade.take_profit if long else \
            book.low_since_down <= trade.take_profit
        exit_side = self.sell if long else self.buy
        if stop_hit or target_hit:
            reason = "stop_loss_while_down" if stop_hit else "take_profit_while_down"
            bracket.close_order = exit_side(data=feed, size=trade.size, exectype=bt.Order.Market)
            bracket.close_reason = reason
            self._by_order[bracket.close_order.ref] = book
            self.journal.close_order(trade, bracket.close_order, reason, now_ms)
            log.warning("%s: %s while the engine was down (low %.8g, high %.8g): closing trade %d "
                        "at the next price", book.symbol, reason, book.low_since_down,
                        book.high_since_down, trade.id)
            return
        bracket.stop_order = exit_side(data=feed, size=trade.size, exectype=bt.Order.Stop,
                                       price=trade.stop_loss, protective=True)
        bracket.target_order = exit_side(data=feed, size=trade.size, exectype=bt.Order.Limit,
                                         price=trade.take_profit, oco=bracket.stop_order,
                                         protective=True)
        for order in (bracket.stop_order, bracket.target_order):
            self._by_order[order.ref] = book
        self.journal.exit_orders(trade, bracket.stop_order, bracket.target_order, now_ms)
        log.info("%s: stop-loss %.8g and take-profit %.8g re-armed for trade %d", book.symbol,
                 trade.stop_loss, trade.take_profit, trade.id)

    def _first_live_bar(self, now_ms: int) -> None:
        """On the first bar from the stream: pick up the day's P&L from before a restart."""
        if all(self.live.is_history(b.symbol, now_ms) for b in self.books if len(b.exec_feed)):
            return
        self._live_seen = True
        day_start_ms = (now_ms - 1) // DAY_MS * DAY_MS
        start_equity = self.journal.equity_before(day_start_ms + 1)
        if start_equity is not None:
            self.daily_guard.seed(now_ms, start_equity, self.broker.getvalue())

    def _journal_equity(self, now_ms: int) -> None:
        open_positions = sum(b.bracket is not None and b.bracket.entry_price is not None
                             or b.restored is not None for b in self.books)
        self.journal.equity(now_ms, self.broker.getvalue(), self.broker.getcash(), open_positions)

    def _wall_ms(self) -> int:
        return int(time.time() * 1000)
