"""Benchmark: a year of BTCUSDT 1m bars through the whole strategy vs an empty backtrader run.

    python benchmarks/bench_backtest.py [--data PATH] [--repeat N]

Three runs, each in a fresh subprocess (so that its peak RSS is its own), all starting from the
klines already loaded (``load_klines`` is timed once, separately, and never counted):

- ``empty``:    the baseline. An empty ``bt.Strategy`` on ONE ``ArrayFeed`` of the same 1m bars,
                ``Cerebro(stdstats=False, runonce=False, preload=True)`` and the stock broker. The
                flags are the engine's where they matter: ``runonce=False`` is the engine's
                bar-by-bar loop (``runonce=True`` would run a different, vectorised loop) and
                ``preload=True`` fills the buffers before the run. Timed: ``klines.bars()``, the
                feed, ``cerebro.run()``.
- ``strategy``: ``engine.backtest.run_backtest`` with config.yaml: 1m execution feed, 1h
                signal feed, SMC detection, sizing, brackets, the equity record and the report.
- ``stock``:    an empty strategy on backtrader's stock ``bt.feeds.PandasData`` (for scale: what
                backtrader costs with its own feed).

Each round runs the three once, in turn; ``--repeat`` rounds are made and every figure is the
median over them. Ratios are taken within a round, then their median. Seconds are CPU seconds of
the run (``time.process_time``): the run is single-threaded, so this is its wall time on an idle
core, and it does not count the time the process waited for a core on a busy machine. Wall
seconds are printed too.

Targets: strategy <= 1.5 x empty (same feed, same data), peak RSS < 1 GB. The ratio to the stock
feed is printed for information. Exit status: 0 every target met, 1 a target missed (or the runs
disagree on the trades), 2 usage error. Run by hand; tests never time anything.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "BTCUSDT_spot_1m_2023-01-01_2023-12-31.csv.gz"
PARTS = ("empty", "strategy", "stock")
TARGET_RATIO = 1.5
TARGET_RSS_MB = 1024.0


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0   # Linux: KiB


def measure(part: str, data: str) -> dict:
    sys.path.insert(0, str(ROOT))
    import backtrader as bt

    from core.config import load_config
    from feeds.array_feed import ArrayFeed
    from klines import load_klines

    t0 = time.perf_counter()
    klines = load_klines(data)
    load_s = time.perf_counter() - t0
    extra = {}
    wall0, cpu0 = time.perf_counter(), time.process_time()
    if part == "strategy":
        from engine.backtest import run_backtest

        result = run_backtest(load_config(), {"BTCUSDT": klines})
        extra = {"trades": result.report["trades"], "signals": result.report["signals"],
                 "total_return_pct": result.report["total_return_pct"]}
    else:
        cerebro = bt.Cerebro(stdstats=False, runonce=False, preload=True)
        if part == "empty":
            cerebro.adddata(ArrayFeed(bars=klines.bars(), name="BTCUSDT"))
        else:
            frame = klines.frame.copy()
            frame.index = frame.index.tz_localize(None)
            cerebro.adddata(bt.feeds.PandasData(dataname=frame))
        cerebro.addstrategy(bt.Strategy)
        cerebro.run()
    cpu_s, wall_s = time.process_time() - cpu0, time.perf_counter() - wall0
    return {"part": part, "bars": len(klines.frame), "load_s": load_s, "cpu_s": cpu_s,
            "wall_s": wall_s, "peak_rss_mb": peak_rss_mb(), **extra}


def run_part(part: str, data: str) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--only", part, "--data", data],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{part} run failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     epilog="exit status: 0 targets met, 1 a target missed, "
                                            "2 usage error")
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--repeat", type=int, default=3, help="rounds (default 3); medians")
    parser.add_argument("--only", choices=PARTS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.only:
        import logging

        logging.disable(logging.WARNING)
        print(json.dumps(measure(args.only, args.data)))
        return 0
    if not Path(args.data).exists():
        print(f"error: {args.data} not found (the benchmark reads ../shared/data)", file=sys.stderr)
        return 2
    if args.repeat < 1:
        print("error: --repeat must be at least 1", file=sys.stderr)
        return 2

    rounds = []
    for i in range(args.repeat):
        rounds.append({part: run_part(part, args.data) for part in PARTS})
        r = rounds[-1]
        print(f"round {i + 1}/{args.repeat}: empty {r['empty']['cpu_s']:.2f} s, strategy "
              f"{r['strategy']['cpu_s']:.2f} s, stock {r['stock']['cpu_s']:.2f} s (CPU)",
              flush=True)

    def median(part, key):
        return statistics.median(r[part][key] for r in rounds)

    same_feed = statistics.median(r["strategy"]["cpu_s"] / r["empty"]["cpu_s"] for r in rounds)
    stock_feed = statistics.median(r["strategy"]["cpu_s"] / r["stock"]["cpu_s"] for r in rounds)
    same_feed_wall = statistics.median(r["strategy"]["wall_s"] / r["empty"]["wall_s"]
                                       for r in rounds)
    strategy_rss = max(r["strategy"]["peak_rss_mb"] for r in rounds)
    bars = rounds[0]["strategy"]["bars"]
    outcomes = {(r["strategy"]["trades"], r["strategy"]["signals"],
                 r["strategy"]["total_return_pct"]) for r in rounds}

    print(f"\ndata: {args.data} ({bars:,} bars; load_klines {median('strategy', 'load_s'):.2f} s, "
          f"not counted)")
    print(f"medians of {args.repeat} round(s)")
    print(f"{'run':<40}{'CPU s':>8}{'wall s':>9}{'bars/s':>11}{'peak RSS':>11}")
    labels = {"empty": "empty strategy, ArrayFeed (baseline)",
              "strategy": "SMC strategy, whole engine",
              "stock": "empty strategy, stock PandasData"}
    for part in PARTS:
        cpu = median(part, "cpu_s")
        print(f"{labels[part]:<40}{cpu:>8.2f}{median(part, 'wall_s'):>9.2f}{bars / cpu:>11,.0f}"
              f"{median(part, 'peak_rss_mb'):>8.0f} MB")
    ratio_ok = same_feed <= TARGET_RATIO
    rss_ok = strategy_rss < TARGET_RSS_MB
    trades_ok = len(outcomes) == 1
    print(f"\nratio strategy / empty, same ArrayFeed: {same_feed:.3f} CPU "
          f"({same_feed_wall:.3f} wall)"
          f"  target <= {TARGET_RATIO}: {'met' if ratio_ok else 'MISSED'}")
    print(f"ratio strategy / empty, stock PandasData: {stock_feed:.3f} CPU (for scale)")
    print(f"peak RSS of the strategy run: {strategy_rss:.0f} MB  target < {TARGET_RSS_MB:.0f} MB: "
          f"{'met' if rss_ok else 'MISSED'}")
    trades, signals, ret = sorted(outcomes)[0]
    print(f"strategy: {trades} trades, {signals} signals, return {ret}%"
          + ("" if trades_ok else f"  DIFFERENT across rounds: {sorted(outcomes)}"))
    return 0 if ratio_ok and rss_ok and trades_ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
