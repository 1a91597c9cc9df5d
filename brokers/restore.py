"""Restart restore: what a paper account holds when an engine starts on it, read from the database.

Used by ``runners.paper_session`` before the strategy starts (the strategy itself holds no
restart code; it is handed ``OpenPosition``s and a day-start equity like any other settings):

- ``restore_account``: pending entries of the previous run are cancelled (an entry that was not
  filled while no engine watched it is stale); open trades become ``OpenPosition``s, with their
  signal's time and reasons; open trades on symbols this run does not trade are left untouched.
- ``check_market_time``: the market's clock must not be before a held position's entry (that
  would be a replay into a used account, or a clock gone wrong): refused with one line.
- ``day_start_equity``: the account's equity at the start of the current UTC day, so the daily
  loss limit counts the losses taken before the restart.
- ``broker_positions``: the positions in the form ``PaperBroker(opening_positions=...)`` takes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from brokers.state.store import StateStore
from core.errors import UserInputError
from core.records import Side, TradeStatus
from core.timeframes import DAY_MS
from core.times import ms_to_iso
from strategies.settings import OpenPosition

__all__ = ["Restored", "broker_positions", "check_market_time", "day_start_equity",
           "restore_account"]

log = logging.getLogger("smc.restore")

PENDING_DROPPED = "pending entry dropped on restart"


@dataclass(frozen=True)
class Restored:
    positions: tuple[OpenPosition, ...]
    cancelled: tuple[int, ...]          # trade ids of pending entries cancelled
    untouched: tuple[int, ...]          # open trades on symbols this run does not trade

    @property
    def warmup_since_ms(self) -> int | None:
        """The oldest entry: warming up from there shows the engine the whole downtime."""
        return min((p.entry_ms for p in self.positions), default=None)


def restore_account(store: StateStore, account_id: int, symbols: Iterable[str],
                    now_ms: int) -> Restored:
    """Cancel stale pending entries and return the open positions to manage (see module doc)."""
    traded = set(symbols)
    positions, cancelled, untouched = [], [], []
    signals = None
    for trade in store.open_trades(account_id=account_id):
        if trade.symbol not in traded:
            log.warning("open %s trade %d is not in exchanges.binance.symbols: left untouched",
                        trade.symbol, trade.id)
            untouched.append(trade.id)
            continue
        if trade.status == TradeStatus.PENDING:
            store.cancel_trade(trade.id, now_ms, PENDING_DROPPED)
            log.info("%s: pending entry of trade %d dropped on restart", trade.symbol, trade.id)
            cancelled.append(trade.id)
            continue
        if signals is None:
            signals = {s.id: s for s in store.signals(limit=None, account_id=account_id)}
        signal = signals.get(trade.signal_id)
        positions.append(OpenPosition(
            trade_id=trade.id, symbol=trade.symbol, side=Side(trade.side), size=trade.size,
            planned_entry=trade.planned_entry, entry_price=trade.entry_price,
            entry_ms=trade.entry_time_ms, entry_fee=trade.entry_fee or 0.0,
            stop_loss=trade.stop_loss, take_profit=trade.take_profit,
            confidence=trade.confidence, risk=trade.risk,
            signal_ms=signal.time_ms if signal else None,
            reasons=tuple(signal.reasons) if signal else ()))
        log.info("%s: restored open %s %.8g @ %.8g (SL %.8g, TP %.8g) from trade %d",
                 trade.symbol, trade.side, trade.size, trade.entry_price, trade.stop_loss,
                 trade.take_profit, trade.id)
    return Restored(tuple(positions), tuple(cancelled), tuple(untouched))


def check_market_time(positions: Iterable[OpenPosition], market_now_ms: int, where: str,
                      fix: str = "use a fresh database") -> None:
    """Refuse to start when the market's clock is before a held position's entry; ``fix`` says
    what to do instead."""
    for p in positions:
        if market_now_ms <= p.entry_ms:
            raise UserInputError(
                f"{where}: the account holds a {p.symbol} position opened at "
                f"{ms_to_iso(p.entry_ms)} but the market data is at {ms_to_iso(market_now_ms)}: "
                f"time went backwards (a replay into a used account?); {fix}")


def day_start_equity(store: StateStore, account_id: int,
                     market_now_ms: int) -> tuple[int, float] | None:
    """``(utc_day, equity)``: the last equity recorded before the current UTC day began."""
    day = (market_now_ms - 1) // DAY_MS
    day_start_ms = day * DAY_MS
    before = [equity for t, equity in store.equity_curve(account_id=account_id)
              if t <= day_start_ms]
    return (day, before[-1]) if before else None


def broker_positions(positions: Iterable[OpenPosition], feed_of: Callable[[str], object]):
    """``(data, signed size, entry price, entry ms)`` per position, for ``PaperBroker``."""
    return [(feed_of(p.symbol), p.size * p.side.sign, p.entry_price, p.entry_ms)
            for p in positions]
