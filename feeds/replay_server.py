"""``FakeBinance``: a local Binance-compatible server that replays ``Bars`` over WebSocket and REST.

One port on 127.0.0.1 serves both protocols (websockets' ``process_request`` hook answers plain
HTTP GETs), so ``ws_url`` and ``rest_url`` differ only in the scheme. The asyncio loop runs in a
daemon thread; every public method is thread-safe and may be called from tests or from another
thread. Wire formats come from ``feeds.binance_wire``; the protocol facts follow
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

REST (``/api/v3/...``, §2)
    ``ping``, ``time``, ``exchangeInfo`` (all symbols, ``symbol=`` or ``symbols=[...]``; every
    symbol gets the BTCUSDT filters), ``klines`` and ``uiKlines`` (§2.3: default limit 500, values
    above 1000 are capped at 1000; without ``startTime`` the newest rows up to ``endTime`` or the
    clock; with it the oldest from there; ``startTime``/``endTime`` filter on open times, µs values
    accepted). Only published bars are served, plus the bar the clock is inside of, as the newest
    row with its values so far (like real Binance). Only the configured interval is served: any
    other interval, valid or not, is answered 400 ``-1120``. ``startTime > endTime`` gives ``[]``.

WebSocket (§1)
    ``/stream?streams=a/b`` (combined envelope), ``/stream``, ``/ws``, ``/ws/<name>[/<name>...]``
    (raw payloads; a path part that is not a stream name, such as ccxt.pro's ``/ws/0``, is ignored).
    SUBSCRIBE, UNSUBSCRIBE, LIST_SUBSCRIPTIONS, SET_PROPERTY and GET_PROPERTY (``combined``) with the
    reply and error shapes of §1.2. Not modelled: the 5 messages/s incoming limit, the 24 h
    lifetime, ``timeUnit``. Pings: websockets' own (every 20 s).

Fault injection: ``drop_connections``, ``stall``, ``send_garbage``, ``duplicate_next``,
``reorder_next``, ``skip_next_bar``, ``fail_rest``, ``shutdown_event``. Counters:
``rest_requests`` (path and query of every REST call), ``ws_connections`` (accepted so far).
"""

from __future__ import annotations

import asyncio
import http
import json
import logging
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

import numpy as np
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from feeds.bars import Bars
from feeds.binance_wire import KLINE_INTERVALS, combined, interval_ms, kline_event, rest_kline_row

__all__ = ["FakeBinance"]

log = logging.getLogger("smc.fake_binance")
_ws_log = logging.getLogger("smc.fake_binance.websockets")  # one INFO line per HTTP call: too chatty
_ws_log.setLevel(logging.WARNING)

MAX_STREAMS_PER_CONNECTION = 1024
SEND_TIMEOUT_S = 5.0  # a client that does not drain its socket for this long is dropped
KNOWN_METHODS = ("SUBSCRIBE", "UNSUBSCRIBE", "LIST_SUBSCRIPTIONS", "SET_PROPERTY", "GET_PROPERTY")
_ID_TEXT = re.compile(r"[A-Za-z0-9]{1,36}")
_QUOTE_ASSETS = ("USDT", "FDUSD", "USDC", "TUSD", "BUSD", "BTC", "ETH", "BNB", "EUR", "TRY")
_COMPACT = (",", ":")


def _dumps(obj) -> str:
    return json.dumps(obj, separators=_COMPACT)


@dataclass(eq=False)
class _Client:
    ws: ServerConnection
    combined: bool
    streams: list[str] = field(default_factory=list)


class _RestError(Exception):
    def __init__(self, status: int, code: int, msg: str):
        super().__init__(msg)
        self.status, self.code, self.msg = status, code, msg


