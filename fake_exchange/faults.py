"""Fault injection of the fake exchange: what a test (or ``runners.fake_exchange``) can break.

``FaultsMixin`` is one base of ``fake_exchange.server.FakeBinance``; its public methods are
thread-safe and block until the fault is in effect:

- ``drop_connections``: abort every WebSocket (clients see code 1006, no close frame);
- ``stall(seconds)``: send and publish nothing for a while, connections stay open;
- ``send_garbage(text)``: one frame that is not valid JSON (or any text);
- ``duplicate_next`` / ``reorder_next`` / ``skip_next_bar``: the next closing update(s) twice,
  swapped, or never streamed (REST still has the bar);
- ``fail_rest(status, count, retry_after)``: the next REST calls answer an error;
- ``shutdown_event``: ``serverShutdown`` on every connection, then a clean close.
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import time

from websockets.exceptions import ConnectionClosed

from fake_exchange.ws import dumps
from venue.wire import combined

__all__ = ["FaultsMixin"]


class FaultsMixin:
    """Fault state and the methods that set it (see the module docstring)."""

    def _init_faults(self) -> None:
        self._stalled_until = 0.0
        self._skip_pending = False
        self._skipping_index = -1
        self._duplicate_pending = False
        self._reorder_pending = False
        self._held: list[tuple[str, dict]] | None = None
        self._rest_failures: list[tuple[int, int]] = []  # (status, retry_after) per failing call

    def drop_connections(self) -> None:
        """Abort every WebSocket connection (no close frame: clients see code 1006)."""
        self._call(self._drop_all())

    def stall(self, seconds: float) -> None:
        """Send no frame and publish nothing for ``seconds`` from now; connections stay open."""
        until = time.monotonic() + float(seconds)
        self._call(self._set(
            lambda: setattr(self, "_stalled_until", max(self._stalled_until, until))))

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
        self._call(self._set(
            lambda: self._rest_failures.extend([(int(status), int(retry_after))] * count)))

    def shutdown_event(self) -> None:
        """Send ``serverShutdown`` (raw or combined shape) on every connection, then close them."""
        self._call(self._shutdown_all())

    async def _broadcast_text(self, text: str) -> None:
        await self._wait_stall()
        await asyncio.gather(*(self._send_texts(client, [text]) for client in list(self._clients)))

    async def _drop_all(self) -> None:
        for client in list(self._clients):
            client.ws.transport.abort()

    async def _shutdown_all(self) -> None:
        await self._wait_stall()
        payload = {"e": "serverShutdown", "E": self._clock_ms}
        raw, wrapped = dumps(payload), dumps(combined("!serverShutdown", payload))

        async def shut(client) -> None:
            await self._send_texts(client, [wrapped if client.combined else raw])
            with contextlib.suppress(ConnectionClosed):
                await client.ws.close(1001, "server shutdown")

        await asyncio.gather(*(shut(client) for client in list(self._clients)))

    async def _wait_stall(self) -> None:
        while (remaining := self._stalled_until - time.monotonic()) > 0:
            await asyncio.sleep(remaining)

    def _next_rest_failure(self) -> tuple[int, int] | None:
        return self._rest_failures.pop(0) if self._rest_failures else None
