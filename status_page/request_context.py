"""What every request handler shares: this request's ``View`` and checked query parameters.

The app factory stores one ``views.Context`` under ``EXTENSION`` in the app's extensions;
``current_view`` opens this request's connection and read transaction on first use (the app
closes it at teardown). ``int_arg`` reads a whole-number query parameter, a ``BadParameter``
(a JSON 400) when it is not one; ``json_error`` is how every failure is answered.
"""

from __future__ import annotations

from flask import Response, current_app, g, jsonify, request

from .database import Unavailable
from .views import BadParameter, View

__all__ = ["EXTENSION", "current_view", "int_arg", "json_error"]

EXTENSION = "smc_status"


def current_view() -> View:
    """This request's ``View``, over its own connection (opened on first use)."""
    if "status_view" not in g:
        ext = current_app.extensions[EXTENSION]
        ctx = ext["context"]
        now_ms = int(ext["clock"]() * 1000)
        try:
            g.status_conn = ctx.database.connect()
            g.status_view = View(ctx, g.status_conn, now_ms)
        except Unavailable as exc:
            g.status_view = View(ctx, None, now_ms, unavailable=exc)
    return g.status_view


def json_error(status: int, message: str, **headers: str) -> Response:
    """The answer to every failed request: ``{"error": message}`` with ``status``."""
    response = jsonify(error=message)
    response.status_code = status
    for name, value in headers.items():
        response.headers[name] = value
    return response


def int_arg(name: str, default: int, lo: int, hi: int) -> int:
    """The query parameter ``name`` as a whole number in ``[lo, hi]`` (``default`` if absent)."""
    raw = request.args.get(name)
    if raw is None:
        return default
    text = raw.strip()
    if not (text.isascii() and text.isdigit()) or not lo <= int(text) <= hi:
        shown = raw if len(raw) <= 20 else raw[:17] + "..."
        raise BadParameter(f"{name}: must be a whole number from {lo} to {hi}, got {shown!r}")
    return int(text)