class FakeBinance:
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
    """

    def __init__(self, bars: Mapping[str, Bars], interval: str = "1m", *, speed: float | None = None,
                 updates_per_bar: int = 3, history_bars: int = 0, port: int = 0):
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
        self._clients: set[_Client] = set()
        self._stalled_until = 0.0
        self._skip_pending = False
        self._skipping_index = -1
        self._duplicate_pending = False
        self._reorder_pending = False
        self._held: list[tuple[str, dict]] | None = None
        self._rest_failures: list[tuple[int, int]] = []  # (status, retry_after) per failing call

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

    def start(self) -> "FakeBinance":
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

    def __enter__(self) -> "FakeBinance":
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
        """Publish until ``n_bars`` more bars have closed (a bar already forming counts as the first).

        Blocks until the frames are written (also through a ``stall``); returns the number of bars
        closed, fewer at the end of the data.
        """
        return self._call(self._publish(int(n_bars)))

    def step(self, n_updates: int = 1) -> int:
        """Send the next ``n_updates`` stream updates (forming or closing); returns how many."""
        return self._call(self._steps(int(n_updates)))

    def wait_published(self, index: int, timeout: float = 10.0) -> bool:
        """Wait (speed mode) until ``published_index >= index``; False on timeout."""
        deadline = time.monotonic() + timeout
        while self._published < index:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.005)
        return True

    def wait_connections(self, n: int = 1, timeout: float = 5.0) -> bool:
        """Wait until ``ws_connections >= n``: the n-th connection since start is registered and
        receives every frame published from now on (a client's ``connect()`` can return a moment
        before that); False on timeout. After a drop, wait for the reconnect with ``n + 1``."""
        deadline = time.monotonic() + timeout
        while self.ws_connections < n:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.005)
        return True

    # ----------------------------------------------------------------------- fault injection

    def drop_connections(self) -> None:
        """Abort every WebSocket connection (no close frame: clients see code 1006)."""
        self._call(self._drop_all())

    def stall(self, seconds: float) -> None:
        """Send no frame and publish nothing for ``seconds`` from now; connections stay open."""
        until = time.monotonic() + float(seconds)
        self._call(self._set(lambda: setattr(self, "_stalled_until", max(self._stalled_until, until))))

    def send_garbage(self, text: str = "{not json") -> None:
        """Send ``text`` as the next frame on every connection (blocks until sent)."""
        self._call(self._broadcast_text(text))

    def duplicate_next(self) -> None:
        """Send the next closing update twice."""
        self._call(self._set(lambda: setattr(self, "_duplicate_pending", True)))

    def reorder_next(self) -> None:
        """Send the next two closing updates in swapped order (forming updates are not moved)."""
        self._call(self._set(lambda: setattr(self, "_reorder_pending", True)))

    def skip_next_bar(self) -> None:
        """Never stream the next bar to start (REST still has it)."""
        self._call(self._set(lambda: setattr(self, "_skip_pending", True)))

    def fail_rest(self, status: int = 429, count: int = 1, retry_after: int = 1) -> None:
        """Answer the next ``count`` REST calls with ``status`` and ``Retry-After: retry_after``.

        The body is ``{"code":-1003,"msg":"Too many requests."}`` for 429 and 418, and
        ``{"code":-1001,"msg":"Internal error; unable to process your request. Please try again."}``
        for any other status (use 500/502/503 to simulate an outage).
        """
        http.HTTPStatus(status)  # ValueError for a status code HTTP does not know
        self._call(self._set(lambda: self._rest_failures.extend([(int(status), int(retry_after))] * count)))

    def shutdown_event(self) -> None:
        """Send ``serverShutdown`` (raw or combined shape) on every connection, then close them."""
        self._call(self._shutdown_all())

    # ------------------------------------------------------------------------- loop thread

    def _require_started(self) -> None:
        if self.port is None:
            raise RuntimeError("FakeBinance is not started: call start() or use it as a context manager")

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
        except BaseException as exc:  # noqa: BLE001 - reported to start() or logged
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

    async def _wait_stall(self) -> None:
        while (remaining := self._stalled_until - time.monotonic()) > 0:
            await asyncio.sleep(remaining)

    def _values(self, symbol: str, row: int, step: int) -> tuple[float, float, float, float, float]:
        """(o, h, l, c, v) of a bar after ``step`` of ``updates_per_bar`` updates."""
        series = self._bars[symbol]
        o, h, l, c, v = (float(series.open[row]), float(series.high[row]), float(series.low[row]),
                         float(series.close[row]), float(series.volume[row]))
        if step >= self.updates_per_bar:
            return o, h, l, c, v
        f = step / self.updates_per_bar
        places = max(_decimals(x) for x in (o, h, l, c))  # stay on the data's price grid
        return (o, round(o + (h - o) * f, places), round(o + (l - o) * f, places),
                round(o + (c - o) * f, places), round(v * f, 8))

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
        event_ms = open_ms + (self.interval_ms if closing else step * self.interval_ms // self.updates_per_bar)
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

    async def _send_frames(self, frames: list[tuple[str, dict]]) -> None:
        if not frames or not self._clients:
            return
        raw = {id(payload): _dumps(payload) for _, payload in frames}
        wrapped = {id(payload): _dumps(combined(stream, payload)) for stream, payload in frames}
        jobs = []
        for client in list(self._clients):
            texts = [(wrapped if client.combined else raw)[id(payload)]
                     for stream, payload in frames if stream in client.streams]
            if texts:
                jobs.append(self._send_texts(client, texts))
        await asyncio.gather(*jobs)

    async def _send_texts(self, client: _Client, texts: list[str]) -> None:
        try:
            for text in texts:
                await asyncio.wait_for(client.ws.send(text), SEND_TIMEOUT_S)
        except ConnectionClosed:
            pass
        except asyncio.TimeoutError:
            log.warning("dropping a WebSocket client that stopped reading")
            client.ws.transport.abort()

    async def _broadcast_text(self, text: str) -> None:
        await self._wait_stall()
        await asyncio.gather(*(self._send_texts(client, [text]) for client in list(self._clients)))

    async def _drop_all(self) -> None:
        for client in list(self._clients):
            client.ws.transport.abort()

    async def _shutdown_all(self) -> None:
        await self._wait_stall()
        payload = {"e": "serverShutdown", "E": self._clock_ms}
        raw, wrapped = _dumps(payload), _dumps(combined("!serverShutdown", payload))

        async def shut(client: _Client) -> None:
            await self._send_texts(client, [wrapped if client.combined else raw])
            try:
                await client.ws.close(1001, "server shutdown")
            except ConnectionClosed:
                pass

        await asyncio.gather(*(shut(client) for client in list(self._clients)))

    # ------------------------------------------------------------------------------ WebSocket

    async def _handle_ws(self, ws: ServerConnection) -> None:
        target = urlsplit(ws.request.path)
        if target.path == "/stream":
            client = _Client(ws, combined=True)
            names = parse_qs(target.query).get("streams", [""])[0].split("/")
        else:  # /ws or /ws/<names> (checked in _process_request)
            client = _Client(ws, combined=False)
            names = target.path[len("/ws/"):].split("/")
        for name in names:
            if "@" in name and name not in client.streams:
                client.streams.append(name)
        self._clients.add(client)
        self.ws_connections += 1  # after the add: wait_connections() relies on this order
        try:
            async for message in ws:
                reply = self._control(client, message)
                if reply is not None:
                    await ws.send(_dumps(reply))
        except ConnectionClosed:
            pass
        finally:
            self._clients.discard(client)

    def _control(self, client: _Client, text: str | bytes) -> dict | None:
        """The reply to one control message (§1.2)."""
        try:
            message = json.loads(text)
        except ValueError as exc:
            line, column = getattr(exc, "lineno", 1), getattr(exc, "colno", 1)
            return {"code": 3, "msg": f"Invalid JSON: expected value at line {line} column {column}"}
        if not isinstance(message, dict):
            return {"code": 2, "msg": "Invalid request: expected a JSON object"}
        request_id = message.get("id")
        if not _valid_id(request_id):
            return {"code": 2, "msg": "Invalid request: unsupported id type (a signed 64-bit integer, "
                                      "an alphanumeric string of up to 36 characters, or null)"}

        def error(code: int, msg: str) -> dict:
            return {"code": code, "msg": msg, "id": request_id}

        method = message.get("method")
        if not isinstance(method, str):
            return error(2, "Invalid request: missing or non-string field method")
        if method not in KNOWN_METHODS:
            return error(2, f"Invalid request: unknown variant {method}, expected one of "
                            f"{', '.join(KNOWN_METHODS)}")
        params = message.get("params", [])
        if not isinstance(params, list):
            return error(2, "Invalid request: params must be an array")
        if method == "LIST_SUBSCRIPTIONS":
            return {"result": list(client.streams), "id": request_id}
        if method in ("SUBSCRIBE", "UNSUBSCRIBE"):
            if not all(isinstance(name, str) for name in params):
                return error(2, "Invalid request: stream names must be strings")
            if method == "SUBSCRIBE":
                new = [name for name in dict.fromkeys(params) if name not in client.streams]
                if len(client.streams) + len(new) > MAX_STREAMS_PER_CONNECTION:
                    return error(2, f"Invalid request: too many params (max "
                                    f"{MAX_STREAMS_PER_CONNECTION} streams per connection)")
                client.streams.extend(new)
            else:
                client.streams[:] = [name for name in client.streams if name not in params]
            return {"result": None, "id": request_id}
        expected = 2 if method == "SET_PROPERTY" else 1
        if len(params) != expected:
            return error(2, f"Invalid request: {method} takes {expected} param(s), got {len(params)}")
        if not isinstance(params[0], str):
            return error(2, "Invalid request: property name must be a string")
        if params[0] != "combined":
            return error(0, f"Unknown property: {params[0]}")
        if method == "GET_PROPERTY":
            return {"result": client.combined, "id": request_id}
        if not isinstance(params[1], bool):
            return error(1, "Invalid value type: expected Boolean")
        client.combined = params[1]
        return {"result": None, "id": request_id}

    # ----------------------------------------------------------------------------------- REST

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        target = urlsplit(request.path)
        if target.path in ("/ws", "/stream") or target.path.startswith("/ws/"):
            return None  # WebSocket handshake (websockets answers 426 to a plain GET)
        if not target.path.startswith("/api/"):
            return _json_response(connection, 404, {"code": -1000, "msg": f"Unknown path {target.path}"})
        self.rest_requests.append(request.path)
        if self._rest_failures:
            status, retry_after = self._rest_failures.pop(0)
            body = ({"code": -1003, "msg": "Too many requests."} if status in (418, 429) else
                    {"code": -1001, "msg": "Internal error; unable to process your request. "
                                           "Please try again."})
            return _json_response(connection, status, body, {"Retry-After": str(retry_after)})
        query = {key: values[-1] for key, values in parse_qs(target.query, keep_blank_values=True).items()}
        routes = {
            "/api/v3/ping": lambda q: {},
            "/api/v3/time": lambda q: {"serverTime": self._clock_ms},
            "/api/v3/exchangeInfo": self._exchange_info,
            "/api/v3/klines": self._klines,
            "/api/v3/uiKlines": self._klines,
        }
        route = routes.get(target.path)
        if route is None:
            return _json_response(connection, 404, {"code": -1000, "msg": f"Unknown path {target.path}"})
        try:
            return _json_response(connection, 200, route(query))
        except _RestError as exc:
            return _json_response(connection, exc.status, {"code": exc.code, "msg": exc.msg})

    def _symbol_param(self, query: dict) -> str:
        symbol = query.get("symbol", "")
        if not symbol:
            raise _RestError(400, -1102, "Mandatory parameter 'symbol' was not sent, was empty/null, "
                                         "or malformed.")
        if symbol not in self._bars:
            raise _RestError(400, -1121, "Invalid symbol.")
        return symbol

    def _exchange_info(self, query: dict) -> dict:
        if "symbol" in query:
            symbols = [self._symbol_param(query)]
        elif "symbols" in query:
            try:
                symbols = json.loads(query["symbols"])
            except ValueError:
                raise _RestError(400, -1100, "Illegal characters found in parameter 'symbols'.") from None
            if not isinstance(symbols, list) or not all(isinstance(s, str) for s in symbols):
                raise _RestError(400, -1100, "Illegal characters found in parameter 'symbols'.")
            for symbol in symbols:
                self._symbol_param({"symbol": symbol})
        else:
            symbols = list(self._bars)
        return {
            "timezone": "UTC",
            "serverTime": self._clock_ms,
            "rateLimits": [
                {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000},
                {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
                {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 200000},
                {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": 300000},
            ],
            "exchangeFilters": [],
            "symbols": [_symbol_info(symbol) for symbol in symbols],
        }

    def _klines(self, query: dict) -> list:
        symbol = self._symbol_param(query)
        interval = query.get("interval", "")
        if not interval:
            raise _RestError(400, -1102, "Mandatory parameter 'interval' was not sent, was empty/null, "
                                         "or malformed.")
        if interval not in KLINE_INTERVALS or interval != self.interval:
            raise _RestError(400, -1120, "Invalid interval.")
        limit = min(_int_param(query, "limit", 500), 1000)
        if limit < 1:
            raise _RestError(400, -1100, "Illegal characters found in parameter 'limit'; legal range "
                                         "is '1..1000'.")
        start = _time_param(query, "startTime")
        end = _time_param(query, "endTime")
        if start is not None and end is not None and start > end:
            return []

        series, rows = self._bars[symbol], self._rows[symbol]
        index = self._published
        closed = len(series) if index >= len(self._times) else int(
            np.searchsorted(series.open_time_ms, self._times[index]))
        forming = None
        if index < len(self._times) and rows[index] >= 0 and self._times[index] <= self._clock_ms:
            forming = int(rows[index])
        # candidate rows [lo, hi) of the symbol's Bars, plus maybe the forming row ``closed``
        hi = closed + (1 if forming is not None else 0)
        lo = 0
        if start is not None:
            lo = int(np.searchsorted(series.open_time_ms[:hi], start, "left"))
        if end is not None:
            hi = int(np.searchsorted(series.open_time_ms[:hi], end, "right"))
        if start is not None:
            hi = min(hi, lo + limit)
        else:
            lo = max(lo, hi - limit)
        result = []
        for row in range(lo, hi):
            step = self._step if row == forming else self.updates_per_bar
            values = self._values(symbol, row, step)
            result.append(rest_kline_row(self.interval, int(series.open_time_ms[row]), *values))
        return result


# ------------------------------------------------------------------------------------ helpers


def _union(arrays: list[np.ndarray]) -> np.ndarray:
    merged = np.unique(np.concatenate(arrays)) if arrays else np.empty(0, np.int64)
    return merged.astype(np.int64)


def _decimals(value: float) -> int:
    text = repr(value)
    if "e" in text or "." not in text:
        return 8
    return min(len(text.split(".")[1]), 8)


def _valid_id(value) -> bool:
    if value is None:
        return True
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return -(2 ** 63) <= value < 2 ** 63
    return isinstance(value, str) and bool(_ID_TEXT.fullmatch(value))


def _int_param(query: dict, name: str, default: int) -> int:
    text = query.get(name)
    if text is None:
        return default
    if not re.fullmatch(r"-?\d{1,20}", text):
        raise _RestError(400, -1100, f"Illegal characters found in parameter '{name}'; legal range "
                                     f"is '^[0-9]{{1,20}}$'.")
    return int(text)


def _time_param(query: dict, name: str) -> int | None:
    if name not in query:
        return None
    value = _int_param(query, name, 0)
    return value // 1000 if value >= 10 ** 14 else value  # µs accepted (§2.3)


def _json_response(connection: ServerConnection, status: int, body, headers: Mapping[str, str] = ()) -> Response:
    response = connection.respond(status, _dumps(body))
    del response.headers["Content-Type"]
    response.headers["Content-Type"] = "application/json;charset=UTF-8"
    for key, value in dict(headers).items():
        response.headers[key] = value
    return response


def _symbol_info(symbol: str) -> dict:
    """One ``symbols[]`` entry of exchangeInfo with the BTCUSDT filters [obs] of the protocol doc."""
    quote = next((q for q in _QUOTE_ASSETS if symbol.endswith(q) and len(symbol) > len(q)), symbol[-4:])
    base = symbol[: len(symbol) - len(quote)]
    return {
        "symbol": symbol, "status": "TRADING", "baseAsset": base, "baseAssetPrecision": 8,
        "quoteAsset": quote, "quotePrecision": 8, "quoteAssetPrecision": 8,
        "baseCommissionPrecision": 8, "quoteCommissionPrecision": 8,
        "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT",
                       "TAKE_PROFIT_LIMIT"],
        "icebergAllowed": True, "ocoAllowed": True, "otoAllowed": True, "opoAllowed": True,
        "quoteOrderQtyMarketAllowed": True, "allowTrailingStop": True, "cancelReplaceAllowed": True,
        "amendAllowed": True, "pegInstructionsAllowed": True, "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": True,
        "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": "0.01000000", "maxPrice": "1000000.00000000",
             "tickSize": "0.01000000"},
            {"filterType": "LOT_SIZE", "minQty": "0.00001000", "maxQty": "9000.00000000",
             "stepSize": "0.00001000"},
            {"filterType": "ICEBERG_PARTS", "limit": 25},
            {"filterType": "MARKET_LOT_SIZE", "minQty": "0.00000000", "maxQty": "97.92836420",
             "stepSize": "0.00000000"},
            {"filterType": "TRAILING_DELTA", "minTrailingAboveDelta": 10, "maxTrailingAboveDelta": 2000,
             "minTrailingBelowDelta": 10, "maxTrailingBelowDelta": 2000},
            {"filterType": "PERCENT_PRICE_BY_SIDE", "bidMultiplierUp": "5", "bidMultiplierDown": "0.2",
             "askMultiplierUp": "5", "askMultiplierDown": "0.2", "avgPriceMins": 5},
            {"filterType": "NOTIONAL", "minNotional": "5.00000000", "applyMinToMarket": True,
             "maxNotional": "9000000.00000000", "applyMaxToMarket": False, "avgPriceMins": 5},
            {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": 200},
            {"filterType": "MAX_NUM_ALGO_ORDERS", "maxNumAlgoOrders": 5},
        ],
        "permissions": [], "permissionSets": [["SPOT", "MARGIN"]],
        "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
        "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
    }
