"""The WebSocket side of the fake exchange (``shared/docs/binance-protocol.md`` §1).

Paths: ``/stream?streams=a/b`` (combined envelope), ``/stream``, ``/ws``, ``/ws/<name>[/<name>...]``
(raw payloads; a path part that is not a stream name, such as ccxt.pro's ``/ws/0``, is ignored).
Control messages SUBSCRIBE, UNSUBSCRIBE, LIST_SUBSCRIPTIONS, SET_PROPERTY and GET_PROPERTY
(``combined``) get the replies and error shapes of §1.2 (``control_reply``, pure). Not modelled:
the 5 messages/s incoming limit, the 24 h lifetime, ``timeUnit``. Pings: websockets' own.

``WebSocketMixin`` is one base of ``fake_exchange.server.FakeBinance``: it accepts connections
and fans frames out to the clients subscribed to each stream.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from venue.wire import combined

__all__ = ["StreamClient", "WebSocketMixin", "control_reply", "dumps", "valid_id"]

log = logging.getLogger("smc.fake_binance")

MAX_STREAMS_PER_CONNECTION = 1024
SEND_TIMEOUT_S = 5.0  # a client that does not drain its socket for this long is dropped
KNOWN_METHODS = ("SUBSCRIBE", "UNSUBSCRIBE", "LIST_SUBSCRIPTIONS", "SET_PROPERTY", "GET_PROPERTY")
_ID_TEXT = re.compile(r"[A-Za-z0-9]{1,36}")
_COMPACT = (",", ":")


def dumps(obj) -> str:
    """Compact JSON, as Binance sends it."""
    return json.dumps(obj, separators=_COMPACT)


@dataclass(eq=False)
class StreamClient:
    """One WebSocket connection: its socket, envelope style and subscribed stream names."""

    ws: ServerConnection
    combined: bool
    streams: list[str] = field(default_factory=list)


class WebSocketMixin:
    """Accepting connections and sending frames;
    the server sets ``_clients`` and ``ws_connections``."""

    async def _handle_ws(self, ws: ServerConnection) -> None:
        target = urlsplit(ws.request.path)
        if target.path == "/stream":
            client = StreamClient(ws, combined=True)
            names = parse_qs(target.query).get("streams", [""])[0].split("/")
        else:  # /ws or /ws/<names> (checked in _process_request)
            client = StreamClient(ws, combined=False)
            names = target.path[len("/ws/"):].split("/")
        for name in names:
            if "@" in name and name not in client.streams:
                client.streams.append(name)
        self._clients.add(client)
        self.ws_connections += 1  # after the add: wait_connections() relies on this order
        try:
            async for message in ws:
                reply = control_reply(client, message)
                if reply is not None:
                    await ws.send(dumps(reply))
        except ConnectionClosed:
            pass
        finally:
            self._clients.discard(client)

    async def _send_frames(self, frames: list[tuple[str, dict]]) -> None:
        if not frames or not self._clients:
            return
        raw = {id(payload): dumps(payload) for _, payload in frames}
        wrapped = {id(payload): dumps(combined(stream, payload)) for stream, payload in frames}
        jobs = []
        for client in list(self._clients):
            texts = [(wrapped if client.combined else raw)[id(payload)]
                     for stream, payload in frames if stream in client.streams]
            if texts:
                jobs.append(self._send_texts(client, texts))
        await asyncio.gather(*jobs)

    async def _send_texts(self, client: StreamClient, texts: list[str]) -> None:
        try:
            for text in texts:
                await asyncio.wait_for(client.ws.send(text), SEND_TIMEOUT_S)
        except ConnectionClosed:
            pass
        except TimeoutError:
            log.warning("dropping a WebSocket client that stopped reading")
            client.ws.transport.abort()


def control_reply(client: StreamClient, text: str | bytes) -> dict | None:
    """The reply to one control message (§1.2)."""
    try:
        message = json.loads(text)
    except ValueError as exc:
        line, column = getattr(exc, "lineno", 1), getattr(exc, "colno", 1)
        return {"code": 3, "msg": f"Invalid JSON: expected value at line {line} column {column}"}
    if not isinstance(message, dict):
        return {"code": 2, "msg": "Invalid request: expected a JSON object"}
    request_id = message.get("id")
    if not valid_id(request_id):
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


def valid_id(value) -> bool:
    if value is None:
        return True
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return -(2 ** 63) <= value < 2 ** 63
    return isinstance(value, str) and bool(_ID_TEXT.fullmatch(value))
