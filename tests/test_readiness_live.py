"""The readiness report and the real-mode gate on a paper record made by the live path.

The paper engine (``PaperSession`` in mode paper: WebSocket feed, paper broker, SQLite) trades
the bundled 1m week served by a local fake Binance on 127.0.0.1, warm-up history included: a
genuine paper account, only with old market data. Its record is short, so the test config
lowers the go-live thresholds it cannot meet in five days; the drift check must find the
backtest replayed on the recorded bars trading exactly like it (the engine's parity).

Then ``runners.live_paper`` with ``app.mode: real`` is driven through every refusal of the gate
and through the gate passing, and no secret may appear in any output: stdout, stderr, the log
file, the database or the report files.
"""

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from brokers.state.store import StateStore
from core.config import load_config
from core.records import RunMode
from readiness.drift import HELD_REASON, replay_record
from readiness.latest import latest_report_paths
from readiness.record import load_record
from runners.paper_session import PaperSession
from runners.replay import Replay
from tests.busy_week import BUSY_YAML, ROOT, WEEK_1M

HISTORY_BARS = 2 * 1440          # 2023-03-20 and 21 are warm-up history; trading from the 22nd
BANNER = "⚠️ REAL TRADING MODE ENABLED - REAL CAPITAL AT RISK"
KEY_VALUE = "kEy-5f0c1e0a-never-to-be-seen"
SECRET_VALUE = "sEcReT-93ab77d2-never-to-be-seen"
CONFIG = BUSY_YAML + """\
database:
  url: sqlite:///{db}
go_live:
  min_paper_days: 4
  min_trades: 5
  min_win_rate: 0.2
  min_sharpe: 1.0
  min_confidence: 0.5
  min_feed_uptime: 0.0
"""


