"""Running tasks: answered from the results table first, the rest computed in this process or on
Dask, each row stored as it arrives.

``Runner.run(tasks, datasets)`` returns ``{task_id: row}`` for every task. Backends:

- ``InProcessBackend``: one task after the other in this process (debugging, tests, and the
  benchmark's baseline);
- ``DaskBackend``: an embedded ``distributed.LocalCluster`` by default (worker processes, one
  per core, one thread each, bound to 127.0.0.1, no dashboard), or the existing cluster at
  ``scheduler`` (``tcp://HOST:8786``) unchanged. Each kline file is loaded once by this process
  and scattered to the workers once (``broadcast``); each SMC detection is one task whose result
  the backtests that share it receive, and is released when the last of them is done.

Both call the same ``research.tasks`` functions, so they give the same rows. A task that fails
inside ``run_task`` comes back as a ``failed`` row and is stored; one lost to the cluster (a
worker died, the scheduler went away) comes back as a ``failed`` row marked ``lost`` and is not
stored, so the next run retries it.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections import Counter
from collections.abc import Iterator

from core.errors import UserInputError
from research.data import LoadedDataset
from research.progress import TaskProgress
from research.store import ResultStore
from research.tasks import Task, detect_task, run_task

__all__ = ["DaskBackend", "InProcessBackend", "Runner", "make_backend"]

log = logging.getLogger("smc.research")

_CONNECT_TIMEOUT_S = 10
_WORKER_WAIT_S = 30


class Runner:
    """Tasks in, rows out, through the results table and a backend."""

    def __init__(self, store: ResultStore, backend, progress: TaskProgress | None = None):
        self.store = store
        self.backend = backend
        self.progress = progress or TaskProgress("research", enabled=False)
        self.computed = 0
        self.lost = 0

    def run(self, tasks: list[Task], datasets: dict[str, LoadedDataset],
            counted: bool = False) -> dict[str, dict]:
        """Rows of ``tasks`` (duplicates run once). ``counted``: the tasks are already in the
        progress total (``expect``)."""
        unique = {t.task_id: t for t in tasks}
        rows = self.store.get(unique)
        failed = sum(r["status"] != "ok" for r in rows.values())
        self.progress.add(0 if counted else len(unique), len(rows), failed)
        todo = [t for t in unique.values() if t.task_id not in rows]
        for row in self.backend.execute(todo, datasets):
            if row.pop("lost", False):
                self.lost += 1
            else:
                self.store.put(row)
            self.computed += 1
            self.progress.done(row["status"] != "ok")
            rows[row["task_id"]] = row
        return rows

    def expect(self, n: int) -> None:
        """``n`` more tasks will come (so the total and the ETA are right from the start)."""
        self.progress.add(n, 0, 0)


def make_backend(scheduler: str | None, workers: int | None, in_process: bool,
                 reuse_detection: bool = True):
    if in_process:
        return InProcessBackend(reuse_detection=reuse_detection)
    return DaskBackend(scheduler=scheduler, workers=workers, reuse_detection=reuse_detection)


def _failed_row(task: Task, error: str) -> dict:
    return {"task_id": task.task_id, "dataset": task.dataset, "start_ms": task.start_ms,
            "end_ms": task.end_ms, "params": list(map(list, task.params)),
            "extra": list(map(list, task.extra)), "status": "failed", "error": error,
            "runtime_s": 0.0}


class InProcessBackend:
    """Tasks run one by one in this process."""

    description = "in this process"

    def __init__(self, reuse_detection: bool = True):
        self.reuse_detection = reuse_detection

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None

    def execute(self, tasks: list[Task], datasets: dict[str, LoadedDataset]) -> Iterator[dict]:
        left = Counter(t.detection_key for t in tasks if t.detection_key is not None)
        cache: dict = {}
        for task in tasks:
            klines = datasets[task.dataset].klines
            detection = None
            key = task.detection_key
            if self.reuse_detection and key is not None:
                if key not in cache:
                    cache[key] = detect_task(task.config, klines, task.start_ms, task.end_ms)
                detection = cache[key]
                left[key] -= 1
                if not left[key]:
                    del cache[key]
            yield run_task(task, klines, detection)


class DaskBackend:
    """Tasks run on a Dask cluster: embedded (``LocalCluster``) or at ``scheduler``."""

    def __init__(self, scheduler: str | None = None, workers: int | None = None,
                 reuse_detection: bool = True):
        self.scheduler = scheduler
        self.workers = workers
        self.reuse_detection = reuse_detection
        self.client = None
        self.cluster = None
        self._data: dict[tuple[str, str], object] = {}

    @property
    def description(self) -> str:
        n = len(self.client.scheduler_info(n_workers=-1)["workers"]) if self.client else 0
        where = self.scheduler or "an embedded LocalCluster"
        return f"on {where} ({n} worker{'s' if n != 1 else ''})"

    def __enter__(self):
        from distributed import Client, LocalCluster

        # Importing distributed sets its loggers to INFO; its chatter is not the user's business.
        logging.getLogger("distributed").setLevel(logging.ERROR)
        if self.scheduler is None:
            n = self.workers or os.cpu_count() or 1
            # No dashboard; the scheduler's small HTTP endpoint (health, metrics) on a free
            # port of 127.0.0.1, never 0.0.0.0 and never a fixed port another program may hold.
            self.cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                        host="127.0.0.1", dashboard_address=None,
                                        scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                                        silence_logs=logging.ERROR)
            self.client = Client(self.cluster)
        else:
            self.client = _connect(self.scheduler)
        try:
            self.client.wait_for_workers(1, timeout=_WORKER_WAIT_S)
        except TimeoutError:
            self.close()
            raise UserInputError(f"--scheduler {self.scheduler}: the cluster has no worker "
                                 f"(none joined within {_WORKER_WAIT_S} s)") from None
        problems = {addr: p for addr, p in self.client.run(_import_problem).items() if p}
        if problems:
            addr, problem = next(iter(problems.items()))
            self.close()
            raise UserInputError(f"--scheduler {self.scheduler}: worker {addr} cannot run the "
                                 f"backtests ({problem}); install this project on every worker")
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self) -> None:
        self._data.clear()
        if self.client is not None:
            self.client.close()
            self.client = None
        if self.cluster is not None:
            self.cluster.close()
            self.cluster = None

    def _klines(self, loaded: LoadedDataset) -> dict:
        """symbol -> future of the file's Klines, scattered once per (symbol, file)."""
        out = {}
        for symbol, klines in loaded.klines.items():
            source = loaded.sources[symbol]
            if source not in self._data:
                self._data[source] = self.client.scatter(klines, broadcast=True, hash=False)
            out[symbol] = self._data[source]
        return out

    def execute(self, tasks: list[Task], datasets: dict[str, LoadedDataset]) -> Iterator[dict]:
        from distributed import as_completed

        detections: dict = {}
        left = Counter(t.detection_key for t in tasks if t.detection_key is not None)
        futures = {}
        for task in tasks:
            if task.config is None:  # refused before running: nothing to ship
                yield _failed_row(task, task.error)
                continue
            klines = self._klines(datasets[task.dataset])
            detection = None
            key = task.detection_key
            if self.reuse_detection and key is not None:
                if key not in detections:
                    detections[key] = self.client.submit(
                        detect_task, task.config, klines, task.start_ms, task.end_ms,
                        key=f"detect-{_digest(key)}", pure=False)
                detection = detections[key]
            future = self.client.submit(run_task, task, klines, detection,
                                        key=f"backtest-{task.task_id}", pure=False)
            futures[future.key] = (future, task)
        for future in as_completed([f for f, _ in futures.values()]):
            _, task = futures.pop(future.key)
            try:
                row = future.result()
            except Exception as exc:  # the cluster lost it: reported, retried next run
                row = {**_failed_row(task, f"lost on the cluster: {type(exc).__name__}: {exc}"),
                       "lost": True}
            key = task.detection_key
            if key in detections:
                left[key] -= 1
                if not left[key]:
                    del detections[key]  # its result is released from the cluster
            del future
            yield row


def _connect(address: str):
    from distributed import Client

    if "://" not in address:
        raise UserInputError(f"--scheduler {address}: expected an address like "
                             f"tcp://HOST:8786")
    try:
        return Client(address, timeout=_CONNECT_TIMEOUT_S)
    except (OSError, TimeoutError) as exc:
        raise UserInputError(f"--scheduler {address}: no Dask scheduler answered within "
                             f"{_CONNECT_TIMEOUT_S} s ({type(exc).__name__}); is the address "
                             f"right and the scheduler running?") from None
    except ValueError as exc:
        raise UserInputError(f"--scheduler {address}: {exc}") from None


def _import_problem() -> str | None:
    """Run on each worker: can it import the engine?"""
    try:
        import engine.backtest  # noqa: F401
        import research.tasks  # noqa: F401
    except Exception as exc:  # reported to the user in one line
        return f"{type(exc).__name__}: {exc}"
    return None


def _digest(key: tuple) -> str:
    return hashlib.sha256(repr(key).encode()).hexdigest()[:24]
