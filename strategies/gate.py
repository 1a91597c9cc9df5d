"""What the strategy may ask about the market feed before it acts: ``MarketGate``.

Two questions, read-only:

- ``is_history(symbol)``: did the bar just delivered for ``symbol`` come from history (a REST
  warm-up or backfill) rather than the live stream? History builds the SMC state and manages open
  positions, but is never traded on: its setups are in the past.
- ``entry_denial(symbol, now_ms)``: a reason new entries on the bar just delivered must wait
  (a feed was not live when it arrived: the circuit breaker), or None.

A backtest uses ``ALWAYS_OPEN``; live paper trading gives ``runners.paper_session.LiveGate``.
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["ALWAYS_OPEN", "AlwaysOpen", "MarketGate"]


class MarketGate(Protocol):
    def is_history(self, symbol: str) -> bool: ...

    def entry_denial(self, symbol: str, now_ms: int) -> str | None: ...


class AlwaysOpen:
    """Every bar is tradable and nothing holds entries (backtests)."""

    def is_history(self, symbol: str) -> bool:
        return False

    def entry_denial(self, symbol: str, now_ms: int) -> str | None:
        return None


ALWAYS_OPEN = AlwaysOpen()
