"""Health of the live kline streams: LIVE, DELAYED, DISCONNECTED or BACKFILLING.
Pure, clock injected.

Every method takes ``now_ms`` (local epoch ms) from the caller; nothing here reads a clock, so the
rules are tested with explicit times. ``feeds.live_feed`` calls the ``on_*`` methods from its
consumer thread; the strategy and the status page read ``status``/``all_live``/``snapshot`` from
other threads (``HealthBoard`` holds a lock for that).

Status of one stream, first match wins:

==============  =================================================================================
DISCONNECTED    never connected, or ``on_disconnect`` since the last ``on_connect``
BACKFILLING     a REST backfill is running (``on_backfill_start`` .. ``on_backfill_end``)
DELAYED         no message for more than ``stale_after_s``, or the newest closed bar is older than
                expected: ``exchange_now - last_open > 2 intervals + grace`` (a bar opened at t
                closes at t + 1 interval, so a healthy stream's lag stays below 2 intervals)
LIVE            otherwise
==============  =================================================================================

``exchange_now`` is ``now_ms`` corrected by the exchange/local clock difference seen on the last
message (its event time ``E`` minus the local receive time), so a skewed local clock, or a replay of
old data, does not make every bar look late.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from core.records import FeedStatus

__all__ = ["BACKFILLING", "DELAYED", "DISCONNECTED", "FeedHealth", "HealthBoard", "LIVE",
           "STATUSES", "StatusChanges"]

LIVE = FeedStatus.LIVE
DELAYED = FeedStatus.DELAYED
DISCONNECTED = FeedStatus.DISCONNECTED
BACKFILLING = FeedStatus.BACKFILLING
STATUSES = tuple(FeedStatus)


@dataclass
class FeedHealth:
    """Health of one stream (one symbol's kline stream). See the module docstring for the rules.

    ``interval_ms`` None disables the bar-lag rule (only message staleness counts).
    """

    stale_after_s: float
    interval_ms: int | None = None
    grace_s: float = 10.0
    connected: bool = False
    backfilling: int = 0
    last_message_ms: int | None = None
    last_closed_open_ms: int | None = None
    clock_skew_ms: int = 0  # exchange time - local time, from the last message with an event time
    disconnects: int = 0
    last_disconnect_ms: int | None = None
    last_disconnect_reason: str | None = None
    messages: int = 0

    def __post_init__(self) -> None:
        if not self.stale_after_s > 0:
            raise ValueError(f"stale_after_s must be > 0, got {self.stale_after_s}")
        if self.interval_ms is not None and self.interval_ms <= 0:
            raise ValueError(f"interval_ms must be positive, got {self.interval_ms}")

    # ------------------------------------------------------------------ events
    def on_connect(self, now_ms: int) -> None:
        self.connected = True
        self.last_message_ms = now_ms  # staleness counts from the connection

    def on_message(self, now_ms: int, event_ms: int | None = None) -> None:
        self.connected = True
        self.messages += 1
        self.last_message_ms = now_ms
        if event_ms is not None:
            self.clock_skew_ms = int(event_ms) - int(now_ms)

    def on_closed_bar(self, open_ms: int, now_ms: int) -> None:
        if self.last_closed_open_ms is None or open_ms > self.last_closed_open_ms:
            self.last_closed_open_ms = int(open_ms)

    def on_disconnect(self, now_ms: int, reason: str | None = None) -> None:
        if self.connected:
            self.disconnects += 1
        self.connected = False
        self.last_disconnect_ms = now_ms
        self.last_disconnect_reason = reason

    def on_backfill_start(self, now_ms: int) -> None:
        self.backfilling += 1

    def on_backfill_end(self, now_ms: int) -> None:
        self.backfilling = max(0, self.backfilling - 1)

    # ------------------------------------------------------------------ reading
    def message_age_s(self, now_ms: int) -> float | None:
        return None if self.last_message_ms is None else (now_ms - self.last_message_ms) / 1000.0

    def bar_lag_ms(self, now_ms: int) -> int | None:
        """Exchange time since the newest closed bar OPENED (None before the first bar)."""
        if self.last_closed_open_ms is None:
            return None
        return now_ms + self.clock_skew_ms - self.last_closed_open_ms

    def status(self, now_ms: int) -> str:
        if not self.connected:
            return DISCONNECTED
        if self.backfilling:
            return BACKFILLING
        age = self.message_age_s(now_ms)
        if age is not None and age > self.stale_after_s:
            return DELAYED
        lag = self.bar_lag_ms(now_ms)
        if self.interval_ms is not None and lag is not None \
                and lag > 2 * self.interval_ms + self.grace_s * 1000:
            return DELAYED
        return LIVE

    def reason(self, now_ms: int) -> str:
        """Why the stream is not LIVE, in words ("" when it is)."""
        status = self.status(now_ms)
        if status == DISCONNECTED:
            if self.last_disconnect_reason:
                return f"disconnected: {self.last_disconnect_reason}"
            return "not connected yet"
        if status == BACKFILLING:
            return "filling a hole over REST"
        if status == DELAYED:
            age = self.message_age_s(now_ms)
            if age is not None and age > self.stale_after_s:
                return f"no message for {age:.0f} s"
            return f"newest closed bar opened {self.bar_lag_ms(now_ms) / 1000:.0f} s ago"
        return ""

    def snapshot(self, now_ms: int) -> dict:
        return {
            "status": self.status(now_ms),
            "reason": self.reason(now_ms),
            "connected": self.connected,
            "last_message_ms": self.last_message_ms,
            "message_age_s": self.message_age_s(now_ms),
            "last_closed_open_ms": self.last_closed_open_ms,
            "bar_lag_s": (None if self.bar_lag_ms(now_ms) is None
                          else self.bar_lag_ms(now_ms) / 1000.0),
            "messages": self.messages,
            "disconnects": self.disconnects,
            "last_disconnect_ms": self.last_disconnect_ms,
            "last_disconnect_reason": self.last_disconnect_reason,
        }


class HealthBoard:
    """The ``FeedHealth`` of every stream, thread-safe; connection events apply to all streams.

    ``snapshot(now_ms)`` is the dict for the database / status page::

        {"all_live": bool, "as_of_ms": now_ms,
         "streams": {name: {"status", "reason", "connected", "last_message_ms", "message_age_s",
                            "last_closed_open_ms", "bar_lag_s", "messages", "disconnects",
                            "last_disconnect_ms", "last_disconnect_reason"}}}
    """

    def __init__(self, stale_after_s: float, interval_ms: int | None = None, grace_s: float = 10.0,
                 streams=()):
        self.stale_after_s = stale_after_s
        self.interval_ms = interval_ms
        self.grace_s = grace_s
        self._lock = threading.RLock()
        self._streams: dict[str, FeedHealth] = {}
        for name in streams:
            self.add(name)

    def add(self, name: str) -> FeedHealth:
        with self._lock:
            if name not in self._streams:
                self._streams[name] = FeedHealth(self.stale_after_s, self.interval_ms, self.grace_s)
            return self._streams[name]

    def names(self) -> list[str]:
        with self._lock:
            return list(self._streams)

    # events (forwarded under the lock)
    def on_connect(self, now_ms: int) -> None:
        with self._lock:
            for health in self._streams.values():
                health.on_connect(now_ms)

    def on_disconnect(self, now_ms: int, reason: str | None = None) -> None:
        with self._lock:
            for health in self._streams.values():
                health.on_disconnect(now_ms, reason)

    def on_message(self, name: str, now_ms: int, event_ms: int | None = None) -> None:
        with self._lock:
            self.add(name).on_message(now_ms, event_ms)

    def on_closed_bar(self, name: str, open_ms: int, now_ms: int) -> None:
        with self._lock:
            self.add(name).on_closed_bar(open_ms, now_ms)

    def on_backfill_start(self, name: str, now_ms: int) -> None:
        with self._lock:
            self.add(name).on_backfill_start(now_ms)

    def on_backfill_end(self, name: str, now_ms: int) -> None:
        with self._lock:
            self.add(name).on_backfill_end(now_ms)

    # reading
    def status(self, name: str, now_ms: int) -> str:
        with self._lock:
            health = self._streams.get(name)
            return DISCONNECTED if health is None else health.status(now_ms)

    def all_live(self, now_ms: int) -> bool:
        """True when there is at least one stream and every stream is LIVE."""
        with self._lock:
            return bool(self._streams) and all(h.status(now_ms) == LIVE
                                               for h in self._streams.values())

    def snapshot(self, now_ms: int) -> dict:
        with self._lock:
            streams = {name: h.snapshot(now_ms) for name, h in self._streams.items()}
        return {"all_live": bool(streams) and all(s["status"] == LIVE for s in streams.values()),
                "as_of_ms": now_ms, "streams": streams}


class StatusChanges:
    """Turns successive snapshots into log lines, one per status change of a stream.

    ``update(snapshot)`` returns e.g. ``BTCUSDT feed LIVE -> DELAYED: no message for 95 s`` when
    a stream leaves LIVE, and ``BTCUSDT feed DELAYED -> LIVE after 110 s`` when it comes back
    (the time since it left LIVE). The first snapshot only sets the starting point.
    """

    def __init__(self):
        self._last: dict[str, str] = {}
        self._left_live_ms: dict[str, int] = {}

    def update(self, snapshot: dict) -> list[str]:
        now_ms = snapshot["as_of_ms"]
        lines = []
        for name, info in snapshot["streams"].items():
            status, before = info["status"], self._last.get(name)
            self._last[name] = status
            if before is None or status == before:
                continue
            if before == LIVE:
                self._left_live_ms[name] = now_ms
            if status == LIVE:
                since = self._left_live_ms.pop(name, None)
                down = "" if since is None else f" after {(now_ms - since) / 1000:.0f} s"
                lines.append(f"{name} feed {before} -> LIVE{down}")
            else:
                lines.append(f"{name} feed {before} -> {status}: {info.get('reason', '')}")
        return lines
