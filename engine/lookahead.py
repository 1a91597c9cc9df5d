"""End-to-end lookahead check: a run on a prefix of the data must agree with the full run.

For each cut time T (spread over the data), the backtest is re-run on the bars that open before
T, and compared with the full run:

- every signal (setup and the decision taken on it) known at or before the prefix's last bar
  must be identical, and the prefix may not have signals the full run lacks;
- every trade closed inside the prefix must be identical (times, prices, size, SL/TP, P&L);
- a trade still open at the prefix's end must have the same entry (time, price, size, SL/TP) in
  the full run.

A detector, setup rule or sizing step that peeks at later bars changes what the prefix run
sees near its end, so it shows up here as a difference.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass

import numpy as np

from core.records import ExitReason
from core.times import ms_to_iso
from engine.backtest import BacktestResult, NotEnoughData, run_backtest

log = logging.getLogger("smc.lookahead")

ENTRY_KEYS = ("symbol", "side", "signal_ms", "entry_ms", "entry_price", "size", "stop_loss",
              "take_profit", "confidence")
EXIT_KEYS = ("exit_ms", "exit_price", "exit_reason", "pnl")
SIGNAL_KEYS = ("symbol", "time", "side", "confidence", "entry", "stop_loss", "take_profit",
               "traded", "decision")


def cut_times(klines_by_symbol, cuts: int):
    """``cuts`` timestamps spread over the middle 20 %..95 % of the common period."""
    starts = [k.frame.index[0] for k in klines_by_symbol.values()]
    ends = [k.frame.index[-1] for k in klines_by_symbol.values()]
    first, last = max(starts), min(ends)
    fractions = np.linspace(0.2, 0.95, cuts)
    return [(first + (last - first) * f).floor("min") for f in fractions]


def _prefix(klines, cut):
    frame = klines.frame[klines.frame.index < cut]
    gaps = tuple(g for g in klines.gaps if g.first_after < cut)
    return dataclasses.replace(klines, frame=frame, gaps=gaps)


def _iso_ms(text: str) -> int:
    from datetime import datetime

    return int(datetime.fromisoformat(text).timestamp() * 1000)


def _key(record: dict, keys) -> tuple:
    return tuple(record[k] for k in keys)


def compare_runs(full: BacktestResult, prefix: BacktestResult, cut_label: str) -> list[str]:
    """Differences between a prefix run and the full run, as readable lines."""
    out = []
    last_time = prefix.report["end"]
    full_signals = [_key(s, SIGNAL_KEYS) for s in full.signals if s["time"] <= last_time]
    prefix_signals = [_key(s, SIGNAL_KEYS) for s in prefix.signals]
    if full_signals != prefix_signals:
        missing = [s for s in full_signals if s not in prefix_signals]
        extra = [s for s in prefix_signals if s not in full_signals]
        for s in missing[:5]:
            out.append(f"cut {cut_label}: signal in the full run but not in the prefix: {s}")
        for s in extra[:5]:
            out.append(f"cut {cut_label}: signal in the prefix but not in the full run: {s}")
        if not missing and not extra:
            out.append(f"cut {cut_label}: signals in a different order")
    full_by_entry = {(t.symbol, t.entry_ms): t for t in full.trades}
    for trade in prefix.trades:
        entered = ms_to_iso(trade.entry_ms)
        twin = full_by_entry.get((trade.symbol, trade.entry_ms))
        if twin is None:
            out.append(f"cut {cut_label}: trade entered {entered} on {trade.symbol} "
                       f"exists only in the prefix run")
            continue
        keys = ENTRY_KEYS if trade.exit_reason == ExitReason.END_OF_DATA else ENTRY_KEYS + EXIT_KEYS
        for k in keys:
            mine, theirs = getattr(trade, k), getattr(twin, k)
            if mine != theirs:
                out.append(f"cut {cut_label}: trade entered {entered} differs in {k}: "
                           f"prefix {mine!r} vs full {theirs!r}")
    prefix_entries = {(t.symbol, t.entry_ms) for t in prefix.trades}
    last_ms = _iso_ms(last_time)
    for t in full.trades:
        # entry_ms is the open of the fill bar, so every bar of the prefix opens before its end.
        if t.entry_ms < last_ms and (t.symbol, t.entry_ms) not in prefix_entries:
            out.append(f"cut {cut_label}: trade entered {ms_to_iso(t.entry_ms)} on {t.symbol} "
                       f"missing from the prefix run")
    return out


@dataclass(frozen=True)
class LookaheadReport:
    """What ``check_lookahead`` found: ``differences`` empty means causal on these cuts."""

    differences: list[str]
    cuts_compared: int
    cuts_skipped: int


def check_lookahead(config, klines_by_symbol, cuts: int = 12,
                    full: BacktestResult | None = None) -> LookaheadReport:
    """Re-run on ``cuts`` prefixes and compare each with the full run."""
    if full is None:
        full = run_backtest(config, klines_by_symbol)
    differences = []
    compared = skipped = 0
    for cut in cut_times(klines_by_symbol, cuts):
        prefix_klines = {s: _prefix(k, cut) for s, k in klines_by_symbol.items()}
        if any(len(k.frame) == 0 for k in prefix_klines.values()):
            log.info("lookahead cut %s: skipped, a symbol has no bar before it", cut.isoformat())
            skipped += 1
            continue
        try:
            prefix = run_backtest(config, prefix_klines)
        except NotEnoughData:
            log.info("lookahead cut %s: skipped, no complete signal bar before it", cut.isoformat())
            skipped += 1
            continue
        compared += 1
        found = compare_runs(full, prefix, cut.isoformat())
        log.info("lookahead cut %s: %d signals, %d trades, %d difference(s)", cut.isoformat(),
                 len(prefix.signals), len(prefix.trades), len(found))
        differences.extend(found)
    return LookaheadReport(differences, compared, skipped)
