"""Benchmark detect_smc against the smartmoneyconcepts package (swings + bos_choch + ob + fvg).

Run by hand from anywhere:

    python benchmarks/bench_smc.py [--data PATH] [--package-bars N | --package-full]

Prints bars, seconds (best of --repeat runs), bars/s and the speed ratio, plus event counts.
The package is timed on the first --package-bars bars (default 100,000) and extrapolated linearly
to the whole series, which flatters it (its bos_choch and ob loops grow faster than linearly);
--package-full times it on the whole series instead (minutes on the 1m year).

Exit codes: 0 ok, 2 usage error (bad path or arguments).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from strategies.smc import SmcParams, detect_smc

DEFAULT_DATA = REPO / ".." / "shared" / "data" / "BTCUSDT_spot_1m_2023-01-01_2023-12-31.csv.gz"


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def best_of(repeat: int, fn) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def time_package(df: pd.DataFrame, lookback: int, repeat: int) -> float:
    from smartmoneyconcepts import smc

    def run(frame):
        swings = smc.swing_highs_lows(frame, swing_length=lookback)
        smc.bos_choch(frame, swings, close_break=True)
        smc.ob(frame, swings)
        smc.fvg(frame)

    # warm-up (0.0.27 has no numba, but pays first-call costs)
    run(df.iloc[:2000].reset_index(drop=True))
    seconds, _ = best_of(repeat, lambda: run(df))
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     epilog="exit codes: 0 ok, 2 usage error")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA,
                        help="OHLCV csv(.gz) with open,high,low,close")
    parser.add_argument("--lookback", type=_positive_int, default=5,
                        help="swing lookback N (default 5)")
    parser.add_argument("--repeat", type=_positive_int, default=3,
                        help="timing runs, best kept (default 3)")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--package-bars", type=_positive_int, default=100_000,
                       help="bars to time the package on")
    group.add_argument("--package-full", action="store_true",
                       help="time the package on the whole series")
    group.add_argument("--no-package", action="store_true", help="skip the package")
    args = parser.parse_args(argv)
    if not args.data.exists():
        print(f"error: {args.data} not found (the benchmark reads ../shared/data; "
              f"pass --data PATH)", file=sys.stderr)
        return 2

    df = pd.read_csv(args.data)
    cols = [np.ascontiguousarray(df[k].to_numpy(dtype=np.float64))
            for k in ("open", "high", "low", "close")]
    n = len(df)
    params = SmcParams(swing_lookback=args.lookback)
    detect_smc(*(c[:5000] for c in cols), params)  # warm-up
    ours_s, res = best_of(args.repeat, lambda: detect_smc(*cols, params))
    print(f"data: {args.data.resolve()}  ({n:,} bars), params: {params}")
    print(f"detect_smc           : {n:>9,} bars  {ours_s:8.3f} s  {n / ours_s:>13,.0f} bars/s  "
          f"(best of {args.repeat})")
    counts = {
        "swings": len(res.swings),
        "breaks": len(res.breaks),
        "  BOS": int(np.sum(res.breaks["kind"] == 0)),
        "  CHOCH": int(np.sum(res.breaks["kind"] == 1)),
        "order_blocks": len(res.order_blocks),
        "fvgs": len(res.fvgs),
        "sweeps": len(res.sweeps),
    }
    for name, value in counts.items():
        print(f"  {name:<14}{value:>9,}")

    if args.no_package:
        return 0
    try:
        import smartmoneyconcepts  # noqa: F401
    except ImportError:
        print("smartmoneyconcepts not installed: package comparison skipped")
        return 0
    m = n if args.package_full else min(args.package_bars, n)
    frame = df.iloc[:m].reset_index(drop=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pkg_s = time_package(frame, args.lookback, 1 if m > 200_000 else args.repeat)
    rate = m / pkg_s
    note = "" if m == n else (f"  (timed on the first {m:,} bars, extrapolated linearly to {n:,}: "
                              f"a lower bound)")
    print(f"smartmoneyconcepts   : {m:>9,} bars  {pkg_s:8.3f} s  {rate:>13,.0f} bars/s{note}")
    full_est = n / rate
    print(f"package, whole series: {'measured' if m == n else 'estimated'} {full_est:.2f} s")
    print(f"speed ratio (ours / package, bars/s): {(n / ours_s) / rate:,.0f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
