"""The research report's figures, as PNG bytes (matplotlib ``Figure`` on the Agg canvas only, never
``pyplot``: headless, and the global plotting state is left alone).

- ``heatmaps_png``: the objective over each pair of searched parameters. A cell is the MEAN
  score of the configurations with those two values (the others averaged over, not maximized,
  so a lucky corner does not paint the map); blank where no configuration had a score.
  Continuous parameters are cut into at most ``MAX_BINS`` equal-width bins. The colours are
  centred on "no edge" (0, or 0.5 for the PSR, a probability) and symmetric around it, so green
  always means better than nothing and a map of losses is red however it ranks.
- ``equity_png``: each dataset's stitched out-of-sample equity against buy and hold of the same
  markets over the same period, with the fold boundaries.
- ``stability_png``: the value each fold chose for each parameter (a fold in cash is marked).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

from analyzers.figures import png_bytes

__all__ = ["MAX_BINS", "MAX_PAIRS", "color_norm", "equity_png", "heatmaps_png", "stability_png"]

MAX_BINS = 8
MAX_PAIRS = 6
DPI = 100


def _png(fig: Figure) -> bytes:
    return png_bytes(fig, DPI)


def _axis_values(values: Sequence[Any]) -> tuple[list[str], list[int]]:
    """Labels of one parameter's axis and the label index of each value."""
    distinct = sorted(set(values), key=lambda v: (str(type(v)), v))
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in distinct)
    if not numeric or len(distinct) <= MAX_BINS:
        return [_label(v) for v in distinct], [distinct.index(v) for v in values]
    lo, hi = float(min(distinct)), float(max(distinct))
    edges = np.linspace(lo, hi, MAX_BINS + 1)
    at = np.clip(np.searchsorted(edges, values, "right") - 1, 0, MAX_BINS - 1)
    labels = [f"{_label(edges[i])}-{_label(edges[i + 1])}" for i in range(MAX_BINS)]
    return labels, [int(i) for i in at]


def _label(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v).lower() if isinstance(v, bool) else str(v)


def color_norm(values: np.ndarray, objective: str) -> Normalize:
    """Colour scale centred on "no edge" (0; 0.5 for the PSR) and symmetric around it."""
    center = 0.5 if objective == "psr" else 0.0
    spread = max(float(np.max(np.abs(values - center))) if len(values) else 0.0, 1e-9)
    return Normalize(vmin=center - spread, vmax=center + spread)


def heatmaps_png(points: list[tuple[dict, float | None]], keys: list[str],
                 objective: str) -> bytes | None:
    """``points``: (params, score) of every configuration scored (every fold's, in a
    walk-forward). None when fewer than two parameters vary."""
    varying = [k for k in keys if len({repr(p[k]) for p, _ in points}) > 1]
    if len(varying) < 2:
        return None
    pairs = list(itertools.combinations(varying, 2))[:MAX_PAIRS]
    cols = min(2, len(pairs))
    rows = math.ceil(len(pairs) / cols)
    fig = Figure(figsize=(6.5 * cols, 4.6 * rows))
    for n, (a, b) in enumerate(pairs):
        ax = fig.add_subplot(rows, cols, n + 1)
        xl, xi = _axis_values([p[a] for p, _ in points])
        yl, yi = _axis_values([p[b] for p, _ in points])
        sums, counts = np.zeros((len(yl), len(xl))), np.zeros((len(yl), len(xl)))
        for (_, s), x, y in zip(points, xi, yi, strict=True):
            if s is not None:
                sums[y, x] += s
                counts[y, x] += 1
        grid = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
        image = ax.imshow(grid, origin="lower", aspect="auto", cmap="RdYlGn",
                          norm=color_norm(grid[np.isfinite(grid)], objective))
        for (y, x), value in np.ndenumerate(grid):
            if np.isfinite(value):
                ax.text(x, y, f"{value:.2f}", ha="center", va="center", fontsize=7)
        ax.set_xticks(range(len(xl)), xl, rotation=45, ha="right", fontsize=7)
        ax.set_yticks(range(len(yl)), yl, fontsize=7)
        ax.set_xlabel(a, fontsize=8)
        ax.set_ylabel(b, fontsize=8)
        fig.colorbar(image, ax=ax, label=f"mean {objective}")
    fig.suptitle(f"Mean {objective} over the other parameters (blank: no configuration "
                 f"qualified)", fontsize=10)
    fig.tight_layout()
    return _png(fig)


def equity_png(curves: list[dict]) -> bytes:
    """``curves``: per dataset ``name``, ``times_ms``, ``values``, ``bh_times_ms``,
    ``bh_values``, ``fold_ends_ms`` and ``title``."""
    fig = Figure(figsize=(12, 3.6 * len(curves)))
    for n, c in enumerate(curves):
        ax = fig.add_subplot(len(curves), 1, n + 1)
        ax.plot(np.asarray(c["times_ms"], dtype="datetime64[ms]"), c["values"],
                label="walk-forward out-of-sample", color="#1f77b4", lw=1.1)
        ax.plot(np.asarray(c["bh_times_ms"], dtype="datetime64[ms]"), c["bh_values"],
                label="buy and hold", color="#7f7f7f", lw=0.9)
        for end in c["fold_ends_ms"][:-1]:
            ax.axvline(np.datetime64(int(end), "ms"), color="#bbbbbb", lw=0.6, ls=":")
        low = min(np.min(c["values"]), np.min(c["bh_values"]))
        if low > 0 and max(np.max(c["values"]), np.max(c["bh_values"])) / low > 10:
            ax.set_yscale("log")
        ax.set_title(c["title"], fontsize=9)
        ax.set_ylabel("equity (USDT)")
        ax.legend(loc="upper left", fontsize=8)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return _png(fig)


def stability_png(folds: list[tuple[int, dict | None]], keys: list[str]) -> bytes | None:
    """``folds``: (fold index, chosen params or None for a fold in cash)."""
    if not folds or not keys:
        return None
    fig = Figure(figsize=(10, 1.9 * len(keys) + 0.8))
    x = [i for i, _ in folds]
    for n, key in enumerate(keys):
        ax = fig.add_subplot(len(keys), 1, n + 1)
        chosen = [(i, p[key]) for i, p in folds if p is not None]
        values = [v for _, v in chosen]
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
        if numeric:
            ax.plot([i for i, _ in chosen], values, marker="o", lw=1)
        else:
            labels = sorted({_label(v) for v in values})
            ax.plot([i for i, _ in chosen], [labels.index(_label(v)) for v in values],
                    marker="o", lw=1)
            ax.set_yticks(range(len(labels)), labels)
        for i, p in folds:
            if p is None:
                ax.axvspan(i - 0.4, i + 0.4, color="#dddddd")
        ax.set_xticks(x)
        ax.set_ylabel(key, fontsize=7)
        ax.grid(alpha=0.3)
    fig.axes[0].set_title("Chosen value per fold (grey: no configuration qualified, in cash)",
                          fontsize=9)
    fig.axes[-1].set_xlabel("fold")
    fig.tight_layout()
    return _png(fig)
