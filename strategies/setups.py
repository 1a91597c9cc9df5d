"""Trade setups: an order block tapped in the direction of the trend, scored for confidence.

Pure numpy/Python (no backtrader). Both the backtest and the live runner call ``find_setups``
on the signal-timeframe bars seen so far; a setup is known at the close of its tap bar and uses
nothing later (the prefix-invariance tests check it).

Setup rule (bullish; bearish mirrored):
    a bullish order block (see ``strategies.smc.order_blocks``) is *tapped* at bar t, the first
    bar after the break whose low trades back into the zone (its ``mitigated_at``); at t the block
    is not invalidated (no close below its bottom up to and including t), it is at most
    ``max_order_block_age`` bars old, and the internal structure bias after t is bullish.

Orders (decided here, placed by the strategy):
    entry  = limit at min(close[t], block top): the block's near edge, or the close when price
             closed inside the block. A limit never fills worse than planned, so the risk that
             sizing promised holds on the entry side.
    stop   = block bottom x (1 - stop_buffer)       (beyond the far edge)
    target = entry + take_profit_ratio x (entry - stop)
    Prices go on the symbol's tick (``tick_size``; 0 leaves them as computed), in one direction
    for all three orders of a setup: a long's round DOWN, a short's round UP. Entry and stop are
    rounded first and the target is computed from the rounded pair, so sizing and risk use the
    prices the orders carry. The rounding moves the entry to a better price (a long buys lower),
    the stop away from the entry or onto it (a stop never crosses to the wrong side; one that
    lands on the entry is "stop distance is zero") and the target toward the entry.
    A setup whose stop is more than ``max_stop_fraction`` away from the entry is kept, with
    ``skip_reason`` set, so it is logged but not traded.

Confidence in [0, 1] is a sum of documented weights (``CONFIDENCE_WEIGHTS``):
    base           0.40  a valid tapped block in the trend direction
    displacement   0.15  the break candle's body >= displacement_factor x the mean body of the
                         20 candles before it (an impulsive break)
    fvg            0.15  the impulse leg left a fair value gap in the setup direction
                         (an FVG whose third candle lies after the block candle, up to the break)
    sweep          0.15  liquidity was swept in the setup direction between the broken swing
                         and the break (a sell-side sweep before a bullish block)
    htf_alignment  0.10  the swing structure (lookback ``htf_swing_lookback``, LuxAlgo's
                         "swing" as opposed to "internal" structure) agrees with the setup
    freshness      0.05 x (1 - age / max_order_block_age), age = bars from break to tap
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.exchange_rules import ceil_to_step, floor_to_step
from strategies.smc import SmcParams, SmcResult, detect_smc

__all__ = ["CONFIDENCE_WEIGHTS", "Setup", "SetupParams", "SetupTracker", "find_setups"]

CONFIDENCE_WEIGHTS = {
    "base": 0.40,
    "displacement": 0.15,
    "fvg": 0.15,
    "sweep": 0.15,
    "htf_alignment": 0.10,
    "freshness": 0.05,
}
DISPLACEMENT_WINDOW = 20


@dataclass(frozen=True)
class SetupParams:
    """Everything ``find_setups`` needs besides the bars (ratios as fractions, not percents)."""

    smc: SmcParams = SmcParams()
    htf_swing_lookback: int = 20
    max_order_block_age: int = 100
    displacement_factor: float = 1.5
    stop_buffer: float = 0.001
    take_profit_ratio: float = 3.0
    max_stop_fraction: float = 0.02
    tick_size: float = 0.0             # the symbol's price step (StrategySettings.setup_for)

    @classmethod
    def from_config(cls, config) -> SetupParams:
        """Build from an ``AppConfig``."""
        s = config.smc
        return cls(
            smc=SmcParams(swing_lookback=s.swing_lookback, break_on=s.break_on,
                          order_block=s.order_block, fvg_fill=s.fvg_fill),
            htf_swing_lookback=s.htf_swing_lookback,
            max_order_block_age=s.max_order_block_age,
            displacement_factor=s.displacement_factor,
            stop_buffer=config.strategy.stop_buffer_percent / 100.0,
            take_profit_ratio=config.risk_manager.take_profit_ratio,
            max_stop_fraction=config.risk_manager.stop_loss_percent / 100.0,
        )


@dataclass(frozen=True)
class Setup:
    """A trade candidate known at the close of signal bar ``known_at``."""

    side: int                      # +1 long, -1 short
    known_at: int                  # tap bar (signal-timeframe index)
    block_index: int               # the order-block candle
    block_top: float
    block_bottom: float
    entry: float
    stop: float
    take_profit: float
    confidence: float
    reasons: tuple[str, ...]
    skip_reason: str | None = None

    @property
    def side_name(self) -> str:
        return "long" if self.side > 0 else "short"


def _mean_body_before(open_: np.ndarray, close: np.ndarray) -> np.ndarray:
    """mean |close-open| of the DISPLACEMENT_WINDOW bars before each bar (NaN when too few)."""
    body = np.abs(close - open_)
    csum = np.concatenate(([0.0], np.cumsum(body)))
    out = np.full(len(body), np.nan)
    w = DISPLACEMENT_WINDOW
    if len(body) > w:
        idx = np.arange(w, len(body))
        out[w:] = (csum[idx] - csum[idx - w]) / w
    return out


@dataclass(frozen=True, eq=False)
class Structure:
    """The two SMC detections ``find_setups`` reads, made once over one series of signal bars
    (``detect_structure``), with what they were made from, so a run handed them can check that
    they fit its bars and its parameters."""

    internal: SmcResult                # detection with params.smc
    swing: SmcResult                   # detection with the HTF swing lookback
    smc: SmcParams
    htf_swing_lookback: int
    bars_key: tuple[int, int, int, int]  # (timeframe ms, bar count, first and last open time)

    def fits(self, bars, params: SetupParams) -> bool:
        """Whether it was made over ``bars`` (a ``core.bars.Bars``) with ``params``' detection
        settings."""
        return (self.bars_key == _bars_key(bars) and self.smc == params.smc
                and self.htf_swing_lookback == params.htf_swing_lookback)


def detect_structure(bars, params: SetupParams = SetupParams()) -> Structure:
    """Both detections of ``find_setups`` over ``bars`` (a ``core.bars.Bars``); they depend on
    ``params.smc`` and ``htf_swing_lookback`` only, not on the risk or order settings."""
    o, h, lo, c = bars.open, bars.high, bars.low, bars.close
    return Structure(detect_smc(o, h, lo, c, params.smc),
                     detect_smc(o, h, lo, c, _swing_params(params)),
                     params.smc, params.htf_swing_lookback, _bars_key(bars))


def _bars_key(bars) -> tuple[int, int, int, int]:
    n = len(bars)
    return (int(bars.timeframe_ms), n, int(bars.open_time_ms[0]) if n else 0,
            int(bars.open_time_ms[-1]) if n else 0)


def _swing_params(params: SetupParams) -> SmcParams:
    return SmcParams(swing_lookback=params.htf_swing_lookback, break_on=params.smc.break_on,
                     order_block=params.smc.order_block, fvg_fill=params.smc.fvg_fill)


def find_setups(open_, high, low, close, params: SetupParams = SetupParams(),
                internal: SmcResult | None = None, swing: SmcResult | None = None) -> list[Setup]:
    """All setups on these bars, ordered by ``known_at`` (then block index).

    ``internal``/``swing`` may be passed when already computed (same bars); otherwise they are
    detected here with ``params.smc`` and ``htf_swing_lookback``.
    """
    open_, high, low, close = (np.ascontiguousarray(a, dtype=np.float64)
                               for a in (open_, high, low, close))
    if internal is None:
        internal = detect_smc(open_, high, low, close, params.smc)
    if swing is None:
        swing = detect_smc(open_, high, low, close, _swing_params(params))

    blocks = internal.order_blocks
    if len(blocks) == 0:
        return []
    mean_body = _mean_body_before(open_, close)
    body = np.abs(close - open_)
    fvgs, sweeps = internal.fvgs, internal.sweeps
    setups = []
    for ob in blocks:
        tap = int(ob["mitigated_at"])
        if tap < 0:
            continue
        side = int(ob["direction"])
        age = tap - int(ob["known_at"])
        invalidated = int(ob["invalidated_at"])
        if age > params.max_order_block_age:
            continue
        if 0 <= invalidated <= tap:
            continue
        if int(internal.bias[tap]) != side:
            continue
        top, bottom = float(ob["top"]), float(ob["bottom"])
        brk = int(ob["break_index"])

        reasons = [f"{'bullish' if side > 0 else 'bearish'} order block "
                   f"[{bottom:g}, {top:g}] tapped {age} bar(s) after the break"]
        score = CONFIDENCE_WEIGHTS["base"]
        if (not np.isnan(mean_body[brk])
                and body[brk] >= params.displacement_factor * mean_body[brk]):
            score += CONFIDENCE_WEIGHTS["displacement"]
            reasons.append(f"displacement: break body {body[brk] / mean_body[brk]:.1f}x average")
        ob_index = int(ob["index"])
        if np.any((fvgs["direction"] == side) & (fvgs["index"] > ob_index)
                  & (fvgs["index"] <= brk)):
            score += CONFIDENCE_WEIGHTS["fvg"]
            reasons.append("fair value gap left by the impulse")
        if np.any((sweeps["direction"] == side) & (sweeps["index"] >= int(ob["swing_index"]))
                  & (sweeps["index"] <= brk)):
            score += CONFIDENCE_WEIGHTS["sweep"]
            reasons.append("liquidity sweep before the break")
        if int(swing.bias[tap]) == side:
            score += CONFIDENCE_WEIGHTS["htf_alignment"]
            reasons.append("swing structure aligned")
        freshness = max(0.0, 1.0 - age / params.max_order_block_age)
        score += CONFIDENCE_WEIGHTS["freshness"] * freshness

        c = float(close[tap])
        tick = params.tick_size
        to_tick = floor_to_step if side > 0 else ceil_to_step
        if side > 0:
            entry = to_tick(min(c, top), tick)
            stop = to_tick(bottom * (1.0 - params.stop_buffer), tick)
        else:
            entry = to_tick(max(c, bottom), tick)
            stop = to_tick(top * (1.0 + params.stop_buffer), tick)
        distance = abs(entry - stop)
        target = to_tick(entry + side * params.take_profit_ratio * distance, tick)
        skip = None
        if distance <= 0:
            skip = "stop distance is zero"
        elif distance / entry > params.max_stop_fraction:
            skip = (f"stop {distance / entry:.2%} away exceeds stop_loss_percent "
                    f"{params.max_stop_fraction:.2%}")
        elif target <= 0:
            skip = "take-profit below zero"
        elif target == entry:
            skip = "take-profit rounds onto the entry"
        setups.append(Setup(side, tap, ob_index, top, bottom, entry, stop, target,
                            round(min(score, 1.0), 6), tuple(reasons), skip))
    setups.sort(key=lambda s: (s.known_at, s.block_index))
    return setups


class SetupTracker:
    """Hands the strategy, bar by bar, the setups that became known at each signal bar.

    Backtest (``preloaded`` bars given): detection runs once over the whole series and setups
    are released only when their ``known_at`` bar is reached; this is equivalent to detecting on
    every prefix because every detector is prefix-invariant (tested), and ``runners.backtest
    --check-lookahead`` re-checks it end to end. ``structure`` hands in that detection already
    made over the same bars (``detect_structure``; a sweep reuses it across runs that differ only
    in risk or threshold settings); one that does not fit the bars or the parameters is refused.
    Live (no preload): bars are appended as they close and detection reruns on the buffer; the
    same ``find_setups`` answers both.
    """

    def __init__(self, params: SetupParams, preloaded=None, structure: Structure | None = None):
        self.params = params
        self._by_bar: dict[int, list[Setup]] = {}
        self._preloaded = preloaded
        if structure is not None and (preloaded is None or not structure.fits(preloaded, params)):
            raise ValueError("the precomputed SMC structure was not made over these bars with "
                             "these detection settings")
        if preloaded is not None:
            internal, swing = (None, None) if structure is None else (structure.internal,
                                                                      structure.swing)
            for s in find_setups(preloaded.open, preloaded.high, preloaded.low, preloaded.close,
                                 params, internal=internal, swing=swing):
                self._by_bar.setdefault(s.known_at, []).append(s)
        self._buffer: list[tuple[float, float, float, float]] = []

    def on_bar(self, index: int,
               bar: tuple[float, float, float, float] | None = None) -> list[Setup]:
        """Setups known at the close of signal bar ``index``; ``bar`` = (o, h, l, c) when live."""
        if self._preloaded is not None:
            return self._by_bar.get(index, [])
        if bar is None:
            raise ValueError("live SetupTracker needs the bar's (open, high, low, close)")
        if index != len(self._buffer):
            raise ValueError(f"bar index {index} out of order (expected {len(self._buffer)})")
        self._buffer.append(bar)
        arr = np.asarray(self._buffer, dtype=np.float64)
        found = find_setups(arr[:, 0], arr[:, 1], arr[:, 2], arr[:, 3], self.params)
        return [s for s in found if s.known_at == index]
