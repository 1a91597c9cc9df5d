"""The go-live criteria on crafted paper accounts, just above and just below every threshold.

Each account is written through the StateStore like the engine writes it (``paper_builder``):
flat prices, one trade a day, so every figure is known by hand. Thresholds that are continuous
figures (Sharpe, drawdown, win rate, confidence) are moved around the measured value; the
discrete ones (days, trades, P&L, daily loss, uptime) are crossed by changing the record.
"""

import math

import pytest

from brokers.state.store import StateStore
from core.errors import UserInputError
from core.records import ExitReason, Side, TradeRecord
from readiness.confidence import record_confidence
from readiness.criteria import (
    NOT_READY,
    READY,
    Result,
    confidence_rows,
    drift_rows,
    record_rows,
    verdict,
)
from readiness.drift import compare_trades
from readiness.record import load_record
from tests.paper_builder import DAY, HOUR, T0, AccountBuilder, crafted_config, good_record

EPS = 1e-9


def judged(db, config):
    """``(record, {key: Criterion})`` of the account in ``db`` (record and statistics rows)."""
    store = StateStore(f"sqlite:///{db}", readonly=True)
    try:
        record = load_record(store, config)
    finally:
        store.close()
    rows = record_rows(record, config.go_live, config.risk_manager.max_daily_loss)
    confidence = None
    if record.problem is None:
        confidence = record_confidence(record.daily_returns,
                                       [t.pnl for t in record.history.trades],
                                       sharpe_threshold=config.go_live.min_sharpe,
                                       confidence=config.go_live.min_confidence)
    rows += confidence_rows(confidence, config.go_live)
    return record, {r.key: r for r in rows}


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    """40 days, 40 trades, 60 % winners: passes every record criterion at the defaults."""
    db = tmp_path_factory.mktemp("good") / "paper.db"
    good_record(db, crafted_config(db)).close()
    return db


@pytest.fixture(scope="module")
def modest(tmp_path_factory):
    """40 days alternating a win and a loss: P(true Sharpe > 0) below 1."""
    db = tmp_path_factory.mktemp("modest") / "paper.db"
    good_record(db, crafted_config(db), pattern=(1, 0)).close()
    return db


def test_the_good_record_passes_every_record_criterion(good):
    record, rows = judged(good, crafted_config(good))
    gating = {k: r.result for k, r in rows.items() if r.gating}
    assert set(gating.values()) == {Result.PASS}, gating
    assert len(gating) == 11
    assert record.days == 40.0 and rows["closed_trades"].value == 40
    assert rows["win_rate"].value == 0.6
    win, loss = 10 * 3 - (1.0 + 1.03), -10 * 1 - (1.0 + 0.99)
    assert record.pnl == pytest.approx(24 * win + 16 * loss)
    assert rows["total_pnl"].value == pytest.approx(24 * win + 16 * loss)


@pytest.mark.parametrize("key, setting, direction, strict", [
    ("sharpe", "min_sharpe", "above", True),
    ("max_drawdown", "max_drawdown_percent", "below", True),
    ("win_rate", "min_win_rate", "above", True),
    ("closed_trades", "min_trades", "at_least", False),
    ("paper_days", "min_paper_days", "at_least", False),
])
def test_record_thresholds_just_above_and_just_below(good, key, setting, direction, strict):
    """The measured value against a threshold just on each side of it (and at it)."""
    _, rows = judged(good, crafted_config(good))
    value = rows[key].value
    integral = isinstance(value, int) or key == "paper_days"
    step = 1 if integral else EPS * max(1.0, abs(value))
    cast = int if integral else float
    below, at, above = cast(value - step), cast(value), cast(value + step)
    passes = {"above": (below,), "below": (above,), "at_least": (below, at)}[direction]
    fails = {"above": (above, at), "below": (below, at), "at_least": (above,)}[direction]
    for threshold in passes:
        _, rows = judged(good, crafted_config(good, **{setting: threshold}))
        assert rows[key].result == Result.PASS, (threshold, rows[key])
    for threshold in fails:
        _, rows = judged(good, crafted_config(good, **{setting: threshold}))
        assert rows[key].result == Result.FAIL, (threshold, rows[key])
        assert rows[key].reason.startswith(rows[key].name)
    assert strict == (at in fails)


