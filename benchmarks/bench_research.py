"""Benchmark the research runner on BTCUSDT 1h 2017-2023 (55,740 bars, the bundled file).

Run by hand from anywhere:

    python benchmarks/bench_research.py [--tasks N] [--data PATH]

Measures, each task a full-history backtest through ``run_backtest``:

1. throughput: backtests per minute on an embedded LocalCluster of 1 worker and of 2 workers
   (target: 2 workers at least 1.8x one; it needs two free cores);
2. overhead: the 1-worker sweep's wall time against the sum of the same backtests run alone in
   this process, one after the other (target: at most 10 % more);
3. reused detection: a sweep varying only risk parameters, with the SMC detection made once and
   shared, against the same sweep detecting in every task (target: at least 2x faster).

Each sweep starts from an empty results table (nothing is answered from a previous run) and is
timed from the first submission to the last result; the cluster's start-up is printed apart.
Prints measured vs target for each; exit code 1 if any target is missed, 2 on a usage error.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import yaml

from core.config import apply_overrides
from research.data import load_datasets
from research.evaluate import plan
from research.execute import DaskBackend, InProcessBackend, Runner
from research.space import grid
from research.spec import load_spec
from research.store import ResultStore
from runners.backtest_engine import run_backtest

DEFAULT_DATA = REPO / "data" / "BTCUSDT_spot_1h_2017-08-17_2023-12-31.csv.gz"
TARGET_SCALING = 1.8
TARGET_OVERHEAD = 0.10
TARGET_REUSE = 2.0


def make_spec(folder: Path, data: Path, params: dict):
    path = folder / f"spec{len(list(folder.iterdir()))}.yaml"
    path.write_text(yaml.safe_dump({"config": str(REPO / "config.yaml"), "data": [str(data.resolve())],
                                    "params": params}))
    spec, config = load_spec(path)
    datasets = load_datasets(spec)
    units = [(datasets[d.name], w) for d in spec.datasets for w in spec.windows]
    return config, datasets, plan(config, grid(spec.params), units)


def timed_sweep(backend, datasets, tasks, folder: Path) -> float:
    with ResultStore(folder / f"results{time.monotonic_ns()}.sqlite") as store:
        runner = Runner(store, backend)
        t0 = time.perf_counter()
        rows = runner.run(tasks, datasets)
        seconds = time.perf_counter() - t0
    bad = [r["error"] for r in rows.values() if r["status"] != "ok"]
    if bad:
        raise SystemExit(f"a benchmark task failed: {bad[0]}")
    return seconds


def started(workers: int, reuse: bool = True) -> tuple[DaskBackend, float]:
    t0 = time.perf_counter()
    backend = DaskBackend(workers=workers, reuse_detection=reuse).__enter__()
    return backend, time.perf_counter() - t0


def line(name: str, measured: str, target: str, ok: bool) -> bool:
    print(f"{name:<44} {measured:>22}   target {target:<10} {'ok' if ok else 'MISSED'}")
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=8, help="backtests per sweep (default 8)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="kline file")
    args = parser.parse_args(argv)
    if args.tasks < 2 or not args.data.is_file():
        parser.error("--tasks must be at least 2 and --data an existing file")
    n = args.tasks
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        thresholds = [round(0.60 + 0.02 * i, 2) for i in range(n)]
        config, datasets, tasks = make_spec(
            folder, args.data, {"decision_engine.confidence_threshold": thresholds})
        _, _, risk_tasks = make_spec(folder, args.data, {
            "risk_manager.take_profit_ratio": [2.0 + 0.25 * i for i in range(n)]})
        klines = next(iter(datasets.values())).klines
        bars = sum(len(k.frame) for k in klines.values())
        print(f"{n} backtests of {args.data.name} per sweep ({bars:,} bars each)")

        # Alone: the same backtests, one after the other, each detecting by itself.
        alone = 0.0
        for t in thresholds:
            cfg = apply_overrides(config, {"decision_engine.confidence_threshold": t})
            t0 = time.perf_counter()
            run_backtest(cfg, klines)
            alone += time.perf_counter() - t0

        one, start1 = started(1)
        try:
            sweep1 = timed_sweep(one, datasets, tasks, folder)
            risk_shared = timed_sweep(one, datasets, risk_tasks, folder)
        finally:
            one.close()
        one_plain, _ = started(1, reuse=False)
        try:
            risk_alone = timed_sweep(one_plain, datasets, risk_tasks, folder)
        finally:
            one_plain.close()
        two, start2 = started(2)
        try:
            sweep2 = timed_sweep(two, datasets, tasks, folder)
        finally:
            two.close()
        in_process = timed_sweep(InProcessBackend(), datasets, tasks, folder)

    rate1, rate2 = n / sweep1 * 60, n / sweep2 * 60
    print(f"cluster start-up: 1 worker {start1:.1f} s, 2 workers {start2:.1f} s (not counted)")
    print(f"in-process sweep (no Dask): {in_process:.1f} s; backtests alone: {alone:.1f} s")
    results = [
        line("throughput, 1 worker (backtests/min)", f"{rate1:.1f}", "-", True),
        line("throughput, 2 workers (backtests/min)", f"{rate2:.1f}", "-", True),
        line("scaling 1 -> 2 workers", f"{rate2 / rate1:.2f}x", f">= {TARGET_SCALING}x",
             rate2 / rate1 >= TARGET_SCALING),
        line("overhead: 1-worker sweep vs alone", f"{sweep1:.1f} s vs {alone:.1f} s "
             f"({(sweep1 / alone - 1) * 100:+.1f} %)", f"<= {TARGET_OVERHEAD:.0%}",
             sweep1 / alone - 1 <= TARGET_OVERHEAD),
        line("reused detection (risk-only sweep)", f"{risk_alone:.1f} s -> {risk_shared:.1f} s "
             f"({risk_alone / risk_shared:.2f}x)", f">= {TARGET_REUSE}x",
             risk_alone / risk_shared >= TARGET_REUSE),
    ]
    return 0 if all(results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