def run(module, *args, env=None, cwd=ROOT):
    full = {k: v for k, v in os.environ.items()
            if k not in ("BINANCE_API_KEY", "BINANCE_API_SECRET", "MY_KEY", "MY_SECRET")}
    full.update(env or {}, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", module, *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=300, env=full)


@pytest.fixture(scope="module")
def paper(tmp_path_factory):
    """``(folder, database path, config file)`` of a paper account traded through the live
    path on the bundled 1m week."""
    folder = tmp_path_factory.mktemp("paper")
    db = folder / "state" / "paper.db"
    config_path = folder / "config.yaml"
    config_path.write_text(CONFIG.format(db=db))
    config = load_config(config_path)
    replay = Replay([str(WEEK_1M)], 5000.0, HISTORY_BARS)
    try:
        session = PaperSession(config, ws_url=replay.server.ws_url,
                               rest_url=replay.server.rest_url, symbols=replay.symbols,
                               exec_interval=replay.interval, mode=RunMode.PAPER)
        threading.Thread(target=replay.publish_all, args=(session,), daemon=True).start()
        session.run()
    finally:
        replay.close()
    return folder, db, config_path


def real_config(paper, go_live: str = "") -> Path:
    """The test config in real mode; ``go_live`` lines (``"  key: value\n"``) replace or add
    keys of its go_live section."""
    folder, db, _ = paper
    text = CONFIG.format(db=db)
    for line in go_live.splitlines(keepends=True):
        key = line.split(":")[0]
        text = "".join(kept for kept in text.splitlines(keepends=True)
                       if not kept.startswith(key + ":")) + line
    path = folder / f"real-{abs(hash(go_live))}.yaml"
    path.write_text(text + "app:\n  mode: real\n")
    return path


def assert_no_secret(*texts, files=()):
    for text in texts:
        assert KEY_VALUE not in text and SECRET_VALUE not in text
    for path in files:
        if path.exists():
            data = path.read_bytes()
            assert KEY_VALUE.encode() not in data and SECRET_VALUE.encode() not in data, path


def test_a_profitable_paper_record_is_ready_and_trades_like_its_backtest(paper):
    folder, db, config = paper
    proc = run("runners.readiness", "--config", config, "--json", folder / "ready.json",
               "--out", folder / "ready.html", "--backtest-json",
               ROOT / "tests" / "fixtures" / "golden" / "default_backtest_report.json")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert proc.stdout.splitlines()[-1] == "READY: every go-live criterion passes"
    report = json.loads((folder / "ready.json").read_text())
    assert (report["verdict"], report["reasons"]) == ("READY", [])
    assert report["record"]["source"] == "paper" and report["record"]["days"] == 5.0
    drift = report["drift"]
    assert drift["paper_trades"] >= 8
    assert drift["matched"] == drift["paper_trades"] == drift["backtest_trades"]
    assert drift["match_rate"] == 1.0
    assert (drift["entry_slippage_bps"], drift["exit_slippage_bps"]) == (0.0, 0.0)
    assert drift["tracking_error_pct"] == 0.0
    # the engine recorded its feed's status changes: the feed uptime is measured, not assumed
    store = StateStore(f"sqlite:///{db}", readonly=True)
    events = store.feed_events()
    store.close()
    assert events and {e.symbol for e in events} == {"BTCUSDT"}
    assert events[-1].status == "LIVE" and 0 < report["record"]["feed_uptime"] < 1
    assert report["record"]["engine_uptime"] == 1.0
    latest_html, latest_json = latest_report_paths(db)
    assert latest_json.name == f"{db.stem}-readiness.json"
    assert json.loads(latest_json.read_text())["verdict"] == "READY"
    assert latest_html.read_text().count('id="verdict"') == 1


def test_the_replay_holds_entries_through_the_warm_up_as_the_engine_did(paper):
    """The live engine never trades its warm-up history (two days here, in which a plain
    backtest trades four times); the drift check's backtest holds those entries too."""
    _, db, config_path = paper
    config = load_config(config_path)
    store = StateStore(f"sqlite:///{db}", readonly=True)
    try:
        record = load_record(store, config)
        result = replay_record(store, record)
    finally:
        store.close()
    assert record.start_ms == record.history.bars["BTCUSDT"].open_time_ms[0]
    assert record.start_ms == 1_679_443_200_000                 # 2023-03-22 00:00 UTC
    assert result.trades and min(t.entry_ms for t in result.trades) >= record.start_ms
    held = [s for s in result.signals if s["decision"] == HELD_REASON]
    assert held and max(s["time"] for s in held) <= "2023-03-22T00:00:00+00:00"


def test_the_same_record_at_the_default_thresholds_is_not_ready(paper, tmp_path):
    folder, db, _ = paper
    config = tmp_path / "default.yaml"
    config.write_text(CONFIG.format(db=db).split("go_live:")[0])
    proc = run("runners.readiness", "--config", config, "--json", tmp_path / "r.json",
               "--backtest-json", ROOT / "tests" / "fixtures" / "golden" /
               "default_backtest_report.json")
    assert proc.returncode == 1
    reasons = json.loads((tmp_path / "r.json").read_text())["reasons"]
    assert "Days of paper trading: 5.0 (needs >= 30)" in reasons
    assert any(r.startswith("P(true Sharpe > 0): ") for r in reasons)


def test_the_gate_passes_then_stops_for_want_of_a_real_broker(paper):
    folder, db, _ = paper
    log = folder / "pass.log"
    proc = run("runners.live_paper", "--config", real_config(paper), "--confirm-real-money",
               "--log-file", log, env={"BINANCE_API_KEY": KEY_VALUE,
                                       "BINANCE_API_SECRET": SECRET_VALUE})
    assert proc.returncode == 2, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert proc.stderr.strip() == (
        "error: the real-mode gate passed (readiness READY, confirmed, credentials set), but no "
        "real-money broker exists yet: nothing was started")
    assert BANNER in proc.stdout
    log_text = log.read_text()
    assert any("CRITICAL" in line and BANNER in line for line in log_text.splitlines())
    assert "real-mode gate passed" in log_text
    assert "✅ Paper Trading Mode" not in proc.stdout
    assert_no_secret(proc.stdout, proc.stderr, log_text,
                     files=[db, Path(f"{db}-wal"), Path(f"{db}-shm"), log,
                            *latest_report_paths(db)])


@pytest.mark.parametrize("confirm, env, extra, expected", [
    (False, {"BINANCE_API_KEY": KEY_VALUE, "BINANCE_API_SECRET": SECRET_VALUE}, "",
     "refusing to start: not confirmed: add --confirm-real-money to the command line"),
    (True, {"BINANCE_API_SECRET": SECRET_VALUE}, "",
     "refusing to start: BINANCE_API_KEY not set in the environment"),
    (True, {"BINANCE_API_KEY": KEY_VALUE}, "",
     "refusing to start: BINANCE_API_SECRET not set in the environment"),
    (True, {"BINANCE_API_KEY": KEY_VALUE, "BINANCE_API_SECRET": "  "}, "",
     "refusing to start: BINANCE_API_SECRET not set in the environment"),
    (True, {"BINANCE_API_KEY": KEY_VALUE, "BINANCE_API_SECRET": SECRET_VALUE},
     "  credential_variables: [MY_KEY, MY_SECRET]\n",
     "refusing to start: MY_KEY and MY_SECRET not set in the environment"),
    (True, {"BINANCE_API_KEY": KEY_VALUE, "BINANCE_API_SECRET": SECRET_VALUE},
     "  min_trades: 50\n",
     "refusing to start: readiness NOT READY (Closed trades: "),
])
def test_every_refusal_of_the_gate_is_one_line_exit_2(paper, tmp_path, confirm, env, extra,
                                                       expected):
    folder, db, _ = paper
    config = real_config(paper, extra)
    log = tmp_path / "refused.log"
    args = ["--config", config, "--log-file", log] + (["--confirm-real-money"] if confirm else [])
    proc = run("runners.live_paper", *args, env=env)
    assert proc.returncode == 2, proc.stdout[-3000:] + proc.stderr[-3000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: app.mode is 'real': ")
    assert expected in lines[0], lines[0]
    assert BANNER in proc.stdout and "CRITICAL" in log.read_text()
    assert "✅" not in proc.stdout
    assert_no_secret(proc.stdout, proc.stderr, log.read_text(), files=[db, log])


def test_no_database_no_confirmation_no_credentials_all_in_one_line(tmp_path):
    config = tmp_path / "real.yaml"
    config.write_text(f"app:\n  mode: real\ndatabase:\n  url: sqlite:///{tmp_path}/x.db\n")
    proc = run("runners.live_paper", "--config", config, "--log-file", tmp_path / "x.log")
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        f"error: app.mode is 'real': refusing to start: readiness NOT READY (no paper record: "
        f"database.url sqlite:///{tmp_path}/x.db does not exist yet); not confirmed: add "
        f"--confirm-real-money to the command line of this start; BINANCE_API_KEY and "
        f"BINANCE_API_SECRET not set in the environment (API credentials come from the "
        f"environment only)")
    assert not (tmp_path / "x.db").exists()


def test_confirming_real_money_in_paper_mode_is_refused(paper, tmp_path):
    _, _, config = paper
    proc = run("runners.live_paper", "--config", config, "--confirm-real-money",
               "--log-file", tmp_path / "x.log")
    assert proc.returncode == 2
    assert proc.stderr.strip() == ("error: --confirm-real-money goes with app.mode: real (the "
                                   "config says paper)")


def test_credentials_in_the_config_file_are_refused_without_echoing_them(paper, tmp_path):
    folder, db, _ = paper
    config = tmp_path / "leak.yaml"
    config.write_text(CONFIG.format(db=db) + f"  api_key: {KEY_VALUE}\napp:\n  mode: real\n")
    proc = run("runners.live_paper", "--config", config, "--confirm-real-money",
               "--log-file", tmp_path / "x.log")
    assert proc.returncode == 2
    assert "go_live.api_key: secrets do not belong in the config file" in proc.stderr
    assert_no_secret(proc.stdout, proc.stderr, (tmp_path / "x.log").read_text())
