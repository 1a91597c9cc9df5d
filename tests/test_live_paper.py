"""Live paper trading end to end: the runner as a subprocess against a local fake Binance
(real WebSocket and HTTP on 127.0.0.1) and a real SQLite file."""

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from brokers.state.store import StateStore
from core.config import apply_overrides, load_config
from fake_exchange import FakeBinance
from klines import load_klines
from runners.paper_session import LiveGate, PaperSession
from tests.busy_week import BUSY_YAML, ROOT, WEEK_1M

BUSY_CONFIG = BUSY_YAML + "database:\n  url: sqlite:///{db}\n"


def write_config(tmp_path, extra=""):
    path = tmp_path / "config.yaml"
    path.write_text(BUSY_CONFIG.format(db=tmp_path / "paper.db") + extra)
    return path


def db_of(tmp_path):
    """A replay writes to --db (never to the configured paper account unless told so)."""
    return f"sqlite:///{tmp_path / 'paper.db'}"


def live(*args, cwd=ROOT, timeout=240):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "runners.live_paper", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout, env=env)


def spawn_live(*args):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "runners.live_paper", *map(str, args)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=env)


def backtest_report(config_path, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = tmp_path / "backtest.json"
    proc = subprocess.run([sys.executable, "-m", "runners.backtest", "--config", str(config_path),
                           "--data", str(WEEK_1M), "--report-json", str(out), "--quiet"],
                          cwd=ROOT, capture_output=True, text=True, timeout=240, env=env)
    assert proc.returncode == 0, proc.stderr
    return json.loads(out.read_text())


def trade_key(t):
    return (t["symbol"], t["side"], t["entry_time"], t["entry_price"], t["exit_time"],
            t["exit_price"], t["exit_reason"], t["size"])


@pytest.fixture(scope="module")
def replayed(tmp_path_factory):
    """The bundled 1m week replayed through the live path, then its report from the database."""
    tmp_path = tmp_path_factory.mktemp("replay")
    config = write_config(tmp_path)
    proc = live("--config", config, "--replay", WEEK_1M, "--speed", 5000, "--db", db_of(tmp_path),
                "--log-file", tmp_path / "live.log")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report_proc = live("--config", config, "--report-json", tmp_path / "paper.json",
                       "--log-file", tmp_path / "report.log")   # config's database.url: same file
    assert report_proc.returncode == 0, report_proc.stderr
    return proc, json.loads((tmp_path / "paper.json").read_text()), config, tmp_path


def test_replay_prints_banner_and_logs_to_file(replayed):
    proc, _, _, tmp_path = replayed
    assert "✅ Paper Trading Mode - Simulated orders only" in proc.stdout
    assert "replay: all 10000 bars published and delivered" in (tmp_path / "live.log").read_text()


def test_replay_trades_exactly_like_the_backtest(replayed, tmp_path):
    """Parity: the same 1m data through the live path (WebSocket, paper broker, SQLite) and
    through runners.backtest give the same trades: times, prices, sizes, exit reasons."""
    _, paper, config, _ = replayed
    backtest = backtest_report(config, tmp_path)
    closed = [trade_key(t) for t in backtest["trade_list"] if t["exit_reason"] != "end_of_data"]
    assert len(closed) >= 8
    assert [trade_key(t) for t in paper["trade_list"]] == closed
    still_open = [t for t in backtest["trade_list"] if t["exit_reason"] == "end_of_data"]
    assert [(p["symbol"], p["side"], p["opened_at"], p["entry"], p["size"])
            for p in paper["open_positions"]] == \
           [(t["symbol"], t["side"], t["entry_time"], t["entry_price"], t["size"])
            for t in still_open]


def test_paper_report_has_the_backtest_keys(replayed, tmp_path):
    _, paper, config, _ = replayed
    backtest = backtest_report(config, tmp_path)
    assert set(backtest) <= set(paper)
    assert set(backtest["trade_list"][0]) <= set(paper["trade_list"][0])
    assert "open_positions" in paper
    assert paper["trades"] == len(paper["trade_list"])
    assert abs(sum(t["pnl"] for t in paper["trade_list"])) > 0


def test_every_order_and_fill_is_in_the_database(replayed):
    _, paper, config, tmp_path = replayed
    store = StateStore(f"sqlite:///{tmp_path / 'paper.db'}", readonly=True)
    trades = store.trades()
    assert trades and all(len(t.orders) >= 3 for t in trades)
    for t in store.closed_trades():
        roles = {o.role: o for o in t.orders}
        assert roles["entry"].status == "completed"
        assert t.exit_reason in roles and roles[t.exit_reason].status == "completed"
        other = "take_profit" if t.exit_reason == "stop_loss" else "stop_loss"
        assert roles[other].status == "canceled"
        assert len(store.fills(t.id)) == 2
        assert [e.status for e in store.order_events(roles["entry"].id)][-1] == "completed"
    account = store.account()
    open_cost = sum(t.entry_price * t.size + t.entry_fee for t in trades
                    if t.status == "open" and t.side == "long")
    open_short = sum(t.entry_price * t.size - t.entry_fee for t in trades
                     if t.status == "open" and t.side == "short")
    expected = account.initial_balance + sum(t.pnl for t in store.closed_trades()) \
        - open_cost + open_short
    assert account.cash == pytest.approx(expected, abs=1e-6)
    assert [(r.status, r.mode) for r in store.runs()] == [("stopped", "replay")]
    assert store.signals(limit=None)


def test_real_mode_refuses_to_start(tmp_path):
    """The go-live gate refuses (tests/test_readiness_live.py covers each of its refusals)."""
    config = write_config(tmp_path, "app:\n  mode: real\n")
    proc = live("--config", config, "--log-file", tmp_path / "x.log")
    assert proc.returncode == 2
    assert "app.mode is 'real': refusing to start: readiness NOT READY" in proc.stderr
    assert not (tmp_path / "paper.db").exists()


def test_two_engines_cannot_share_one_account(tmp_path):
    config = write_config(tmp_path)
    first = spawn_live("--config", config, "--replay", WEEK_1M, "--speed", 50,
                       "--db", db_of(tmp_path), "--log-file", tmp_path / "one.log")
    try:
        deadline = time.monotonic() + 30
        while not (tmp_path / "paper.db.lock").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1)
        second = live("--config", config, "--replay", WEEK_1M, "--db", db_of(tmp_path),
                      "--log-file", tmp_path / "two.log")
        assert second.returncode == 2
        assert "another engine" in second.stderr and len(second.stderr.strip().splitlines()) == 1
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=30)
    assert first.returncode == 0


