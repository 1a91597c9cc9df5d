"""The readiness assessment: record, criteria, statistics and drift put together, and the verdict.

``assess(store, config, now_ms=...)`` is what both the report (``runners.readiness``) and the
real-mode gate (``readiness.gate``) call, so the verdict the gate acts on is computed the same
way, from the database and the config alone, every time. ``Readiness.backtests`` and
``Readiness.sweep`` are evidence the report adds (``with_evidence``); they never change the
verdict.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from core.times import ms_to_iso
from readiness.backtests import Evidence
from readiness.confidence import Confidence, record_confidence
from readiness.criteria import Criterion, confidence_rows, drift_rows, record_rows, verdict
from readiness.drift import Drift, drift_check
from readiness.record import PaperRecord, load_record
from readiness.sweep import Sweep

__all__ = ["Readiness", "assess", "with_evidence"]


@dataclass(frozen=True)
class Readiness:
    verdict: str
    reasons: list[str]
    generated_ms: int
    record: PaperRecord
    criteria: list[Criterion]
    confidence: Confidence | None
    drift: Drift | None
    config: Any
    seed: int
    backtests: list[Evidence] = field(default_factory=list)
    sweep: Sweep | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return self.verdict == "READY"

    @property
    def headline(self) -> str:
        """The one-line verdict."""
        if self.ready:
            return "READY: every go-live criterion passes"
        return "NOT READY: " + "; ".join(self.reasons)

    def as_dict(self) -> dict[str, Any]:
        rec = self.record
        account = rec.account
        return {
            "verdict": self.verdict,
            "reasons": list(self.reasons),
            "generated_ms": self.generated_ms,
            "generated": ms_to_iso(self.generated_ms),
            "record": {
                "source": rec.source, "problem": rec.problem,
                "account_id": account.id if account else None,
                "runs": [{"id": r.id, "mode": r.mode, "status": r.status,
                          "started": ms_to_iso(r.started_ms), "stopped": ms_to_iso(r.stopped_ms),
                          "last_heartbeat": ms_to_iso(r.last_heartbeat_ms)} for r in rec.runs],
                "start": ms_to_iso(rec.start_ms), "end": ms_to_iso(rec.end_ms), "days": rec.days,
                "engine_uptime": rec.engine.share, "feed_uptime": rec.feeds.share,
                "daily_loss_limit_days": rec.loss_days,
                "metrics": None if rec.report is None else {
                    k: rec.report[k] for k in ("initial_equity", "final_equity",
                                               "total_return_pct", "sharpe", "sortino",
                                               "max_drawdown_pct", "win_rate", "profit_factor",
                                               "expectancy", "trades")},
                "equity_curve": None if rec.report is None else rec.report["equity_curve"],
            },
            "criteria": [c.as_dict() for c in self.criteria],
            "statistics": None if self.confidence is None else self.confidence.as_dict(),
            "drift": None if self.drift is None else self.drift.as_dict(),
            "backtests": [e.as_dict() for e in self.backtests],
            "sweep": None if self.sweep is None else self.sweep.as_dict(),
            "notes": list(self.notes),
            "thresholds": self.config.as_dict()["go_live"],
            "seed": self.seed,
        }


def assess(store, config, *, now_ms: int, account_id: int | None = None,
           seed: int = 0) -> Readiness:
    """The verdict on the paper record in ``store`` (or on account ``account_id``)."""
    go_live = config.go_live
    record = load_record(store, config, account_id)
    confidence = None
    if record.problem is None:
        pnls = [t.pnl for t in record.history.trades]
        confidence = record_confidence(record.daily_returns, pnls,
                                       sharpe_threshold=go_live.min_sharpe,
                                       confidence=go_live.min_confidence, seed=seed)
    drift = drift_check(store, record) if record.problem is None else None
    rows = (record_rows(record, go_live, config.risk_manager.max_daily_loss)
            + confidence_rows(confidence, go_live) + drift_rows(drift, go_live))
    outcome, reasons = verdict(rows, record)
    notes = [drift.note] if drift is not None and drift.note else []
    return Readiness(outcome, reasons, now_ms, record, rows, confidence, drift, config, seed,
                     notes=notes)


def with_evidence(r: Readiness, backtests: list[Evidence], sweep: Sweep | None,
                  notes: list[str] = ()) -> Readiness:
    """The same assessment with backtest evidence and the sweep added (verdict unchanged)."""
    return replace(r, backtests=list(backtests), sweep=sweep, notes=[*r.notes, *notes])
