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
Throughput is wall time; overhead and reuse compare CPU seconds (this process, which hosts the
embedded scheduler, plus every worker), which a loaded machine disturbs far less. Rounds are
interleaved and the best of each measurement is kept. Prints measured vs target for each; exit
code 1 if any target is missed, 2 on a usage error.
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
from engine.backtest import run_backtest
from research.data import load_datasets
from research.evaluate import plan
from research.execute import DaskBackend, InProcessBackend, Runner
from research.space import grid
from research.spec import load_spec
from research.store import ResultStore
from research.tasks import detect_task

DEFAULT_DATA = REPO / "data" / "BTCUSDT_spot_1h_2017-08-17_2023-12-31.csv.gz"
TARGET_SCALING = 1.8
TARGET_OVERHEAD = 0.10
TARGET_REUSE = 2.0


def make_spec(folder: Path, data: Path, params: dict):
    path = folder / f"spec{len(list(folder.iterdir()))}.yaml"
    path.write_text(yaml.safe_dump({"config": str(REPO / "config.yaml"),
                                    "data": [str(data.resolve())], "params": params}))
    spec, config = load_spec(path)
    datasets = load_datasets(spec)
    units = [(datasets[d.name], w) for d in spec.datasets for w in spec.windows]
    return config, datasets, plan(config, grid(spec.params), units)


def timed_sweep(backend, datasets, tasks, folder: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process and of every worker) of one sweep."""
    before = _worker_cpu(backend)
    with ResultStore(folder / f"results{time.monotonic_ns()}.sqlite") as store:
        runner = Runner(store, backend)
        t0, c0 = time.perf_counter(), time.process_time()
        rows = runner.run(tasks, datasets)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    bad = [r["error"] for r in rows.values() if r["status"] != "ok"]
    if bad:
        raise SystemExit(f"a benchmark task failed: {bad[0]}")
    after = _worker_cpu(backend)
    cpu += sum(after[w] - before[w] for w in after)
    return wall, cpu


def _worker_cpu(backend) -> dict:
    client = getattr(backend, "client", None)
    return {} if client is None else client.run(time.process_time)


def alone_seconds(config, klines, thresholds) -> tuple[float, float]:
    """The same backtests run alone in this process: (wall, CPU) summed."""
    wall = cpu = 0.0
    for t in thresholds:
        cfg = apply_overrides(config, {"decision_engine.confidence_threshold": t})
        t0, c0 = time.perf_counter(), time.process_time()
        run_backtest(cfg, klines)
        wall += time.perf_counter() - t0
        cpu += time.process_time() - c0
    return wall, cpu


def started(workers: int) -> tuple[DaskBackend, float]:
    t0 = time.perf_counter()
    backend = DaskBackend(workers=workers).__enter__()
    return backend, time.perf_counter() - t0


def line(name: str, measured: str, target: str, ok: bool | None) -> bool:
    verdict = "" if ok is None else "ok" if ok else "MISSED"
    print(f"{name:<40} {measured:>34}   target {target:<8} {verdict}")
    return ok is not False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=8, help="backtests per sweep (default 8)")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds; the best "
                                                              "of each is kept (default 2)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="kline file")
    args = parser.parse_args(argv)
    if args.tasks < 2 or args.rounds < 1 or not args.data.is_file():
        parser.error("--tasks must be at least 2, --rounds at least 1 and --data an existing "
                     "file")
    n = args.tasks
    best: dict[str, tuple[float, float]] = {}

    def keep(name, measured):
        old = best.get(name)
        best[name] = measured if old is None else (min(old[0], measured[0]),
                                                   min(old[1], measured[1]))

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        thresholds = [round(0.60 + 0.02 * i, 2) for i in range(n)]
        config, datasets, tasks = make_spec(
            folder, args.data, {"decision_engine.confidence_threshold": thresholds})
        _, _, risk_tasks = make_spec(folder, args.data, {
            "risk_manager.take_profit_ratio": [2.0 + 0.25 * i for i in range(n)]})
        klines = next(iter(datasets.values())).klines
        bars = sum(len(k.frame) for k in klines.values())
        t0 = time.process_time()
        detect_task(tasks[0].config, klines, None, None)
        detection_cpu = time.process_time() - t0
        print(f"{n} backtests of {args.data.name} per sweep ({bars:,} bars each), best of "
              f"{args.rounds} interleaved round(s); wall and CPU seconds (CPU: this process "
              f"and the workers)")
        one, start1 = started(1)
        two, start2 = started(2)
        try:
            for _ in range(args.rounds):
                keep("alone", alone_seconds(config, klines, thresholds))
                keep("sweep1", timed_sweep(one, datasets, tasks, folder))
                keep("sweep2", timed_sweep(two, datasets, tasks, folder))
                one.reuse_detection = True
                keep("risk_shared", timed_sweep(one, datasets, risk_tasks, folder))
                one.reuse_detection = False
                keep("risk_each", timed_sweep(one, datasets, risk_tasks, folder))
                keep("in_process", timed_sweep(InProcessBackend(), datasets, tasks, folder))
        finally:
            one.close()
            two.close()

    print(f"cluster start-up (not counted): 1 worker {start1:.1f} s, 2 workers {start2:.1f} s")
    (alone_w, alone_c), (s1_w, s1_c), (s2_w, _) = best["alone"], best["sweep1"], best["sweep2"]
    rate1, rate2 = n / s1_w * 60, n / s2_w * 60
    shared_c, each_c = best["risk_shared"][1], best["risk_each"][1]
    results = [
        line("throughput, 1 worker", f"{rate1:.1f} backtests/min", "-", None),
        line("throughput, 2 workers", f"{rate2:.1f} backtests/min", "-", None),
        line("scaling 1 -> 2 workers (wall)", f"{rate2 / rate1:.2f}x", f">= {TARGET_SCALING}x",
             rate2 / rate1 >= TARGET_SCALING),
        line("overhead, 1-worker sweep vs alone (CPU)",
             f"{s1_c:.1f} s vs {alone_c:.1f} s ({(s1_c / alone_c - 1) * 100:+.1f} %)",
             f"<= {TARGET_OVERHEAD:.0%}", s1_c / alone_c - 1 <= TARGET_OVERHEAD),
        line("  the same, wall (for reference)",
             f"{s1_w:.1f} s vs {alone_w:.1f} s ({(s1_w / alone_w - 1) * 100:+.1f} %)", "-", None),
        line("  in-process runner (wall, CPU)",
             f"{best['in_process'][0]:.1f} s, {best['in_process'][1]:.1f} s", "-", None),
        line("reused detection, risk-only sweep (CPU)",
             f"{each_c:.1f} s -> {shared_c:.1f} s ({each_c / shared_c:.2f}x)",
             f">= {TARGET_REUSE}x", each_c / shared_c >= TARGET_REUSE),
    ]
    per_task = alone_c / n
    print(f"detection is {detection_cpu:.2f} s of a {per_task:.2f} s backtest (CPU): sharing it "
          f"can save at most {detection_cpu / per_task:.1%} of a task, a ceiling of "
          f"{per_task / max(per_task - detection_cpu, 1e-9):.2f}x")
    return 0 if all(results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
