"""What a study tells the user: the ranked table (stdout), the JSON for the readiness report, and
a self-contained HTML report (figures embedded as PNG).

The JSON contract (``--json PATH``), read by the go-live readiness report::

    trials          every configuration tried that ran: each configuration on each dataset and
                    window (sweep) or each training window of each fold (walk-forward)
    trial_sharpes   the annualized Sharpe (365 days) of each trial, null where undefined
    objective       sharpe | calmar | psr
    chosen_params   {dotted key: value}: the sweep's best configuration, or the configuration
                    the walk-forward's LAST fold chose (the one to trade next); {} if none
                    qualified
    in_sample       report metrics (``research.tasks.METRIC_KEYS``) of the chosen configuration
                    on its training data: sweep: its run on the weakest dataset and window;
                    walk-forward: the mean over folds of each winner's training run
    out_of_sample   report metrics out of sample: walk-forward: the stitched out-of-sample run
                    (``analyzers.metrics.summarize`` keys, with its daily ``equity_curve``,
                    ``psr``, ``calmar`` and ``deflated_sharpe``); sweep: the chosen
                    configuration on the spec's ``holdout`` window, or null without one
    seed            the search seed
    spec            the effective spec

With several datasets, ``in_sample``/``out_of_sample`` describe the WEAKEST dataset (lowest
out-of-sample objective, undefined counting as lowest; named in ``dataset``), never an average
that a strong market could lift; ``by_dataset`` has each one. Further keys: ``study``,
``min_trades``, ``failed_tasks``, ``expected_max_sharpe`` and ``deflated_sharpe`` (the
threshold and the DSR over ``trials``), and for a walk-forward ``folds`` and ``degradation``.
"""

from __future__ import annotations

import base64
import html
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.errors import UserInputError
from research import charts
from research.evaluate import Scored
from research.objective import expected_max_sharpe, objective_value
from research.spec import ResearchSpec, Window, iso_day
from research.tasks import METRIC_KEYS

__all__ = ["sweep_document", "sweep_table", "walk_forward_document", "walk_forward_tables",
           "write_html", "write_json"]


# ---------------------------------------------------------------------------------- formatting

def _fmt(value: Any, spec: str = "{:.2f}") -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        text = spec.format(value)
        return text[1:] if text.startswith("-") and not text.strip("-0.,") else text
    return str(value).lower() if isinstance(value, bool) else str(value)


def _text_table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(header)]
    line = "  ".join(h.rjust(w) for h, w in zip(header, widths, strict=True))
    body = ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join([line, "-" * len(line), *body])


def _html_table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>"
                   for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _metrics(metrics: dict | None) -> dict | None:
    return None if metrics is None else {k: metrics.get(k) for k in METRIC_KEYS}


def _window_dict(w: Window) -> dict:
    return {"from": iso_day(w.start_ms), "to": iso_day(w.end_ms)}


# ------------------------------------------------------------------------------------- sweep

def _sweep_rows(ranked: list[Scored], keys: list[str], top: int | None) -> list[list[str]]:
    rows = []
    for n, s in enumerate(ranked[:top] if top else ranked, 1):
        params = dict(s.params)
        dd = [r["metrics"]["max_drawdown_pct"] for r in s.rows
              if r["status"] == "ok" and r["metrics"]["max_drawdown_pct"] is not None]
        rows.append([str(n), *(_fmt(params[k], "{:g}") for k in keys), _fmt(s.score, "{:.3f}"),
                     _fmt(s.worst, "{:.3f}"), _fmt(s.metric_mean("sharpe")),
                     _fmt(s.metric_mean("total_return_pct")), _fmt(max(dd) if dd else None),
                     str(s.metric_total("trades")), str(s.failed)])
    return rows


def _sweep_header(spec: ResearchSpec) -> list[str]:
    return ["rank", *(p.key for p in spec.params), "score", "worst", "sharpe", "return %",
            "max DD %", "trades", "failed"]


