"""Restart restore, end to end: an engine killed with SIGKILL and started again on the same account
ends with exactly the trades of an uninterrupted run, the broker holds the restored position, a
stop or target crossed while no engine ran fills where the backtest fills it, stale pending
entries are cancelled, the day's earlier losses still count, and time going backwards is refused.

Run 1 is the real CLI (a subprocess, killed with -9 while a position is open); run 2 is a
``PaperSession`` in this process, so the broker itself can be inspected on its first bar.
"""

import json
import os
import signal
import subprocess
import sys
import threading
import time

import backtrader as bt
import pytest

from analyzers.report import report_value
from brokers.restore import PENDING_DROPPED, day_start_equity, restore_account
from brokers.state.store import OrderSpec, StateStore
from core.config import apply_overrides, load_config
from core.records import RunMode
from core.timeframes import DAY_MS
from core.times import ms_to_iso, num_to_ms
from engine.paper_report import paper_report
from klines import load_klines
from runners.paper_session import PaperSession
from runners.replay import Replay
from tests.busy_week import BUSY, BUSY_YAML, ROOT, WEEK_1M, env

MINUTE = 60_000


def busy_config(tmp_path):
    return apply_overrides(load_config(),
                           {**BUSY, "database.url": f"sqlite:///{tmp_path / 'a.db'}"})