def test_confidence_threshold_just_above_and_just_below(modest):
    _, rows = judged(modest, crafted_config(modest))
    psr0 = rows["psr_vs_0"].value
    assert 0.9 < psr0 < 1
    for threshold, expected in ((psr0 - EPS, Result.PASS), (psr0, Result.PASS),
                                (psr0 + EPS, Result.FAIL)):
        _, rows = judged(modest, crafted_config(modest, min_confidence=threshold))
        assert rows["psr_vs_0"].result == expected
    # the evidence rows are shown, never gating
    assert all(rows[k].result == Result.INFO for k in (
        "psr_vs_threshold", "min_track_record", "sharpe_interval", "win_rate_interval",
        "binomial_vs_50", "binomial_vs_break_even"))


def test_confidence_rows_say_what_the_figures_mean(modest):
    _, rows = judged(modest, crafted_config(modest))
    assert "40 daily returns" in rows["psr_vs_0"].meaning
    assert rows["min_track_record"].value < 40
    assert "the record is long enough" in rows["min_track_record"].meaning
    _, rows = judged(modest, crafted_config(modest, min_sharpe=6.0))
    trl = rows["min_track_record"]
    assert trl.value > 40 and f"{math.ceil(trl.value - 40):,} more day(s)" in trl.meaning
    _, rows = judged(modest, crafted_config(modest, min_sharpe=9.0))     # above the measured
    assert rows["min_track_record"].shown == "never"
    assert "at least 20 of 40" in rows["binomial_vs_50"].meaning
    assert rows["binomial_vs_50"].value == pytest.approx(0.5626, abs=1e-4)   # P(X >= 20 | 40)


def test_thirty_days_pass_and_a_bar_less_fails(tmp_path):
    for hours, expected in ((30 * 24, Result.PASS), (30 * 24 - 1, Result.FAIL)):
        db = tmp_path / f"{hours}.db"
        config = crafted_config(db)
        b = AccountBuilder(db, config)
        b.run(T0, T0 + 30 * DAY)
        b.bars(hours)
        b.close()
        _, rows = judged(db, config)
        assert rows["paper_days"].result == expected, rows["paper_days"]


def test_thirty_trades_pass_and_twenty_nine_fail(tmp_path):
    for trades, expected in ((30, Result.PASS), (29, Result.FAIL)):
        db = tmp_path / f"{trades}.db"
        config = crafted_config(db)
        b = AccountBuilder(db, config)
        b.run(T0, T0 + 31 * DAY)
        b.bars(31 * 24)
        for day in range(trades):
            b.trade(T0 + day * DAY + HOUR, T0 + day * DAY + 2 * HOUR, 100.0, 103.0)
        b.close()
        _, rows = judged(db, config)
        assert rows["closed_trades"].result == expected


@pytest.mark.parametrize("exit_price, expected", [(100.001, Result.PASS), (100.0, Result.FAIL),
                                                  (99.999, Result.FAIL)])
def test_total_pnl_must_be_above_zero(tmp_path, exit_price, expected):
    """10 units at 100 without fees: +0.01, exactly 0 and -0.01 USDT."""
    db = tmp_path / "p.db"
    config = crafted_config(db)
    b = AccountBuilder(db, config)
    b.run(T0, T0 + 2 * DAY)
    b.bars(48)
    pnl = b.trade(T0 + HOUR, T0 + 2 * HOUR, 100.0, exit_price, fee_rate=0.0)
    assert (pnl > 0) == (expected == Result.PASS) and (pnl == 0) == (exit_price == 100.0)
    b.close()
    record, rows = judged(db, config)
    assert record.pnl == pytest.approx(pnl, abs=1e-9)
    assert rows["total_pnl"].result == expected


