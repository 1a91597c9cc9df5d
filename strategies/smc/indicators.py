"""Thin backtrader wrappers over the SMC core, for users and plots (strategies call detect_smc).

Both indicators only ever use bars up to the current one, so their values are those a live run
would have seen.

* :class:`SwingIndicator` (lines ``swing_high``, ``swing_low``): the price of the most recent swing
  high / low confirmed at or before this bar (NaN before the first one). Each bar re-checks only
  the last 2N+1 bars with :func:`~.swings.find_swings`: O(N) per bar.
* :class:`StructureIndicator` (line ``bias``): the trend bias after this bar's close (+1, -1, 0).
  In bar-by-bar mode (``runonce=False`` or live) each ``next`` runs :func:`detect_smc` on all bars
  seen so far: O(bars) per bar, O(bars**2) for a whole backtest (about 50 ms per bar at 50k bars).
  In the default runonce mode, ``once`` runs it a single time on the preloaded bars; the values are
  identical because the detector is prefix invariant (``tests/test_smc_causality.py`` checks both
  modes agree).
"""

from __future__ import annotations

import math

import backtrader as bt
import numpy as np

from .detect import SmcParams, detect_smc
from .swings import SWING_HIGH, find_swings

__all__ = ["SwingIndicator", "StructureIndicator"]


class SwingIndicator(bt.Indicator):
    """Last confirmed swing high / low levels.

    Params:
        lookback (5): bars N on each side of a pivot; a pivot is confirmed N bars after it.
    """

    lines = ("swing_high", "swing_low")
    params = (("lookback", 5),)
    plotinfo = {"subplot": False}
    plotlines = {"swing_high": {"ls": "--"}, "swing_low": {"ls": "--"}}

    def __init__(self) -> None:
        SmcParams(swing_lookback=self.p.lookback)  # validates the lookback
        self._last_high = math.nan
        self._last_low = math.nan

    def next(self) -> None:
        width = 2 * self.p.lookback + 1
        if len(self) >= width:
            high = np.asarray(self.data.high.get(size=width), dtype=np.float64)
            low = np.asarray(self.data.low.get(size=width), dtype=np.float64)
            for swing in find_swings(high, low, self.p.lookback):  # only the centre bar can qualify
                if swing["kind"] == SWING_HIGH:
                    self._last_high = float(swing["price"])
                else:
                    self._last_low = float(swing["price"])
        self.lines.swing_high[0] = self._last_high
        self.lines.swing_low[0] = self._last_low


class StructureIndicator(bt.Indicator):
    """Trend bias from BOS/CHOCH breaks (see :mod:`.structure`).

    Params:
        swing_lookback (5): swing pivot lookback N.
        break_on ("close"): "close" or "wick".
    """

    lines = ("bias",)
    params = (("swing_lookback", 5), ("break_on", "close"))

    def __init__(self) -> None:
        self._params = SmcParams(swing_lookback=self.p.swing_lookback, break_on=self.p.break_on)

    def _bias(self, size: int) -> np.ndarray:
        cols = [np.asarray(line.get(size=size), dtype=np.float64) for line in (
            self.data.open, self.data.high, self.data.low, self.data.close)]
        return detect_smc(*cols, self._params).bias

    def next(self) -> None:
        self.lines.bias[0] = float(self._bias(len(self))[-1])

    def once(self, start: int, end: int) -> None:
        cols = [np.asarray(line.array[:end], dtype=np.float64) for line in (
            self.data.open, self.data.high, self.data.low, self.data.close)]
        bias = detect_smc(*cols, self._params).bias
        out = self.lines.bias.array
        for i in range(start, end):
            out[i] = float(bias[i])
