"""Pre-trade guards: rules that can forbid NEW entries (open positions are always managed).

Each guard is fed the clock explicitly (``now_ms``, UTC milliseconds: the close time of the bar
being processed) and answers ``check(now_ms) -> Denial | None``. No backtrader import.

- ``DailyLossGuard``: once the UTC day's P&L (equity now minus equity at the day's first
  update, so realized plus unrealized) reaches ``-max_daily_loss``, entries stop until 00:00 UTC.
- ``DataGapGuard``: after a missing execution bar (a gap in the data, or a stale live feed),
  entries stop for ``cooldown_ms`` (``gap_cooldown_bars`` signal bars), because structure read
  across a hole is not trustworthy; watching the execution bars also catches a hole inside one
  signal bar. Zero-volume bars (Binance publishes flat, empty candles around outages) count as
  a gap.
- ``max_positions_denial``: at most ``max_positions`` open positions and pending entries across
  all symbols.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from core.timeframes import DAY_MS

__all__ = ["DailyLossGuard", "DataGapGuard", "Denial", "max_positions_denial"]

log = logging.getLogger("smc.guards")


@dataclass(frozen=True)
class Denial:
    """Why an entry may not be placed now; ``until_ms`` is when the rule lifts, if known."""

    rule: str
    reason: str
    until_ms: int | None = None


class DailyLossGuard:
    """Stops new entries for the rest of the UTC day once the day's P&L hits ``-max_daily_loss``.

    ``carry=(day, equity)`` gives the equity at the start of UTC day ``day`` (days since the
    epoch) when it is known from elsewhere: after a restart the database knows where the day
    began, so the day's earlier losses still count.
    """

    def __init__(self, max_daily_loss: float, carry: tuple[int, float] | None = None):
        self.max_daily_loss = float(max_daily_loss)
        self.carry = carry
        self._day: int | None = None
        self._day_opens_ms = self._day_closes_ms = 0  # now_ms in (opens, closes] is in _day
        self._day_start_equity = 0.0
        self._last_equity: float | None = None
        self._locked_day: int | None = None

    @property
    def day_pnl(self) -> float:
        """Realized + unrealized P&L of the current UTC day, USDT."""
        return 0.0 if self._last_equity is None else self._last_equity - self._day_start_equity

    def update(self, now_ms: int, equity: float) -> None:
        """Record the mark-to-market equity at ``now_ms`` (the close of the bar just ended).

        The bar's P&L belongs to the day it traded in: a bar closing at 00:00 UTC ends the
        previous day, hence ``now_ms - 1``.
        """
        if equity == self._last_equity and self._day_opens_ms < now_ms <= self._day_closes_ms:
            return  # same equity, same day: the update below would change nothing
        day = (now_ms - 1) // DAY_MS
        if day != self._day:
            # The day starts from where the previous day ended (or from the first equity seen),
            # unless the start of this very day is known from before a restart.
            if self.carry is not None and self.carry[0] == day:
                self._day_start_equity = self.carry[1]
            else:
                self._day_start_equity = equity if self._last_equity is None else self._last_equity
            self._day = day
            self._day_opens_ms, self._day_closes_ms = day * DAY_MS, (day + 1) * DAY_MS
        self._last_equity = equity
        if self._locked_day != day and self.day_pnl <= -self.max_daily_loss:
            self._locked_day = day
            log.warning(
                "DAILY LOSS LIMIT REACHED: day P&L %.2f USDT <= -%.2f; "
                "no new entries until 00:00 UTC",
                self.day_pnl, self.max_daily_loss)

    def check(self, now_ms: int) -> Denial | None:
        day = now_ms // DAY_MS          # the day an order placed now would trade in
        if self._locked_day == day:
            return Denial("daily_loss",
                          f"daily loss limit reached (day P&L {self.day_pnl:.2f} USDT)",
                          until_ms=(day + 1) * DAY_MS)
        return None


class DataGapGuard:
    """Blocks entries for ``cooldown_ms`` after a missing or empty bar on one stream."""

    def __init__(self, bar_ms: int, cooldown_ms: int):
        self.bar_ms = int(bar_ms)
        self.cooldown_ms = int(cooldown_ms)
        self._last_open_ms: int | None = None
        self.blocked_until_ms = -1  # entries are blocked while now_ms < this

    def on_bar(self, open_ms: int, volume: float) -> str | None:
        """Feed each closed bar; returns a description of the gap if this bar follows one."""
        problem = None
        if self._last_open_ms is not None and open_ms - self._last_open_ms > self.bar_ms:
            missing = (open_ms - self._last_open_ms) // self.bar_ms - 1
            problem = f"{missing} missing bar(s) before this one"
        elif volume <= 0:
            problem = "zero-volume bar (exchange outage)"
        self._last_open_ms = open_ms
        if problem and self.cooldown_ms > 0:
            # Counted from the close of the bar that follows the hole.
            self.blocked_until_ms = open_ms + self.bar_ms + self.cooldown_ms
        return problem

    def check(self, now_ms: int) -> Denial | None:
        if now_ms < self.blocked_until_ms:
            return Denial("data_gap", "recent missing or empty bars: structure not trusted yet",
                          until_ms=self.blocked_until_ms)
        return None


def max_positions_denial(open_count: int, max_positions: int) -> Denial | None:
    """Denies an entry when ``open_count`` (positions + pending entries) is already at the cap."""
    if open_count >= max_positions:
        return Denial("max_positions", f"{open_count} open of max {max_positions}")
    return None