@pytest.mark.parametrize("args, expected", [
    (["--speed", "5"], "--speed goes with --replay"),
    (["--resume"], "--resume goes with --replay"),
    (["--run", "1"], "--run 1 goes with --report-json"),
    (["--replay", str(WEEK_1M), "--speed", "nan"], "--speed"),
    (["--replay", str(WEEK_1M), "--speed", "0"], "--speed"),
    (["--replay", str(WEEK_1M), "--history-bars", "10000"], "--history-bars"),
    (["--replay", "nope.csv"], "nope.csv"),
    (["--db", "postgresql://x/y"], "--db: only SQLite is supported"),
    (["--db", "sqlite:////proc/nope/x.db"], "--db: cannot create folder"),
    (["--report-json", "/proc/nonexistent-folder/x.json"], "--report-json"),
])
def test_bad_inputs_exit_2_with_one_line(args, expected, tmp_path):
    config = write_config(tmp_path)
    proc = live("--config", config, *args, "--log-file", tmp_path / "x.log")
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    lines = [line for line in proc.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and expected in lines[0], proc.stderr
    assert "✅" not in proc.stdout


def test_kill_9_then_restart_restores_the_account(tmp_path):
    """Kill the engine with SIGKILL while a position is open; the next start restores it (same
    trade, cash, stop and target), manages it to its exit, and no trade is lost or doubled."""
    config = write_config(tmp_path)
    db_url = f"sqlite:///{tmp_path / 'paper.db'}"
    bars = load_klines(WEEK_1M).bars()
    first = spawn_live("--config", config, "--replay", WEEK_1M, "--speed", 400,
                       "--db", db_url, "--log-file", tmp_path / "run1.log")
    victim = None
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and victim is None:
            time.sleep(0.05)
            if not (tmp_path / "paper.db").exists():
                continue
            try:
                store = StateStore(db_url, readonly=True)
            except Exception:  # the schema may not exist yet on the very first polls
                continue
            try:
                open_now = [t for t in store.open_trades() if t.status == "open"]
                if open_now:
                    os.kill(first.pid, signal.SIGKILL)
                    victim = open_now[0]
            finally:
                store.close()
    finally:
        if first.poll() is None:
            first.kill()
        first.wait(timeout=30)
    assert victim is not None, "no position opened before the deadline"

    store = StateStore(db_url, readonly=True)
    before = {t.id: t for t in store.trades()}
    cash_before = store.account().cash
    assert store.runs()[-1].status == "running"       # it never got to say goodbye
    store.close()
    assert before[victim.id].status == "open"

    # Restart on the same database: the bars up to a while after the kill are history (the
    # downtime), the rest is published live.
    entry_index = int((bars.open_time_ms < victim.entry_time_ms).sum())
    history = min(entry_index + 30, len(bars) - 200)
    second = live("--config", config, "--replay", WEEK_1M, "--speed", 5000, "--resume",
                  "--history-bars", history, "--db", db_url, "--log-file", tmp_path / "run2.log")
    assert second.returncode == 0, second.stdout[-3000:]
    log_text = (tmp_path / "run2.log").read_text()
    assert f"restored open {victim.side}" in log_text

    store = StateStore(db_url, readonly=True)
    after = {t.id: t for t in store.trades()}
    runs = store.runs()
    # Nothing lost: every trade of the first run is still there, unchanged unless it was live.
    for trade_id, old in before.items():
        new = after[trade_id]
        assert (new.symbol, new.side, new.entry_price, new.size, new.stop_loss, new.take_profit) \
            == (old.symbol, old.side, old.entry_price, old.size, old.stop_loss, old.take_profit)
        if old.status in ("closed", "cancelled"):
            assert new == old
    # The restored position was managed to an exit by the second run.
    restored = after[victim.id]
    assert restored.status == "closed"
    assert restored.exit_reason in ("stop_loss", "take_profit", "stop_loss_while_down",
                                    "take_profit_while_down")
    if restored.exit_reason.endswith("_while_down"):
        assert "while the engine was down" in log_text
    # Nothing doubled: one trade per entry time, one fill per order.
    entries = [t.entry_time_ms for t in after.values() if t.entry_time_ms is not None]
    assert len(entries) == len(set(entries))
    for t in after.values():
        assert len(store.fills(t.id)) <= 2
    assert [r.status for r in runs] == ["crashed", "stopped"]
    # Cash is exactly the initial balance plus what the closed trades made, less open positions.
    account = store.account()
    open_long = sum(t.entry_price * t.size + t.entry_fee for t in after.values()
                    if t.status == "open" and t.side == "long")
    open_short = sum(t.entry_price * t.size - t.entry_fee for t in after.values()
                     if t.status == "open" and t.side == "short")
    closed_pnl = sum(t.pnl for t in after.values() if t.status == "closed")
    assert account.cash == pytest.approx(
        account.initial_balance + closed_pnl - open_long + open_short, abs=1e-6)
    assert cash_before == pytest.approx(
        account.initial_balance + sum(t.pnl for t in before.values() if t.status == "closed")
        - sum(t.entry_price * t.size + t.entry_fee for t in before.values()
              if t.status == "open" and t.side == "long")
        + sum(t.entry_price * t.size - t.entry_fee for t in before.values()
              if t.status == "open" and t.side == "short"), abs=1e-6)
    store.close()


def test_sigterm_stops_cleanly_with_state_saved(tmp_path):
    config = write_config(tmp_path)
    proc = spawn_live("--config", config, "--replay", WEEK_1M, "--speed", 200,
                      "--db", db_of(tmp_path), "--log-file", tmp_path / "live.log")
    try:
        time.sleep(6)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out[-2000:]
    store = StateStore(f"sqlite:///{tmp_path / 'paper.db'}", readonly=True)
    assert [r.status for r in store.runs()] == ["stopped"]
    assert "SIGTERM received" in (tmp_path / "live.log").read_text()
    store.close()


def test_stale_feed_holds_entries_and_recovery_resumes_them(tmp_path):
    """The circuit breaker: a stalled stream makes the feed DELAYED and new entries are refused;
    once data flows again entries are allowed."""
    bars = load_klines(WEEK_1M).bars()
    config = apply_overrides(load_config(), {
        "database.url": f"sqlite:///{tmp_path / 'paper.db'}",
        "exchanges.binance.stale_after_seconds": 5})
    with FakeBinance({"BTCUSDT": bars}, interval="1m", history_bars=120) as server:
        session = PaperSession(config, ws_url=server.ws_url, rest_url=server.rest_url,
                               symbols=["BTCUSDT"], exec_interval="1m",
                               manager_options={"wait_s": 0.05})
        runner = threading.Thread(target=session.run, daemon=True)
        runner.start()
        try:
            assert server.wait_connections(1, timeout=20)
            gate = LiveGate(session.manager)
            for _ in range(5):
                server.publish(1)
            deadline = time.monotonic() + 10
            while gate.current_hold() is not None and time.monotonic() < deadline:
                time.sleep(0.1)
            assert gate.current_hold() is None, "feed never became LIVE"
            server.stall(8)           # no frames at all for 8 s (> stale_after_seconds)
            deadline = time.monotonic() + 15
            denial = None
            while denial is None and time.monotonic() < deadline:
                time.sleep(0.2)
                denial = gate.current_hold()
            assert denial is not None and "circuit breaker" in denial
            time.sleep(8)             # the stall ends
            for _ in range(3):
                server.publish(1)
            deadline = time.monotonic() + 15
            while gate.current_hold() is not None and time.monotonic() < deadline:
                time.sleep(0.2)
            assert gate.current_hold() is None, "entries never resumed"
        finally:
            session.stop()
            runner.join(timeout=30)
    assert not runner.is_alive()
