"""The SMC zones drawn on the price chart: what ``strategies.smc.detect_smc`` knew at the last
recorded signal bar (``SmcResult.as_of``), with the run's SMC settings.

Detection runs over the last ``DETECT_BARS`` recorded signal bars (enough history for the
structure the chart can show) and is cached by the last bar's open time, so a page view only
pays for it once per signal bar. Pure numpy and plain data: no Flask, no drawing.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

import numpy as np

from strategies.smc import BOS, BULLISH, CHOCH, SWING_HIGH, SmcParams, detect_smc

__all__ = ["DETECT_BARS", "Lru", "ZoneCache", "chart_zones", "smc_params"]

DETECT_BARS = 1500
MAX_ZONES = 8             # of each kind, the newest


def smc_params(run_config: dict) -> tuple[SmcParams, int]:
    """``(SmcParams, max_order_block_age)`` of a run's effective config."""
    smc = run_config["smc"]
    return (SmcParams(swing_lookback=smc["swing_lookback"], break_on=smc["break_on"],
                      order_block=smc["order_block"], fvg_fill=smc["fvg_fill"]),
            int(smc["max_order_block_age"]))


def chart_zones(bars: np.ndarray, params: SmcParams, max_age: int) -> dict[str, list[dict]]:
    """Zones, levels and swings known at the close of the last of ``bars`` (rows
    ``[open_ms, open, high, low, close, volume]``, oldest first). Times are bar open times (ms).

    - ``order_blocks``: not invalidated, at most ``max_age`` bars since they became known
      (``tapped``: price has traded back into the zone since);
    - ``fvgs``: not yet filled;
    - ``swings``: every confirmed swing high and low;
    - ``breaks``: the latest BOS and the latest CHOCH, each with the swing it broke.
    """
    n = len(bars)
    out: dict[str, list[dict]] = {"order_blocks": [], "fvgs": [], "swings": [], "breaks": []}
    if n == 0:
        return out
    opens = bars[:, 0].astype(np.int64)
    res = detect_smc(bars[:, 1], bars[:, 2], bars[:, 3], bars[:, 4], params).as_of(n - 1)
    last = n - 1

    def at(i: int) -> int:
        return int(opens[int(i)])

    blocks = res.order_blocks[(res.order_blocks["invalidated_at"] < 0)
                              & (last - res.order_blocks["known_at"] <= max_age)]
    for ob in blocks[-MAX_ZONES:]:
        out["order_blocks"].append({
            "direction": _direction(ob["direction"]), "top": float(ob["top"]),
            "bottom": float(ob["bottom"]), "time": at(ob["index"]), "known": at(ob["known_at"]),
            "tapped": bool(ob["mitigated_at"] >= 0)})
    for gap in res.fvgs[res.fvgs["filled_at"] < 0][-MAX_ZONES:]:
        out["fvgs"].append({"direction": _direction(gap["direction"]), "top": float(gap["top"]),
                            "bottom": float(gap["bottom"]), "time": at(gap["index"]),
                            "known": at(gap["known_at"])})
    for sw in res.swings:
        out["swings"].append({"kind": "high" if sw["kind"] == SWING_HIGH else "low",
                              "price": float(sw["price"]), "time": at(sw["index"])})
    for kind, name in ((BOS, "BOS"), (CHOCH, "CHOCH")):
        chosen = res.breaks[res.breaks["kind"] == kind]
        if len(chosen):
            br = chosen[-1]
            out["breaks"].append({"kind": name,
                                  "direction": _direction(br["direction"]),
                                  "level": float(br["level"]), "time": at(br["index"]),
                                  "swing_time": at(br["swing_index"])})
    out["breaks"].sort(key=lambda b: b["time"])
    return out


def _direction(code: Any) -> str:
    return "bullish" if int(code) == BULLISH else "bearish"


class Lru:
    """A small thread-safe cache of the ``size`` most recently used entries."""

    def __init__(self, size: int = 32):
        self.size = size
        self._items: OrderedDict[Any, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Any) -> Any:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        return None

    def put(self, key: Any, value: Any) -> Any:
        with self._lock:
            self._items[key] = value
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return value


class ZoneCache:
    """``chart_zones`` results by (account, symbol, interval, last bar, settings); a few kept."""

    def __init__(self, size: int = 16):
        self._lru = Lru(size)

    def zones(self, key: tuple, bars: np.ndarray, params: SmcParams, max_age: int) -> dict:
        key = (*key, len(bars), int(bars[-1, 0]) if len(bars) else None, params, max_age)
        value = self._lru.get(key)
        if value is None:
            value = self._lru.put(key, chart_zones(bars, params, max_age))
        return value
