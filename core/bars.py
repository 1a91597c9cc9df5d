"""``Bars``: one symbol's candles as plain numpy arrays, the hand-off format between loaders and
feeds.

Every array has one element per bar, in time order. ``open_time_ms`` is the bar's OPEN time in UTC
milliseconds (Binance convention); the bar covers ``[open_time_ms, open_time_ms + timeframe_ms)``.
The arrays are C-contiguous and read-only, so a ``Bars`` can be shared between feeds and threads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pandas only for the annotations: the live engine never imports it
    import pandas as pd

_PRICE_FIELDS = ("open", "high", "low", "close", "volume")


def _frozen_array(values, dtype) -> np.ndarray:
    array = np.ascontiguousarray(values, dtype=dtype)
    if array.ndim != 1:
        raise ValueError(f"bar arrays must be one-dimensional, got shape {array.shape}")
    if array.flags.writeable:
        if array is values or array.base is not None:
            array = array.copy()  # never freeze the caller's own buffer
        array.setflags(write=False)
    return array


@dataclass(frozen=True, eq=False)  # arrays/frames: no value equality
class Bars:
    """OHLCV bars of one timeframe: ``open_time_ms`` (int64) and float64 ``open..volume`` arrays."""

    timeframe_ms: int
    open_time_ms: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray

    def __post_init__(self) -> None:
        if int(self.timeframe_ms) <= 0:
            raise ValueError(f"timeframe_ms must be positive, got {self.timeframe_ms}")
        object.__setattr__(self, "timeframe_ms", int(self.timeframe_ms))
        object.__setattr__(self, "open_time_ms", _frozen_array(self.open_time_ms, np.int64))
        n = len(self.open_time_ms)
        for name in _PRICE_FIELDS:
            array = _frozen_array(getattr(self, name), np.float64)
            if len(array) != n:
                raise ValueError(f"Bars.{name} has {len(array)} elements, open_time_ms has {n}")
            object.__setattr__(self, name, array)
        if n > 1 and not bool(np.all(np.diff(self.open_time_ms) > 0)):
            raise ValueError("Bars.open_time_ms must be strictly increasing")

    def __len__(self) -> int:
        return len(self.open_time_ms)

    @property
    def close_time_ms(self) -> np.ndarray:
        """Time at which each bar is complete: ``open_time_ms + timeframe_ms`` (exclusive end)."""
        return self.open_time_ms + self.timeframe_ms

    def slice(self, start: int | None = None, stop: int | None = None) -> Bars:
        """Bars ``start:stop`` (positions, Python slice rules); the arrays are views, not copies."""
        window = slice(start, stop)
        return Bars(
            self.timeframe_ms,
            self.open_time_ms[window],
            self.open[window],
            self.high[window],
            self.low[window],
            self.close[window],
            self.volume[window],
        )

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, timeframe_ms: int) -> Bars:
        """From a frame with a UTC ``DatetimeIndex`` of open times and open/high/low/close/volume
        columns."""
        index = frame.index
        import pandas as pd  # here, not at the top: the live engine never loads pandas (~80 MB)

        if not isinstance(index, pd.DatetimeIndex):
            raise ValueError("frame must have a DatetimeIndex of bar open times")
        if index.tz is not None:
            index = index.tz_convert("UTC").tz_localize(None)
        return cls(
            timeframe_ms,
            index.as_unit("ms").asi8,
            *(frame[name].to_numpy(dtype=np.float64) for name in _PRICE_FIELDS),
        )

    def to_frame(self) -> pd.DataFrame:
        """The bars as a frame indexed by a UTC ``DatetimeIndex`` named ``open_time``."""
        import pandas as pd

        index = pd.DatetimeIndex(self.open_time_ms.astype("datetime64[ms]"), name="open_time")
        return pd.DataFrame(
            {name: getattr(self, name) for name in _PRICE_FIELDS}, index=index.tz_localize("UTC")
        )
