"""A progress bar on stderr that appears only once a run has taken a few seconds.

On a terminal it redraws one line; elsewhere (CI logs, pipes) it prints a line at each quarter,
so logs stay short.
"""

from __future__ import annotations

import sys
import time


class ProgressBar:
    """Callable with the fraction done (0..1); silent for the first ``delay_s`` seconds."""

    def __init__(self, label: str, delay_s: float = 3.0, stream=None, width: int = 30):
        self.label = label
        self.delay_s = delay_s
        self.stream = stream or sys.stderr
        self.width = width
        self._t0 = time.monotonic()
        self._tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self._last_quarter = 0
        self._shown = False

    def __call__(self, fraction: float) -> None:
        fraction = min(max(fraction, 0.0), 1.0)
        elapsed = time.monotonic() - self._t0
        if elapsed < self.delay_s and not self._shown:
            return
        if self._tty:
            filled = int(fraction * self.width)
            bar = "#" * filled + "-" * (self.width - filled)
            end = "\n" if fraction >= 1.0 else ""
            self.stream.write(f"\r{self.label} [{bar}] {fraction:6.1%} {elapsed:6.1f}s{end}")
            self.stream.flush()
        else:
            quarter = int(fraction * 4)
            if quarter > self._last_quarter:
                self._last_quarter = quarter
                self.stream.write(f"{self.label}: {fraction:.0%} after {elapsed:.1f}s\n")
        self._shown = True
