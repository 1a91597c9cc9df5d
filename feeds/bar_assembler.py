"""Turn a stream of kline updates into closed bars, in order, and build higher-timeframe bars
from them.

Pure code: no threads, no I/O, no clock. ``feeds.live_feed`` drives these classes from its consumer
thread; the tests drive them directly.

``BarAssembler`` (one per stream, i.e. per symbol and interval) receives the ``KlineUpdate``s of
``venue.wire`` (any object with ``open_time_ms, open, high, low, close, volume, closed,
event_ms`` works) and returns closed bars:

- forming updates (``closed`` false) replace the current bar in place; an older forming update of
  the same bar (smaller ``event_ms``) is ignored;
- a bar is final when its ``closed`` update arrives, or when an update with a LATER open time
  arrives (the closing update was missed). The last forming values are then taken as final and
  counted in ``stats.inferred_closes``; with ``confirm_inferred=True`` the bar is instead reported
  as part of a ``Gap`` so the caller re-reads it over REST (the forming values are the fallback if
  REST lacks it);
- a duplicate closed bar, or any update at or before the last emitted bar, is dropped and counted;
- an open-time jump of more than one interval is reported as ``Gap(from_ms, to_ms)``: the open times
  ``from_ms <= t < to_ms`` are missing. Newer closed bars are HELD until the caller passes the REST
  bars of the gap to ``accept_backfill`` (an empty list if REST has none), which returns the
  backfill and the held bars, merged in order. So no bar is ever emitted out of order or twice.

``accept_backfill`` is also how warm-up and after-reconnect REST bars enter: everything at or before
the last emitted bar is dropped, the rest is emitted in order (a REST bar at or after the forming
bar's open time replaces it: that bar closed while we were away).

``HtfAggregator`` turns closed execution bars (in order) into signal bars, bar for bar identical to
``feeds.resample.resample_bars`` on the same data: a period is emitted when its last execution bar
arrives, or when a bar of a later period arrives (its last bars are missing); the first period is
dropped when the data starts inside it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from core.bars import Bars
from core.timeframes import grid_offset_ms
from feeds.resample import period_sums

__all__ = ["AssemblerStats", "AssemblerStep", "BarAssembler", "ClosedBar", "Gap", "HtfAggregator"]


@dataclass(frozen=True, slots=True)
class ClosedBar:
    """One final bar; ``open_time_ms`` is its UTC open time (Binance convention)."""

    open_time_ms: int
    open: float
    high: float
    low: float
    close: float
    volume: float

    @classmethod
    def from_update(cls, update) -> ClosedBar:
        return cls(int(update.open_time_ms), float(update.open), float(update.high),
                   float(update.low), float(update.close), float(update.volume))


@dataclass(frozen=True, slots=True)
class Gap:
    """Missing bars: open times ``from_ms <= t < to_ms`` (``to_ms`` is exclusive)."""

    from_ms: int
    to_ms: int
    interval_ms: int

    @property
    def missing_bars(self) -> int:
        return max(0, (self.to_ms - self.from_ms) // self.interval_ms)


@dataclass(frozen=True, slots=True)
class AssemblerStep:
    """What one update produced: closed bars to deliver now, and a gap to backfill (or None)."""

    bars: tuple[ClosedBar, ...] = ()
    gap: Gap | None = None


@dataclass
class AssemblerStats:
    updates: int = 0
    bars_emitted: int = 0
    inferred_closes: int = 0
    duplicates_dropped: int = 0      # a closed bar already emitted or held
    # updates of bars before the last emitted one / older forming updates
    stale_dropped: int = 0
    gaps_reported: int = 0
    backfilled: int = 0              # REST bars emitted by accept_backfill
    backfill_dropped: int = 0        # REST bars at or before the last emitted bar


@dataclass
class _Forming:
    bar: ClosedBar
    event_ms: int


_EMPTY = AssemblerStep()


class BarAssembler:
    """Closed bars of one kline stream, in order; see the module docstring."""

    def __init__(self, symbol: str, interval_ms: int, *, confirm_inferred: bool = False):
        if int(interval_ms) <= 0:
            raise ValueError(f"interval_ms must be positive, got {interval_ms}")
        self.symbol = symbol
        self.interval_ms = int(interval_ms)
        self.confirm_inferred = confirm_inferred
        self.stats = AssemblerStats()
        self._last_ms: int | None = None          # open time of the last emitted bar
        self._forming: _Forming | None = None
        self._held: dict[int, ClosedBar] = {}      # closed bars waiting behind a pending gap
        self._inferred: dict[int, ClosedBar] = {}  # confirm_inferred: fallback values for REST
        self._gap: Gap | None = None

    # ------------------------------------------------------------------ state
    @property
    def last_emitted_ms(self) -> int | None:
        """Open time of the last bar returned, None before the first."""
        return self._last_ms

    @property
    def pending_gap(self) -> Gap | None:
        """The gap waiting for ``accept_backfill``, if any (bars behind it are held)."""
        return self._gap

    @property
    def forming(self) -> ClosedBar | None:
        """The current forming bar's latest values (not final), if any."""
        return self._forming.bar if self._forming else None

    # ------------------------------------------------------------------ stream input
    def on_update(self, update) -> AssemblerStep:
        """Consume one update; returns the bars it closed and the gap it revealed."""
        self.stats.updates += 1
        t = int(update.open_time_ms)
        closed = bool(update.closed)
        if self._last_ms is not None and t <= self._last_ms:
            if closed and t == self._last_ms:
                self.stats.duplicates_dropped += 1
            else:
                self.stats.stale_dropped += 1
            return _EMPTY
        if t in self._held or t in self._inferred:
            if closed:
                self.stats.duplicates_dropped += 1
            else:
                self.stats.stale_dropped += 1
            return _EMPTY

        out: list[ClosedBar] = []
        gap_before = self._gap
        forming = self._forming
        if forming is not None:
            ft = forming.bar.open_time_ms
            if t == ft:
                if not closed and int(update.event_ms) < forming.event_ms:
                    self.stats.stale_dropped += 1  # an older forming update arriving late
                    return _EMPTY
            elif t < ft:
                if not closed:
                    self.stats.stale_dropped += 1
                    return _EMPTY
                # a late closing update of a bar between the last emitted and the forming one
                out.extend(self._release(ClosedBar.from_update(update)))
                return AssemblerStep(tuple(out), None)
            else:  # a later bar started: the forming bar's closing update was missed
                self._forming = None
                self.stats.inferred_closes += 1
                if self.confirm_inferred:
                    self._inferred[ft] = forming.bar
                    self._add_gap(ft, t)
                else:
                    out.extend(self._release(forming.bar))

        expected = self._next_expected_ms()
        if expected is not None and t > expected:
            self._add_gap(expected, t)

        if closed:
            self._forming = None
            out.extend(self._release(ClosedBar.from_update(update)))
        else:
            self._forming = _Forming(ClosedBar.from_update(update), int(update.event_ms))
        new_gap = self._gap if self._gap != gap_before else None
        return AssemblerStep(tuple(out), new_gap) if (out or new_gap) else _EMPTY

    # ------------------------------------------------------------------ REST input
    def accept_backfill(self, bars: Bars | Iterable[ClosedBar]) -> tuple[ClosedBar, ...]:
        """Insert REST bars (closed, any order); returns every bar now deliverable, in order.

        Clears the pending gap and releases the held bars. Bars at or before the last emitted bar
        are dropped (counted in ``stats.backfill_dropped``).
        """
        merged: dict[int, ClosedBar] = dict(self._inferred)
        merged.update(self._held)
        rest = list(_iter_bars(bars))
        for bar in rest:
            if self._last_ms is not None and bar.open_time_ms <= self._last_ms:
                self.stats.backfill_dropped += 1
                continue
            merged[bar.open_time_ms] = bar  # REST is authoritative
        rest_times = {b.open_time_ms for b in rest}
        self._held.clear()
        self._inferred.clear()
        self._gap = None
        if (self._forming is not None and merged
                and max(merged) >= self._forming.bar.open_time_ms):
            self._forming = None  # it closed (or was overtaken) while we were away
        out = tuple(merged[t] for t in sorted(merged))
        if out:
            self._last_ms = out[-1].open_time_ms
            self.stats.bars_emitted += len(out)
            self.stats.backfilled += sum(1 for b in out if b.open_time_ms in rest_times)
        return out

    # ------------------------------------------------------------------ internals
    def _next_expected_ms(self) -> int | None:
        newest = self._last_ms
        for pool in (self._held, self._inferred):
            if pool:
                newest = max(pool) if newest is None else max(newest, max(pool))
        if self._gap is not None:
            newest = max(newest if newest is not None else self._gap.to_ms,
                         self._gap.to_ms - self.interval_ms)
        return None if newest is None else newest + self.interval_ms

    def _add_gap(self, from_ms: int, to_ms: int) -> None:
        if self._gap is None:
            self._gap = Gap(from_ms, to_ms, self.interval_ms)
            self.stats.gaps_reported += 1
        else:
            self._gap = Gap(min(self._gap.from_ms, from_ms), max(self._gap.to_ms, to_ms),
                            self.interval_ms)

    def _release(self, bar: ClosedBar) -> list[ClosedBar]:
        if self._gap is not None:
            self._held[bar.open_time_ms] = bar
            return []
        self._last_ms = bar.open_time_ms
        self.stats.bars_emitted += 1
        return [bar]


