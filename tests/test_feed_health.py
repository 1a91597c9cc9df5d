"""FeedHealth / HealthBoard: every status rule with an explicit clock."""

from __future__ import annotations

import pytest

from feeds.feed_health import BACKFILLING, DELAYED, DISCONNECTED, LIVE, FeedHealth, HealthBoard

MINUTE = 60_000
T = 1_700_000_000_000


def test_starts_disconnected_then_live_on_connect_and_messages():
    h = FeedHealth(stale_after_s=5, interval_ms=MINUTE)
    assert h.status(T) == DISCONNECTED
    h.on_connect(T)
    assert h.status(T + 1000) == LIVE
    h.on_message(T + 2000)
    assert h.status(T + 6999) == LIVE
    assert h.status(T + 7001) == DELAYED  # 5 s without a message
    h.on_message(T + 8000)
    assert h.status(T + 8000) == LIVE


def test_disconnect_wins_and_reconnect_recovers():
    h = FeedHealth(stale_after_s=5)
    h.on_connect(T)
    h.on_disconnect(T + 10, "ConnectionClosedError 1006")
    assert h.status(T + 20) == DISCONNECTED
    assert h.disconnects == 1 and h.last_disconnect_reason == "ConnectionClosedError 1006"
    h.on_disconnect(T + 30, "again")  # a failed reconnect attempt is not a new disconnect
    assert h.disconnects == 1
    h.on_connect(T + 40)
    assert h.status(T + 40) == LIVE


def test_backfilling_while_rest_runs_even_if_messages_are_stale():
    h = FeedHealth(stale_after_s=1)
    h.on_connect(T)
    h.on_backfill_start(T)
    assert h.status(T + 10_000) == BACKFILLING
    h.on_backfill_end(T + 10_000)
    assert h.status(T + 10_000) == DELAYED
    h.on_message(T + 10_000)
    assert h.status(T + 10_000) == LIVE


def test_bar_lag_rule_two_intervals_plus_grace():
    h = FeedHealth(stale_after_s=30, interval_ms=MINUTE, grace_s=10)
    h.on_connect(T)
    h.on_closed_bar(T - MINUTE, T)  # the bar that just closed at T
    for t in range(T, T + 70_001, 10_000):
        h.on_message(t)
    assert h.status(T + 70_000) == LIVE  # lag 130 s = 2 intervals + grace
    h.on_message(T + 70_001)
    assert h.status(T + 70_001) == DELAYED  # messages flow but no bar closes
    h.on_closed_bar(T, T + 70_001)
    assert h.status(T + 70_001) == LIVE
    h.on_closed_bar(T - 5 * MINUTE, T + 70_001)  # older bars never move the mark back
    assert h.last_closed_open_ms == T


def test_bar_lag_uses_the_exchange_clock_seen_on_messages():
    h = FeedHealth(stale_after_s=30, interval_ms=MINUTE, grace_s=10)
    old = T - 400 * 86_400_000  # a replay of old data: exchange time far behind local time
    h.on_connect(T)
    h.on_message(T, event_ms=old + MINUTE)
    h.on_closed_bar(old, T)
    assert h.status(T + 1000) == LIVE
    assert h.bar_lag_ms(T + 1000) == MINUTE + 1000
    assert h.status(T + 2 * MINUTE) == DELAYED  # exchange time still advances with the local clock


def test_validation():
    with pytest.raises(ValueError):
        FeedHealth(stale_after_s=0)
    with pytest.raises(ValueError):
        FeedHealth(stale_after_s=1, interval_ms=0)


def test_board_aggregates_streams_and_snapshots():
    board = HealthBoard(stale_after_s=5, interval_ms=MINUTE, streams=["BTCUSDT", "ETHUSDT"])
    assert not board.all_live(T)
    board.on_connect(T)
    assert board.all_live(T)
    board.on_message("BTCUSDT", T + 4000, event_ms=T + 4000)
    assert board.all_live(T + 5000)
    assert not board.all_live(T + 5001)  # ETHUSDT silent since the connection
    assert board.status("ETHUSDT", T + 5001) == DELAYED
    board.on_backfill_start("BTCUSDT", T + 5001)
    snap = board.snapshot(T + 5001)
    assert snap["all_live"] is False and snap["as_of_ms"] == T + 5001
    assert snap["streams"]["BTCUSDT"]["status"] == BACKFILLING
    assert snap["streams"]["ETHUSDT"]["status"] == DELAYED
    assert set(snap["streams"]["BTCUSDT"]) >= {"status", "last_message_ms", "bar_lag_s",
                                                "disconnects"}
    board.on_backfill_end("BTCUSDT", T + 5001)
    board.on_message("ETHUSDT", T + 5001)
    board.on_disconnect(T + 6000, "serverShutdown")
    assert board.status("BTCUSDT", T + 6000) == DISCONNECTED
    assert (board.snapshot(T + 6000)["streams"]["ETHUSDT"]["last_disconnect_reason"]
            == "serverShutdown")
    assert board.status("XRPUSDT", T) == DISCONNECTED  # unknown stream
    assert not HealthBoard(stale_after_s=1).all_live(T)  # no stream: not live
