"""Server-side SVG charts for the page: equity, drawdown and the SMC price chart.

Plain strings of SVG, drawn with presentation attributes and CSS classes only (the page's style
sheet colours them): no script, no inline ``style``, nothing fetched, so they pass the page's
Content-Security-Policy and work offline. Every element a reader looks for carries a class:
``candle``, ``ob`` (order block), ``fvg``, ``swing``, ``break``, ``entry``, ``exit``, ``sl``,
``tp``. Times are epoch ms, drawn left to right in UTC.
"""

from __future__ import annotations

from html import escape

from core.times import ms_to_iso

__all__ = ["line_chart", "price_chart"]

W, H = 800, 220
PAD_L, PAD_R, PAD_T, PAD_B = 64, 12, 14, 24


def _fmt(v: float) -> str:
    return f"{v:,.2f}" if abs(v) < 1e6 else f"{v:,.0f}"


def _svg(css: str, height: int, label: str, body: list[str]) -> str:
    return (f'<svg class="chart {css}" viewBox="0 0 {W} {height}" role="img" '
            f'aria-label="{escape(label)}" xmlns="http://www.w3.org/2000/svg">'
            f"<title>{escape(label)}</title>{''.join(body)}</svg>")


def _empty(css: str, height: int, label: str, text: str) -> str:
    return _svg(css, height, label, [f'<text class="empty" x="{W / 2}" y="{height / 2}" '
                                     f'text-anchor="middle">{escape(text)}</text>'])


def line_chart(points: list[tuple[int, float]], *, css: str, label: str, unit: str = "",
               floor_zero: bool = False, height: int = H) -> str:
    """A line (and the area under it) through ``points`` (``(ms, value)``, in time order)."""
    if len(points) < 2:
        return _empty(css, height, label, "not enough data yet")
    times = [p[0] for p in points]
    values = [p[1] for p in points]
    lo, hi = min(values), max(values)
    if floor_zero:
        hi = max(hi, 0.0)
    if hi == lo:
        lo, hi = lo - 1.0, hi + 1.0
    t0, t1 = times[0], times[-1] if times[-1] > times[0] else times[0] + 1
    pw, ph = W - PAD_L - PAD_R, height - PAD_T - PAD_B

    def x(t):
        return PAD_L + (t - t0) / (t1 - t0) * pw

    def y(v):
        return PAD_T + (hi - v) / (hi - lo) * ph

    path = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in points)
    base = y(max(lo, 0.0) if floor_zero else lo)
    area = f"{x(t0):.1f},{base:.1f} {path} {x(times[-1]):.1f},{base:.1f}"
    body = [
        f'<polygon class="area" points="{area}"/>',
        f'<polyline class="line" fill="none" points="{path}"/>',
        f'<line class="axis" x1="{PAD_L}" y1="{PAD_T}" x2="{PAD_L}" y2="{PAD_T + ph}"/>',
        f'<text class="tick" x="{PAD_L - 4}" y="{PAD_T + 10}" text-anchor="end">'
        f"{escape(_fmt(hi) + unit)}</text>",
        f'<text class="tick" x="{PAD_L - 4}" y="{PAD_T + ph}" text-anchor="end">'
        f"{escape(_fmt(lo) + unit)}</text>",
        f'<text class="tick" x="{PAD_L}" y="{height - 6}">{ms_to_iso(t0)[:16]}</text>',
        f'<text class="tick" x="{W - PAD_R}" y="{height - 6}" text-anchor="end">'
        f"{ms_to_iso(times[-1])[:16]}</text>",
    ]
    return _svg(css, height, label, body)


