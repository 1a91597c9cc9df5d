"""Smart Money Concepts detection core: causal, vectorized, pure numpy (no backtrader here).

Public API::

    from strategies.smc import SmcParams, detect_smc
    res = detect_smc(open, high, low, close, SmcParams(swing_lookback=5))
    res.swings, res.breaks, res.order_blocks, res.fvgs, res.sweeps   # numpy structured arrays
    res.bias                                                          # int8 per bar
    res.as_of(cut)                                                    # what was known at bar `cut`

Every event carries ``known_at``, the bar at whose close it becomes known; the definitions are in
the docstrings of :mod:`.swings`, :mod:`.structure`, :mod:`.order_blocks`, :mod:`.fvg` and
:mod:`.sweeps`. The ``*_DTYPE`` constants give each array's layout and ``*_FIELDS`` its field
names; the value constants (``BULLISH``, ``CHOCH``, ``NEVER``...) give the codes stored in them.
Backtrader wrappers live in :mod:`.indicators` (imported on demand, so this package never
imports backtrader).
"""

from .causality import prefix_mismatches
from .detect import SmcParams, SmcResult, detect_smc
from .fvg import FVG_DTYPE
from .order_blocks import ORDER_BLOCK_DTYPE
from .search import NOT_FOUND
from .structure import BEARISH, BOS, BREAK_DTYPE, BULLISH, CHOCH
from .sweeps import SWEEP_DTYPE
from .swings import SWING_DTYPE, SWING_HIGH, SWING_LOW

NEVER = NOT_FOUND  # value of mitigated_at / invalidated_at / filled_at when it has not happened

SWING_FIELDS = SWING_DTYPE.names
BREAK_FIELDS = BREAK_DTYPE.names
ORDER_BLOCK_FIELDS = ORDER_BLOCK_DTYPE.names
FVG_FIELDS = FVG_DTYPE.names
SWEEP_FIELDS = SWEEP_DTYPE.names

__all__ = [
    "SmcParams",
    "SmcResult",
    "detect_smc",
    "prefix_mismatches",
    "SWING_DTYPE",
    "BREAK_DTYPE",
    "ORDER_BLOCK_DTYPE",
    "FVG_DTYPE",
    "SWEEP_DTYPE",
    "SWING_FIELDS",
    "BREAK_FIELDS",
    "ORDER_BLOCK_FIELDS",
    "FVG_FIELDS",
    "SWEEP_FIELDS",
    "SWING_HIGH",
    "SWING_LOW",
    "BULLISH",
    "BEARISH",
    "BOS",
    "CHOCH",
    "NEVER",
]
