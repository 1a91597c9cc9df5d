"""Benchmark: a year of BTCUSDT 1m bars through the whole strategy vs an empty backtrader run.

    python benchmarks/bench_backtest.py [--data PATH] [--repeat N]

Each measurement runs in a fresh subprocess so that its peak RSS is its own:

- ``empty``:    stock ``bt.feeds.PandasData`` + a strategy whose ``next`` does nothing
                (the baseline named in the issue: what backtrader costs by itself);
- ``strategy``: ``runners.backtest_engine.run_backtest`` with config.yaml (1m execution, 1h
                signals built with pandas, SMC detection, sizing, brackets, equity recorder,
                report), data loading excluded (timed separately).

Target: strategy <= 1.5 x empty, peak RSS < 1 GB. Run by hand; tests never time anything.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "BTCUSDT_spot_1m_2023-01-01_2023-12-31.csv.gz"


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0   # Linux: KiB


def measure(part: str, data: str) -> dict:
    sys.path.insert(0, str(ROOT))
    import backtrader as bt

    from core.config import load_config
    from klines import load_klines

    t0 = time.perf_counter()
    klines = load_klines(data)
    load_s = time.perf_counter() - t0
    bars = len(klines.frame)
    if part == "empty":
        frame = klines.frame.copy()
        frame.index = frame.index.tz_localize(None)
        cerebro = bt.Cerebro(stdstats=False)
        cerebro.adddata(bt.feeds.PandasData(dataname=frame))
        cerebro.addstrategy(bt.Strategy)
        t0 = time.perf_counter()
        cerebro.run()
        run_s = time.perf_counter() - t0
        extra = {}
    else:
        from runners.backtest_engine import run_backtest

        config = load_config()
        t0 = time.perf_counter()
        result = run_backtest(config, {"BTCUSDT": klines})
        run_s = time.perf_counter() - t0
        extra = {"trades": result.report["trades"], "signals": result.report["signals"],
                 "total_return_pct": result.report["total_return_pct"]}
    return {"part": part, "bars": bars, "load_s": load_s, "run_s": run_s,
            "peak_rss_mb": peak_rss_mb(), **extra}


def run_part(part: str, data: str) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--only", part, "--data", data],
                          capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--repeat", type=int, default=1, help="runs of each part; best is kept")
    parser.add_argument("--only", choices=["empty", "strategy"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.only:
        import logging

        logging.disable(logging.WARNING)
        print(json.dumps(measure(args.only, args.data)))
        return 0
    if not Path(args.data).exists():
        print(f"error: {args.data} not found (the benchmark reads ../shared/data)", file=sys.stderr)
        return 2
    results = {}
    for part in ("empty", "strategy"):
        runs = [run_part(part, args.data) for _ in range(args.repeat)]
        results[part] = min(runs, key=lambda r: r["run_s"])
    empty, strat = results["empty"], results["strategy"]
    bars = strat["bars"]
    print(f"data: {args.data} ({bars:,} bars, load {strat['load_s']:.2f} s with validation)")
    print(f"{'run':<34}{'seconds':>9}{'bars/s':>12}{'peak RSS':>11}")
    print(f"{'empty strategy, stock PandasData':<34}{empty['run_s']:>9.2f}"
          f"{bars / empty['run_s']:>12,.0f}{empty['peak_rss_mb']:>8.0f} MB")
    print(f"{'SMC strategy, whole engine':<34}{strat['run_s']:>9.2f}"
          f"{bars / strat['run_s']:>12,.0f}{strat['peak_rss_mb']:>8.0f} MB")
    ratio = strat["run_s"] / empty["run_s"]
    print(f"ratio strategy / empty: {ratio:.2f} (target <= 1.5); "
          f"peak RSS {strat['peak_rss_mb']:.0f} MB (target < 1024 MB)")
    print(f"strategy: {strat['trades']} trades, {strat['signals']} signals, "
          f"return {strat['total_return_pct']}%")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
