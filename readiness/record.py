"""The paper record the go-live check judges, read from the state database.

``load_record(store, config)`` finds the paper account (mode ``paper``; replay accounts never
count) and rebuilds its record with ``engine.paper_report.account_history``: the same per-bar
mark-to-market equity, daily returns and closed trades a backtest report is made of. On top of
that it measures what only a live record has:

- **days**: from the first bar the account traded live on (``accounts.trading_since_ms``) to the
  close of the last bar it recorded, in days (market time);
- **engine uptime**: the union of its runs' lifetimes (start to stop, or to the last heartbeat
  for a run that crashed or is still running; refused runs never ran) over the span from the
  first run's start to the last run's end (wall-clock time of the machine);
- **feed uptime**: the share of that running time during which every feed of the run was LIVE
  (``feed_events``; before a run's first recorded status, e.g. during its warm-up, the feeds
  count as not LIVE, and so does a run without any feed record);
- **daily loss days**: the UTC days on which the per-bar equity fell to ``-max_daily_loss``
  below the day's starting equity (the rule of ``strategies.guards.DailyLossGuard``), plus the
  days on which the engine itself refused a setup because of that limit.

``account_id`` reports on that account instead (any mode, e.g. a replay, for a test or a look):
``PaperRecord.source`` is then its mode, and a record that is not ``paper`` is never READY.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from analyzers.metrics import daily_equity, daily_returns
from brokers.state.store import AccountRow, FeedEventRow, RunRow, StateStore
from core.errors import UserInputError
from core.records import FeedStatus, RunMode, RunStatus
from core.timeframes import DAY_MS, timeframe_ms
from engine.paper_report import AccountHistory, account_history, history_report

__all__ = ["DAILY_LOSS_DECISION", "PaperRecord", "Uptime", "engine_uptime", "feed_uptime",
           "load_record", "loss_limit_days"]

DAILY_LOSS_DECISION = "daily loss limit reached"   # how the engine words that refusal


@dataclass(frozen=True, slots=True)
class Uptime:
    """``up_ms`` of ``total_ms``; ``share`` is None when ``total_ms`` is 0."""

    up_ms: int
    total_ms: int

    @property
    def share(self) -> float | None:
        return self.up_ms / self.total_ms if self.total_ms > 0 else None


@dataclass(frozen=True, eq=False)
class PaperRecord:
    """One account's record (see the module docstring). ``problem`` says why there is no
    record to judge (then the other fields are empty)."""

    source: str                          # "paper", "replay", or "none"
    problem: str | None
    account: AccountRow | None = None
    runs: list[RunRow] = field(default_factory=list)
    history: AccountHistory | None = None
    report: dict | None = None
    start_ms: int | None = None
    end_ms: int | None = None
    daily_dates: list[str] = field(default_factory=list)
    daily_returns: np.ndarray = field(default_factory=lambda: np.empty(0))
    engine: Uptime = Uptime(0, 0)
    feeds: Uptime = Uptime(0, 0)
    loss_days: dict[str, float | None] = field(default_factory=dict)

    @property
    def days(self) -> float | None:
        if self.start_ms is None or self.end_ms is None:
            return None
        return (self.end_ms - self.start_ms) / DAY_MS

    @property
    def pnl(self) -> float | None:
        """Equity change over the record (realized and unrealized, USDT)."""
        if self.report is None or self.report["final_equity"] is None:
            return None
        return self.report["final_equity"] - self.report["initial_equity"]


def load_record(store: StateStore, config, account_id: int | None = None) -> PaperRecord:
    """The paper account's record (or account ``account_id``'s, see the module docstring)."""
    accounts = store.accounts()
    if account_id is not None:
        account = next((a for a in accounts if a.id == account_id), None)
        if account is None:
            held = ", ".join(f"{a.id} ({a.mode})" for a in accounts) or "none"
            raise UserInputError(f"--account {account_id}: no such account; the database holds "
                                 f"accounts {held}")
        runs = store.runs(account_id=account.id)
    else:
        paper = [a for a in accounts if a.mode == RunMode.PAPER]
        account = paper[-1] if paper else None
        runs = [r for r in store.runs(account_id=account.id) if r.mode == RunMode.PAPER] \
            if account else []
        if not runs:
            replays = any(r.mode == RunMode.REPLAY for r in store.runs())
            why = ("the database holds replay runs only, and replays never count" if replays
                   else "no paper trading run in the database yet")
            return PaperRecord("none", f"no paper record: {why}")
    if account.trading_since_ms is None:
        return PaperRecord(account.mode, "no paper record: the account never traded a live bar",
                           account=account, runs=runs)
    history = account_history(store, config, run_id=runs[-1].id)
    report = history_report(history, config)
    if not len(history.times):
        return PaperRecord(account.mode, "no paper record: no bars recorded since trading "
                           "started", account=account, runs=runs, history=history, report=report)
    curve = daily_equity(history.times, history.values)
    returns = daily_returns(curve, history.initial)
    exec_ms = timeframe_ms(history.exec_tf)
    end_ms = max(int(b.open_time_ms[-1]) for b in history.bars.values()) + exec_ms
    max_loss = config.risk_manager.max_daily_loss
    refused = [s.time_ms for s in history.signals if s.decision.startswith(DAILY_LOSS_DECISION)]
    return PaperRecord(
        source=account.mode, problem=None, account=account, runs=runs, history=history,
        report=report, start_ms=account.trading_since_ms, end_ms=end_ms,
        daily_dates=list(curve.index.strftime("%Y-%m-%d")),
        daily_returns=returns.to_numpy(dtype=np.float64),
        engine=engine_uptime(runs), feeds=feed_uptime(runs, store.feed_events(account.id)),
        loss_days=loss_limit_days(history.times, history.values, history.initial, max_loss,
                                  refused))


def _lifetime(run: RunRow) -> tuple[int, int] | None:
    if run.status == RunStatus.REFUSED:
        return None
    end = run.stopped_ms if run.stopped_ms is not None else run.last_heartbeat_ms
    return (run.started_ms, max(run.started_ms, end))


def engine_uptime(runs: list[RunRow]) -> Uptime:
    """Time covered by the runs' lifetimes over the span from the first start to the last end."""
    spans = sorted(s for s in map(_lifetime, runs) if s is not None)
    if not spans:
        return Uptime(0, 0)
    up, cursor = 0, spans[0][0]
    for start, end in spans:
        start = max(start, cursor)
        if end > start:
            up += end - start
            cursor = end
    return Uptime(up, max(end for _, end in spans) - spans[0][0])


