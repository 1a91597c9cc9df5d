"""Matplotlib figures to PNG bytes, without pyplot (so no global state and no GUI backend)."""

from __future__ import annotations

import io

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = ["png_bytes"]


def png_bytes(fig: Figure, dpi: int = 100) -> bytes:
    """``fig`` rendered as a PNG file's bytes."""
    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()
