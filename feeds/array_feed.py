"""``ArrayFeed``: a backtrader data feed that reads a ``Bars`` object instead of a DataFrame.

The stock ``bt.feeds.PandasData`` reads every cell with ``iloc`` and converts every timestamp with
``date2num`` while loading (~22 µs a bar). ``ArrayFeed`` converts all open times to backtrader's
float day numbers once, vectorized (bit-identical to ``bt.date2num``), and turns each column into a
Python list; ``_load`` then only copies the i-th element of each list into the line buffers. With
cerebro's default ``preload=True`` the buffers are even filled in one ``extend`` per line (see
``preload``). Measured on the 525,520-bar 1m year, empty strategy: PandasData 19.3 s, ArrayFeed
7.0 s (``benchmarks/bench_feed.py``).

Params:

- ``bars`` (None): the ``core.bars.Bars`` to deliver, in order.
- ``stamp_offset_ms`` (0): added to ``open_time_ms`` to form each bar's backtrader datetime. 0
  stamps a bar at its open time (the usual backtrader convention for klines). A higher-timeframe
  feed built with ``feeds.resample.resample_bars`` uses ``htf_stamp_offset_ms(...)`` so it is
  delivered together with the last lower-timeframe bar of its period (see ``feeds.resample``).
- ``clock`` (None): for a higher-timeframe feed, the lower-timeframe ``ArrayFeed`` it is stamped
  against (added to cerebro before it, same ``timeframe``/``compression`` params). Cerebro asks
  every feed for a bar on every cycle and takes the earliest; a 1h feed beside a 1m feed would be
  advanced and rewound 59 times an hour. With ``clock`` set, ``next`` answers "no bar yet" at once
  when its next bar is stamped after the bar the clock has just delivered, which is exactly when
  cerebro would have rewound it. It falls back to the stock ``next`` whenever that cannot be known
  (not preloaded, the clock at its last bar, the clock not ahead of this feed in cerebro's order).
- ``fromdate`` / ``todate`` (standard ``DataBase`` params) work, and cost nothing: the first and
  last index are found by binary search when the feed starts.

``feed.bars`` is the ``Bars`` object; ``feed.array_index`` is the index into it of the bar most
recently delivered to the strategy (-1 before the first). The ``openinterest`` line is left NaN, as
in ``PandasData`` without an open-interest column. Do not combine with ``tz``/``tzinput`` params:
bar times are UTC and the datetime line holds ``date2num`` of the naive-UTC datetime.
"""

from __future__ import annotations

import math

import backtrader as bt
import numpy as np

from core.bars import Bars
from core.times import date2num_ms

__all__ = ["ArrayFeed"]

class ArrayFeed(bt.feed.DataBase):
    """Delivers the bars of a ``Bars`` object; see the module docstring for the params."""

    params = (
        ("bars", None),
        ("stamp_offset_ms", 0),
        ("clock", None),
    )

    def __init__(self):
        bars = self.p.bars
        if not isinstance(bars, Bars):
            raise TypeError(f"ArrayFeed needs bars=<core.bars.Bars>, got {type(bars).__name__}")
        self.bars = bars
        self._times = self.lines.datetime
        stamps = date2num_ms(bars.open_time_ms + int(self.p.stamp_offset_ms))
        self._stamps = stamps
        # Python lists: list[i] yields a float in ~20 ns,
        # numpy scalar access costs several times more.
        self._columns = (
            stamps.tolist(),
            bars.open.tolist(),
            bars.high.tolist(),
            bars.low.tolist(),
            bars.close.tolist(),
            bars.volume.tolist(),
        )
        self._first = 0
        self._stop = len(bars)
        self._next = 0

    def _start(self):
        super()._start()  # start() then the fromdate/todate conversion to float day numbers
        self._first = int(np.searchsorted(self._stamps, self.fromdate, "left"))
        self._stop = int(np.searchsorted(self._stamps, self.todate, "right"))
        self._next = self._first
        lines = self.lines
        targets = (lines.datetime, lines.open, lines.high, lines.low, lines.close, lines.volume)
        self._pairs = tuple(zip(targets, self._columns, strict=True))
        self._clock_line = self._clock_datetime_line()
        if self._clock_line is not None:
            self.next = self._next_or_not_yet  # on this instance only: other feeds pay nothing

    def _clock_datetime_line(self):
        """The clock's datetime line if ``next`` may use it, else None
        (see the module docstring)."""
        clock = self.p.clock
        if clock is None:
            return None
        # cerebro._runnext asks the feeds in this order;
        # the clock must have moved before we are asked
        order = [id(d) for d in sorted(self.getenvironment().datas,
                                       key=lambda d: (d._timeframe, d._compression))]
        if id(clock) not in order or order.index(id(clock)) > order.index(id(self)):
            return None
        return clock.lines.datetime

    def _next_or_not_yet(self, datamaster=None, ticks=True):
        """``next`` with the clock shortcut (installed by ``_start`` when it applies)."""
        clock = self._clock_line
        # Both lines are preloaded, unbounded buffers: ``_idx`` is the delivered bar, ``array`` all.
        own = self._times
        upcoming = own._idx + 1
        if (upcoming < len(own.array) and 0 < clock.lencount < len(clock.array)
                and own.array[upcoming] > clock.array[clock._idx]):
            return False  # the clock is running and has not reached our next bar
        return super().next(datamaster=datamaster, ticks=ticks)

    # Cerebro and every strategy ask each feed for its length and its notifications several times a
    # cycle; the stock versions cost three Python calls and a list built around a marker each.
    def __len__(self):
        return self._times.lencount  # what LineSeries.__len__ reaches through lines[0]

    def get_notifications(self):
        # No thread feeds this queue: when it is empty the stock method can only return [].
        return super().get_notifications() if self.notifs else []

    @property
    def array_index(self) -> int:
        """Index into ``bars`` of the bar most recently delivered to the strategy,
        -1 before the first."""
        delivered = len(self)
        return self._first + delivered - 1 if delivered else -1

    def _load(self):
        # Measured on 100k 1m bars (empty strategy, whole run): ``self.lines.close[0] = v`` per line
        # 1.56 s, cached line objects 1.55 s, ``line.array[line.idx] = v`` over cached (line, list)
        # pairs 1.55 s, numpy arrays instead of lists 1.72 s.
        # The run is dominated by backtrader's own loop.
        i = self._next
        if i >= self._stop:
            return False
        self._next = i + 1
        for line, column in self._pairs:
            line.array[line.idx] = column[i]
        return True

    def preload(self):
        """Fill the line buffers in one ``extend`` per line instead of one ``load()`` per bar (~17 %
        faster runs); falls back to the stock bar-by-bar preload when filters, an input time zone or
        a bounded buffer could change what ``load()`` delivers."""
        bulk_safe = (not self._filters and not self._tzinput and not len(self)
                     and self._next == self._first
                     and all(line.mode == line.UnBounded and not line.array for line in self.lines))
        if not bulk_safe:
            return super().preload()
        count = self._stop - self._first
        filled = set()
        for line, column in self._pairs:
            line.array.extend(column[self._first:self._stop])
            filled.add(id(line))
        for line in self.lines:
            # openinterest and any extra line: NaN, as load() leaves them
            if id(line) not in filled:
                line.array.extend([math.nan] * count)
        self._next = self._stop
        self._last()
        self.home()
