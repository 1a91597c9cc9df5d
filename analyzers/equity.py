"""Per-bar mark-to-market equity record of a backtrader strategy, the input of ``metrics``.

``EquityRecorder``: an analyzer that reads the broker at every bar (a dict of ``times_ms``,
``values``, ``in_market`` arrays, one entry per strategy bar); works with any broker. The
backtest rebuilds the same values from bars and fills (``analyzers.equity_curve``), and a test
checks that both agree to the last bit.
"""

from __future__ import annotations

import backtrader as bt
import numpy as np

from core.times import num_to_ms


class EquityRecorder(bt.Analyzer):
    """Records, once per strategy bar, the time, the broker's value and whether a position is open.

    One entry is appended at every ``next`` of the strategy, and also during ``prenext``
    (backtrader's default for analyzers), so warm-up bars are included and the curve starts
    at the first bar. Values are read after the strategy's own ``next`` of that bar.

    ``get_analysis()`` returns a dict of equal-length numpy arrays:

    - ``times_ms`` (``np.int64``): the strategy clock's datetime, ms since the Unix epoch, UTC
      (backtrader's naive UTC datetime, rounded to the millisecond).
    - ``values`` (``np.float64``): ``broker.getvalue()``, cash plus positions marked to market,
      in the account currency.
    - ``in_market`` (``np.bool_``): True if any data of the strategy has a non-zero position.

    Before ``stop()`` the arrays are empty. Cheap per bar: three list appends; conversion to
    arrays happens once in ``stop()``.
    """

    def create_analysis(self):
        self.rets = {
            "times_ms": np.empty(0, dtype=np.int64),
            "values": np.empty(0, dtype=np.float64),
            "in_market": np.empty(0, dtype=np.bool_),
        }

    def start(self):
        strategy = self.strategy
        self._times: list[float] = []
        self._values: list[float] = []
        self._in_market: list[bool] = []
        self._clock = strategy.datetime  # the line of the strategy's clock, float days
        self._getvalue = strategy.broker.getvalue
        self._getposition = strategy.broker.getposition
        self._datas = tuple(strategy.datas)

    def next(self):
        self._times.append(self._clock[0])
        self._values.append(self._getvalue())
        getposition = self._getposition
        for data in self._datas:
            if getposition(data).size != 0:
                self._in_market.append(True)
                break
        else:
            self._in_market.append(False)

    def stop(self):
        days = np.asarray(self._times, dtype=np.float64)
        self.rets["times_ms"] = num_to_ms(days)
        self.rets["values"] = np.asarray(self._values, dtype=np.float64)
        self.rets["in_market"] = np.asarray(self._in_market, dtype=np.bool_)

    def get_analysis(self):
        return self.rets