def price_chart(c: dict, bar_ms: int, height: int = 380) -> str:
    """Candles with the SMC zones, swings, last BOS/CHOCH, trades and the open SL/TP
    (``c`` is ``views.View.candles``)."""
    bars = c["bars"]
    label = f"{c['symbol']} {c['interval']} price with SMC zones"
    if not bars:
        return _empty("price-chart", height, label, "no bars recorded yet")
    t0, t1 = bars[0][0], bars[-1][0] + bar_ms
    lows = [b[3] for b in bars]
    highs = [b[2] for b in bars]
    lo, hi = min(lows), max(highs)
    pos = c.get("position")
    if pos:
        lo, hi = min(lo, pos["stop_loss"], pos["take_profit"]), max(hi, pos["stop_loss"],
                                                                    pos["take_profit"])
    pad = (hi - lo) * 0.04 or 1.0
    lo, hi = lo - pad, hi + pad
    pw, ph = W - PAD_L - PAD_R, height - PAD_T - PAD_B
    right = PAD_L + pw

    def x(t):
        return PAD_L + (min(max(t, t0), t1) - t0) / (t1 - t0) * pw

    def y(v):
        return PAD_T + (hi - v) / (hi - lo) * ph

    def inside(t):
        return t0 <= t <= t1

    step = pw / len(bars)
    body = [f'<clipPath id="plot-{escape(c["symbol"])}"><rect x="{PAD_L}" y="{PAD_T}" '
            f'width="{pw}" height="{ph}"/></clipPath>',
            f'<g clip-path="url(#plot-{escape(c["symbol"])})">']
    zones = c["zones"]
    for ob in zones["order_blocks"]:
        cls = f"ob ob-{ob['direction']}" + (" tapped" if ob["tapped"] else "")
        top, bottom = y(ob["top"]), y(ob["bottom"])
        body.append(f'<rect class="{cls}" x="{x(ob["time"]):.1f}" y="{top:.1f}" '
                    f'width="{right - x(ob["time"]):.1f}" height="{max(bottom - top, 1):.1f}">'
                    f"<title>{escape(ob['direction'])} order block {ob['bottom']:g} - "
                    f"{ob['top']:g}</title></rect>")
    for gap in zones["fvgs"]:
        top, bottom = y(gap["top"]), y(gap["bottom"])
        body.append(f'<rect class="fvg fvg-{gap["direction"]}" x="{x(gap["time"]):.1f}" '
                    f'y="{top:.1f}" width="{right - x(gap["time"]):.1f}" '
                    f'height="{max(bottom - top, 1):.1f}"><title>{escape(gap["direction"])} fair '
                    f"value gap {gap['bottom']:g} - {gap['top']:g}</title></rect>")
    for i, b in enumerate(bars):
        cx = PAD_L + (i + 0.5) * step
        up = b[4] >= b[1]
        top, bottom = y(max(b[1], b[4])), y(min(b[1], b[4]))
        cls = "candle up" if up else "candle down"
        body.append(f'<g class="{cls}"><line x1="{cx:.1f}" y1="{y(b[2]):.1f}" x2="{cx:.1f}" '
                    f'y2="{y(b[3]):.1f}"/><rect x="{cx - step * 0.35:.1f}" y="{top:.1f}" '
                    f'width="{max(step * 0.7, 0.5):.1f}" height="{max(bottom - top, 0.5):.1f}"/>'
                    f"</g>")
    for br in zones["breaks"]:
        x1, x2 = x(br["swing_time"]), x(br["time"] + bar_ms)
        body.append(f'<g class="break {br["kind"].lower()} {br["direction"]}"><line x1="{x1:.1f}" '
                    f'y1="{y(br["level"]):.1f}" x2="{x2:.1f}" y2="{y(br["level"]):.1f}"/>'
                    f'<text x="{(x1 + x2) / 2:.1f}" y="{y(br["level"]) - 3:.1f}" '
                    f'text-anchor="middle">{br["kind"]}</text></g>')
    for sw in zones["swings"]:
        sx, sy = x(sw["time"] + bar_ms / 2), y(sw["price"])
        d = -6 if sw["kind"] == "high" else 6
        body.append(f'<path class="swing swing-{sw["kind"]}" d="M{sx - 4:.1f},{sy + d:.1f} '
                    f'L{sx + 4:.1f},{sy + d:.1f} L{sx:.1f},{sy:.1f} Z"><title>swing {sw["kind"]} '
                    f"{sw['price']:g}</title></path>")
    for tr in c["trades"]:
        if tr["entry_time"] is not None and inside(tr["entry_time"]):
            ex, ey = x(tr["entry_time"]), y(tr["entry_price"])
            d = 9 if tr["side"] == "long" else -9
            body.append(f'<path class="entry entry-{tr["side"]}" d="M{ex - 6:.1f},{ey + d:.1f} '
                        f'L{ex + 6:.1f},{ey + d:.1f} L{ex:.1f},{ey:.1f} Z"><title>{tr["side"]} '
                        f"entry {tr['entry_price']:g}</title></path>")
        if tr["exit_time"] is not None and inside(tr["exit_time"]):
            ex, ey = x(tr["exit_time"]), y(tr["exit_price"])
            body.append(f'<path class="exit" d="M{ex - 5:.1f},{ey - 5:.1f} L{ex + 5:.1f},'
                        f'{ey + 5:.1f} M{ex - 5:.1f},{ey + 5:.1f} L{ex + 5:.1f},{ey - 5:.1f}">'
                        f"<title>exit ({escape(str(tr['exit_reason']))}) "
                        f"{tr['exit_price']:g}</title></path>")
    if pos:
        for kind, price in (("sl", pos["stop_loss"]), ("tp", pos["take_profit"])):
            body.append(f'<g class="{kind}"><line x1="{PAD_L}" y1="{y(price):.1f}" x2="{right}" '
                        f'y2="{y(price):.1f}"/><text x="{right - 4}" y="{y(price) - 3:.1f}" '
                        f'text-anchor="end">{kind.upper()} {price:g}</text></g>')
    body.append("</g>")
    body += [
        f'<text class="tick" x="{PAD_L - 4}" y="{PAD_T + 10}" text-anchor="end">{_fmt(hi)}</text>',
        f'<text class="tick" x="{PAD_L - 4}" y="{PAD_T + ph}" text-anchor="end">{_fmt(lo)}</text>',
        f'<text class="tick" x="{PAD_L}" y="{height - 6}">{ms_to_iso(t0)[:16]}</text>',
        f'<text class="tick" x="{right}" y="{height - 6}" text-anchor="end">'
        f"{ms_to_iso(bars[-1][0])[:16]}</text>",
    ]
    return _svg("price-chart", height, label, body)
