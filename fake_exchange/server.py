"""``FakeBinance``: a local Binance-compatible server that replays ``Bars`` over WebSocket and REST.

One port on 127.0.0.1 serves both protocols (websockets' ``process_request`` hook answers plain
HTTP GETs), so ``ws_url`` and ``rest_url`` differ only in the scheme. The asyncio loop runs in a
daemon thread; every public method is thread-safe and may be called from tests or from another
thread. Wire formats come from ``venue.wire``; the protocol facts follow
``shared/docs/binance-protocol.md`` (section numbers below refer to it).

Market clock
    The open times of all symbols are merged (a symbol without a bar at an open time is a gap: it
    sends nothing for it and REST has no row). The first ``history_bars`` bars are closed at start
    and served by REST only. Each later bar is published as ``updates_per_bar`` stream updates:
    ``updates_per_bar - 1`` forming ones (``x: false``; high, low and close move from the open
    toward their final values in equal steps, volume grows) and one closing update with the final
    values. Update ``j`` of a bar has event time ``open + j * interval / updates_per_bar``; the
    closing one has ``open + interval``, which becomes the server clock (``now_ms``,
    ``GET /api/v3/time``). The clock starts at the close of the last history bar (or the first
    open time when ``history_bars == 0``).

    ``speed=None``: nothing moves by itself; ``publish(n_bars)`` / ``step(n_updates)`` send frames
    and return once they are written to every socket. ``speed=S``: a task publishes S bars per
    second from ``start()`` on (the first update comes one update period after start).

The protocols live in their own modules: REST routes in ``fake_exchange.rest`` (§2), the
WebSocket side in ``fake_exchange.ws`` (§1), fault injection in ``fake_exchange.faults``.

Fault injection: ``drop_connections``, ``stall``, ``send_garbage``, ``duplicate_next``,
``reorder_next``, ``skip_next_bar``, ``fail_rest``, ``shutdown_event``. Counters:
``rest_requests`` (path and query of every REST call), ``ws_connections`` (accepted so far).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Mapping

import numpy as np
from websockets.asyncio.server import serve

from core.bars import Bars
from core.exchange_rules import SymbolRules, load_snapshot
from fake_exchange.faults import FaultsMixin
from fake_exchange.rest import RestMixin
from fake_exchange.ws import WebSocketMixin
from venue.wire import interval_ms, kline_event

__all__ = ["FakeBinance"]

log = logging.getLogger("smc.fake_binance")
# one INFO line per HTTP call: too chatty
_ws_log = logging.getLogger("smc.fake_binance.websockets")
_ws_log.setLevel(logging.WARNING)


class FakeBinance(FaultsMixin, WebSocketMixin, RestMixin):
    """A Binance-compatible WebSocket + REST server on 127.0.0.1 replaying ``bars``.

    Parameters
    ----------
    bars : dict[str, Bars]
        Candles per symbol (Binance id, e.g. ``BTCUSDT``), all of ``interval``.
    interval : str
        The kline interval served (stream ``<symbol>@kline_<interval>`` and REST klines).
    speed : float | None
        None: publish only on ``publish``/``step`` calls. S > 0: S bars per second, automatically.
    updates_per_bar : int
        Stream updates per bar; the last one closes it (``x: true``).
    history_bars : int
        Bars (of the merged timeline) already closed at start: REST only, never streamed.
    port : int
        0 picks a free port.
    rules : dict[str, SymbolRules] | None
        Order rules served in exchangeInfo per symbol. None: those of the bundled snapshot
        (``data/exchange_rules.json``); a symbol without rules is served without PRICE_FILTER,
        LOT_SIZE and NOTIONAL, so the engine refuses to trade it, as it would on a real exchange
        whose filters it cannot read.
    """

    def __init__(self, bars: Mapping[str, Bars], interval: str = "1m", *,
                 speed: float | None = None, updates_per_bar: int = 3, history_bars: int = 0,
                 port: int = 0, rules: Mapping[str, SymbolRules] | None = None):
        if not bars:
            raise ValueError("FakeBinance needs bars for at least one symbol")
        self.interval = interval
        self.interval_ms = interval_ms(interval)
        for symbol, series in bars.items():
            if not isinstance(series, Bars):
                raise TypeError(f"bars[{symbol!r}] must be a Bars, got {type(series).__name__}")
            if series.timeframe_ms != self.interval_ms:
                raise ValueError(f"bars[{symbol!r}] are {series.timeframe_ms} ms bars, "
                                 f"interval {interval} is {self.interval_ms} ms")
        if int(updates_per_bar) < 1:
            raise ValueError(f"updates_per_bar must be >= 1, got {updates_per_bar}")
        if speed is not None and not speed > 0:
            raise ValueError(f"speed must be > 0 bars per second or None, got {speed}")
        self._bars = {symbol.upper(): series for symbol, series in bars.items()}
        self.rules = dict(load_snapshot() if rules is None else rules)
        self._times = _union([s.open_time_ms for s in self._bars.values()])
        if len(self._times) == 0:
            raise ValueError("FakeBinance needs at least one bar")
        if not 0 <= history_bars <= len(self._times):
            raise ValueError(f"history_bars must be in 0..{len(self._times)}, got {history_bars}")
        # union position -> row of each symbol's Bars (-1: the symbol has no bar at that open time)
        self._rows: dict[str, np.ndarray] = {}
        for symbol, series in self._bars.items():
            rows = np.full(len(self._times), -1, dtype=np.int64)
            rows[np.searchsorted(self._times, series.open_time_ms)] = np.arange(len(series))
            self._rows[symbol] = rows
        self.speed = speed
        self.updates_per_bar = int(updates_per_bar)
        self.history_bars = int(history_bars)
        self._requested_port = int(port)

        self._published = self.history_bars  # bars closed so far (merged timeline)
        self._step = 0  # updates already sent of bar ``_published``
        self._clock_ms = (int(self._times[self.history_bars - 1]) + self.interval_ms
                          if self.history_bars else int(self._times[0]))

        self.rest_requests: list[str] = []
        self.ws_connections = 0
        self._clients: set = set()  # StreamClient of fake_exchange.ws
        self._init_faults()

        self.port: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None
        self._stop_event: asyncio.Event | None = None
        self._publish_lock: asyncio.Lock | None = None

    # ---------------------------------------------------------------------------- lifecycle

    @property
    def ws_url(self) -> str:
        """``ws://127.0.0.1:<port>`` (append ``/stream?streams=...`` or ``/ws/...``)."""
        self._require_started()
        return f"ws://127.0.0.1:{self.port}"

    @property
    def rest_url(self) -> str:
        """``http://127.0.0.1:<port>`` (REST lives under ``/api/v3``)."""
        self._require_started()
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeBinance:
        """Start listening; returns once the port accepts connections."""
        if self._thread is not None:
            raise RuntimeError("FakeBinance already started")
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="fake-binance", daemon=True)
        self._thread.start()
        self._ready.wait(10)
        if self._startup_error is not None:
            raise RuntimeError(f"FakeBinance failed to start: {self._startup_error}") \
                from self._startup_error
        if self.port is None:
            raise RuntimeError("FakeBinance did not start within 10 s")
        return self

    def stop(self) -> None:
        """Close every connection and the listening socket; stop the loop thread."""
        if self._thread is None or self._loop is None:
            return
        if self._stop_event is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._stop_event.set)
        self._thread.join(10)
        self._thread = None

    def __enter__(self) -> FakeBinance:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -------------------------------------------------------------------------- clock, state

    @property
    def published_index(self) -> int:
        """Bars of the merged timeline closed so far (history bars included)."""
        return self._published

    @property
    def total_bars(self) -> int:
        """Open times in the merged timeline."""
        return len(self._times)

    @property
    def now_ms(self) -> int:
        """The market clock (epoch ms), as ``GET /api/v3/time`` reports it."""
        return self._clock_ms

    @property
    def open_times_ms(self) -> np.ndarray:
        """The merged timeline of bar open times."""
        return self._times

    @property
    def open_connections(self) -> int:
        """WebSocket connections currently open."""
        return len(self._clients)

    def publish(self, n_bars: int = 1) -> int:
        """Publish until ``n_bars`` more bars have closed
        (a bar already forming counts as the first).

        Blocks until the frames are written (also through a ``stall``); returns the number of bars
        closed, fewer at the end of the data.
        """
        return self._call(self._publish(int(n_bars)))

    def step(self, n_updates: int = 1) -> int:
        """Send the next ``n_updates`` stream updates (forming or closing); returns how many."""
        return self._call(self._steps(int(n_updates)))

    def wait_published(self, index: int, timeout: float = 10.0) -> bool:
        """Wait (speed mode) until ``published_index >= index``; False on timeout."""
        return _wait_until(lambda: self._published >= index, timeout)

    def wait_connections(self, n: int = 1, timeout: float = 5.0) -> bool:
        """Wait until ``ws_connections >= n``: the n-th connection since start is registered and
        receives every frame published from now on (a client's ``connect()`` can return a moment
        before that); False on timeout. After a drop, wait for the reconnect with ``n + 1``."""
        return _wait_until(lambda: self.ws_connections >= n, timeout)

    # ------------------------------------------------------------------------- loop thread

    def _require_started(self) -> None:
        if self.port is None:
            raise RuntimeError(
                "FakeBinance is not started: call start() or use it as a context manager"
            )

    def _call(self, coro):
        self._require_started()
        if self._thread is None:
            coro.close()
            raise RuntimeError("FakeBinance is stopped")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    @staticmethod
    async def _set(action) -> None:
        action()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._main())
        except BaseException as exc:
            if not self._ready.is_set():
                self._startup_error = exc
                self._ready.set()
            else:
                log.exception("fake Binance loop crashed")
        finally:
            self._loop.close()

    async def _main(self) -> None:
        self._stop_event = asyncio.Event()
        self._publish_lock = asyncio.Lock()
        async with serve(self._handle_ws, "127.0.0.1", self._requested_port,
                         process_request=self._process_request, logger=_ws_log) as server:
            self.port = server.sockets[0].getsockname()[1]
            auto = asyncio.create_task(self._auto_publish()) if self.speed else None
            self._ready.set()
            await self._stop_event.wait()
            if auto is not None:
                auto.cancel()
            for client in list(self._clients):
                client.ws.transport.abort()

    async def _auto_publish(self) -> None:
        period = 1.0 / (self.speed * self.updates_per_bar)
        while self._published < len(self._times):
            await asyncio.sleep(period)
            async with self._publish_lock:
                await self._advance()
        await self._flush_held()

    # ----------------------------------------------------------------------------- publishing

    async def _publish(self, n_bars: int) -> int:
        closed = 0
        async with self._publish_lock:
            while closed < n_bars and self._published < len(self._times):
                before = self._published
                await self._advance()
                closed += self._published - before
            if self._published >= len(self._times):
                await self._flush_held()
        return closed

    async def _steps(self, n_updates: int) -> int:
        sent = 0
        async with self._publish_lock:
            while sent < n_updates and self._published < len(self._times):
                await self._advance()
                sent += 1
            if self._published >= len(self._times):
                await self._flush_held()
        return sent

    def _values(self, symbol: str, row: int, step: int) -> tuple[float, float, float, float, float]:
        """(o, h, l, c, v) of a bar after ``step`` of ``updates_per_bar`` updates."""
        series = self._bars[symbol]
        open_, high, low, close, volume = (
            float(series.open[row]), float(series.high[row]), float(series.low[row]),
            float(series.close[row]), float(series.volume[row]))
        if step >= self.updates_per_bar:
            return open_, high, low, close, volume
        f = step / self.updates_per_bar
        # stay on the data's price grid
        places = max(_decimals(x) for x in (open_, high, low, close))
        return (open_, round(open_ + (high - open_) * f, places),
                round(open_ + (low - open_) * f, places),
                round(open_ + (close - open_) * f, places), round(volume * f, 8))

    async def _advance(self) -> None:
        """Send the next update of the current bar (the caller holds the publish lock)."""
        await self._wait_stall()
        index = self._published
        self._step += 1
        step = self._step
        if step == 1 and self._skip_pending:
            self._skip_pending = False
            self._skipping_index = index
        open_ms = int(self._times[index])
        closing = step >= self.updates_per_bar
        event_ms = open_ms + (self.interval_ms if closing
                              else step * self.interval_ms // self.updates_per_bar)
        frames = []
        for symbol, rows in self._rows.items():
            row = int(rows[index])
            if row < 0:
                continue
            values = self._values(symbol, row, step)
            payload = kline_event(symbol, self.interval, open_ms, *values, closing, event_ms)
            frames.append((f"{symbol.lower()}@kline_{self.interval}", payload))
        self._clock_ms = event_ms
        if closing:
            self._published += 1
            self._step = 0
        if index == self._skipping_index:
            return
        if not closing:
            await self._send_frames(frames)
            return
        if self._duplicate_pending and frames:
            self._duplicate_pending = False
            frames = frames + frames
        if self._reorder_pending and frames:
            self._reorder_pending = False
            self._held = frames
            return
        await self._send_frames(frames)
        await self._flush_held()

    async def _flush_held(self) -> None:
        held, self._held = self._held, None
        if held:
            await self._send_frames(held)



def _wait_until(condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def _union(arrays: list[np.ndarray]) -> np.ndarray:
    merged = np.unique(np.concatenate(arrays)) if arrays else np.empty(0, np.int64)
    return merged.astype(np.int64)


def _decimals(value: float) -> int:
    text = repr(value)
    if "e" in text or "." not in text:
        return 8
    return min(len(text.split(".")[1]), 8)