def sweep_table(result, spec: ResearchSpec, top: int = 20) -> str:
    """The ranked configurations, best first; numbers over the spec's datasets and windows:
    the objective's mean and worst, the mean Sharpe and return, the worst drawdown, the trades
    in total and the failed tasks."""
    keys = [p.key for p in spec.params]
    units = ", ".join(f"{name} {w.label}" for name, w in result.units)
    ok = sum(r["status"] == "ok" for r in result.trial_rows)
    lines = [f"Sweep: {len(result.ranked)} configurations x {len(result.units)} "
             f"(dataset, window): {units}",
             f"score: the mean {spec.objective} over those (undefined if one is failed or has "
             f"fewer than {spec.min_trades} trades), worst: the lowest; sharpe and return: "
             f"means; max DD: the worst; {ok} runs, {len(result.trial_rows) - ok} failed",
             _text_table(_sweep_header(spec), _sweep_rows(result.ranked, keys, top))]
    if len(result.ranked) > top:
        lines.append(f"({len(result.ranked) - top} more configurations in the results table "
                     f"and the report)")
    failures = [r for r in result.trial_rows if r["status"] != "ok"]
    if failures:
        lines.append(f"first failure: {failures[0]['error']}")
    if result.best is None:
        lines.append("No configuration qualified: none has a defined objective with at least "
                     f"{spec.min_trades} trades on every dataset and window.")
    lines += _holdout_lines(result)
    return "\n".join(lines)


def _holdout_lines(result) -> list[str]:
    lines = []
    for row in result.holdout_rows:
        m = row["metrics"] or {}
        lines.append(
            f"holdout {row['dataset']} {Window(row['start_ms'], row['end_ms']).label}: "
            + (f"return {_fmt(m.get('total_return_pct'))} % (buy and hold "
               f"{_fmt(m.get('buy_hold_return_pct'))} %), Sharpe {_fmt(m.get('sharpe'))}, "
               f"deflated Sharpe {_fmt(result.dsr_by_task.get(row['task_id']))}, "
               f"max DD {_fmt(m.get('max_drawdown_pct'))} %, {m.get('trades')} trades"
               if row["status"] == "ok" else f"failed: {row['error']}"))
    return lines


def _weakest(rows: list[dict], objective: str) -> dict | None:
    """The row with the lowest objective (undefined or failed counting as lowest)."""
    if not rows:
        return None
    return min(rows, key=lambda r: (
        objective_value(r["metrics"], objective, 0) is not None if r["status"] == "ok"
        else False,
        (objective_value(r["metrics"], objective, 0) or 0.0) if r["status"] == "ok" else 0.0))


def _unit_entry(row: dict, dsr: float | None) -> dict:
    return {"dataset": row["dataset"], "from": iso_day(row["start_ms"]),
            "to": iso_day(row["end_ms"]), "status": row["status"], "error": row["error"],
            **(_metrics(row["metrics"]) or {}), "deflated_sharpe": dsr}


def sweep_document(result, spec: ResearchSpec, dsr_by_task: dict[str, float | None]) -> dict:
    """The JSON document of a sweep (see the module docstring)."""
    ok_rows = [r for r in result.trial_rows if r["status"] == "ok"]
    sharpes = [r["metrics"]["sharpe"] for r in ok_rows]
    best = result.best
    chosen = dict(best.params) if best else {}
    in_sample = None
    if best:
        weakest = _weakest(best.rows, spec.objective)
        in_sample = _unit_entry(weakest, dsr_by_task.get(weakest["task_id"]))
    holdout = _weakest(result.holdout_rows, spec.objective)
    return {
        "study": "sweep",
        "trials": len(ok_rows),
        "trial_sharpes": sharpes,
        "objective": spec.objective,
        "min_trades": spec.min_trades,
        "chosen_params": chosen,
        "in_sample": in_sample,
        "out_of_sample": None if holdout is None else _unit_entry(
            holdout, dsr_by_task.get(holdout["task_id"])),
        "seed": spec.seed,
        "spec": spec.as_dict(),
        "failed_tasks": len(result.trial_rows) - len(ok_rows),
        "expected_max_sharpe": _round(expected_max_sharpe(sharpes)),
        "deflated_sharpe": None if in_sample is None else in_sample.get("deflated_sharpe"),
        "by_dataset": {
            "in_sample": [_unit_entry(r, dsr_by_task.get(r["task_id"]))
                          for r in (best.rows if best else [])],
            "out_of_sample": [_unit_entry(r, dsr_by_task.get(r["task_id"]))
                              for r in result.holdout_rows]},
        "ranking": [{"params": dict(s.params), "score": s.score, "worst": s.worst,
                     "failed": s.failed} for s in result.ranked],
    }


# ------------------------------------------------------------------------------- walk-forward

def _weakest_dataset(result, objective: str) -> str | None:
    if not result.out_of_sample:
        return None
    return min(result.out_of_sample, key=lambda n: (
        objective_value(result.out_of_sample[n].report, objective, 0) is not None,
        objective_value(result.out_of_sample[n].report, objective, 0) or 0.0))


