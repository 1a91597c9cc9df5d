"""The paper record behind the page's metrics and charts, kept up to date incrementally.

The numbers are the paper report's (``engine.paper_report.paper_report``): the per-bar equity
rebuilt by ``analyzers.equity_curve.mark_to_market`` from the recorded bars and fills, the same
sample times, the open positions valued as a backtest values them at the end of its data, and
``analyzers.metrics.summarize`` over it. A test checks that both give identical figures.

What differs is only the cost. A year of 1m bars and 10,000 trades is too much to rebuild per
request (``mark_to_market`` visits every sample once per fill), so ``PaperRecord`` keeps the
bars, fills and per-bar equity in memory and, on each update, reads only what the database
added (bars opened after the last one read, fills after the last id) and re-values the samples
from the earliest new time onward. It calls ``mark_to_market`` on chunks of samples, each
started from the account's exact state before it (cash and positions, as synthetic fills), so
the values are those of one call over the whole record, to the last bit.

``RecordCache`` hands out ``RecordSummary`` snapshots keyed by a cheap fingerprint of the
database (``queries.bar_fingerprint``): requests never recompute while the record is unchanged,
at most one recompute runs at a time (in the background when an older summary can be shown
meanwhile), and at most one starts every ``min_interval_s``.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from analyzers.equity_curve import Fill, mark_to_market
from analyzers.metrics import buy_hold, drawdown_series, summarize
from core.records import TradeRecord
from core.timeframes import timeframe_ms

from . import queries

__all__ = ["PaperRecord", "RecordCache", "RecordKey", "RecordSummary"]

log = logging.getLogger("smc.status.record")

CHUNK_SAMPLES = 4096        # samples per mark_to_market call (cost: chunk x fills in it)
CHART_POINTS = 600          # points of the equity and drawdown charts


@dataclass(frozen=True)
class RecordKey:
    """What the record depends on besides the data: the account and its latest run's settings."""

    account_id: int
    initial: float
    trading_since_ms: int | None
    symbols: tuple[str, ...]
    exec_tf: str
    signal_tf: str
    fee_rate: float

    @classmethod
    def of(cls, account: dict, run_config: dict) -> RecordKey:
        return cls(account_id=account["id"], initial=float(account["initial_balance"]),
                   trading_since_ms=account["trading_since_ms"],
                   symbols=tuple(run_config["exchanges"]["binance"]["symbols"]),
                   exec_tf=run_config["strategy"]["execution_timeframe"],
                   signal_tf=run_config["strategy"]["signal_timeframe"],
                   fee_rate=run_config["risk_manager"]["fee_percent"] / 100.0)

    @property
    def series(self) -> list[tuple[str, str]]:
        out = [(s, self.exec_tf) for s in self.symbols]
        if self.signal_tf != self.exec_tf:
            out += [(s, self.signal_tf) for s in self.symbols]
        return out


@dataclass(frozen=True)
class RecordSummary:
    """The metrics (``summarize``'s keys and a few counts) and the chart series of one state."""

    key: RecordKey
    fingerprint: tuple
    metrics: dict[str, Any]
    equity: list[tuple[int, float]]          # (ms, equity), at most CHART_POINTS
    drawdown: list[tuple[int, float]]        # (ms, drawdown %, <= 0), bucket minimum
    computed_at: float = field(compare=False)


