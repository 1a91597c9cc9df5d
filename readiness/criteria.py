"""The go-live criteria: each figure of the record against its ``go_live`` threshold; the verdict.

Every row is a ``Criterion``: the value, the threshold in words, PASS or FAIL (or ``info`` for
evidence that is shown but does not decide), and what the figure means. A gating criterion
whose value cannot be computed (no trades, fewer than two daily returns, nothing to compare)
FAILS: the gate asks for proof, and a missing figure proves nothing.

Gating, in this order: a paper record (a live paper account; replays never count), days of
paper trading >= ``min_paper_days``, total P&L > 0, Sharpe > ``min_sharpe``, max drawdown <
``max_drawdown_percent``, win rate > ``min_win_rate``, closed trades >= ``min_trades``, the
daily loss limit never reached, engine uptime > ``min_engine_uptime``, feed uptime >
``min_feed_uptime``, P(true Sharpe > 0) >= ``min_confidence``; then the drift check: match rate
>= ``min_match_rate``, entry and exit slippage <= ``max_slippage_bps``, P&L tracking error <=
``max_tracking_error_percent``.

Shown, not gating: P(true Sharpe > threshold), the minimum track record length, the bootstrap
intervals and the binomial tests (``readiness.confidence``).

``verdict(rows, record)`` is READY when every gating row passes, else NOT READY with one reason
per failing row (only "no paper record ..." when there is no record at all).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

from readiness.confidence import Confidence
from readiness.drift import Drift
from readiness.record import PaperRecord

__all__ = ["NOT_READY", "READY", "Criterion", "Result", "confidence_rows", "drift_rows",
           "record_rows", "verdict"]

READY = "READY"
NOT_READY = "NOT READY"


class Result(StrEnum):
    PASS = "PASS"
    FAIL = "FAIL"
    INFO = "info"


@dataclass(frozen=True)
class Criterion:
    key: str
    name: str
    value: Any
    shown: str
    threshold: str
    result: Result
    meaning: str = ""

    @property
    def gating(self) -> bool:
        return self.result != Result.INFO

    @property
    def reason(self) -> str:
        return f"{self.name}: {self.shown} (needs {self.threshold})"

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "result": str(self.result)}


def _judge(value, ok: Callable[[Any], bool]) -> Result:
    return Result.PASS if value is not None and ok(value) else Result.FAIL


def _num(x: float | None, spec: str = ".2f", suffix: str = "") -> str:
    return "n/a" if x is None else f"{x:{spec}}{suffix}"


def _pct(x: float | None, digits: int = 1) -> str:
    return "n/a" if x is None else f"{100 * x:.{digits}f} %"


def _p_value(p: float | None) -> str:
    return "n/a" if p is None else "< 0.001" if p < 0.001 else f"{p:.3f}"


def _days(ms: int) -> str:
    return f"{ms / 86_400_000:.1f} days"


def record_rows(record: PaperRecord, go_live, max_daily_loss: float) -> list[Criterion]:
    """The paper record's own criteria (see the module docstring)."""
    report = record.report or {}
    has_record = record.problem is None
    if record.account is None:
        source_shown = "none"
    else:
        source_shown = (f"{record.source} account {record.account.id}, {len(record.runs)} "
                        f"run(s)")
    source_ok = has_record and record.source == "paper"
    if not has_record:
        source_meaning = record.problem
    elif record.source != "paper":
        source_meaning = (f"a {record.source} account, reported on request: its figures are "
                          "shown, but only live paper trading counts, so it is never READY")
    else:
        source_meaning = "live market data, simulated money; replay accounts are never counted"
    rows = [Criterion("paper_record", "Paper record", record.source if has_record else None,
                      source_shown, "a paper account that traded live",
                      Result.PASS if source_ok else Result.FAIL, source_meaning)]

    days = record.days
    rows.append(Criterion(
        "paper_days", "Days of paper trading", days, _num(days, ".1f"),
        f">= {go_live.min_paper_days}", _judge(days, lambda d: d >= go_live.min_paper_days),
        "from the first bar traded live to the last bar recorded"))
    pnl = record.pnl if has_record else None
    rows.append(Criterion(
        "total_pnl", "Total P&L", pnl, _num(pnl, ",.2f", " USDT"), "> 0 USDT",
        _judge(pnl, lambda v: v > 0), "equity change, realized and unrealized, after fees"))
    sharpe = report.get("sharpe") if has_record else None
    rows.append(Criterion(
        "sharpe", "Sharpe ratio", sharpe, _num(sharpe), f"> {go_live.min_sharpe:g}",
        _judge(sharpe, lambda v: v > go_live.min_sharpe),
        "daily mark-to-market returns, mean / std x sqrt(365)"))
    dd = report.get("max_drawdown_pct") if has_record else None
    rows.append(Criterion(
        "max_drawdown", "Max drawdown", dd, _num(dd, ".2f", " %"),
        f"< {go_live.max_drawdown_percent:g} %",
        _judge(dd, lambda v: v < go_live.max_drawdown_percent),
        "largest fall from a running peak of the per-bar equity"))
    wr = report.get("win_rate") if has_record else None
    rows.append(Criterion(
        "win_rate", "Win rate", wr, _pct(wr), f"> {_pct(go_live.min_win_rate)}",
        _judge(wr, lambda v: v > go_live.min_win_rate),
        "closed trades with P&L > 0 after fees, of all closed trades"))
    trades = report.get("trades") if has_record else None
    rows.append(Criterion(
        "closed_trades", "Closed trades", trades, "n/a" if trades is None else str(trades),
        f">= {go_live.min_trades}", _judge(trades, lambda v: v >= go_live.min_trades)))
    loss_days = record.loss_days if has_record else None
    if loss_days is None:
        shown = "n/a"
    elif not loss_days:
        shown = "never reached"
    else:
        shown = f"reached on {len(loss_days)} day(s): " + ", ".join(
            d if v is None else f"{d} ({v:,.2f} USDT)" for d, v in loss_days.items())
    rows.append(Criterion(
        "daily_loss_limit", "Daily loss limit", None if loss_days is None else len(loss_days),
        shown, f"never reached (-{max_daily_loss:g} USDT in a UTC day)",
        _judge(loss_days, lambda v: not v),
        "a day's P&L, marked to market at each bar close, fell to the limit, or the engine "
        "refused a setup because of it"))
    engine = record.engine.share if has_record else None
    rows.append(Criterion(
        "engine_uptime", "Engine uptime", engine, _pct(engine, 2),
        f"> {_pct(go_live.min_engine_uptime, 2)}",
        _judge(engine, lambda v: v > go_live.min_engine_uptime),
        "" if not has_record else f"the engine ran {_days(record.engine.up_ms)} of "
        f"{_days(record.engine.total_ms)} (from its runs and heartbeats)"))
    feeds = record.feeds.share if has_record else None
    rows.append(Criterion(
        "feed_uptime", "Feed uptime", feeds, _pct(feeds, 2),
        f"> {_pct(go_live.min_feed_uptime, 2)}",
        _judge(feeds, lambda v: v > go_live.min_feed_uptime),
        "" if not has_record else f"every feed was LIVE for {_days(record.feeds.up_ms)} of the "
        f"{_days(record.feeds.total_ms)} the engine ran (warm-ups and outages count as down)"))
    return rows


