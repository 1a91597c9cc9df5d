"""A progress line for a study on stderr: tasks done out of the total, failures, and the ETA.

On a terminal it redraws one line; elsewhere (CI logs, pipes) it prints a line at each tenth of
the way, so logs stay short. Tasks answered from the results table count as done at once and
are left out of the ETA, which comes from the pace of the tasks computed in this run.
"""

from __future__ import annotations

import sys
import time

__all__ = ["TaskProgress"]


class TaskProgress:
    """``start(total, cached)`` once, then ``done(failed)`` per computed task."""

    def __init__(self, label: str, stream=None, width: int = 24, enabled: bool = True):
        self.label = label
        self.stream = stream or sys.stderr
        self.width = width
        self.enabled = enabled
        self._tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.total = self.finished = self.failed = self.cached = self.computed = 0
        self._t0: float | None = None
        self._last_tenth = -1

    def add(self, total: int, cached: int, cached_failed: int) -> None:
        """A batch of ``total`` tasks joins, ``cached`` of them (``cached_failed`` failed)
        already in the results table."""
        if self._t0 is None:
            self._t0 = time.monotonic()
        self.total += total
        self.cached += cached
        self.finished += cached
        self.failed += cached_failed
        self._draw()

    def done(self, failed: bool) -> None:
        self.finished += 1
        self.computed += 1
        self.failed += int(failed)
        self._draw()

    def eta_s(self) -> float | None:
        left = self.total - self.finished
        if not self.computed or left <= 0 or self._t0 is None:
            return None if left > 0 else 0.0
        return (time.monotonic() - self._t0) / self.computed * left

    def line(self) -> str:
        fraction = self.finished / self.total if self.total else 1.0
        filled = int(fraction * self.width)
        eta = self.eta_s()
        eta_text = "--" if eta is None else _duration(eta)
        cached = f", {self.cached} from the results table" if self.cached else ""
        return (f"{self.label} [{'#' * filled}{'-' * (self.width - filled)}] "
                f"{self.finished}/{self.total} tasks{cached}, {self.failed} failed, "
                f"ETA {eta_text}")

    def close(self) -> None:
        if self.enabled and self._tty:
            self.stream.write("\n")
            self.stream.flush()

    def _draw(self) -> None:
        if not self.enabled:
            return
        if self._tty:
            self.stream.write("\r" + self.line())
            self.stream.flush()
            return
        tenth = int(10 * self.finished / self.total) if self.total else 10
        if tenth > self._last_tenth:
            self._last_tenth = tenth
            self.stream.write(self.line() + "\n")
            self.stream.flush()


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"
