"""The HTML blueprint: the page (``/``), its live part for the refresh script (``/fragment``)
and the latest readiness report (``/readiness``). Thin: the numbers come from ``views.View``,
the charts from ``charts``; the templates only lay them out.
"""

from __future__ import annotations

from flask import Blueprint, current_app, render_template, send_file
from markupsafe import Markup

from core.timeframes import timeframe_ms

from . import charts
from .request_context import EXTENSION, int_arg, json_error
from .request_context import current_view as _view
from .views import View, human_age, readiness_html

__all__ = ["bp"]

bp = Blueprint("page", __name__)

TRADES_PER_PAGE = 20
SIGNALS_SHOWN = 15
CANDLES_SHOWN = 120


def _sections(view: View, page_no: int) -> dict:
    ok, health = view.health()
    trades = view.trades(TRADES_PER_PAGE, (page_no - 1) * TRADES_PER_PAGE)
    pages = max((trades["total"] + TRADES_PER_PAGE - 1) // TRADES_PER_PAGE, 1)
    equity = view.equity(points=False)
    bar_ms = timeframe_ms(view.cfg["strategy"]["signal_timeframe"])
    cache = view.ctx.cache
    price_charts = []
    for symbol in view.symbols:
        candles = view.candles(symbol, CANDLES_SHOWN)
        key = ("price-svg", view.candles_key(symbol, CANDLES_SHOWN))
        svg = cache.get(key) or cache.put(key, Markup(charts.price_chart(candles, bar_ms)))
        price_charts.append({"symbol": symbol, "interval": candles["interval"],
                             "zones": candles["zones"], "svg": svg})
    key = ("equity-svg", equity["_version"])
    equity_svgs = cache.get(key) or cache.put(key, (
        Markup(charts.line_chart(equity["_points_ms"], css="equity-chart",
                                 label="Equity (USDT)")),
        Markup(charts.line_chart(equity["_drawdown_ms"], css="drawdown-chart",
                                 label="Drawdown (%)", unit=" %", floor_zero=True, height=150))))
    return {
        "ok": ok, "health": health, "mode": view.mode(), "account": view.account(),
        "positions": view.positions(), "trades": trades, "page_no": page_no, "pages": pages,
        "signals": view.signals(SIGNALS_SHOWN), "market": view.market(),
        "metrics": equity["metrics"],
        "equity_svg": equity_svgs[0], "drawdown_svg": equity_svgs[1],
        "price_charts": price_charts, "readiness": view.readiness(),
        "refresh": current_app.extensions[EXTENSION]["context"].config.status_page
        .refresh_seconds,
        "age": human_age,
    }


@bp.get("/")
def index():
    page_no = int_arg("page", 1, 1, 10**6)
    return render_template("index.html", **_sections(_view(), page_no))


@bp.get("/fragment")
def fragment():
    page_no = int_arg("page", 1, 1, 10**6)
    return render_template("live.html", **_sections(_view(), page_no))


@bp.get("/readiness")
def readiness():
    database = current_app.extensions[EXTENSION]["context"].database
    path = readiness_html(database)
    if path is None:
        return json_error(404, "no readiness report yet (the go-live readiness report writes it "
                               "next to the database)")
    return send_file(path, mimetype="text/html", max_age=0)
