"""BarAssembler (updates -> closed bars, gaps, backfill) and HtfAggregator
(== resample_bars). Pure."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.bars import Bars
from feeds.bar_assembler import BarAssembler, ClosedBar, Gap, HtfAggregator
from feeds.resample import resample_bars
from klines import load_klines
from venue.wire import KlineUpdate

ROOT = Path(__file__).resolve().parents[1]
WEEK = ROOT / "data" / "BTCUSDT_spot_1m_2023-03-20_2023-03-26.csv"
MINUTE = 60_000
HOUR = 3_600_000
T0 = 1_679_270_400_000  # 2023-03-20 00:00 UTC
_WEEK_BARS = load_klines(WEEK).bars()


def bar(i: int, base: float = 100.0) -> ClosedBar:
    p = base + i
    return ClosedBar(T0 + i * MINUTE, p, p + 2, p - 2, p + 1, 10.0 + i)


def update(b: ClosedBar, closed: bool = True, *, event_ms: int | None = None,
           partial: int = 0) -> KlineUpdate:
    """An update of bar ``b``; ``partial`` > 0 gives forming values that differ from
    the final ones."""
    close = b.close - partial * 0.25
    high = max(b.open, close, b.high - partial * 0.5)
    low = min(b.open, close, b.low + partial * 0.5)
    if event_ms is None:
        event_ms = b.open_time_ms + (MINUTE - 1 if closed else 20_000 - partial * 1000)
    return KlineUpdate("BTCUSDT", "1m", b.open_time_ms, b.open, high, low,
                       close if not closed else b.close,
                       b.volume / (partial + 1) if not closed else b.volume, closed, event_ms)


def stream_of(bars, per_bar: int = 3):
    """Forming updates then the closing one, per bar, like Binance."""
    out = []
    for b in bars:
        out.extend(update(b, False, partial=per_bar - k) for k in range(1, per_bar))
        out.append(update(b, True))
    return out


def run(assembler: BarAssembler, updates,
        rest: dict[int, ClosedBar] | None = None) -> list[ClosedBar]:
    """Drive the assembler like the live feed: backfill every reported gap from ``rest``."""
    got = []
    for u in updates:
        step = assembler.on_update(u)
        got.extend(step.bars)
        if step.gap is not None:
            fill = [rest[t] for t in sorted(rest or {}) if step.gap.from_ms <= t < step.gap.to_ms]
            got.extend(assembler.accept_backfill(fill))
    return got


# ------------------------------------------------------------------ BarAssembler


def test_forming_updates_replace_the_bar_and_only_the_close_emits():
    a = BarAssembler("BTCUSDT", MINUTE)
    b0 = bar(0)
    assert a.on_update(update(b0, False, partial=2)).bars == ()
    assert a.forming.close == b0.close - 0.5
    assert a.on_update(update(b0, False, partial=1)).bars == ()
    assert a.forming.close == b0.close - 0.25
    step = a.on_update(update(b0, True))
    assert step.bars == (b0,) and step.gap is None
    assert a.forming is None and a.last_emitted_ms == b0.open_time_ms
    assert a.stats.bars_emitted == 1 and a.stats.inferred_closes == 0


def test_missed_close_is_inferred_from_the_next_bar():
    a = BarAssembler("BTCUSDT", MINUTE)
    b0, b1 = bar(0), bar(1)
    a.on_update(update(b0, False, partial=1))
    step = a.on_update(update(b1, False, partial=2))  # b0's closing update never came
    assert step.gap is None
    assert len(step.bars) == 1 and step.bars[0].open_time_ms == b0.open_time_ms
    assert step.bars[0].close == b0.close - 0.25  # the last forming values, taken as final
    assert a.stats.inferred_closes == 1
    # the late closing update of b0 is then a duplicate
    assert a.on_update(update(b0, True)).bars == ()
    assert a.stats.duplicates_dropped == 1


def test_missed_close_with_confirmation_asks_rest_and_falls_back_to_forming_values():
    a = BarAssembler("BTCUSDT", MINUTE, confirm_inferred=True)
    b0, b1 = bar(0), bar(1)
    a.on_update(update(b0, False, partial=1))
    step = a.on_update(update(b1, True))
    assert step.bars == () and step.gap == Gap(b0.open_time_ms, b1.open_time_ms, MINUTE)
    assert a.accept_backfill([b0]) == (b0, b1)  # REST values win, held b1 released after
    a2 = BarAssembler("BTCUSDT", MINUTE, confirm_inferred=True)
    a2.on_update(update(b0, False, partial=1))
    a2.on_update(update(b1, True))
    got = a2.accept_backfill([])  # REST did not have it: the forming values stand
    assert [b.open_time_ms for b in got] == [b0.open_time_ms, b1.open_time_ms]
    assert got[0].close == b0.close - 0.25


def test_duplicates_and_out_of_order_updates_are_dropped():
    a = BarAssembler("BTCUSDT", MINUTE)
    b0, b1, b2 = bar(0), bar(1), bar(2)
    assert a.on_update(update(b0)).bars == (b0,)
    assert a.on_update(update(b0)).bars == ()  # duplicate close
    assert a.on_update(update(b1)).bars == (b1,)
    assert a.on_update(update(b0, False, partial=1)).bars == ()  # older than last emitted
    a.on_update(update(b2, False, partial=1))
    assert a.on_update(update(b2, False, partial=2)).bars == ()  # older forming update (smaller E)
    assert a.forming.close == b2.close - 0.25
    assert a.on_update(update(b2)).bars == (b2,)
    assert a.stats.duplicates_dropped == 1 and a.stats.stale_dropped == 2


def test_gap_is_reported_and_newer_bars_wait_for_the_backfill():
    a = BarAssembler("BTCUSDT", MINUTE)
    bars = [bar(i) for i in range(6)]
    assert a.on_update(update(bars[0])).bars == (bars[0],)
    step = a.on_update(update(bars[3]))  # 1 and 2 missing
    assert step.bars == ()
    assert step.gap == Gap(bars[1].open_time_ms, bars[3].open_time_ms, MINUTE)
    assert step.gap.missing_bars == 2
    assert a.pending_gap == step.gap
    assert a.on_update(update(bars[4])).bars == ()  # still held behind the gap
    got = a.accept_backfill(Bars(MINUTE, [b.open_time_ms for b in bars[:3]],
                                 *([getattr(b, f) for b in bars[:3]]
                                   for f in ("open", "high", "low", "close", "volume"))))
    assert got == (bars[1], bars[2], bars[3], bars[4])  # bars[0] was already emitted: dropped
    assert a.stats.backfill_dropped == 1 and a.stats.backfilled == 2
    assert a.pending_gap is None
    assert a.on_update(update(bars[5])).bars == (bars[5],)


def test_backfill_without_the_missing_bars_releases_what_is_held():
    a = BarAssembler("BTCUSDT", MINUTE)
    a.on_update(update(bar(0)))
    step = a.on_update(update(bar(5)))
    assert step.gap.missing_bars == 4
    assert a.accept_backfill([]) == (bar(5),)  # a real exchange gap: nothing to fill


def test_gap_detected_on_a_forming_update():
    a = BarAssembler("BTCUSDT", MINUTE)
    a.on_update(update(bar(0)))
    step = a.on_update(update(bar(3), False, partial=1))
    assert step.gap == Gap(bar(1).open_time_ms, bar(3).open_time_ms, MINUTE)
    assert a.accept_backfill([bar(1), bar(2)]) == (bar(1), bar(2))
    assert a.on_update(update(bar(3))).bars == (bar(3),)


def test_backfill_after_reconnect_replaces_a_forming_bar_that_closed_meanwhile():
    a = BarAssembler("BTCUSDT", MINUTE)
    a.on_update(update(bar(0)))
    a.on_update(update(bar(1), False, partial=1))
    # disconnected; REST shows bars 1 and 2 closed
    assert a.accept_backfill([bar(1), bar(2)]) == (bar(1), bar(2))
    assert a.forming is None
    assert a.on_update(update(bar(2))).bars == ()  # a late close of a backfilled bar
    assert a.on_update(update(bar(3))).bars == (bar(3),)


def test_warm_up_backfill_on_a_fresh_assembler_and_unsorted_rest_input():
    a = BarAssembler("BTCUSDT", MINUTE)
    assert a.accept_backfill([bar(2), bar(0), bar(1)]) == (bar(0), bar(1), bar(2))
    assert a.last_emitted_ms == bar(2).open_time_ms
    assert a.on_update(update(bar(2))).bars == ()
    step = a.on_update(update(bar(4)))
    assert step.gap == Gap(bar(3).open_time_ms, bar(4).open_time_ms, MINUTE)


def _messy(updates, rng: random.Random, dup_p: float, swap_p: float):
    out = []
    for u in updates:
        out.append(u)
        if rng.random() < dup_p:
            out.append(u)
    for i in range(len(out) - 1):
        if rng.random() < swap_p:
            out[i], out[i + 1] = out[i + 1], out[i]
    return out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n=st.integers(1, 40), seed=st.integers(0, 2**32 - 1),
       dup_p=st.floats(0, 0.5), swap_p=st.floats(0, 0.5), drop_p=st.floats(0, 0.4))
def test_any_messy_stream_yields_every_bar_once_in_order_with_rest_backfill(
        n, seed, dup_p, swap_p, drop_p):
    """Duplicated, swapped and dropped updates: with gaps and inferred closes confirmed over REST,
    the output is exactly the true bars, in order, each once (the last one may still be forming)."""
    rng = random.Random(seed)
    truth = [bar(i) for i in range(1, n + 1)]
    updates = [u for u in stream_of(truth) if rng.random() >= drop_p]
    updates = _messy(updates, rng, dup_p, swap_p)
    a = BarAssembler("BTCUSDT", MINUTE, confirm_inferred=True)
    assert a.accept_backfill([bar(0)]) == (bar(0),)  # warm-up, as the live feed does
    rest = {b.open_time_ms: b for b in truth}
    got = run(a, updates, rest)
    times = [b.open_time_ms for b in got]
    assert times == sorted(set(times))  # in order, no duplicate
    assert got == truth[:len(got)]  # exact values, no bar skipped
    if updates:  # every bar before the newest one seen is out
        newest = max(u.open_time_ms for u in updates)
        assert len(got) >= (newest - T0) // MINUTE - 1


@settings(max_examples=100, deadline=None)
@given(n=st.integers(1, 30), seed=st.integers(0, 2**32 - 1),
       dup_p=st.floats(0, 0.5), swap_p=st.floats(0, 0.5))
def test_without_confirmation_order_and_uniqueness_still_hold(n, seed, dup_p, swap_p):
    rng = random.Random(seed)
    truth = [bar(i) for i in range(n)]
    a = BarAssembler("BTCUSDT", MINUTE)
    got = run(a, _messy(stream_of(truth), rng, dup_p, swap_p), {b.open_time_ms: b for b in truth})
    times = [b.open_time_ms for b in got]
    assert times == sorted(set(times))
    assert set(times) <= {b.open_time_ms for b in truth}
    assert a.stats.bars_emitted == len(got)


# ------------------------------------------------------------------ HtfAggregator


def closed_bars(bars: Bars) -> list[ClosedBar]:
    return [ClosedBar(int(t), o, h, low, c, v) for t, o, h, low, c, v in zip(
        bars.open_time_ms.tolist(), bars.open.tolist(), bars.high.tolist(), bars.low.tolist(),
        bars.close.tolist(), bars.volume.tolist(), strict=True)]


def aggregate(bars: Bars, signal_ms: int) -> list[ClosedBar]:
    agg = HtfAggregator(bars.timeframe_ms, signal_ms)
    out = []
    for b in closed_bars(bars):
        out.extend(agg.on_bar(b))
    return out


def test_week_has_the_real_80_minute_gap():
    gaps = np.diff(_WEEK_BARS.open_time_ms)
    assert int(gaps.max()) == 81 * MINUTE  # 80 bars missing


@pytest.mark.parametrize("signal", ["5m", "15m", "1h", "4h", "1d"])
@pytest.mark.parametrize("start,stop", [(0, None), (37, None), (0, -17), (1234, 5000), (60, 8000)])
def test_htf_aggregator_matches_resample_bars_bar_for_bar(signal, start, stop):
    from core.timeframes import timeframe_ms
    source = _WEEK_BARS.slice(start, stop)
    expected = closed_bars(resample_bars(source, signal))
    assert aggregate(source, timeframe_ms(signal)) == expected  # exact float equality, volumes too


def test_htf_aggregator_over_the_gap_and_a_missing_last_bar():
    gap_at = int(np.argmax(np.diff(_WEEK_BARS.open_time_ms)))
    source = _WEEK_BARS.slice(gap_at - 200, gap_at + 300)
    got = aggregate(source, HOUR)
    assert got == closed_bars(resample_bars(source, "1h"))
    # drop the xx:59 bars of some hours: each hour then completes on the next hour's first bar
    keep = [i for i in range(len(source))
            if not (int(source.open_time_ms[i]) // MINUTE % 60 == 59 and i % 3)]
    thinned = Bars(MINUTE, source.open_time_ms[keep], source.open[keep], source.high[keep],
                   source.low[keep], source.close[keep], source.volume[keep])
    assert aggregate(thinned, HOUR) == closed_bars(resample_bars(thinned, "1h"))


def test_htf_aggregator_two_periods_complete_on_one_bar():
    agg = HtfAggregator(MINUTE, HOUR)
    assert agg.on_bar(bar(0)) == ()
    assert agg.on_bar(bar(30)) == ()
    out = agg.on_bar(bar(119))  # the 01:00 hour has only its last minute
    assert [b.open_time_ms for b in out] == [T0, T0 + HOUR]
    with pytest.raises(ValueError):
        agg.on_bar(bar(119))


def test_htf_aggregator_never_emits_a_leading_fragment():
    agg = HtfAggregator(MINUTE, HOUR)
    out = []
    for i in range(10, 130):
        out.extend(agg.on_bar(bar(i)))
    assert [b.open_time_ms for b in out] == [T0 + HOUR]  # 00:10..00:59 is a fragment


@settings(max_examples=60, deadline=None)
@given(start=st.integers(0, 9000), length=st.integers(1, 800), seed=st.integers(0, 2**32 - 1),
       drop_p=st.floats(0, 0.3))
def test_htf_aggregator_matches_resample_on_random_windows_with_holes(start, length, seed, drop_p):
    rng = np.random.default_rng(seed)
    source = _WEEK_BARS.slice(start, start + length)
    keep = np.flatnonzero(rng.random(len(source)) >= drop_p)
    if len(keep) == 0:
        return
    thinned = Bars(MINUTE, source.open_time_ms[keep], source.open[keep], source.high[keep],
                   source.low[keep], source.close[keep], source.volume[keep])
    for signal_ms, name in ((15 * MINUTE, "15m"), (HOUR, "1h")):
        assert aggregate(thinned, signal_ms) == closed_bars(resample_bars(thinned, name))
