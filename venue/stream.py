"""``KlineStream``: one WebSocket connection to Binance kline streams, read by a daemon thread.

The streams are named in the URL (``<ws_url>/stream?streams=btcusdt@kline_1m/...``), so the client
never sends SUBSCRIBE: after a reconnect they come back by themselves, and the only frames the
client sends are websockets' own pings (one every ``ping_interval`` s), far below Binance's
5 messages/s.

The reader thread only parses frames and puts the results on ``queue`` (an unbounded
``queue.Queue``, so ``put`` never blocks): websockets keeps answering the server's pings from its
own I/O thread only while frames are drained. Items on the queue, in arrival order:

- ``Connected(at_ms, connection)`` after each successful handshake (1, 2, ...);
- ``KlineUpdate`` (``venue.wire``) for every kline frame;
- ``Disconnected(at_ms, reason)`` after each connection ends (also after a failed attempt).

Reconnects: on any close or error, with exponential back-off and jitter (``backoff_base_s`` doubling
up to ``backoff_cap_s``, times a random factor in [0.5, 1]); the back-off resets after a connection
stayed up ``healthy_after_s``. A ``serverShutdown`` event closes the connection and reconnects at
once, and so does the connection's age reaching ``max_lifetime_s`` (23 h 50 m by default: Binance
drops connections at 24 h). Garbage frames are logged and skipped.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from dataclasses import dataclass

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from core.retry import Backoff
from venue.errors import WireFormatError
from venue.wire import KlineUpdate, ServerShutdown, combined_stream_url, parse_stream_message

__all__ = ["Connected", "Disconnected", "KlineStream"]

log = logging.getLogger("smc.live_stream")

MAX_LIFETIME_S = 23 * 3600 + 50 * 60


@dataclass(frozen=True)
class StreamTiming:
    """How the reader waits: back-off, lifetime, handshake and ping timeouts, its poll period."""

    backoff_base_s: float
    backoff_cap_s: float
    healthy_after_s: float
    max_lifetime_s: float
    open_timeout_s: float
    ping_interval_s: float | None
    ping_timeout_s: float | None
    poll_s: float


@dataclass(frozen=True)
class Connected:
    at_ms: int
    connection: int  # 1 for the first connection, then 2, 3, ...


@dataclass(frozen=True)
class Disconnected:
    at_ms: int
    reason: str


class KlineStream:
    """Kline updates of ``symbols`` x ``interval`` from ``ws_url`` into ``self.queue``.

    Parameters (keyword-only after ``interval``): ``out_queue`` (a ``queue.Queue`` to fill; a new
    one by default), ``backoff_base_s`` 0.5, ``backoff_cap_s`` 30, ``healthy_after_s`` 60,
    ``max_lifetime_s`` 23 h 50 m, ``open_timeout_s`` 10, ``ping_interval_s`` 20, ``ping_timeout_s``
    20, ``poll_s`` 1.0 (how often the reader wakes up to check ``stop()`` and the lifetime).
    """

    def __init__(self, ws_url: str, symbols, interval: str, *,
                 out_queue: queue.Queue | None = None, backoff_base_s: float = 0.5,
                 backoff_cap_s: float = 30.0, healthy_after_s: float = 60.0,
                 max_lifetime_s: float = MAX_LIFETIME_S, open_timeout_s: float = 10.0,
                 ping_interval_s: float | None = 20.0, ping_timeout_s: float | None = 20.0,
                 poll_s: float = 1.0):
        self.symbols = [s.upper() for s in symbols]
        self.interval = interval
        self.url = combined_stream_url(ws_url, self.symbols, [interval])
        self.queue: queue.Queue = out_queue if out_queue is not None else queue.Queue()
        self.timing = StreamTiming(backoff_base_s, backoff_cap_s, healthy_after_s, max_lifetime_s,
                                   open_timeout_s, ping_interval_s, ping_timeout_s, poll_s)
        self.connections = 0
        self.parse_errors = 0
        self.frames = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._conn = None
        self._conn_lock = threading.Lock()

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> KlineStream:
        if self._thread is not None:
            raise RuntimeError("KlineStream already started")
        self._thread = threading.Thread(target=self._run, name="kline-stream", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Close the connection and join the reader thread."""
        self._stop.set()
        with self._conn_lock:
            conn = self._conn
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("kline stream thread did not stop within %.1fs", timeout)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # ------------------------------------------------------------------ reader thread
    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                conn = connect(self.url, open_timeout=self.timing.open_timeout_s,
                               ping_interval=self.timing.ping_interval_s,
                               ping_timeout=self.timing.ping_timeout_s, close_timeout=2,
                               max_size=2**20,
                               legacy=True)  # a plain connection: this loop closes it
            except Exception as exc:
                if self._stop.is_set():
                    break
                log.error("❌ Failed to fetch live OHLCV data: cannot connect to %s: %s",
                          self.url, exc)
                self._put(Disconnected(_now_ms(), f"connect failed: {exc}"))
                self._sleep(self._delay(failures))
                failures += 1
                continue
            with self._conn_lock:
                self._conn = conn
            if self._stop.is_set():  # stop() ran while connecting
                conn.close()
                break
            self.connections += 1
            started = time.monotonic()
            self._put(Connected(_now_ms(), self.connections))
            log.info("Live kline stream connected (%d): %s", self.connections, self.url)
            reason, immediate = self._read(conn, started)
            with contextlib.suppress(Exception):
                conn.close()
            with self._conn_lock:
                self._conn = None
            self._put(Disconnected(_now_ms(), reason))
            if self._stop.is_set():
                break
            if time.monotonic() - started >= self.timing.healthy_after_s:
                failures = 0
            if immediate:
                log.info("Live kline stream: %s; reconnecting now", reason)
                continue
            delay = self._delay(failures)
            failures += 1
            log.error("❌ Failed to fetch live OHLCV data: %s; reconnecting in %.2fs",
                      reason, delay)
            self._sleep(delay)

    def _read(self, conn, started: float) -> tuple[str, bool]:
        """Read until the connection ends; returns (reason, reconnect at once)."""
        while not self._stop.is_set():
            left = self.timing.max_lifetime_s - (time.monotonic() - started)
            if left <= 0:
                return "connection lifetime reached", True
            try:
                text = conn.recv(timeout=min(self.timing.poll_s, left))
            except TimeoutError:
                continue
            except ConnectionClosed as exc:
                return f"{type(exc).__name__}: {exc}", False
            except Exception as exc:
                return f"{type(exc).__name__}: {exc}", False
            self.frames += 1
            try:
                message = parse_stream_message(text)
            except WireFormatError as exc:
                self.parse_errors += 1
                log.error("❌ Failed to parse live kline frame: %s (%.80r)", exc, text)
                continue
            if isinstance(message, KlineUpdate):
                self._put(message)
            elif isinstance(message, ServerShutdown):
                return "serverShutdown", True
        return "stopped", False

    def _delay(self, failures: int) -> float:
        return Backoff(self.timing.backoff_base_s, self.timing.backoff_cap_s).delay(failures)

    def _sleep(self, seconds: float) -> None:
        self._stop.wait(seconds)

    def _put(self, item) -> None:
        self.queue.put_nowait(item)


def _now_ms() -> int:
    return int(time.time() * 1000)
