"""One back-off rule and one retry loop, shared by the REST client and the WebSocket stream.

``Backoff`` gives the n-th delay: ``min(cap_s, base_s * 2**n)`` scaled by a random factor in
[0.5, 1] (jitter, so many clients do not retry in step). ``retry_transient`` calls a function
until it succeeds, retrying only ``TemporaryError`` (and waiting at least a ``RateLimited``'s
``retry_after_s``); it logs each retry with the attempts left, and the give-up, then re-raises.
``attempts=None`` retries for ever, until ``stop`` (a ``threading.Event``) is set: the live
engine's start-up waits that way for an exchange that is down.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from core.errors import RateLimited, TemporaryError

__all__ = ["Backoff", "Stopped", "retry_transient"]

log = logging.getLogger("smc.retry")

T = TypeVar("T")


class Stopped(Exception):
    """``retry_transient`` gave up because its ``stop`` event was set."""


@dataclass(frozen=True)
class Backoff:
    """Capped exponential back-off with jitter; ``delay(n)`` is the wait before retry n
    (0-based)."""

    base_s: float = 0.5
    cap_s: float = 30.0

    def delay(self, n: int) -> float:
        return min(self.cap_s, self.base_s * 2 ** min(n, 60)) * random.uniform(0.5, 1.0)


def retry_transient(fn: Callable[[], T], attempts: int | None = 4, base_delay_s: float = 0.5,
                    max_delay_s: float = 30, *, what: str = "live OHLCV data",
                    sleep: Callable[[float], None] = time.sleep,
                    stop: threading.Event | None = None) -> T:
    """Call ``fn`` until it returns, retrying only ``TemporaryError`` (``RateLimited`` too).

    ``attempts`` None: retry for ever (until ``stop`` is set, then ``Stopped`` is raised).
    """
    if attempts is not None and attempts < 1:
        raise ValueError(f"attempts must be >= 1, got {attempts}")
    backoff = Backoff(base_delay_s, max_delay_s)
    attempt = 0
    while True:
        if stop is not None and stop.is_set():
            raise Stopped(what)
        try:
            return fn()
        except TemporaryError as exc:
            left = None if attempts is None else attempts - attempt - 1
            if left == 0:
                log.warning("❌ Failed to fetch %s: %s; giving up after %d attempt(s)", what, exc,
                            attempts)
                raise
            delay = backoff.delay(attempt)
            if isinstance(exc, RateLimited):
                delay = max(delay, exc.retry_after_s)
            log.warning("❌ Failed to fetch %s: %s; retrying in %.1fs (%s)", what, exc, delay,
                        "until stopped" if left is None else f"{left} left")
            if stop is not None:
                if stop.wait(delay):
                    raise Stopped(what) from exc
            else:
                sleep(delay)
            attempt += 1