def _iter_bars(bars: Bars | Iterable[ClosedBar]) -> Iterable[ClosedBar]:
    if isinstance(bars, Bars):
        columns = (bars.open_time_ms.tolist(), bars.open.tolist(), bars.high.tolist(),
                   bars.low.tolist(), bars.close.tolist(), bars.volume.tolist())
        for t, open_, high, low, close, volume in zip(*columns, strict=True):
            yield ClosedBar(int(t), open_, high, low, close, volume)
    else:
        yield from bars


@dataclass
class _Period:
    open_ms: int
    open: float
    high: float
    low: float
    close: float
    volumes: list[float] = field(default_factory=list)
    fragment: bool = False  # the data started inside this period: never emitted


class HtfAggregator:
    """Signal bars from closed execution bars; identical to ``resample_bars`` (module docstring)."""

    def __init__(self, exec_ms: int, signal_ms: int):
        if exec_ms <= 0 or signal_ms % exec_ms:
            raise ValueError(f"signal interval {signal_ms} ms is not a multiple of {exec_ms} ms")
        self.exec_ms = int(exec_ms)
        self.signal_ms = int(signal_ms)
        self._offset = grid_offset_ms(self.signal_ms)
        self._period: _Period | None = None
        self._last_exec_ms: int | None = None
        self._started = False

    def period_of(self, open_ms: int) -> int:
        return (open_ms - self._offset) // self.signal_ms * self.signal_ms + self._offset

    def on_bar(self, bar: ClosedBar) -> tuple[ClosedBar, ...]:
        """Consume the next closed execution bar; returns the signal bars it completes,
        oldest first.

        Usually none or one. Two when a bar of a later period is also the last bar of its own period
        (e.g. 10:30 then 11:59 on 1m -> 1h: both the 10:00 and the 11:00 hours are complete).
        ``ValueError`` if bars arrive out of order.
        """
        t = bar.open_time_ms
        if self._last_exec_ms is not None and t <= self._last_exec_ms:
            raise ValueError(f"execution bars out of order: {t} after {self._last_exec_ms}")
        self._last_exec_ms = t
        start = self.period_of(t)
        done: list[ClosedBar] = []
        current = self._period
        if current is not None and start != current.open_ms:
            done.extend(self._finish(current))
            current = None
        if current is None:
            current = _Period(start, bar.open, bar.high, bar.low, bar.close,
                              fragment=not self._started and t != start)
            self._started = True
            self._period = current
        else:
            current.high = max(current.high, bar.high)
            current.low = min(current.low, bar.low)
            current.close = bar.close
        current.volumes.append(bar.volume)
        if t == start + self.signal_ms - self.exec_ms:
            done.extend(self._finish(current))
        return tuple(done)

    def _finish(self, period: _Period) -> tuple[ClosedBar, ...]:
        if self._period is period:
            self._period = None
        if period.fragment:
            return ()
        return (ClosedBar(period.open_ms, period.open, period.high, period.low, period.close,
                          _period_sum(period.volumes)),)


def _period_sum(values: list[float]) -> float:
    """The volume sum exactly as ``resample_bars`` computes it (``feeds.resample.period_sums``)."""
    return float(period_sums(np.asarray(values, dtype=np.float64), np.zeros(1, dtype=np.intp))[0])
