"""The readiness report on paper: self-contained HTML, Markdown, and JSON for machines.

``blocks(readiness)`` lays the report out once, as a list of blocks (headings, paragraphs,
lists, tables, PNG images); ``to_html`` and ``to_markdown`` only render those blocks, so both
formats say the same. The HTML has its style inline and its images embedded as ``data:`` URIs:
no external link, script, font or file, so it can be mailed or opened offline. Markdown embeds
the images the same way. ``to_json`` is ``Readiness.as_dict()``.

Order: the one-line verdict with its reasons, the criteria table (value, threshold, PASS/FAIL
or info, and what the figure means), the record, the charts, the drift check trade by trade,
the backtest evidence in-sample and out-of-sample side by side, the sweep, notes, definitions.
"""

from __future__ import annotations

import base64
import html
import json
from dataclasses import dataclass
from typing import Any

from core.times import ms_to_iso
from readiness.assess import Readiness
from readiness.drift import closed_trade
from readiness.plots import equity_png, returns_png

__all__ = ["blocks", "to_html", "to_json", "to_markdown"]

MAX_DRIFT_ROWS = 500


@dataclass(frozen=True)
class Block:
    kind: str                  # h1, h2, p, verdict, list, table, image
    text: str = ""
    items: tuple = ()
    header: tuple = ()
    png: bytes | None = None
    css: str = ""


def _f(x: Any, spec: str = ".2f", suffix: str = "") -> str:
    return "n/a" if x is None else f"{x:{spec}}{suffix}"


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f} %"


def blocks(r: Readiness) -> list[Block]:
    out = [Block("h1", "Go-live readiness"),
           Block("p", f"Generated {ms_to_iso(r.generated_ms)} from the state database "
                      f"{r.config.database.url}; thresholds from the go_live section of the "
                      f"config.")]
    out.append(Block("verdict", r.headline, css="ready" if r.ready else "not-ready"))
    if r.reasons:
        out.append(Block("list", items=tuple(r.reasons)))
    out.append(Block("h2", "Criteria"))
    out.append(Block("table", header=("criterion", "value", "threshold", "result", "meaning"),
                     items=tuple((c.name, c.shown, c.threshold, str(c.result), c.meaning)
                                 for c in r.criteria)))
    out += _record(r)
    out += _drift(r)
    out += _backtests(r)
    out += _sweep(r)
    if r.notes:
        out += [Block("h2", "Notes"), Block("list", items=tuple(r.notes))]
    out += _definitions()
    return out


def _record(r: Readiness) -> list[Block]:
    rec = r.record
    out = [Block("h2", "Paper record")]
    if rec.account is None:
        out.append(Block("p", rec.problem or "no record"))
        return out
    report = rec.report or {}
    out.append(Block("p", f"{rec.source} account {rec.account.id}: initial "
                          f"{rec.account.initial_balance:,.2f} USDT, "
                          f"{ms_to_iso(rec.start_ms) or 'n/a'} to {ms_to_iso(rec.end_ms) or 'n/a'}"
                          f", final equity {_f(report.get('final_equity'), ',.2f', ' USDT')}, "
                          f"profit factor {_f(report.get('profit_factor'))}, expectancy "
                          f"{_f(report.get('expectancy'), ',.2f', ' USDT/trade')}."))
    out.append(Block("table", header=("run", "mode", "status", "started", "stopped / last "
                                      "heartbeat"),
                     items=tuple((str(x.id), x.mode, x.status, ms_to_iso(x.started_ms),
                                  ms_to_iso(x.stopped_ms if x.stopped_ms is not None
                                            else x.last_heartbeat_ms)) for x in rec.runs)))
    equity, hist = equity_png(rec), returns_png(rec)
    if equity:
        out.append(Block("image", "equity and drawdown of the paper record", png=equity))
    if hist:
        out.append(Block("image", "histogram of the daily returns", png=hist))
    return out


