"""Kline files loaded once per (symbol, file), fingerprinted, and cut into windows.

``load_datasets(spec)`` reads each file of the spec once, whole, with ``klines.load_klines`` (so
every validation of the backtest CLI applies), and remembers a SHA-256 of its bytes: a task's id
includes it, so a changed file is never answered from old results. ``window_klines`` then cuts a
``Klines`` to ``[start, end)`` exactly as ``load_klines(path, start=, end=)`` would (same rows,
same gaps), which is what lets a sweep ship each file to the workers once and still give the
results of standalone backtests.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.errors import DataError
from core.timeframes import DAY_MS, timeframe_ms
from klines import Klines, find_gaps, load_klines
from klines.reader import window_bounds
from research.spec import Dataset, ResearchSpec, Window

__all__ = ["LoadedDataset", "dataset_span", "covers", "load_datasets", "window_klines"]


@dataclass(frozen=True, eq=False)
class LoadedDataset:
    """A dataset's files, loaded: ``klines[symbol]`` (whole file), ``sources[symbol]`` the
    ``(symbol, resolved path)`` key it was loaded under, ``fingerprint`` over every file's
    SHA-256."""

    dataset: Dataset
    klines: dict[str, Klines]
    sources: dict[str, tuple[str, str]]
    fingerprint: str

    @property
    def name(self) -> str:
        return self.dataset.name


def load_datasets(spec: ResearchSpec) -> dict[str, LoadedDataset]:
    """name -> LoadedDataset; a file shared by several datasets is read once."""
    cache: dict[tuple[str, str], tuple[Klines, str]] = {}
    out = {}
    for dataset in spec.datasets:
        klines, sources, digest = {}, {}, hashlib.sha256()
        for symbol, path in dataset.files:
            source = (symbol, str(Path(path).resolve()))
            if source not in cache:
                cache[source] = (load_klines(path, symbol=symbol), _file_sha256(Path(path)))
            klines[symbol], file_hash = cache[source]
            sources[symbol] = source
            digest.update(f"{symbol}:{file_hash};".encode())
        out[dataset.name] = LoadedDataset(dataset, klines, sources, digest.hexdigest())
    return out


def window_klines(klines: Klines, start_ms: int | None, end_ms: int | None) -> Klines:
    """The bars of ``klines`` opening in ``[start_ms, end_ms)``, as ``load_klines`` selects them;
    a ``DataError`` naming the file when there are none."""
    if start_ms is None and end_ms is None:
        return klines
    times = _open_ms(klines)
    first, stop = window_bounds(times, start_ms, end_ms, str(klines.path))
    if first == 0 and stop == len(times):
        return klines
    return dataclasses.replace(
        klines, frame=klines.frame.iloc[first:stop],
        gaps=find_gaps(times[first:stop], timeframe_ms(klines.timeframe)))


def covers(loaded: LoadedDataset, window: Window, slack_ms: int = DAY_MS) -> bool:
    """Whether every file of the dataset spans ``window`` (its first bar opens at most
    ``slack_ms`` after the start, its last bar closes at most ``slack_ms`` before the end)."""
    for klines in loaded.klines.values():
        times = _open_ms(klines)
        if window.start_ms is not None and times[0] > window.start_ms + slack_ms:
            return False
        last_close = times[-1] + timeframe_ms(klines.timeframe)
        if window.end_ms is not None and last_close < window.end_ms - slack_ms:
            return False
    return True


def dataset_span(loaded: LoadedDataset) -> tuple[int, int]:
    """(first bar open, last bar close) over the dataset's files, UTC ms."""
    starts, ends = [], []
    for klines in loaded.klines.values():
        times = _open_ms(klines)
        starts.append(int(times[0]))
        ends.append(int(times[-1]) + timeframe_ms(klines.timeframe))
    return min(starts), max(ends)


def _open_ms(klines: Klines) -> np.ndarray:
    return klines.frame.index.as_unit("ms").asi8


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    return digest.hexdigest()