class PaperRecord:
    """One account's record in memory (see the module docstring); not thread-safe by itself."""

    def __init__(self, key: RecordKey, chunk: int = CHUNK_SAMPLES):
        self.key, self.chunk = key, int(chunk)
        self.exec_ms, self.signal_ms = timeframe_ms(key.exec_tf), timeframe_ms(key.signal_tf)
        empty_i, empty_f = np.empty(0, np.int64), np.empty(0, np.float64)
        self.opens = dict.fromkeys(key.symbols, empty_i)
        self.closes = dict.fromkeys(key.symbols, empty_f)
        self.stamps = dict.fromkeys(key.symbols, empty_i)
        self.last_signal_open: dict[str, int | None] = dict.fromkeys(key.symbols)
        self.fills: list[tuple[int, int, Fill]] = []      # (time, id, fill), sorted
        self.last_fill_id = 0
        self.times, self.values, self.in_market = empty_i, empty_f, np.empty(0, bool)
        self.records: dict[int, TradeRecord] = {}
        self._order: list[tuple[int, int]] = []            # (exit ms, id) of the records

    # ------------------------------------------------------------------ reading what is new
    def update(self, conn) -> None:
        """Read what the database added since the last update and re-value from there."""
        since = self.key.trading_since_ms
        if since is None:
            return
        earliest: int | None = None
        acc = self.key.account_id
        for symbol in self.key.symbols:
            last = int(self.opens[symbol][-1]) if len(self.opens[symbol]) else since - 1
            new = queries.bars(conn, acc, symbol, self.key.exec_tf, after_ms=last)
            if len(new):
                opens = new[:, 0].astype(np.int64)
                self.opens[symbol] = np.concatenate([self.opens[symbol], opens])
                self.closes[symbol] = np.concatenate([self.closes[symbol], new[:, 4]])
                earliest = _min(earliest, int(new[0, 0]))
            if self.signal_ms != self.exec_ms:
                last_sig = self.last_signal_open[symbol]
                new = queries.bars(conn, acc, symbol, self.key.signal_tf,
                                   after_ms=since - 1 if last_sig is None else last_sig)
                if len(new):
                    stamps = new[:, 0].astype(np.int64) + self.signal_ms - self.exec_ms
                    self.stamps[symbol] = np.concatenate([self.stamps[symbol], stamps])
                    self.last_signal_open[symbol] = int(new[-1, 0])
                    earliest = _min(earliest, int(stamps[0]))
        new_fills = queries.fills_after(conn, acc, self.last_fill_id)
        if new_fills:
            for row in new_fills:
                self.fills.append((row["time_ms"], row["id"], _equity_fill(row)))
            self.fills.sort(key=lambda item: item[:2])
            self.last_fill_id = max(row["id"] for row in new_fills)
            earliest = _min(earliest, min(row["time_ms"] for row in new_fills))
        if earliest is not None:
            self._revalue_from(earliest)
        self._update_records(conn)

    def _update_records(self, conn) -> None:
        ids = queries.closed_trade_ids(conn, self.key.account_id)
        missing = [i for i in ids if i not in self.records]
        for row in queries.trades_of_ids(conn, missing):
            self.records[row["id"]] = _trade_record(row)
            self._order.append((row["exit_time_ms"], row["id"]))
        if missing:
            self._order.sort()

    # ------------------------------------------------------------------ the equity
    def _revalue_from(self, start_ms: int) -> None:
        keep = int(np.searchsorted(self.times, start_ms, "left"))
        parts = [o[np.searchsorted(o, start_ms, "left"):] for o in self.opens.values() if len(o)]
        parts += [s[np.searchsorted(s, start_ms, "left"):] for s in self.stamps.values()]
        new_times = np.unique(np.concatenate(parts)) if parts else np.empty(0, np.int64)
        if not len(new_times):
            self.times, self.values = self.times[:keep], self.values[:keep]
            self.in_market = self.in_market[:keep]
            return
        fill_times = np.asarray([t for t, _, _ in self.fills], dtype=np.int64)
        applied = int(np.searchsorted(fill_times, new_times[0], "left"))
        cash, positions = self._state_after(applied)
        with_bars = [s for s in self.key.symbols if len(self.opens[s])]
        values, flags = [self.values[:keep]], [self.in_market[:keep]]
        for a in range(0, len(new_times), self.chunk):
            chunk = new_times[a:a + self.chunk]
            t0, t1 = int(chunk[0]), int(chunk[-1])
            upto = int(np.searchsorted(fill_times, t1, "right"))
            synthetic = [Fill(t0, s, size, price, cash) for s, (size, price) in positions.items()]
            real = [f for _, _, f in self.fills[applied:upto]]
            closes = {}
            for s in with_bars:
                opens = self.opens[s]
                lo = max(int(np.searchsorted(opens, t0, "right")) - 1, 0)
                hi = max(int(np.searchsorted(opens, t1, "right")), lo + 1)
                closes[s] = (opens[lo:hi], self.closes[s][lo:hi])
            v, m = mark_to_market(chunk, closes, synthetic + real, cash)
            values.append(v)
            flags.append(m)
            for f in real:
                cash = f.apply(positions)
            applied = upto
        self.times = np.concatenate([self.times[:keep], new_times])
        self.values = np.concatenate(values)
        self.in_market = np.concatenate(flags)

    def _state_after(self, n_fills: int) -> tuple[float, dict[str, tuple[float, float]]]:
        """Cash and open positions after the first ``n_fills`` fills."""
        cash = self.key.initial
        positions: dict[str, tuple[float, float]] = {}
        for _, _, f in self.fills[:n_fills]:
            cash = f.apply(positions)
        return cash, positions

    # ------------------------------------------------------------------ the summary
    def summary(self, conn, fingerprint: tuple, clock=time.monotonic) -> RecordSummary:
        key = self.key
        values = self.values.copy()
        symbols = [s for s in key.symbols if len(self.opens[s])]
        open_trades = [t for t in queries.open_trades(conn, key.account_id)
                       if t["status"] == "open"]
        if len(values):
            # Valued as a backtest values a position at the end of its data: last close, exit fee.
            values[-1] -= sum(key.fee_rate * float(self.closes[t["symbol"]][-1]) * t["size"]
                              for t in open_trades if t["symbol"] in symbols)
        records = [self.records[i] for _, i in self._order]
        basket, by_symbol = buy_hold({s: (self.opens[s], self.closes[s]) for s in symbols})
        try:
            metrics = summarize(times=self.times, values=values, in_market=self.in_market,
                                initial_equity=key.initial, trades=records,
                                first_price=1.0 if basket is not None else None,
                                last_price=basket)
        except ValueError as exc:   # e.g. an equity at or below zero: no returns to measure
            log.warning("paper record: metrics undefined: %s", exc)
            metrics = {"error": f"metrics undefined: {exc}", "trades": len(records),
                       "equity_curve": []}
        n_signals, n_traded = queries.signal_counts(conn, key.account_id)
        metrics.update(buy_hold_by_symbol_pct=by_symbol or None, signals=n_signals,
                       signals_traded=n_traded,
                       bars=int(sum(len(self.opens[s]) for s in symbols)))
        drawdown = (drawdown_series(values, key.initial).to_numpy() if len(values)
                    else np.empty(0))
        return RecordSummary(key=key, fingerprint=fingerprint, metrics=metrics,
                             equity=_thin(self.times, values, np.max, last=True),
                             drawdown=_thin(self.times, drawdown, np.min),
                             computed_at=clock())