@pytest.fixture(scope="module")
def backtest(tmp_path_factory):
    """The uninterrupted reference: the backtest of the week (identical to an uninterrupted
    replay, tests/test_live_paper.py shows)."""
    tmp = tmp_path_factory.mktemp("bt")
    (tmp / "c.yaml").write_text(BUSY_YAML)
    proc = subprocess.run([sys.executable, "-m", "runners.backtest", "--config", tmp / "c.yaml",
                           "--data", WEEK_1M, "--report-json", tmp / "r.json", "--quiet"],
                          cwd=ROOT, env=env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return json.loads((tmp / "r.json").read_text())


def trade_key(t):
    return (t["side"], t["entry_time"], t["entry_price"], t["size"], t["exit_time"],
            t["exit_price"], t["exit_reason"], t["pnl"])


def pick_victim(backtest, bars):
    """A trade held long enough to be killed inside, whose exit bar closes no signal bar (so no
    setup is decided on the history bars of the downtime)."""
    for t in backtest["trade_list"][1:]:
        if t["exit_reason"] not in ("stop_loss", "take_profit"):
            continue
        entry = int(bars.open_time_ms.searchsorted(_ms(t["entry_time"])))
        exit_ = int(bars.open_time_ms.searchsorted(_ms(t["exit_time"])))
        exit_close = int(bars.open_time_ms[exit_]) + MINUTE
        if exit_ - entry >= 60 and exit_close % (15 * MINUTE):
            return t, entry, exit_
    raise AssertionError("no trade fit for the kill test in the bundled week")


def _ms(iso):
    from datetime import datetime

    return int(datetime.fromisoformat(iso).timestamp() * 1000)


class Probe(bt.Analyzer):
    """Records the broker's view at each bar: time, BTCUSDT position, cash, value."""

    def start(self):
        self.rows = []

    def next(self):
        data = self.strategy.getdatabyname("BTCUSDT")
        position = self.strategy.broker.getposition(data)
        self.rows.append((num_to_ms(self.strategy.datetime[0]), position.size, position.price,
                          self.strategy.broker.getcash(), self.strategy.broker.getvalue()))

    def get_analysis(self):
        return self.rows


def kill_when_open(tmp_path, db_url, config_path, entry_time):
    """Run 1: the CLI replays the week; SIGKILL once the victim trade is open."""
    proc = subprocess.Popen([sys.executable, "-m", "runners.live_paper", "--config", config_path,
                             "--replay", WEEK_1M, "--speed", "300", "--db", db_url,
                             "--log-file", tmp_path / "run1.log"], cwd=ROOT, env=env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    entry_ms = _ms(entry_time)
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            time.sleep(0.02)
            if not (tmp_path / "a.db").exists():
                continue
            try:
                store = StateStore(db_url, readonly=True)
            except Exception:  # the schema may not exist yet on the very first polls
                continue
            try:
                if any(t.status == "open" and t.entry_time_ms == entry_ms
                       for t in store.open_trades()):
                    os.kill(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=30)
                    return
            finally:
                store.close()
        raise AssertionError("the victim trade never opened")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)


def test_kill_9_and_restart_ends_with_the_trades_of_an_uninterrupted_run(backtest, tmp_path):
    bars = load_klines(WEEK_1M).bars()
    victim, entry_index, exit_index = pick_victim(backtest, bars)
    db_url = f"sqlite:///{tmp_path / 'a.db'}"
    config_path = tmp_path / "c.yaml"
    config_path.write_text(BUSY_YAML)
    kill_when_open(tmp_path, db_url, config_path, victim["entry_time"])

    store = StateStore(db_url, readonly=True)
    held = [t for t in store.open_trades() if t.status == "open"]
    assert [t.entry_time_ms for t in held] == [_ms(victim["entry_time"])]
    cash_at_kill = store.account().cash
    assert store.runs()[-1].status == "running"           # it never got to say goodbye
    store.close()
    held = held[0]

    # Run 2: the downtime (through the victim's exit bar) is history; the rest is live.
    replay = Replay([str(WEEK_1M)], speed=2000, history_bars=exit_index + 1)
    session = PaperSession(busy_config(tmp_path), ws_url=replay.server.ws_url,
                           rest_url=replay.server.rest_url, symbols=["BTCUSDT"],
                           exec_interval="1m", mode=RunMode.REPLAY, resume=True,
                           analyzers={"probe": Probe})
    publisher = threading.Thread(target=replay.publish_all, args=(session,), daemon=True)
    publisher.start()
    try:
        strategy = session.run()
    finally:
        replay.close()
    publisher.join(timeout=30)

    # The broker held the restored position from the first bar, with the cash of the database,
    # and valued the account as cash plus the position at the bar's close.
    first = strategy.analyzers.probe.get_analysis()[0]
    _, size, price, cash, value = first
    sign = 1 if held.side == "long" else -1
    assert (size, price, cash) == (sign * held.size, held.entry_price, cash_at_kill)
    first_close = float(bars.close[int(bars.open_time_ms.searchsorted(first[0]))])
    assert value == pytest.approx(cash + size * first_close, rel=1e-12)

    store = StateStore(db_url, readonly=True)
    report = paper_report(store, busy_config(tmp_path))
    restored = next(t for t in store.trades() if t.id == held.id)
    runs = [r.status for r in store.runs()]
    store.close()
    # The restored trade exited on the history bar where it was crossed, at the backtest's price.
    assert (ms_to_iso(restored.exit_time_ms), report_value(restored.exit_price),
            restored.exit_reason) == \
        (victim["exit_time"], victim["exit_price"], victim["exit_reason"])
    # Exactly the uninterrupted run's trades: none lost, none doubled, same prices.
    expected = [trade_key(t) for t in backtest["trade_list"] if t["exit_reason"] != "end_of_data"]
    assert [trade_key(t) for t in report["trade_list"]] == expected
    still_open = [(t["side"], t["entry_time"], t["size"]) for t in backtest["trade_list"]
                  if t["exit_reason"] == "end_of_data"]
    assert [(p["side"], p["opened_at"], p["size"]) for p in report["open_positions"]] == still_open
    assert runs == ["crashed", "stopped"]


def _account_with(store, now_ms):
    account = store.ensure_account(10_000.0, now_ms, mode=RunMode.REPLAY)
    run = store.start_run(RunMode.REPLAY, {"paper_trading": {"initial_balance": 10_000.0}},
                          now_ms, account_id=account.id)
    return account, run


def _pending_trade(store, account_id, now_ms, symbol="BTCUSDT"):
    return store.create_trade(
        symbol=symbol, side="long", size=0.01, planned_entry=27_000.0, stop_loss=26_800.0,
        take_profit=27_600.0, confidence=0.8, risk=2.0, signal_id=None,
        valid_until_ms=now_ms + 3 * 900_000, now_ms=now_ms, account_id=account_id,
        orders=[OrderSpec(client_order_id="smc-entry-x", role="entry", side="buy",
                          order_type="limit", price=27_000.0, size=0.01),
                OrderSpec(client_order_id="smc-stoploss-x", role="stop_loss", side="sell",
                          order_type="stop", price=26_800.0, size=0.01),
                OrderSpec(client_order_id="smc-takeprofit-x", role="take_profit", side="sell",
                          order_type="limit", price=27_600.0, size=0.01)])


def test_pending_entries_of_the_crashed_run_are_cancelled(tmp_path):
    store = StateStore(f"sqlite:///{tmp_path / 'a.db'}")
    t0 = 1_679_270_400_000
    account, _ = _account_with(store, t0)
    trade = _pending_trade(store, account.id, t0)
    restored = restore_account(store, account.id, ["BTCUSDT"], t0 + MINUTE)
    assert restored.positions == () and restored.cancelled == (trade.id,)
    after = store.trades()[0]
    assert (after.status, after.exit_reason) == ("cancelled", PENDING_DROPPED)
    assert {o.status for o in after.orders} == {"canceled"}
    store.close()


def test_a_restart_keeps_the_days_earlier_losses(tmp_path):
    """The account was at 10,000 USDT when the UTC day began and lost 600 before the restart:
    with max_daily_loss 500 every setup of that day must be refused after the restart (a fresh
    guard would see a day P&L of 0 and trade)."""
    bars = load_klines(WEEK_1M).bars()
    first_live = int(bars.open_time_ms.searchsorted(1_679_313_600_000))   # 2023-03-20 12:00
    day_start = 1_679_270_400_000                                         # 2023-03-20 00:00
    config = busy_config(tmp_path)
    store = StateStore(config.database.url)
    account, run = _account_with(store, int(bars.open_time_ms[0]))
    store.snapshot_equity(run, day_start - MINUTE, 10_000.0, 10_000.0, 0)
    with store._write.begin() as s:
        from brokers.state.models import Account

        s.get(Account, account.id).cash = 9_400.0
    store.stop_run(run, int(bars.open_time_ms[0]), "stopped")
    assert day_start_equity(store, account.id, int(bars.open_time_ms[first_live])) == \
        (day_start // DAY_MS, 10_000.0)
    store.close()

    last_of_day = int(bars.open_time_ms.searchsorted(day_start + DAY_MS))
    end = Replay([f"BTCUSDT={WEEK_1M}"], speed=3000, history_bars=first_live)
    session = PaperSession(config, ws_url=end.server.ws_url, rest_url=end.server.rest_url,
                           symbols=["BTCUSDT"], exec_interval="1m", mode=RunMode.REPLAY,
                           resume=True)
    publisher = threading.Thread(target=_publish_until, args=(end, session, last_of_day + 60),
                                 daemon=True)
    publisher.start()
    try:
        session.run()
    finally:
        end.close()
    store = StateStore(config.database.url, readonly=True)
    today = [s for s in store.signals(limit=None)
             if day_start <= s.time_ms < day_start + DAY_MS]
    store.close()
    assert today, "no setup on the day after the restart"
    assert all(not s.traded and "daily loss limit reached" in s.decision for s in today)


def _publish_until(replay, session, index):
    while not session.streaming and not session.stopping:
        time.sleep(0.02)
    while replay.server.published_index < index and not session.stopping:
        replay.server.publish(1)
        open_ms = int(replay.server.open_times_ms[replay.server.published_index - 1])
        while session.last_bar_open_ms("BTCUSDT") != open_ms and not session.stopping:
            time.sleep(0.001)
    session.stop()


def test_time_going_backwards_is_refused_and_recorded(backtest, tmp_path):
    """A database holding a position opened after the market data (a replay resumed on an
    earlier stretch of data) is refused in one line, logged, and the run is recorded refused."""
    bars = load_klines(WEEK_1M).bars()
    victim, entry_index, _ = pick_victim(backtest, bars)
    db_url = f"sqlite:///{tmp_path / 'a.db'}"
    config_path = tmp_path / "c.yaml"
    config_path.write_text(BUSY_YAML)
    kill_when_open(tmp_path, db_url, config_path, victim["entry_time"])
    proc = subprocess.run([sys.executable, "-m", "runners.live_paper", "--config", config_path,
                           "--replay", WEEK_1M, "--resume", "--history-bars", "100",
                           "--db", db_url, "--log-file", tmp_path / "run2.log"],
                          cwd=ROOT, env=env(), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "time went backwards" in lines[0], proc.stderr
    assert lines[0].startswith(f"error: --db {db_url}: ")     # the database it means
    assert lines[0].endswith("drop --resume to replay into a fresh account")   # and the fix
    assert "time went backwards" in (tmp_path / "run2.log").read_text()
    store = StateStore(db_url, readonly=True)
    assert [r.status for r in store.runs()] == ["crashed", "refused"]
    store.close()