def _drift(r: Readiness) -> list[Block]:
    d = r.drift
    out = [Block("h2", "Drift: paper against the backtest on the recorded bars")]
    if d is None:
        return out + [Block("p", "No record to replay.")]
    out.append(Block("p", f"{d.matched} of {len(d.pairs)} trades matched (paper "
                          f"{d.paper_trades}, backtest {d.backtest_trades}); mean entry "
                          f"slippage {_f(d.entry_slippage_bps, '.2f', ' bps')}, exit "
                          f"{_f(d.exit_slippage_bps, '.2f', ' bps')}; P&L tracking error "
                          f"{_f(d.tracking_error_pct, '.2f', ' %')}."))
    rows = []
    for p in d.pairs[:MAX_DRIFT_ROWS]:
        def side(t):
            if t is None:
                return "missing", "", ""
            closed = closed_trade(t)
            return (f"{t.entry_price:.8g}", f"{t.exit_price:.8g} {t.exit_reason}" if closed
                    else "open", f"{t.pnl:,.2f}" if closed else "")
        pe, px, pp = side(p.paper)
        be, bx, bp = side(p.backtest)
        rows.append((ms_to_iso(p.entry_ms), p.symbol, p.side, pe, be, _f(p.entry_bps), px, bx,
                     _f(p.exit_bps), pp, bp))
    if rows:
        out.append(Block("table", header=("entry bar", "symbol", "side", "paper entry",
                                          "backtest entry", "entry bps", "paper exit",
                                          "backtest exit", "exit bps", "paper P&L",
                                          "backtest P&L"), items=tuple(rows)))
    if len(d.pairs) > MAX_DRIFT_ROWS:
        out.append(Block("p", f"... {len(d.pairs) - MAX_DRIFT_ROWS} more in the JSON report."))
    return out


def _backtests(r: Readiness) -> list[Block]:
    if not r.backtests:
        return []
    out = [Block("h2", "Backtest evidence: in-sample and out-of-sample"),
           Block("p", "Shown, not gating. The parts split the daily equity curve by time; "
                      "their drawdown is measured on daily values, the full period's on every "
                      "bar.")]
    for e in r.backtests:
        segs = e.segments
        metrics = (
            ("period", lambda s: f"{s.start} .. {s.end}" if s.start else "n/a"),
            ("days", lambda s: str(s.days)),
            ("total return", lambda s: _f(s.total_return_pct, ".2f", " %")),
            ("Sharpe", lambda s: _f(s.sharpe)),
            ("max drawdown", lambda s: _f(s.max_drawdown_pct, ".2f", " %")),
            ("win rate", lambda s: _pct(s.win_rate)),
            ("trades", lambda s: str(s.trades)),
            ("profit factor", lambda s: _f(s.profit_factor)),
            ("P(true Sharpe > 0)", lambda s: _pct(s.psr_vs_0)),
        )
        rows = [(name, *(fmt(s) for s in segs)) for name, fmt in metrics]
        if e.sweep is not None and e.sweep.trials > 1:
            ins = segs[1]
            rows.append(("deflated Sharpe ratio", "", _pct(ins.dsr), ""))
            rows.append(("best of trials expects Sharpe", "",
                         _f(ins.dsr_expected_max_sharpe), ""))
        out.append(Block("p", f"{e.label} (out-of-sample: the last {e.oos_fraction:.0%})"))
        out.append(Block("table", header=("metric", *(s.name for s in segs)), items=tuple(rows)))
        ins = segs[1]
        if ins.dsr is not None:
            out.append(Block("p", f"Deflated Sharpe ratio {_pct(ins.dsr)}: the chance that the "
                                  f"in-sample Sharpe {_f(ins.sharpe)} reflects skill rather "
                                  f"than being the luckiest of {e.sweep.trials} trials, whose "
                                  f"best would reach {_f(ins.dsr_expected_max_sharpe)} by "
                                  f"chance alone."))
        if e.notes:
            out.append(Block("list", items=e.notes))
    return out


def _sweep(r: Readiness) -> list[Block]:
    s = r.sweep
    if s is None:
        return [Block("h2", "Parameter sweep"),
                Block("p", "No sweep declared (--research-json or --trials): the backtest's "
                           "Sharpe is not deflated. If the parameters were tuned, say how many "
                           "configurations were tried.")]
    variance = ("assumed: skill-less trials differing by sampling noise only, 1/(T-1) per day"
                if s.trial_variance_annual is None else f"{s.trial_variance_annual:.4g} "
                "(measured from the trials' annualized Sharpes)")
    items = [f"trials: {s.trials} ({s.source})", f"variance of the trials' Sharpes: {variance}"]
    if s.objective:
        items.append(f"objective: {s.objective}")
    if s.chosen_params:
        items.append("chosen parameters: " + json.dumps(s.chosen_params, sort_keys=True))
    for name, part in (("in-sample", s.in_sample), ("out-of-sample", s.out_of_sample)):
        shown = {k: v for k, v in part.items() if isinstance(v, (int, float, str))
                 and not isinstance(v, bool)}
        if shown:
            items.append(f"research {name}: " + ", ".join(f"{k} {v}" for k, v in shown.items()))
    return [Block("h2", "Parameter sweep"), Block("list", items=tuple(items))]


