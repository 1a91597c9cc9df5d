"""Binance kline intervals ("1m", "15m", "1h", "4h", "1d") and their lengths in milliseconds."""

from __future__ import annotations

MINUTE_MS = 60_000
DAY_MS = 86_400_000

_UNIT_MS = {"m": MINUTE_MS, "h": 60 * MINUTE_MS, "d": 1440 * MINUTE_MS, "w": 7 * 1440 * MINUTE_MS}

# The intervals Binance publishes klines for (months left out: they have no fixed length).
BINANCE_INTERVALS = (
    "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d", "1w",
)


def timeframe_ms(timeframe: str) -> int:
    """Length of one bar of ``timeframe`` in ms; ValueError for anything Binance does not
    publish."""
    if timeframe not in BINANCE_INTERVALS:
        raise ValueError(
            f"unknown timeframe {timeframe!r}; expected one of {', '.join(BINANCE_INTERVALS)}"
        )
    return int(timeframe[:-1]) * _UNIT_MS[timeframe[-1]]


WEEK_GRID_OFFSET_MS = 4 * DAY_MS  # Binance weekly bars open on Monday; 1970-01-01 was a Thursday


def grid_offset_ms(interval_ms: int) -> int:
    """Open times of ``interval_ms`` bars satisfy ``(t - offset) % interval_ms == 0`` (UTC)."""
    return WEEK_GRID_OFFSET_MS if interval_ms == timeframe_ms("1w") else 0


def timeframe_from_ms(length_ms: int) -> str | None:
    """The Binance interval name whose bar lasts ``length_ms``, or None if there is none."""
    for name in BINANCE_INTERVALS:
        if timeframe_ms(name) == length_ms:
            return name
    return None


SIGNAL_FEED_SUFFIX = "@signal"


def signal_feed_name(symbol: str) -> str:
    """The backtrader feed name of ``symbol``'s signal-timeframe bars (``BTCUSDT@signal``); its
    execution bars are the feed named ``symbol`` itself."""
    return symbol + SIGNAL_FEED_SUFFIX
