"""What a new user does with the live runner, end to end through the CLI against the local fake
exchange: replays that do not mix accounts, stopping at once, a report whose metrics are the
backtest's, watching a run in its log, an exchange that is down at start, and the fake
exchange run by itself for the downloader."""

import json
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from analyzers.metrics import average_r_multiple, expectancy, profit_factor, win_rate
from brokers.state.store import StateStore
from core.config import apply_overrides, load_config
from core.records import RunMode
from fake_exchange import FakeBinance
from klines import load_klines
from runners.paper_session import PaperSession
from tests.busy_week import BUSY_YAML, ROOT, WEEK_1M, env

ETH_1H = ROOT / "data" / "ETHUSDT_spot_1h_2023-01-01_2023-12-31.csv.gz"


def cli(module, *args, timeout=300, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", module, *map(str, args)], cwd=cwd, env=env(),
                          capture_output=True, text=True, timeout=timeout)


def spawn(module, *args, cwd=ROOT):
    return subprocess.Popen([sys.executable, "-m", module, *map(str, args)], cwd=cwd, env=env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@pytest.fixture(scope="module")
def busy(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("busy")
    (tmp / "c.yaml").write_text(BUSY_YAML)
    return tmp


@pytest.fixture(scope="module")
def twice(busy):
    """The README's replay, run twice into one database, each with its report."""
    db = f"sqlite:///{busy / 'replay.db'}"
    reports = []
    for n in (1, 2):
        proc = cli("runners.live_paper", "--config", busy / "c.yaml", "--replay", WEEK_1M,
                   "--speed", 5000, "--db", db, "--report-json", busy / f"run{n}.json",
                   "--log-file", busy / f"run{n}.log")
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        reports.append(json.loads((busy / f"run{n}.json").read_text()))
        reports[-1]["_stdout"] = proc.stdout
    return db, reports


@pytest.fixture(scope="module")
def backtest(busy):
    proc = cli("runners.backtest", "--config", busy / "c.yaml", "--data", WEEK_1M,
               "--report-json", busy / "backtest.json", "--quiet")
    assert proc.returncode == 0, proc.stderr
    return json.loads((busy / "backtest.json").read_text())


# ------------------------------------------------------------------ replay accounts (7.1, 7.9)

def test_each_replay_is_a_fresh_account_and_its_report_covers_one_run(twice):
    db, (first, second) = twice
    for report in (first, second):
        assert report["mode"] == "replay" and len(report["runs"]) == 1
        assert report["bars"] == 10_000                      # the week once, not twice
        assert report["equity_curve"][0][1] <= report["initial_equity"] + 1e-9
        assert report["start"] == "2023-03-20T00:00:00+00:00"
    assert first["account_id"] != second["account_id"]
    assert [t["entry_time"] for t in first["trade_list"]] == \
        [t["entry_time"] for t in second["trade_list"]]
    store = StateStore(db, readonly=True)
    assert [a.mode for a in store.accounts()] == ["replay", "replay"]
    store.close()


def test_report_of_an_earlier_run_with_run_n(twice, busy):
    db, (first, _) = twice
    proc = cli("runners.live_paper", "--config", busy / "c.yaml", "--db", db, "--run",
               first["runs"][0]["id"], "--report-json", busy / "again.json",
               "--log-file", busy / "again.log")
    assert proc.returncode == 0, proc.stderr
    again = json.loads((busy / "again.json").read_text())
    assert again["account_id"] == first["account_id"]
    assert again["trade_list"] == first["trade_list"]
    bad = cli("runners.live_paper", "--config", busy / "c.yaml", "--db", db, "--run", 99,
              "--report-json", busy / "x.json", "--log-file", busy / "x.log")
    assert bad.returncode == 2 and "--run 99: no such run" in bad.stderr


def test_resume_continues_the_last_replay_account(busy, tmp_path):
    db = f"sqlite:///{tmp_path / 'r.db'}"
    base = ["--config", busy / "c.yaml", "--replay", WEEK_1M, "--speed", 5000, "--db", db]
    assert cli("runners.live_paper", *base, "--log-file", tmp_path / "1.log").returncode == 0
    proc = cli("runners.live_paper", *base, "--resume", "--history-bars", 9_999,
               "--report-json", tmp_path / "r.json", "--log-file", tmp_path / "2.log")
    assert proc.returncode == 0, proc.stdout[-2000:]
    report = json.loads((tmp_path / "r.json").read_text())
    assert [r["status"] for r in report["runs"]] == ["stopped", "stopped"]
    store = StateStore(db, readonly=True)
    assert len(store.accounts()) == 1
    store.close()


def test_banner_printed_once(twice):
    _, (first, _) = twice
    assert first["_stdout"].count("Paper Trading Mode - Simulated orders only") == 1


def test_replay_takes_symbol_equals_path(busy, tmp_path):
    """A file saved under any name (the README's download example: data/btc_1h.csv.gz)."""
    renamed = tmp_path / "btc_1m.csv"
    shutil.copy(WEEK_1M, renamed)
    proc = cli("runners.live_paper", "--config", busy / "c.yaml", "--replay",
               f"BTCUSDT={renamed}", "--speed", 5000, "--history-bars", 9_000,
               "--db", f"sqlite:///{tmp_path / 'r.db'}", "--report-json", tmp_path / "r.json",
               "--log-file", tmp_path / "r.log")
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert json.loads((tmp_path / "r.json").read_text())["symbols"] == ["BTCUSDT"]
    nameless = cli("runners.live_paper", "--config", busy / "c.yaml", "--replay", renamed,
                   "--log-file", tmp_path / "x.log")
    assert nameless.returncode == 2 and "write it as SYMBOL=" in nameless.stderr


# ----------------------------------------------------------------- one definition of metrics (7.10)

def test_paper_report_metrics_are_the_backtests_on_the_same_trades(twice, backtest):
    """The replayed week and the backtest of the same file: the same trades, so the same
    equity curve, bars, period, returns, Sharpe, drawdown, exposure and buy-and-hold; the trade
    statistics equal the backtest's over the trades both closed (the backtest also values its
    end-of-data position as a trade)."""
    _, (paper, _) = twice
    for key in ("bars", "start", "end", "timeframe", "signal_timeframe", "equity_curve",
                "final_equity", "total_return_pct", "cagr_pct", "sharpe", "sortino",
                "max_drawdown_pct", "exposure_pct", "buy_hold_return_pct",
                "buy_hold_by_symbol_pct"):
        assert paper[key] == backtest[key], key
    closed = [t for t in backtest["trade_list"] if t["exit_reason"] != "end_of_data"]
    assert paper["trade_list"] == closed
    for name, metric in (("win_rate", win_rate), ("profit_factor", profit_factor),
                         ("expectancy", expectancy), ("avg_r_multiple", average_r_multiple)):
        assert paper[name] == pytest.approx(metric(closed), rel=1e-5), name


def test_every_closed_bar_is_recorded(twice):
    db, (first, _) = twice
    store = StateStore(db, readonly=True)
    series = {(sym, interval): n for sym, interval, n in store.bar_series(first["account_id"])}
    store.close()
    assert series == {("BTCUSDT", "1m"): 10_000, ("BTCUSDT", "15m"): 667}


# ------------------------------------------------------------------ stopping (7.2)

@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_stop_within_two_seconds_with_bars_queued(busy, tmp_path, signum):
    """The ETH year of 1h bars at --speed 200: the engine is slower than that (detection on a
    growing history), says so once, and a signal stops it within 2 s, state saved."""
    (tmp_path / "c.yaml").write_text("decision_engine:\n  confidence_threshold: 0.4\n")
    proc = spawn("runners.live_paper", "--config", tmp_path / "c.yaml", "--replay", ETH_1H,
                 "--speed", 200, "--db", f"sqlite:///{tmp_path / 'r.db'}",
                 "--log-file", tmp_path / "r.log")
    try:
        log_file = tmp_path / "r.log"
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and proc.poll() is None and not (
                log_file.exists() and "below --speed" in log_file.read_text()):
            time.sleep(0.2)
        assert "below --speed 200" in log_file.read_text(), "no warning that the engine is slower"
        time.sleep(1.0)
        sent = time.monotonic()
        proc.send_signal(signum)
        proc.wait(timeout=30)
        took = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
    # Ctrl-C exits 130 like every command; SIGTERM (the service manager's stop) exits 0
    assert proc.returncode == (130 if signum == signal.SIGINT else 0)
    assert took < 2.0, f"took {took:.1f} s to stop"
    text = log_file.read_text()
    assert text.count("below --speed") == 1
    assert re.search(r"engine handles about \d+ bars/s", text)
    store = StateStore(f"sqlite:///{tmp_path / 'r.db'}", readonly=True)
    assert [r.status for r in store.runs()] == ["stopped"]
    store.close()


# ------------------------------------------------------------------ watching a run (7.8)

def test_log_shows_heartbeats_and_every_feed_status_change(tmp_path, caplog):
    bars = load_klines(WEEK_1M).bars()
    config = apply_overrides(load_config(), {
        "database.url": f"sqlite:///{tmp_path / 'paper.db'}",
        "exchanges.binance.stale_after_seconds": 5})
    caplog.set_level("INFO", logger="smc")
    with FakeBinance({"BTCUSDT": bars}, interval="1m", history_bars=120) as server:
        session = PaperSession(config, ws_url=server.ws_url, rest_url=server.rest_url,
                               symbols=["BTCUSDT"], exec_interval="1m", heartbeat_log_s=1.0,
                               manager_options={"wait_s": 0.05})
        runner = threading.Thread(target=session.run, daemon=True)
        runner.start()
        try:
            assert server.wait_connections(1, timeout=20)
            for _ in range(5):
                server.publish(1)
            time.sleep(3)
            server.stall(9)                       # no frame for 9 s: DELAYED after 5 s
            time.sleep(9.5)
            for _ in range(3):
                server.publish(1)
            time.sleep(3)
        finally:
            session.stop()
            runner.join(timeout=30)
    lines = [r.getMessage() for r in caplog.records if r.name == "smc.paper"]
    heartbeats = [m for m in lines if m.startswith("heartbeat: ")]
    assert heartbeats and re.search(r"BTCUSDT [\d.]+ LIVE; equity 10000.00 USDT; 0 open",
                                    heartbeats[0])
    assert any(re.fullmatch(r"BTCUSDT feed LIVE -> DELAYED: no message for \d+ s", m)
               for m in lines)
    assert any(re.fullmatch(r"BTCUSDT feed DELAYED -> LIVE after \d+ s", m) for m in lines)


def test_startup_and_empty_backfills_are_not_called_reconnects(twice, busy):
    text = (busy / "run1.log").read_text()
    assert "reconnect backfill" not in text
    assert "0 bar(s) fetched, 0 delivered" not in text


# ----------------------------------------------------------- 24/7: an exchange down at start (7.11)

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_live_mode_waits_for_an_exchange_that_is_down_at_start(tmp_path):
    port = _free_port()
    config = tmp_path / "c.yaml"
    config.write_text(f"exchanges:\n  binance:\n    ws_url: ws://127.0.0.1:{port}\n"
                      f"    rest_url: http://127.0.0.1:{port}\nstrategy:\n  warmup_bars: 50\n"
                      f"database:\n  url: sqlite:///{tmp_path / 'paper.db'}\n")
    proc = spawn("runners.live_paper", "--config", config, "--log-file", tmp_path / "live.log")
    server = None
    try:
        time.sleep(6)
        assert proc.poll() is None, "the engine gave up while the exchange was down"
        failures = (tmp_path / "live.log").read_text().count("until stopped")
        assert failures >= 2, "each failed attempt is logged"
        server = FakeBinance({"BTCUSDT": load_klines(WEEK_1M).bars()}, interval="1m",
                             history_bars=500, port=port).start()
        deadline = time.monotonic() + 60
        while (time.monotonic() < deadline
               and "warm-up with" not in (tmp_path / "live.log").read_text()):
            time.sleep(0.2)
        assert "warm-up with 50 closed 1m bar(s)" in (tmp_path / "live.log").read_text()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        assert proc.returncode == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        if server is not None:
            server.stop()


# ------------------------------------------------------------------ the fake exchange alone (7.9)

def test_fake_exchange_runs_alone_and_the_downloader_reads_it(tmp_path):
    port = _free_port()
    server = spawn("runners.fake_exchange", WEEK_1M, "--port", port)
    try:
        deadline = time.monotonic() + 30
        line = ""
        while time.monotonic() < deadline and "ws_url" not in line:
            line += server.stdout.readline()
        assert f"rest_url: http://127.0.0.1:{port}" in line
        out = tmp_path / "btc.csv"
        proc = cli("runners.download", "--symbol", "BTCUSDT", "--timeframe", "1m", "--from",
                   "2023-03-20", "--to", "2023-03-21", "--out", out, "--rest-url",
                   f"http://127.0.0.1:{port}", "--quiet")
        assert proc.returncode == 0, proc.stderr
        assert len(load_klines(out).frame) == 1440
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    assert server.returncode == 0


def test_short_setups_on_spot_come_with_a_warning(busy, tmp_path):
    proc = cli("runners.backtest", "--config", busy / "c.yaml", "--data", WEEK_1M, "--quiet")
    assert proc.returncode == 0
    assert "a Binance spot account cannot sell what it does not hold" in proc.stderr


def test_replay_mode_values_are_recorded_as_replay(twice):
    db, _ = twice
    store = StateStore(db, readonly=True)
    assert {r.mode for r in store.runs()} == {RunMode.REPLAY}
    store.close()