def confidence_rows(c: Confidence | None, go_live) -> list[Criterion]:
    """The statistical rows: P(true Sharpe > 0) gates, the others are evidence."""
    conf = go_live.min_confidence
    threshold = go_live.min_sharpe
    n = c.moments.n if c and c.moments else 0
    psr0 = c.psr_zero if c else None
    rows = [Criterion(
        "psr_vs_0", "P(true Sharpe > 0)", psr0, _pct(psr0), f">= {_pct(conf)}",
        _judge(psr0, lambda v: v >= conf),
        "n/a: fewer than two daily returns with any spread" if psr0 is None else
        f"probabilistic Sharpe ratio: given {n} daily returns, their skewness and kurtosis, "
        f"the chance that the strategy's true Sharpe is above 0 (that it makes money at all)")]
    if c is None:
        return rows
    psr_t = c.psr_threshold
    rows.append(Criterion(
        "psr_vs_threshold", f"P(true Sharpe > {threshold:g})", psr_t, _pct(psr_t), "shown",
        Result.INFO, "n/a" if psr_t is None else
        f"the chance that the true Sharpe is above the go-live threshold {threshold:g}; the "
        f"measured Sharpe alone says nothing about how sure it is"))
    if c.moments is None:
        trl_shown, trl_meaning = "n/a", "n/a: no daily returns to measure"
    elif c.min_track_record_days is None:
        trl_shown = "never"
        trl_meaning = (f"the measured Sharpe ({c.moments.annual_sr(365):.2f}) is not above "
                       f"{threshold:g}: no length of record at this Sharpe reaches {_pct(conf)} "
                       f"confidence")
    else:
        trl_shown = f"{c.min_track_record_days:,.0f} days"
        trl_meaning = (f"days of record needed to be {_pct(conf)} sure that the true Sharpe is "
                       f"above {threshold:g}, if it stays at {c.moments.annual_sr(365):.2f}: "
                       + ("the record is long enough" if c.more_days == 0 else
                          f"{c.more_days:,} more day(s)"))
    rows.append(Criterion("min_track_record", "Minimum track record length",
                          c.min_track_record_days, trl_shown, "shown", Result.INFO, trl_meaning))
    si = c.sharpe_interval
    rows.append(Criterion(
        "sharpe_interval", f"Sharpe, {_pct(si.level, 0) if si else '95 %'} interval",
        None if si is None else [si.low, si.high],
        "n/a" if si is None else f"{si.low:.2f} .. {si.high:.2f}", "shown", Result.INFO,
        "n/a: fewer than three daily returns" if si is None else
        f"{_pct(si.level, 0)} of {si.resamples} block-bootstrap resamples of the daily returns "
        f"(blocks of {si.block} days, seed {si.seed}) have an annualized Sharpe in this range"
        + ("; it includes 0" if si.low <= 0 <= si.high else "")))
    wi = c.win_interval
    rows.append(Criterion(
        "win_rate_interval", f"Win rate, {_pct(wi.level, 0) if wi else '95 %'} interval",
        None if wi is None else [wi.low, wi.high],
        "n/a" if wi is None else f"{_pct(wi.low)} .. {_pct(wi.high)}", "shown", Result.INFO,
        "n/a: no closed trades" if wi is None else
        f"{_pct(wi.level, 0)} of {wi.resamples} bootstrap resamples of the {c.trades} trades "
        f"(seed {wi.seed}) have a win rate in this range"))
    rows.append(Criterion(
        "binomial_vs_50", "Win-rate test vs 50 %", c.p_vs_half, _p_value(c.p_vs_half),
        "shown", Result.INFO, "n/a: no closed trades" if c.p_vs_half is None else
        f"p-value: a strategy winning half its trades would win at least {c.wins} of "
        f"{c.trades} this often by luck"))
    be = c.break_even_win_rate
    rows.append(Criterion(
        "binomial_vs_break_even", "Win-rate test vs break-even", c.p_vs_break_even,
        _p_value(c.p_vs_break_even), "shown", Result.INFO,
        "n/a: needs at least one winning and one other trade" if be is None else
        f"p-value against the break-even win rate {_pct(be)} implied by the average win and "
        f"loss: a strategy with no edge at these payoffs would win at least {c.wins} of "
        f"{c.trades} this often (low is good; the payoffs are themselves estimated)"))
    return rows