def _definitions() -> list[Block]:
    return [Block("h2", "Definitions"), Block("list", items=(
        "Sharpe: mean / standard deviation (ddof 1) of the daily mark-to-market returns, "
        "x sqrt(365); risk-free rate 0.",
        "P(true Sharpe > SR*) (probabilistic Sharpe ratio, Bailey and Lopez de Prado 2012): "
        "Phi((SR - SR*) sqrt(T - 1) / sqrt(1 - g3 SR + (g4 - 1)/4 SR^2)), SR per day, g3 the "
        "skewness, g4 the kurtosis (3 when normal) of the T daily returns.",
        "Minimum track record length: 1 + (1 - g3 SR + (g4 - 1)/4 SR^2) (z / (SR - SR*))^2 "
        "days, z the normal quantile of the confidence.",
        "Deflated Sharpe ratio: the PSR against SR0 = sqrt(V) ((1 - gamma) Phi^-1(1 - 1/N) + "
        "gamma Phi^-1(1 - 1/(N e))), the Sharpe the best of N skill-less trials with variance V "
        "reaches by luck (gamma = 0.5772).",
        "Binomial p-value: P(at least k wins of n) if the true win rate were 50 %, or the "
        "break-even rate avg loss / (avg win + avg loss).",
        "Drift: trades matched by symbol and entry bar between paper and the backtest replayed "
        "on the recorded bars; slippage positive when paper filled worse."))]


# --------------------------------------------------------------------------- HTML

_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em;color:#222;
max-width:1200px}
table{border-collapse:collapse;margin:0.6em 0 1.2em}
th,td{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top;font-size:14px}
th{background:#f3f3f3}
.verdict{font-size:1.4em;font-weight:bold;padding:0.5em 0.8em;border-radius:4px}
.ready{background:#e3f6e3;color:#16651a}
.not-ready{background:#fde8e8;color:#9b1c1c}
td.PASS{color:#16651a;font-weight:bold}
td.FAIL{color:#9b1c1c;font-weight:bold}
td.info{color:#555}
img{max-width:100%;display:block;margin:0.6em 0}
"""


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def to_html(r: Readiness, laid_out: list[Block] | None = None) -> str:
    """The report as one HTML page; ``laid_out``: ``blocks(r)`` when already made (its charts
    are drawn once for every format)."""
    e = html.escape
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             f"<title>Go-live readiness: {e(r.verdict)}</title>", f"<style>{_CSS}</style>",
             "</head><body>"]
    for b in laid_out or blocks(r):
        if b.kind in ("h1", "h2"):
            parts.append(f"<{b.kind}>{e(b.text)}</{b.kind}>")
        elif b.kind == "p":
            parts.append(f"<p>{e(b.text)}</p>")
        elif b.kind == "verdict":
            parts.append(f'<p class="verdict {b.css}" id="verdict">{e(b.text)}</p>')
        elif b.kind == "list":
            parts.append("<ul>" + "".join(f"<li>{e(str(i))}</li>" for i in b.items) + "</ul>")
        elif b.kind == "table":
            result_col = b.header.index("result") if "result" in b.header else -1
            head = "".join(f"<th>{e(h)}</th>" for h in b.header)
            body = []
            for row in b.items:
                cells = []
                for i, cell in enumerate(row):
                    css = f' class="{e(str(cell))}"' if i == result_col else ""
                    cells.append(f"<td{css}>{e(str(cell))}</td>")
                body.append("<tr>" + "".join(cells) + "</tr>")
            parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}"
                         f"</tbody></table>")
        elif b.kind == "image" and b.png:
            parts.append(f'<img alt="{e(b.text)}" src="{_data_uri(b.png)}">')
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


# --------------------------------------------------------------------------- Markdown

def _md_cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def to_markdown(r: Readiness, laid_out: list[Block] | None = None) -> str:
    """The report as Markdown (the charts embedded as data URIs); ``laid_out`` as for
    ``to_html``."""
    lines: list[str] = []
    for b in laid_out or blocks(r):
        if b.kind == "h1":
            lines += [f"# {b.text}", ""]
        elif b.kind == "h2":
            lines += [f"## {b.text}", ""]
        elif b.kind == "p":
            lines += [b.text, ""]
        elif b.kind == "verdict":
            lines += [f"**{b.text}**", ""]
        elif b.kind == "list":
            lines += [f"- {i}" for i in b.items] + [""]
        elif b.kind == "table":
            lines.append("| " + " | ".join(_md_cell(h) for h in b.header) + " |")
            lines.append("|" + "---|" * len(b.header))
            lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in b.items]
            lines.append("")
        elif b.kind == "image" and b.png:
            lines += [f"![{b.text}]({_data_uri(b.png)})", ""]
    return "\n".join(lines)


def to_json(r: Readiness) -> str:
    return json.dumps(r.as_dict(), indent=1, allow_nan=False, default=_jsonable) + "\n"


def _jsonable(value: Any) -> Any:
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")