@pytest.mark.parametrize("exit_price, breached", [(50.0, True), (50.001, False)])
def test_a_day_losing_500_breaches_the_daily_loss_limit_and_499_99_does_not(
        tmp_path, exit_price, breached):
    """Without fees, 10 units from 100 to 50 lose exactly 500.00 USDT (= max_daily_loss)."""
    db = tmp_path / "d.db"
    config = crafted_config(db)
    b = AccountBuilder(db, config)
    b.run(T0, T0 + 3 * DAY)
    b.bars(72)
    b.trade(T0 + DAY + HOUR, T0 + DAY + 2 * HOUR, 100.0, exit_price, fee_rate=0.0,
            reason="stop_loss")
    b.close()
    record, rows = judged(db, config)
    row = rows["daily_loss_limit"]
    assert row.result == (Result.FAIL if breached else Result.PASS)
    if breached:
        assert record.loss_days == {"2023-11-15": pytest.approx(-500.0)}
        assert "2023-11-15" in row.shown


def test_an_engine_refusal_for_the_daily_loss_limit_fails_it_too(tmp_path):
    db = tmp_path / "r.db"
    config = crafted_config(db)
    b = AccountBuilder(db, config)
    run = b.run(T0, T0 + 3 * DAY)
    b.bars(72)
    b.store.record_signal(run, T0 + DAY + 5 * HOUR, "BTCUSDT", "long", 0.8, 100, 95, 115, [],
                          False, "daily loss limit reached (day P&L -512.00 USDT)")
    b.close()
    record, rows = judged(db, config)
    assert record.loss_days == {"2023-11-15": None}
    assert rows["daily_loss_limit"].result == Result.FAIL


@pytest.mark.parametrize("down_ms, expected", [(5 * HOUR, Result.FAIL),
                                               (5 * HOUR - 60_000, Result.PASS)])
def test_engine_uptime_just_above_and_just_below_95_percent(tmp_path, down_ms, expected):
    """Two runs over 100 hours with a gap between them: 5 h down is exactly 95 % (not above)."""
    db = tmp_path / "u.db"
    config = crafted_config(db)
    b = AccountBuilder(db, config)
    b.run(T0, T0 + 50 * HOUR, status="crashed")
    b.run(T0 + 50 * HOUR + down_ms, T0 + 100 * HOUR)
    b.bars(100)
    b.close()
    record, rows = judged(db, config)
    assert record.engine.total_ms == 100 * HOUR
    assert record.engine.up_ms == 100 * HOUR - down_ms
    assert rows["engine_uptime"].result == expected
    assert rows["feed_uptime"].value == 1.0


def test_refused_runs_are_not_engine_time_and_a_live_run_counts_to_its_heartbeat(tmp_path):
    db = tmp_path / "u.db"
    config = crafted_config(db)
    b = AccountBuilder(db, config)
    b.run(T0, T0 + 10 * HOUR)
    b.run(T0 + 11 * HOUR, T0 + 11 * HOUR + 5, status="refused")
    b.run(T0 + 12 * HOUR, T0 + 20 * HOUR, status="running")
    b.bars(20)
    b.close()
    record, _ = judged(db, config)
    assert (record.engine.up_ms, record.engine.total_ms) == (18 * HOUR, 20 * HOUR)


@pytest.mark.parametrize("delayed_ms, expected", [(5 * HOUR, Result.FAIL),
                                                  (5 * HOUR - 60_000, Result.PASS)])
