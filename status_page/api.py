"""The JSON API blueprint (mounted at ``/api``): thin adapters over ``views.View``.

Every endpoint is GET, answers JSON, and has the seed's name as an alias where the seed had one
(``/api/python/account``, ``/api/python/positions``, ``/api/python/paper-trades``,
``/api/trading/market-data``, ``/api/trading/data-health``, ``/api/trading/live-ohlcv``). A bad
query value is a 400 ``{"error": "<parameter>: <problem>"}``.
"""

from __future__ import annotations

from flask import Blueprint, g, jsonify, request

from .request_context import current_view as _view
from .request_context import int_arg

__all__ = ["bp"]

bp = Blueprint("api", __name__)


@bp.get("/health")
@bp.get("/trading/data-health")
def health():
    ok, body = _view().health()
    if not g.authorized:  # the status code stays open for monitors; details need the token
        body = {"status": body["status"]}
    response = jsonify(body)
    response.status_code = 200 if ok else 503
    return response


@bp.get("/account")
@bp.get("/python/account")
def account():
    return jsonify(_view().account())


@bp.get("/positions")
@bp.get("/python/positions")
def positions():
    return jsonify(positions=_view().positions())


@bp.get("/signals")
def signals():
    limit = int_arg("limit", 20, 1, 500)
    return jsonify(signals=_view().signals(limit))


@bp.get("/equity")
def equity():
    body = {k: v for k, v in _view().equity().items() if not k.startswith("_")}
    return jsonify(body)


@bp.get("/trades")
@bp.get("/python/paper-trades")
def trades():
    limit = int_arg("limit", 50, 1, 500)
    offset = int_arg("offset", 0, 0, 10**9)
    return jsonify(_view().trades(limit, offset))


@bp.get("/market")
@bp.get("/trading/market-data")
def market():
    return jsonify(market=_view().market())


@bp.get("/candles")
@bp.get("/trading/live-ohlcv")
def candles():
    limit = int_arg("limit", 120, 1, 1000)
    symbol = request.args.get("symbol")
    symbol = symbol.strip().upper() if symbol else None
    return jsonify(_view().candles(symbol, limit))
