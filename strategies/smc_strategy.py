"""``SmcStrategy``: the one backtrader Strategy shared by the backtest and the live paper runner.

A thin shell without side effects. SMC detection and setups (``strategies.setups``), sizing
(``strategies.risk``) and the entry guards (``strategies.guards``) are pure modules; this class
feeds them bars, turns decisions into bracket orders, and reports what happens as events to its
``sink`` (``strategies.events``). It never touches a database, a file or the network, and reads
the market's state only through its ``gate`` (``strategies.gate``).

Params:
    settings (StrategySettings): everything it uses (required).
    sink (EventSink): where events go (default ``NullSink``: a backtest).
    gate (MarketGate): history bars and the circuit breaker (default ``ALWAYS_OPEN``).
    progress (callable | None): called with the fraction of execution bars done.
    detection (mapping | None): symbol -> ``strategies.setups.Structure``, SMC detection already
        made over that symbol's preloaded signal bars (a sweep reuses it); None detects here.

Feeds, per symbol: ``SYMBOL`` (execution bars, fills happen here) and ``SYMBOL@signal``
(signal-timeframe bars, stamped so each arrives with the last execution bar of its period;
absent when both timeframes are equal).

On each new signal bar: the data-gap guard sees the bar; setups known at its close are scored;
the best one per symbol that passes every check becomes a bracket order:
    entry  LIMIT at the setup's entry, valid ``entry_valid_bars`` signal bars
    stop   STOP at the setup's stop      (children are good till cancelled, linked OCO)
    target LIMIT at the setup's target
Its size is computed here, explicitly, by ``strategies.risk.size_position`` from the broker's
equity and the cash not yet promised to other pending entries. Stacking: at most one position or
pending entry per symbol, so a long is never netted against a short; ``max_positions`` counts
positions plus pending entries across all symbols. Positions still open when the data ends are
reported with ``exit_reason="end_of_data"`` at the last close, less the exit fee (the report's
final equity is that liquidation value) when ``close_at_end`` is set.

Positions the account already holds (``settings.open_positions``) get their stop-loss and
take-profit on the symbol's first bar; those may fill on any bar after the position's entry
bar, so a stop or target crossed while no engine was running fills exactly where and as a
backtest would have filled it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

import backtrader as bt

from core.records import ExitReason, OrderRole, OrderSide, OrderStatus, OrderType, Side, TradeRecord
from core.timeframes import signal_feed_name
from core.times import ms_to_iso, num_to_ms
from strategies.events import (
    BracketSubmitted,
    CancelEvent,
    EquityPoint,
    ExitEvent,
    FillEvent,
    NullSink,
    OrderInfo,
    OrderUpdate,
    PositionAdopted,
    SignalEvent,
)
from strategies.gate import ALWAYS_OPEN
from strategies.guards import DailyLossGuard, DataGapGuard, max_positions_denial
from strategies.risk import size_position
from strategies.settings import OpenPosition, StrategySettings
from strategies.setups import Setup, SetupTracker

__all__ = ["SmcStrategy"]

log = logging.getLogger("smc.strategy")

_ORDER_TYPES = {bt.Order.Limit: OrderType.LIMIT, bt.Order.Stop: OrderType.STOP,
                bt.Order.Market: OrderType.MARKET}
_ENTRY_ENDED = (bt.Order.Canceled, bt.Order.Expired, bt.Order.Margin, bt.Order.Rejected)


@dataclass
class _Bracket:
    """One position from its entry order (or its adoption) to its exit."""

    bracket_id: int
    side: int                          # +1 long, -1 short
    planned_entry: float
    stop: float
    target: float
    confidence: float
    reasons: tuple[str, ...]
    signal_ms: int | None
    size: float
    risk: float
    equity_at_signal: float | None
    parent: bt.Order | None = None     # None for an adopted position
    stop_order: bt.Order | None = None
    target_order: bt.Order | None = None
    entry_price: float | None = None
    entry_ms: int | None = None
    entry_fee: float = 0.0
    adopted: OpenPosition | None = None  # waiting for its exits to be placed

    @property
    def side_name(self) -> Side:
        return Side.of(self.side)

    def orders(self):
        return (self.parent, self.stop_order, self.target_order)


@dataclass
class _SymbolBook:
    symbol: str
    exec_feed: bt.feeds.DataBase
    signal_feed: bt.feeds.DataBase
    tracker: SetupTracker
    gap_guard: DataGapGuard
    seen_signal_len: int = 0
    seen_exec_len: int = 0
    bracket: _Bracket | None = None

    def __post_init__(self):
        # The feeds' line buffers, read on every bar as ``line.lencount`` (what len(feed) returns)
        # and ``line.array[line._idx]`` (what feed.datetime[0] returns), without the four or
        # five Python-level calls of backtrader's forwarding that those spellings go through.
        self.exec_times = self.exec_feed.lines.datetime
        self.exec_volumes = self.exec_feed.lines.volume
        self.signal_times = self.signal_feed.lines.datetime


def _order_info(order: bt.Order, role: OrderRole, price: float | None, size: float) -> OrderInfo:
    return OrderInfo(role=role, side=OrderSide.BUY if order.isbuy() else OrderSide.SELL,
                     order_type=_ORDER_TYPES.get(order.exectype, OrderType.MARKET), price=price,
                     size=size, ref=order.ref)


class SmcStrategy(bt.Strategy):
    """SMC order-block strategy; see the module docstring."""

    params = (
        ("settings", None),
        ("sink", None),
        ("gate", None),
        ("progress", None),
        ("detection", None),
    )

    def __init__(self):
        settings: StrategySettings = self.p.settings
        if not isinstance(settings, StrategySettings):
            raise ValueError("SmcStrategy needs settings=StrategySettings(...)")
        self.settings = settings
        self.sink = self.p.sink if self.p.sink is not None else NullSink()
        self.gate = self.p.gate if self.p.gate is not None else ALWAYS_OPEN
        self.exec_bar_ms = settings.exec_bar_ms
        self.entry_valid_ms = settings.entry_valid_bars * settings.signal_bar_ms
        self.entry_valid = timedelta(milliseconds=self.entry_valid_ms)
        self.daily_guard = DailyLossGuard(settings.max_daily_loss, carry=settings.day_start_equity)
        self.books: list[_SymbolBook] = []
        by_symbol = {}
        for symbol in settings.symbols:
            exec_feed = self.getdatabyname(symbol)
            try:
                signal_feed = self.getdatabyname(signal_feed_name(symbol))
            except KeyError:
                signal_feed = exec_feed
            preloaded = getattr(signal_feed, "bars", None) if settings.preload else None
            book = _SymbolBook(
                symbol, exec_feed, signal_feed,
                SetupTracker(settings.setup_for(symbol), preloaded=preloaded,
                             structure=(self.p.detection or {}).get(symbol)),
                DataGapGuard(settings.exec_bar_ms,
                             settings.gap_cooldown_bars * settings.signal_bar_ms))
            self.books.append(book)
            by_symbol[symbol] = book
        self._next_bracket_id = 1
        self._by_order: dict[int, _SymbolBook] = {}
        self._to_adopt: list[_SymbolBook] = []
        for position in settings.open_positions:
            book = by_symbol.get(position.symbol)
            if book is None or book.bracket is not None:
                raise ValueError(f"open position {position.trade_id} on {position.symbol}: not "
                                 f"a traded symbol, or a second position on it")
            book.bracket = self._adopted_bracket(position)
            self._to_adopt.append(book)
        self.trades_closed: list[TradeRecord] = []
        self.signals: list[SignalEvent] = []
        self._live_seen = False
        self._cycles = 0
        self._progress_total = max(1, sum(len(getattr(b.exec_feed, "bars", ()))
                                          for b in self.books))

    # ------------------------------------------------------------------ bar loop
    def start(self):
        self._clock = self.lines.datetime
        self._progress = self.p.progress

    def next(self):
        # The strategy clock is the latest datetime among the feeds that have started; adding one
        # execution bar gives the close of the bar just completed.
        clock = self._clock.array[self._clock._idx]  # self.datetime[0], see _SymbolBook
        now_ms = num_to_ms(clock) + self.exec_bar_ms
        self.daily_guard.update(now_ms, self.broker.getvalue())
        if self._to_adopt:
            self._place_adopted_exits(now_ms)
        signal_bar_closed = False
        for book in self.books:
            n = book.exec_times.lencount
            if n != book.seen_exec_len:
                book.seen_exec_len = n
                self._on_exec_bar(book, clock, now_ms)
            n = book.signal_times.lencount
            if n != book.seen_signal_len:
                book.seen_signal_len = n
                signal_bar_closed = True
                self._on_signal_bar(book, now_ms)
        if not self._live_seen:
            # Warm-up bars are history: no equity points for them.
            self._live_seen = not all(self.gate.is_history(b.symbol)
                                      for b in self.books if len(b.exec_feed))
        if signal_bar_closed and self._live_seen:
            self._emit_equity(now_ms)
        self._cycles += 1
        if self._progress is not None and not self._cycles & 4095:
            self._progress(sum(len(b.exec_times) for b in self.books) / self._progress_total)

    def prenext(self):
        # Symbols whose data starts later (or the signal feed's first bar not yet complete)
        # must not hold back the others: trade whatever has bars.
        self.next()

    def _on_exec_bar(self, book: _SymbolBook, clock: float, now_ms: int) -> None:
        times, volumes = book.exec_times, book.exec_volumes
        bar_dt = times.array[times._idx]
        # A bar delivered with the others is stamped with the strategy clock: no conversion.
        open_ms = now_ms - self.exec_bar_ms if bar_dt == clock else num_to_ms(bar_dt)
        guard = book.gap_guard
        blocked_until_ms = guard.blocked_until_ms
        gap = guard.on_bar(open_ms, volumes.array[volumes._idx])
        if gap:
            already_blocked = open_ms + self.exec_bar_ms < blocked_until_ms
            (log.debug if already_blocked else log.info)(
                "%s %s: %s; no new entries for %.1f h", book.symbol, ms_to_iso(open_ms), gap,
                book.gap_guard.cooldown_ms / 3_600_000)

    def _on_signal_bar(self, book: _SymbolBook, now_ms: int) -> None:
        feed = book.signal_feed
        index = len(feed) - 1
        bar = None if self.settings.preload else (feed.open[0], feed.high[0], feed.low[0],
                                                  feed.close[0])
        setups = book.tracker.on_bar(index, bar)
        if not setups:
            return
        if self.gate.is_history(book.symbol):
            return  # warm-up bars build the structure; their setups are in the past
        log.info("%s %s: Detected %d valid order block(s)", ms_to_iso(now_ms), book.symbol,
                 len(setups))
        for setup in sorted(setups, key=lambda s: -s.confidence):
            self._consider(book, setup, now_ms)

    # ------------------------------------------------------------------ decisions
    def _consider(self, book: _SymbolBook, setup: Setup, now_ms: int) -> None:
        reason = self._entry_denial(book, setup, now_ms)
        decision = None
        if reason is None:
            decision = size_position(self.broker.getvalue(),
                                     self.broker.getcash() - self._reserved_cash(), setup.entry,
                                     setup.stop, setup.side, self.settings.sizing,
                                     self.settings.rules[book.symbol])
            for note in decision.adjustments:
                log.info("%s: %s", book.symbol, note)
            if not decision:
                reason = decision.skip_reason
        if reason is not None:
            self._signal(book, setup, now_ms, traded=False, decision=reason)
            log.info("%s %s %s setup (confidence: %.0f%%) not traded: %s", ms_to_iso(now_ms),
                     book.symbol, setup.side_name, setup.confidence * 100, reason)
            return
        log.info("%s %s signal generated (confidence: %.0f%%) %s entry %.8g stop %.8g target %.8g "
                 "size %.8g", ms_to_iso(now_ms), "BUY" if setup.side > 0 else "SELL",
                 setup.confidence * 100, book.symbol, setup.entry, setup.stop, setup.take_profit,
                 decision.size)
        place = self.buy_bracket if setup.side > 0 else self.sell_bracket
        valid_until_ms = now_ms + self.entry_valid_ms
        parent, stop_order, target_order = place(
            data=book.exec_feed, size=decision.size, exectype=bt.Order.Limit, price=setup.entry,
            stopprice=setup.stop, limitprice=setup.take_profit,
            valid=self.entry_valid,
            stopargs={"valid": None}, limitargs={"valid": None})
        bracket = _Bracket(self._new_bracket_id(), setup.side, setup.entry, setup.stop,
                           setup.take_profit, setup.confidence, tuple(setup.reasons), now_ms,
                           decision.size, decision.risk_amount, self.broker.getvalue(), parent,
                           stop_order, target_order)
        book.bracket = bracket
        for order in bracket.orders():
            self._by_order[order.ref] = book
        self._signal(book, setup, now_ms, traded=True, decision="order placed",
                     bracket_id=bracket.bracket_id)
        self.sink.emit(BracketSubmitted(
            bracket.bracket_id, now_ms, book.symbol, bracket.side_name, decision.size,
            setup.entry, setup.stop, setup.take_profit, setup.confidence, decision.risk_amount,
            bracket.equity_at_signal, valid_until_ms,
            (_order_info(parent, OrderRole.ENTRY, setup.entry, decision.size),
             _order_info(stop_order, OrderRole.STOP_LOSS, setup.stop, decision.size),
             _order_info(target_order, OrderRole.TAKE_PROFIT, setup.take_profit, decision.size))))

    def _signal(self, book: _SymbolBook, setup: Setup, now_ms: int, *, traded: bool,
                decision: str, bracket_id: int | None = None) -> None:
        event = SignalEvent(now_ms, book.symbol, Side.of(setup.side), setup.confidence,
                            setup.entry, setup.stop, setup.take_profit, tuple(setup.reasons),
                            traded, decision, bracket_id)
        self.signals.append(event)
        self.sink.emit(event)

    def _reserved_cash(self) -> float:
        """Cash promised to entries that are placed but not filled yet (notional plus fee)."""
        fee = self.settings.fee_rate
        return sum(b.bracket.size * b.bracket.planned_entry * (1 + fee)
                   for b in self.books if b.bracket is not None and b.bracket.entry_price is None)

    def _entry_denial(self, book: _SymbolBook, setup: Setup, now_ms: int) -> str | None:
        """The first reason this setup may not be traded now, or None."""
        settings = self.settings
        if setup.skip_reason:
            return setup.skip_reason
        if setup.confidence < settings.confidence_threshold:
            # Printed at the precision confidence is kept at (6 decimals):
            # never "0.700 below 0.700".
            return (f"confidence {_decimals(setup.confidence)} below threshold "
                    f"{_decimals(settings.confidence_threshold)}")
        if setup.side < 0 and not settings.allow_short:
            return "short setups are disabled (allow_short: false)"
        if book.bracket is not None:
            return "a position or pending entry is already open on this symbol"
        blocked = self.gate.entry_denial(book.symbol, now_ms)
        if blocked:
            return blocked
        open_count = sum(b.bracket is not None for b in self.books)
        for denial in (book.gap_guard.check(now_ms), self.daily_guard.check(now_ms),
                       max_positions_denial(open_count, settings.max_positions)):
            if denial is not None:
                return denial.reason
        return None

    # ------------------------------------------------------------------ order events
    def notify_order(self, order):
        book = self._by_order.get(order.ref)
        if book is None or book.bracket is None:
            return
        bracket = book.bracket
        event_ms = num_to_ms(self.datetime[0]) + self.exec_bar_ms
        self.sink.emit(OrderUpdate(bracket.bracket_id, order.ref,
                                   OrderStatus(order.getstatusname().lower()), event_ms))
        if order.status in (order.Submitted, order.Accepted):
            return
        if bracket.parent is not None and order.ref == bracket.parent.ref:
            if order.status == order.Completed:
                bracket.entry_price = order.executed.price
                bracket.entry_ms = num_to_ms(order.executed.dt)
                bracket.entry_fee = order.executed.comm
                log.info("%s %s entry filled: %s %.8g @ %.8g (fee %.4f)",
                         ms_to_iso(bracket.entry_ms), book.symbol, bracket.side_name,
                         abs(order.executed.size), order.executed.price, order.executed.comm)
                self.sink.emit(FillEvent(bracket.bracket_id, order.ref, OrderRole.ENTRY,
                                         bracket.entry_ms, order.executed.price,
                                         abs(order.executed.size), order.executed.comm))
            elif order.status in _ENTRY_ENDED:
                status = order.getstatusname().lower()
                log.info("%s entry %s before filling", book.symbol, status)
                self.sink.emit(CancelEvent(bracket.bracket_id, event_ms, f"entry {status}"))
                self._forget(book)
            return
        if order.status == order.Completed:
            if bracket.stop_order is not None and order.ref == bracket.stop_order.ref:
                role, reason = OrderRole.STOP_LOSS, ExitReason.STOP_LOSS
            elif bracket.target_order is not None and order.ref == bracket.target_order.ref:
                role, reason = OrderRole.TAKE_PROFIT, ExitReason.TAKE_PROFIT
            else:
                role, reason = OrderRole.CLOSE, ExitReason.MANUAL
            exit_ms = num_to_ms(order.executed.dt)
            self.sink.emit(FillEvent(bracket.bracket_id, order.ref, role, exit_ms,
                                     order.executed.price, abs(order.executed.size),
                                     order.executed.comm))
            self._close_trade(book, order.executed.price, exit_ms, order.executed.comm, reason)
            self._emit_equity(event_ms)

    def _close_trade(self, book: _SymbolBook, exit_price: float, exit_ms: int, exit_fee: float,
                     reason: str) -> None:
        b = book.bracket
        trade = TradeRecord(
            symbol=book.symbol, side=b.side_name, signal_ms=b.signal_ms, entry_ms=b.entry_ms,
            exit_ms=exit_ms, entry_price=b.entry_price, exit_price=exit_price, size=b.size,
            stop_loss=b.stop, take_profit=b.target, entry_fee=b.entry_fee, exit_fee=exit_fee,
            exit_reason=reason, confidence=b.confidence, risk=b.risk,
            equity_at_signal=b.equity_at_signal, reasons=b.reasons)
        self.trades_closed.append(trade)
        log.info("%s %s %s closed by %s: %.8g -> %.8g, P&L %.2f USDT", ms_to_iso(exit_ms),
                 book.symbol, b.side_name, reason, b.entry_price, exit_price, trade.pnl)
        self.sink.emit(ExitEvent(b.bracket_id, trade))
        self._forget(book)

    def _forget(self, book: _SymbolBook) -> None:
        for order in book.bracket.orders():
            if order is not None:
                self._by_order.pop(order.ref, None)
        book.bracket = None

    def _emit_equity(self, now_ms: int) -> None:
        open_positions = sum(b.bracket is not None and b.bracket.entry_price is not None
                             for b in self.books)
        self.sink.emit(EquityPoint(now_ms, self.broker.getvalue(), self.broker.getcash(),
                                   open_positions))

    def stop(self):
        if self.settings.close_at_end:
            for book in self.books:
                b = book.bracket
                if b is None or b.entry_price is None:
                    continue
                last_close = float(book.exec_feed.close[0])
                last_ms = num_to_ms(book.exec_feed.datetime[0]) + self.exec_bar_ms
                exit_fee = self.settings.fee_rate * last_close * b.size
                self._close_trade(book, last_close, last_ms, exit_fee, ExitReason.END_OF_DATA)
        if self.p.progress is not None:
            self.p.progress(1.0)

    # ------------------------------------------------------------------ positions held at start
    def _new_bracket_id(self) -> int:
        self._next_bracket_id += 1
        return self._next_bracket_id - 1

    def _adopted_bracket(self, p: OpenPosition) -> _Bracket:
        return _Bracket(self._new_bracket_id(), p.side.sign, p.planned_entry, p.stop_loss,
                        p.take_profit, p.confidence, tuple(p.reasons), p.signal_ms, p.size,
                        p.risk, None, entry_price=p.entry_price, entry_ms=p.entry_ms,
                        entry_fee=p.entry_fee, adopted=p)

    def _place_adopted_exits(self, now_ms: int) -> None:
        """Give each held position its stop-loss and take-profit on its symbol's first bar; both
        may fill from the bar after the entry bar on (``active_after_ms``, see BarBroker)."""
        waiting = []
        for book in self._to_adopt:
            if not len(book.exec_feed):
                waiting.append(book)
                continue
            b, p = book.bracket, book.bracket.adopted
            exit_side = self.sell if b.side > 0 else self.buy
            b.stop_order = exit_side(data=book.exec_feed, size=p.size, exectype=bt.Order.Stop,
                                     price=p.stop_loss, protective=True,
                                     active_after_ms=p.entry_ms)
            b.target_order = exit_side(data=book.exec_feed, size=p.size, exectype=bt.Order.Limit,
                                       price=p.take_profit, oco=b.stop_order, protective=True,
                                       active_after_ms=p.entry_ms)
            b.adopted = None
            for order in (b.stop_order, b.target_order):
                self._by_order[order.ref] = book
            self.sink.emit(PositionAdopted(
                b.bracket_id, p.trade_id, now_ms, book.symbol, b.side_name,
                (_order_info(b.stop_order, OrderRole.STOP_LOSS, p.stop_loss, p.size),
                 _order_info(b.target_order, OrderRole.TAKE_PROFIT, p.take_profit, p.size))))
            log.info("%s: open %s %.8g @ %.8g (trade %d) managed: stop-loss %.8g, take-profit %.8g",
                     book.symbol, b.side_name, p.size, p.entry_price, p.trade_id, p.stop_loss,
                     p.take_profit)
        self._to_adopt = waiting


def _decimals(value: float) -> str:
    """``value`` with up to 6 decimals and no trailing zeros (0.69975, 0.7)."""
    return f"{value:.6f}".rstrip("0").rstrip(".")