def _fold_rows(result, spec: ResearchSpec) -> tuple[list[str], list[list[str]]]:
    keys = [p.key for p in spec.params]
    names = [d.name for d in spec.datasets]
    header = ["fold", "train", "test", *keys, f"IS {spec.objective}",
              *(f"OOS {n} {h}" for n in names for h in ("return %", "sharpe", "trades"))]
    rows = []
    for o in result.folds:
        win = o.winner
        params = dict(win.params) if win else {}
        cells = [str(o.fold.index), o.fold.train.label, o.fold.test.label,
                 *(_fmt(params[k], "{:g}") if win else "-" for k in keys),
                 _fmt(win.score, "{:.3f}") if win else "in cash"]
        for n in names:
            row = o.test_rows.get(n)
            if n not in o.datasets:
                cells += ["no data"] * 3
            elif row is None:
                cells += ["0.00", "n/a", "0"]
            elif row["status"] != "ok":
                cells += ["failed"] * 3
            else:
                m = row["metrics"]
                cells += [_fmt(m["total_return_pct"]), _fmt(m["sharpe"]), str(m["trades"])]
        rows.append(cells)
    return header, rows


def _oos_rows(result, spec: ResearchSpec) -> tuple[list[str], list[list[str]]]:
    header = ["dataset", "period", "return %", "buy&hold %", "sharpe", "psr", "deflated",
              "max DD %", "trades", "win rate", f"IS {spec.objective}",
              f"OOS {spec.objective}", "in cash"]
    rows = []
    for name, oos in result.out_of_sample.items():
        r, deg = oos.report, result.degradation[name]
        rows.append([name, f"{r['start'][:10]}..{r['end'][:10]}", _fmt(r["total_return_pct"]),
                     _fmt(r["buy_hold_return_pct"]), _fmt(r["sharpe"]), _fmt(r["psr"]),
                     _fmt(r["deflated_sharpe"]), _fmt(r["max_drawdown_pct"]), str(r["trades"]),
                     _fmt(None if r["win_rate"] is None else r["win_rate"] * 100, "{:.1f}"),
                     _fmt(deg["in_sample_mean"], "{:.3f}"), _fmt(deg["out_of_sample"], "{:.3f}"),
                     f"{r['folds_in_cash']}/{r['folds_in_cash'] + r['folds_traded']}"])
    return header, rows


def walk_forward_tables(result, spec: ResearchSpec) -> str:
    wf = spec.walk_forward
    trials = len(result.trial_sharpes)
    failed = sum(r["status"] != "ok" for r in result.trial_rows)
    lines = [f"Walk-forward ({wf.mode}, train {wf.train_months} months, test "
             f"{wf.test_months} months): {len(result.folds)} folds, {trials} trials "
             f"({failed} failed), objective {spec.objective} (undefined below "
             f"{spec.min_trades} trades)",
             _text_table(*_fold_rows(result, spec)), "",
             "Out of sample, stitched (the winners run one fold after the other):",
             _text_table(*_oos_rows(result, spec)),
             f"deflated Sharpe: P(true Sharpe > {_fmt(expected_max_sharpe(result.trial_sharpes))}"
             f"), the best of {trials} trials by luck alone"]
    return "\n".join(lines)


def walk_forward_document(result, spec: ResearchSpec) -> dict:
    sharpes = result.trial_sharpes
    last = result.folds[-1].winner if result.folds else None
    weakest = _weakest_dataset(result, spec.objective)

    def oos_entry(name):
        report = {k: v for k, v in result.out_of_sample[name].report.items()
                  if k != "trade_list"}
        return {"dataset": name, **report}

    def is_entry(name):
        summary = result.in_sample[name]
        return None if summary is None else {"dataset": name, **summary}

    folds = []
    for o in result.folds:
        folds.append({
            "fold": o.fold.index, "train": _window_dict(o.fold.train),
            "test": _window_dict(o.fold.test), "datasets": o.datasets,
            "chosen_params": dict(o.winner.params) if o.winner else None,
            "in_sample_score": o.winner.score if o.winner else None,
            "candidates": len(o.ranked),
            "out_of_sample": {n: None if r is None else {
                "status": r["status"], "error": r["error"], **(_metrics(r["metrics"]) or {})}
                for n, r in ((n, o.test_rows.get(n)) for n in o.datasets)},
        })
    return {
        "study": "walk_forward",
        "trials": len(sharpes),
        "trial_sharpes": sharpes,
        "objective": spec.objective,
        "min_trades": spec.min_trades,
        "chosen_params": dict(last.params) if last else {},
        "in_sample": is_entry(weakest) if weakest else None,
        "out_of_sample": oos_entry(weakest) if weakest else None,
        "seed": spec.seed,
        "spec": spec.as_dict(),
        "failed_tasks": sum(r["status"] != "ok" for r in result.trial_rows),
        "expected_max_sharpe": _round(expected_max_sharpe(sharpes)),
        "deflated_sharpe": result.out_of_sample[weakest].report["deflated_sharpe"]
        if weakest else None,
        "degradation": result.degradation.get(weakest) if weakest else None,
        "folds": folds,
        "by_dataset": {n: {"in_sample": is_entry(n), "out_of_sample": oos_entry(n),
                           "degradation": result.degradation[n]}
                       for n in result.out_of_sample},
    }


