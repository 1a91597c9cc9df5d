"""Entry guards with an explicit clock: daily loss limit, data gaps, max positions."""

import pytest

from strategies.guards import DAY_MS, DailyLossGuard, DataGapGuard, max_positions_denial

H = 3_600_000
DAY0 = 19_000 * DAY_MS


def test_daily_loss_locks_until_next_utc_day(caplog):
    g = DailyLossGuard(500)
    g.update(DAY0 + H, 10_000)
    g.update(DAY0 + 2 * H, 9_700)
    assert g.check(DAY0 + 2 * H) is None
    with caplog.at_level("WARNING"):
        g.update(DAY0 + 3 * H, 9_499)          # realized + unrealized: -501 on the day
    assert "DAILY LOSS LIMIT REACHED" in caplog.text
    denial = g.check(DAY0 + 3 * H)
    assert denial.rule == "daily_loss" and denial.until_ms == DAY0 + DAY_MS
    g.update(DAY0 + 5 * H, 10_100)              # recovering the same day does not unlock
    assert g.check(DAY0 + 5 * H) is not None
    g.update(DAY0 + DAY_MS + H, 10_100)         # next UTC day: unlocked, new day starts at 10,100
    assert g.check(DAY0 + DAY_MS + H) is None
    assert g.day_pnl == 0


def test_daily_loss_counts_from_previous_day_close():
    g = DailyLossGuard(500)
    g.update(DAY0 + 23 * H, 10_000)
    g.update(DAY0 + DAY_MS + H, 9_400)   # first bar of the new day loses 600
    assert g.check(DAY0 + DAY_MS + H) is not None


def test_bar_closing_at_midnight_belongs_to_the_day_it_traded():
    g = DailyLossGuard(500)
    g.update(DAY0 + 23 * H, 10_000)
    g.update(DAY0 + DAY_MS, 9_400)      # the 23:00-24:00 bar lost 600: day 0's loss
    assert g.check(DAY0 + DAY_MS) is None  # an order placed at 00:00 trades on day 1
    g.update(DAY0 + DAY_MS + H, 9_400)
    assert g.check(DAY0 + DAY_MS + H) is None


def test_gap_blocks_cooldown_bars_then_lifts():
    g = DataGapGuard(H, cooldown_ms=3 * H)
    assert g.on_bar(0, 1.0) is None
    assert g.on_bar(H, 1.0) is None
    assert "2 missing" in g.on_bar(4 * H, 1.0)
    # The bar opened at 4H closes at 5H; entries resume 3 hours after that close.
    for close in (5 * H, 6 * H, 7 * H):
        assert g.check(close) is not None
    assert g.check(8 * H) is None


def test_minute_gap_inside_an_hour_blocks_hourly_entries():
    g = DataGapGuard(60_000, cooldown_ms=3 * H)
    g.on_bar(0, 1.0)
    assert "4 missing" in g.on_bar(5 * 60_000, 1.0)
    assert g.check(H) is not None and g.check(6 * 60_000 + 3 * H) is None


def test_zero_volume_bar_counts_as_gap():
    g = DataGapGuard(H, cooldown_ms=H)
    g.on_bar(0, 1.0)
    assert "zero-volume" in g.on_bar(H, 0.0)
    assert g.check(2 * H) is not None and g.check(3 * H) is None


def test_max_positions():
    assert max_positions_denial(2, 3) is None
    assert max_positions_denial(3, 3).rule == "max_positions"


def test_daily_loss_of_exactly_the_limit_halts_entries(caplog):
    g = DailyLossGuard(500)
    g.update(DAY0 + H, 10_000.00)
    with caplog.at_level("WARNING"):
        g.update(DAY0 + 2 * H, 9_500.00)       # day P&L exactly -500.00
    assert g.day_pnl == -500.0
    assert "DAILY LOSS LIMIT REACHED" in caplog.text
    assert g.check(DAY0 + 2 * H).rule == "daily_loss"


def test_daily_loss_just_short_of_the_limit_does_not_halt(caplog):
    g = DailyLossGuard(500)
    g.update(DAY0 + H, 10_000.00)
    with caplog.at_level("WARNING"):
        g.update(DAY0 + 2 * H, 9_500.01)       # day P&L -499.99
    assert g.day_pnl == pytest.approx(-499.99)
    assert "DAILY LOSS LIMIT" not in caplog.text
    assert g.check(DAY0 + 2 * H) is None