def test_feed_uptime_just_above_and_just_below_95_percent(tmp_path, delayed_ms, expected):
    """One 100-hour run whose feed was DELAYED for a while (and not yet LIVE for its first
    minute): the feed uptime is the LIVE share of the running time."""
    db = tmp_path / "f.db"
    config = crafted_config(db)
    b = AccountBuilder(db, config)
    down = delayed_ms - 60_000
    b.run(T0, T0 + 100 * HOUR, feeds=[(T0 + 60_000, "LIVE"), (T0 + 40 * HOUR, "DELAYED"),
                                      (T0 + 40 * HOUR + down, "LIVE")])
    b.bars(100)
    b.close()
    record, rows = judged(db, config)
    assert record.feeds.up_ms == 100 * HOUR - delayed_ms
    assert rows["feed_uptime"].result == expected
    assert rows["engine_uptime"].result == Result.PASS


def test_a_run_without_feed_record_counts_as_feed_down(tmp_path):
    db = tmp_path / "f.db"
    config = crafted_config(db)
    b = AccountBuilder(db, config)
    b.run(T0, T0 + 10 * HOUR)
    b.run(T0 + 10 * HOUR, T0 + 20 * HOUR, feeds=[])
    b.bars(20)
    b.close()
    record, _ = judged(db, config)
    assert record.feeds.share == 0.5


def _trade(entry_ms, entry, exit_, side=Side.LONG, size=1.0, symbol="BTCUSDT"):
    return TradeRecord(symbol=symbol, side=side, signal_ms=None, entry_ms=entry_ms,
                       exit_ms=entry_ms + HOUR, entry_price=entry, exit_price=exit_, size=size,
                       stop_loss=0.0, take_profit=0.0, entry_fee=0.0, exit_fee=0.0,
                       exit_reason=ExitReason.TAKE_PROFIT, confidence=0.8, risk=1.0)


def test_compare_trades_by_hand():
    """Matched by symbol and entry bar; slippage positive when paper filled worse."""
    paper = [_trade(T0, 100.1, 109.0), _trade(T0 + DAY, 199.8, 190.0, side=Side.SHORT),
             _trade(T0 + 2 * DAY, 50.0, 55.0)]                       # the backtest missed it
    backtest = [_trade(T0, 100.0, 110.0), _trade(T0 + DAY, 200.0, 189.0, side=Side.SHORT),
                _trade(T0 + 3 * DAY, 10.0, 11.0)]                    # paper missed this one
    d = compare_trades(paper, backtest)
    assert (d.matched, d.paper_trades, d.backtest_trades) == (2, 3, 3)
    assert d.match_rate == pytest.approx(2 / 4)
    # the long paid 0.1 more, the short sold 0.2 lower: both 10 bps worse
    assert d.entry_slippage_bps == pytest.approx((10.0 + 10.0) / 2)
    # long sold 1 lower (of 110), short bought back 1 higher (of 189)
    assert d.exit_slippage_bps == pytest.approx((1 / 110 * 1e4 + 1 / 189 * 1e4) / 2)
    diffs = [(109 - 100.1) - (110 - 100), (199.8 - 190) - (200 - 189)]
    rms = math.sqrt((diffs[0] ** 2 + diffs[1] ** 2) / 2)
    assert d.rms_pnl_difference == pytest.approx(rms)
    assert d.tracking_error_pct == pytest.approx(100 * rms / ((10 + 11) / 2))


@pytest.mark.parametrize("entry, expected", [(1000.999, Result.PASS), (1001.0, Result.PASS),
                                           (1001.001, Result.FAIL)])
def test_drift_slippage_just_below_at_and_just_above_the_limit(entry, expected):
    """Paid 1.0 more than the backtest's 1000: exactly the 10 bps limit."""
    d = compare_trades([_trade(T0, entry, 1100.0)], [_trade(T0, 1000.0, 1100.0)])
    rows = {r.key: r for r in drift_rows(d, crafted_config("x.db").go_live)}
    assert rows["drift_entry_slippage"].result == expected          # 10 bps is the limit
    assert rows["drift_exit_slippage"].result == Result.PASS


