"""Feed throughput: load the 1m year, then run an empty strategy over it with PandasData and
ArrayFeed.

Run by hand from the repository root: ``python benchmarks/bench_feed.py [--repeat N]``.
Reads ``../shared/data/BTCUSDT_spot_1m_2023-01-01_2023-12-31.csv.gz`` (525,520 bars). Each run is a
fresh ``Cerebro(stdstats=False)`` with the default broker and an empty ``bt.Strategy``; the best of
``--repeat`` runs is reported. Target: ArrayFeed at least 2x faster than PandasData.
Exit status: 0 target met, 1 target missed, 2 data file missing.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import backtrader as bt

from feeds.array_feed import ArrayFeed
from klines import load_klines

DATA = ROOT.parent / "shared" / "data" / "BTCUSDT_spot_1m_2023-01-01_2023-12-31.csv.gz"


def timed_run(make_feed) -> float:
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(make_feed())
    cerebro.addstrategy(bt.Strategy)
    began = time.perf_counter()
    cerebro.run()
    return time.perf_counter() - began


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if not DATA.exists():
        print(f"error: {DATA} not found (the benchmark reads ../shared/data)", file=sys.stderr)
        return 2

    load_times = []
    for _ in range(args.repeat):
        began = time.perf_counter()
        klines = load_klines(DATA)
        load_times.append(time.perf_counter() - began)
    bars = klines.bars()
    print(f"load_klines {DATA.name}: {len(bars):,} bars, best {min(load_times):.3f} s "
          f"of {args.repeat}")

    pandas_s = min(timed_run(lambda: bt.feeds.PandasData(dataname=klines.frame))
                   for _ in range(args.repeat))
    array_s = min(timed_run(lambda: ArrayFeed(bars=bars)) for _ in range(args.repeat))
    print(f"empty run, PandasData: {pandas_s:.2f} s ({pandas_s / len(bars) * 1e6:.1f} µs/bar)")
    print(f"empty run, ArrayFeed:  {array_s:.2f} s ({array_s / len(bars) * 1e6:.1f} µs/bar)")
    speed_up = pandas_s / array_s
    print(f"ArrayFeed speed-up: {speed_up:.2f}x (target >= 2x): "
          f"{'met' if speed_up >= 2 else 'MISSED'}")
    return 0 if speed_up >= 2 else 1


if __name__ == "__main__":
    raise SystemExit(main())
