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
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import backtrader as bt

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
    parent: bt.Order
    stop_order: bt.Order
    target_order: bt.Order
    signal_ms: int
    planned_size: float
    planned_risk: float
    equity_at_signal: float
    entry_price: float | None = None
    entry_ms: int | None = None
    entry_fee: float = 0.0


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
    closed: list = field(default_factory=list)


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
        for book in self.books:
            n = len(book.exec_feed)
            if n != book.seen_exec_len:
                book.seen_exec_len = n
                self._on_exec_bar(book)
            n = len(book.signal_feed)
            if n != book.seen_signal_len:
                book.seen_signal_len = n
                self._on_signal_bar(book, now_ms)
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
        gap = book.gap_guard.on_bar(open_ms, feed.volume[0])
        if gap:
            log.info("%s %s: %s; no new entries for %.1f h", book.symbol, ms_to_iso(open_ms),
                     gap, book.gap_guard.cooldown_ms / 3_600_000)

    def _on_signal_bar(self, book: _SymbolBook, now_ms: int) -> None:
        feed = book.signal_feed
        index = len(feed) - 1
        bar = None if self.p.preload else (feed.open[0], feed.high[0], feed.low[0], feed.close[0])
        setups = book.tracker.on_bar(index, bar)
        if not setups:
            return
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
        if book.bracket is not None:
            return "a position or pending entry is already open on this symbol"
        open_count = sum(b.bracket is not None for b in self.books)
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
        if order.status in (order.Submitted, order.Accepted):
            return
        if order.ref == bracket.parent.ref:
            if order.status == order.Completed:
                bracket.entry_price = order.executed.price
                bracket.entry_ms = num_to_ms(order.executed.dt)
                bracket.entry_fee = order.executed.comm
                log.info("%s entry filled: %s %.8g @ %.8g (fee %.4f)", book.symbol,
                         bracket.setup.side_name, abs(order.executed.size), order.executed.price,
                         order.executed.comm)
            elif order.status in (order.Canceled, order.Expired, order.Margin, order.Rejected):
                log.info("%s entry %s before filling", book.symbol, order.getstatusname().lower())
                self._forget(book)
            return
        if order.status == order.Completed:
            reason = "stop_loss" if order.ref == bracket.stop_order.ref else "take_profit"
            self._close_trade(book, order.executed.price, num_to_ms(order.executed.dt),
                              order.executed.comm, reason)

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
        log.info("%s %s closed by %s: %.8g -> %.8g, P&L %.2f USDT", book.symbol,
                 b.setup.side_name, reason, b.entry_price, exit_price, pnl)
        self._forget(book)

    def _forget(self, book: _SymbolBook) -> None:
        b = book.bracket
        for order in (b.parent, b.stop_order, b.target_order):
            self._by_order.pop(order.ref, None)
        book.bracket = None

    def stop(self):
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