@pytest.mark.parametrize("missed, expected", [(1, Result.PASS), (2, Result.FAIL)])
def test_drift_match_rate_at_and_below_90_percent(missed, expected):
    """10 backtest trades, the paper record has 10 - missed of them: 9 of 10 is 90 %."""
    backtest = [_trade(T0 + i * DAY, 100.0, 101.0) for i in range(10)]
    d = compare_trades(backtest[missed:], backtest)
    rows = {r.key: r for r in drift_rows(d, crafted_config("x.db").go_live)}
    assert rows["drift_match_rate"].value == pytest.approx((10 - missed) / 10)
    assert rows["drift_match_rate"].result == expected


@pytest.mark.parametrize("exit_, expected", [(106.0, Result.PASS), (106.001, Result.FAIL)])
def test_drift_tracking_error_at_and_above_20_percent(exit_, expected):
    """Backtest P&L +5.0; paper +6.0: the RMS difference is 20 % of it."""
    d = compare_trades([_trade(T0, 100.0, exit_)], [_trade(T0, 100.0, 105.0)])
    rows = {r.key: r for r in drift_rows(d, crafted_config("x.db").go_live)}
    assert rows["drift_tracking_error"].result == expected


def test_verdict_ready_only_when_every_gating_row_passes(good):
    config = crafted_config(good)
    record, rows = judged(good, config)
    perfect = compare_trades(record.history.trades, record.history.trades)
    all_rows = list(rows.values()) + drift_rows(perfect, config.go_live)
    assert verdict(all_rows, record) == (READY, [])
    broken = drift_rows(compare_trades(record.history.trades, []), config.go_live)
    outcome, reasons = verdict(list(rows.values()) + broken, record)
    assert outcome == NOT_READY
    assert reasons[0] == "Drift: match rate: 0.0 % (needs >= 90.0 %)"
    strict = crafted_config(good, min_win_rate=0.6)
    record, rows = judged(good, strict)
    outcome, reasons = verdict(list(rows.values()) + drift_rows(perfect, strict.go_live), record)
    assert (outcome, reasons) == (NOT_READY, ["Win rate: 60.0 % (needs > 60.0 %)"])


def test_replay_accounts_never_count(tmp_path):
    db = tmp_path / "replay.db"
    config = crafted_config(db)
    b = AccountBuilder(db, config, mode="replay")
    b.run(T0, T0 + 40 * DAY)
    b.bars(40 * 24)
    b.close()
    record, rows = judged(db, config)
    assert record.problem == ("no paper record: the database holds replay runs only, and "
                              "replays never count")
    assert verdict(list(rows.values()), record) == (NOT_READY, [record.problem])
    # asked for by id, the replay is reported, and still not a paper record
    store = StateStore(f"sqlite:///{db}", readonly=True)
    replay = load_record(store, config, account_id=1)
    with pytest.raises(UserInputError, match="--account 7: no such account"):
        load_record(store, config, account_id=7)
    store.close()
    rows = {r.key: r for r in record_rows(replay, config.go_live, 500)}
    assert replay.source == "replay" and replay.days == 40.0
    assert rows["paper_record"].result == Result.FAIL
    assert "never READY" in rows["paper_record"].meaning


def test_paper_account_beside_replays_is_the_one_judged(tmp_path):
    db = tmp_path / "both.db"
    config = crafted_config(db)
    b = AccountBuilder(db, config, mode="replay")
    b.run(T0, T0 + DAY)
    b.bars(24)
    b.close()
    good_record(db, config, days=35).close()
    b = AccountBuilder(db, config, mode="replay")    # a later replay does not hide it
    b.run(T0 + 50 * DAY, T0 + 51 * DAY)
    b.close()
    record, rows = judged(db, config)
    assert record.source == "paper" and record.account.id == 2 and record.days == 35.0
    assert [r.mode for r in record.runs] == ["paper"]


def test_an_empty_database_has_no_paper_record(tmp_path):
    db = tmp_path / "empty.db"
    StateStore(f"sqlite:///{db}").close()
    record, _ = judged(db, crafted_config(db))
    assert record.problem == "no paper record: no paper trading run in the database yet"
