"""A replay: one kline file served by the local fake exchange, published bar by bar to a paper
session that trades it through the live path.

``Replay(specs, speed, history_bars)`` loads the files (``[SYMBOL=]PATH``; one interval for
all), starts a ``FakeBinance`` on 127.0.0.1 with the first ``history_bars`` bars already in the
past (served over REST for the warm-up), and ``publish_all(session)`` publishes the rest once
the engine is connected, at ``speed`` bars per second.

The publisher never runs more than ``MAX_AHEAD_BARS`` (or one second of bars) ahead of the
engine: when the
engine is slower than ``speed`` it says so once, with the rate it reaches, and the replay goes
at the engine's pace (so nothing piles up, and a stop is immediate).
"""

from __future__ import annotations

import logging
import math
import threading
import time

import numpy as np

from core.errors import UserInputError
from engine.data import data_spec

__all__ = ["Replay"]

log = logging.getLogger("smc.replay")

CONNECT_TIMEOUT_S = 120.0
MAX_AHEAD_BARS = 20   # published bars the engine has not received yet, at most


class Replay:
    """A local FakeBinance serving kline files; see the module docstring."""

    def __init__(self, specs: list[str], speed: float, history_bars: int):
        from fake_exchange import FakeBinance
        from klines import load_klines

        if not (math.isfinite(speed) and speed > 0):
            raise UserInputError(f"--speed {speed}: must be a number of bars per second > 0")
        self.bars = {}
        intervals = {}
        for spec in specs:
            symbol, path = data_spec(spec, "--replay")
            if symbol in self.bars:
                raise UserInputError(f"--replay {spec}: symbol {symbol} given twice")
            klines = load_klines(path, symbol=symbol)
            self.bars[symbol] = klines.bars()
            intervals[symbol] = klines.timeframe
        if len(set(intervals.values())) != 1:
            listing = ", ".join(f"{s}={tf}" for s, tf in intervals.items())
            raise UserInputError(f"--replay: all files must have the same interval, got {listing}")
        self.symbols = list(self.bars)
        self.interval = next(iter(intervals.values()))
        self.speed = speed
        total = len(np.unique(np.concatenate([b.open_time_ms for b in self.bars.values()])))
        if not 0 <= history_bars < total:
            raise UserInputError(f"--history-bars {history_bars}: "
                                 f"must be between 0 and {total - 1}")
        self.server = FakeBinance(self.bars, interval=self.interval, speed=None,
                                  history_bars=history_bars).start()
        self.done = threading.Event()
        self.slow_warning: str | None = None

    @property
    def symbol(self) -> str:
        return self.symbols[0]

    def publish_all(self, session) -> None:
        """Publish every bar after the engine connects, wait until it has them all, then stop
        the session (run this in its own thread)."""
        try:
            deadline = time.monotonic() + CONNECT_TIMEOUT_S
            while not session.streaming and time.monotonic() < deadline:
                if session.stopping:
                    return
                time.sleep(0.02)   # publish only once the warm-up is done and the stream is up
            if not session.streaming:
                log.error("replay: the engine never connected")
                return
            self._publish(session)
            if session.stopping:
                return
            for symbol in self.symbols:
                last_open = int(self.bars[symbol].open_time_ms[-1])
                while session.last_bar_open_ms(symbol) != last_open and not session.stopping:
                    time.sleep(0.05)
            time.sleep(0.5)   # let the last bar's orders and journal writes settle
            log.info("replay: all %d bars published and delivered", self.server.total_bars)
        finally:
            self.done.set()
            session.stop()

    def _publish(self, session) -> None:
        server, times = self.server, self.server.open_times_ms
        ahead_limit = min(max(5, int(math.ceil(self.speed))), MAX_AHEAD_BARS)
        started, published_at_start = time.monotonic(), server.published_index
        due = time.monotonic()
        while server.published_index < server.total_bars:
            if session.stopping:
                return
            done = self._engine_index(session, times)
            if server.published_index - done >= ahead_limit:
                elapsed = time.monotonic() - started
                rate = max(done - published_at_start, 0) / max(elapsed, 1e-9)
                # said once, and not for a shortfall of a few per cent
                if self.slow_warning is None and elapsed > 2.0 and rate < 0.95 * self.speed:
                    self.slow_warning = (
                        f"replay: the engine handles about {rate:.0f} bars/s, below --speed "
                        f"{self.speed:g}; the replay goes at the engine's pace")
                    log.warning(self.slow_warning)
                time.sleep(0.005)
                due = time.monotonic()
                continue
            server.publish(1)
            due += 1.0 / self.speed
            pause = due - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            else:
                due = time.monotonic()

    def _engine_index(self, session, times: np.ndarray) -> int:
        """Bars of the merged timeline the engine has received (through its slowest symbol)."""
        seen = []
        for symbol in self.symbols:
            last = session.last_bar_open_ms(symbol)
            seen.append(0 if last is None else int(np.searchsorted(times, last, "right")))
        return min(seen)

    def close(self) -> None:
        self.server.stop()