def feed_uptime(runs: list[RunRow], events: list[FeedEventRow]) -> Uptime:
    """Time every feed of a run was LIVE, over the runs' lifetimes (overlapping runs, which
    the account lock prevents, would count twice)."""
    by_run: dict[int, list[FeedEventRow]] = {}
    for event in events:
        by_run.setdefault(event.run_id, []).append(event)
    up = total = 0
    for run in runs:
        span = _lifetime(run)
        if span is None:
            continue
        start, end = span
        total += end - start
        symbols = set(run.config.get("exchanges", {}).get("binance", {}).get("symbols", ()))
        status: dict[str, str] = {}
        cursor = start
        for event in sorted(by_run.get(run.id, ()), key=lambda e: (e.time_ms, e.id)):
            t = min(max(event.time_ms, start), end)
            if _all_live(status, symbols):
                up += t - cursor
            cursor = t
            status[event.symbol] = event.status
        if _all_live(status, symbols):
            up += end - cursor
    return Uptime(up, total)


def _all_live(status: dict[str, str], symbols: set[str]) -> bool:
    names = symbols or set(status)
    return bool(names) and all(status.get(s) == FeedStatus.LIVE for s in names)


def loss_limit_days(times_ms: np.ndarray, values: np.ndarray, initial: float, max_loss: float,
                    refusals_ms: list[int] = ()) -> dict[str, float | None]:
    """``{UTC date: worst day P&L}`` of the days the daily loss limit was reached: the equity at
    a bar close was ``max_loss`` or more below the day's starting equity (the previous day's last
    value; ``initial`` on the first day), or the engine refused a setup for it that day (P&L
    None when the equity alone does not show it)."""
    days: dict[str, float | None] = {}
    times = np.asarray(times_ms, dtype=np.int64)
    values = np.asarray(values, dtype=np.float64)
    if len(times):
        day = times // DAY_MS
        starts = np.flatnonzero(np.r_[True, np.diff(day) != 0])
        bounds = np.r_[starts, len(times)]
        for i, first in enumerate(starts):
            opening = initial if first == 0 else values[first - 1]
            worst = float(values[first:bounds[i + 1]].min() - opening)
            if worst <= -max_loss:
                days[_date(int(day[first]))] = worst
    for t in refusals_ms:
        days.setdefault(_date(int(t) // DAY_MS), None)   # the day the refused order was for
    return dict(sorted(days.items()))


def _date(day: int) -> str:
    return np.datetime_as_string(np.datetime64(day, "D"))