def drift_rows(drift: Drift | None, go_live) -> list[Criterion]:
    """The drift check's criteria (see ``readiness.drift``)."""
    d = drift
    counts = "" if d is None else (f"{d.matched} matched of {d.paper_trades} paper and "
                                   f"{d.backtest_trades} backtest trades")
    none = "n/a: no record to replay" if d is None else ""
    rate = d.match_rate if d else None
    rows = [Criterion(
        "drift_match_rate", "Drift: match rate", rate, _pct(rate),
        f">= {_pct(go_live.min_match_rate)}", _judge(rate, lambda v: v >= go_live.min_match_rate),
        none or (f"{counts}, by symbol and entry bar, in the backtest replayed on the recorded "
                 "bars" if rate is not None else "n/a: no trade on either side to compare"))]
    limit = go_live.max_slippage_bps
    for key, name, value in (("drift_entry_slippage", "Drift: entry slippage",
                              d.entry_slippage_bps if d else None),
                             ("drift_exit_slippage", "Drift: exit slippage",
                              d.exit_slippage_bps if d else None)):
        rows.append(Criterion(
            key, name, value, _num(value, ".2f", " bps"), f"<= {limit:g} bps",
            _judge(value, lambda v: v <= limit),
            none or ("n/a: no matched trade to compare" if value is None else
                     "mean paper fill minus backtest fill of the matched trades, in basis "
                     "points, positive when paper was worse")))
    te = d.tracking_error_pct if d else None
    rows.append(Criterion(
        "drift_tracking_error", "Drift: P&L tracking error", te, _num(te, ".2f", " %"),
        f"<= {go_live.max_tracking_error_percent:g} %",
        _judge(te, lambda v: v <= go_live.max_tracking_error_percent),
        none or ("n/a: no trade closed on both sides" if te is None else
                 f"root-mean-square P&L difference of the trades both closed "
                 f"({d.rms_pnl_difference:,.2f} USDT), in % of their mean absolute backtest P&L")))
    return rows


def verdict(rows: list[Criterion], record: PaperRecord) -> tuple[str, list[str]]:
    """``(READY | NOT READY, reasons)``: READY when every gating row passes."""
    if record.problem is not None:
        return NOT_READY, [record.problem]
    failed = [r.reason for r in rows if r.gating and r.result != Result.PASS]
    return (NOT_READY, failed) if failed else (READY, [])