class RecordCache:
    """The latest ``RecordSummary`` of the shown account, recomputed only when the data moved."""

    def __init__(self, database, min_interval_s: float = 5.0, clock=time.monotonic):
        self.database, self.min_interval_s, self.clock = database, min_interval_s, clock
        self._record: PaperRecord | None = None
        self._summary: RecordSummary | None = None
        self._lock = threading.Lock()          # held while the record is updated
        self._refreshing = False               # a background refresh is under way
        self._flag = threading.Lock()          # guards _refreshing
        self.refresh_thread: threading.Thread | None = None

    def summary(self, conn, key: RecordKey) -> RecordSummary:
        fingerprint = queries.bar_fingerprint(conn, key.account_id, key.series)
        current = self._summary
        if current is not None and current.key == key:
            if current.fingerprint == fingerprint:
                return current
            if self.clock() - current.computed_at >= self.min_interval_s:
                with self._flag:
                    start, self._refreshing = not self._refreshing, True
                if start:
                    self.refresh_thread = threading.Thread(
                        target=self._refresh_in_background, args=(key,), daemon=True,
                        name="status-record")
                    self.refresh_thread.start()
            return current
        with self._lock:
            current = self._summary
            if current is not None and current.key == key and current.fingerprint == fingerprint:
                return current
            return self._compute(conn, key, fingerprint)

    def _compute(self, conn, key: RecordKey, fingerprint: tuple) -> RecordSummary:
        if self._record is None or self._record.key != key:
            self._record = PaperRecord(key)
        self._record.update(conn)
        self._summary = self._record.summary(conn, fingerprint, self.clock)
        return self._summary

    def _refresh_in_background(self, key: RecordKey) -> None:
        try:
            with self._lock:
                conn = self.database.connect()
                try:
                    fingerprint = queries.bar_fingerprint(conn, key.account_id, key.series)
                    self._compute(conn, key, fingerprint)
                finally:
                    conn.close()
        except Exception:
            log.exception("could not refresh the paper record")
        finally:
            with self._flag:
                self._refreshing = False


def _min(a: int | None, b: int) -> int:
    return b if a is None else min(a, b)


def _equity_fill(row: dict) -> Fill:
    return Fill.recorded(row["time_ms"], row["symbol"], row["role"], row["side"], row["size"],
                         row["price"], row["cash_after"])


def _trade_record(row: dict) -> TradeRecord:
    return TradeRecord.from_columns(row, row["signal_ms"], row["reasons"])


def _thin(times: np.ndarray, values: np.ndarray, reduce, last: bool = False
          ) -> list[tuple[int, float]]:
    """At most CHART_POINTS points: per bucket of samples its last value (``last``) or
    ``reduce`` of it (the drawdown's minimum, so the deepest trough is drawn)."""
    n = len(values)
    if n == 0:
        return []
    if n <= CHART_POINTS:
        return [(int(t), float(v)) for t, v in zip(times, values, strict=True)]
    edges = np.linspace(0, n, CHART_POINTS + 1).astype(int)
    out = []
    for a, b in zip(edges[:-1], edges[1:], strict=True):
        if b > a:
            out.append((int(times[b - 1]), float(values[b - 1] if last else reduce(values[a:b]))))
    return out