# ------------------------------------------------------------------------------------ output

def write_json(path: str, document: dict) -> None:
    try:
        with open(path, "w") as fh:
            json.dump(document, fh, indent=1, allow_nan=False)
    except OSError as exc:
        raise UserInputError(f"--json {path}: cannot write: {exc.strerror}") from exc


def _img(png: bytes | None, alt: str) -> str:
    if png is None:
        return ""
    return (f'<img alt="{html.escape(alt)}" src="data:image/png;base64,'
            f'{base64.b64encode(png).decode()}">')


_STYLE = ("body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse;"
          "font-size:12px;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 6px;"
          "text-align:right}th{background:#f3f3f3}img{max-width:100%}"
          ".note{color:#555;font-size:13px}")


def write_html(path: str, title: str, sections: list[tuple[str, str]]) -> None:
    body = "".join(f"<h2>{html.escape(h)}</h2>{content}" for h, content in sections)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    text = (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
            f"</title><style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1>"
            f"<p class='note'>Made {stamp}. Every figure comes from the backtest engine; "
            f"past results, fees and slippage as configured.</p>{body}</body></html>")
    try:
        Path(path).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UserInputError(f"--report {path}: cannot write: {exc.strerror}") from exc


def sweep_sections(result, spec: ResearchSpec, document: dict) -> list[tuple[str, str]]:
    keys = [p.key for p in spec.params]
    points = [(dict(s.params), s.score) for s in result.ranked]
    sections = [("Ranking", f"<p class='note'>{html.escape(_summary_line(document))}</p>"
                 + _html_table(_sweep_header(spec), _sweep_rows(result.ranked, keys, None)))]
    heat = charts.heatmaps_png(points, keys, spec.objective)
    if heat:
        sections.append(("Objective over pairs of parameters", _img(heat, "heatmaps")))
    if result.holdout_rows:
        sections.append(("Holdout (the winner, out of sample)",
                         "<pre>" + html.escape("\n".join(_holdout_lines(result))) + "</pre>"))
    return sections


def walk_forward_sections(result, spec: ResearchSpec, document: dict) -> list[tuple[str, str]]:
    keys = [p.key for p in spec.params]
    curves = [{"times_ms": o.times_ms, "values": o.values, "bh_times_ms": o.buy_hold_times_ms,
               "bh_values": o.buy_hold_values, "fold_ends_ms": o.fold_ends_ms,
               "title": f"{name}: out of sample {_fmt(o.report['total_return_pct'])} % vs buy "
                        f"and hold {_fmt(o.report['buy_hold_return_pct'])} %, Sharpe "
                        f"{_fmt(o.report['sharpe'])}, deflated Sharpe "
                        f"{_fmt(o.report['deflated_sharpe'])}"}
              for name, o in result.out_of_sample.items()]
    points = [(dict(s.params), s.score) for o in result.folds for s in o.ranked]
    sections = [
        ("Out of sample", f"<p class='note'>{html.escape(_summary_line(document))}</p>"
         + _html_table(*_oos_rows(result, spec))
         + (_img(charts.equity_png(curves), "out-of-sample equity") if curves else "")),
        ("Folds", _html_table(*_fold_rows(result, spec))),
    ]
    stability = charts.stability_png(
        [(o.fold.index, dict(o.winner.params) if o.winner else None) for o in result.folds],
        keys)
    if stability:
        sections.append(("Parameter stability across folds", _img(stability, "stability")))
    heat = charts.heatmaps_png(points, keys, spec.objective)
    if heat:
        sections.append(("Training objective over pairs of parameters (all folds)",
                         _img(heat, "heatmaps")))
    return sections


def _summary_line(document: dict) -> str:
    return (f"{document['trials']} trials ({document['failed_tasks']} failed), objective "
            f"{document['objective']} with at least {document['min_trades']} trades, seed "
            f"{document['seed']}; a best-of-{document['trials']} Sharpe of "
            f"{_fmt(document['expected_max_sharpe'])} is expected by luck alone.")


def _round(x: float | None) -> float | None:
    return None if x is None else float(f"{x:.6g}")
