"""The live path takes each symbol's order rules from exchangeInfo: an ETH replay sizes on
ETHUSDT's step exactly like the backtest, rules served by the exchange win over the snapshot, a
config override goes on top, and pairs not quoted in USDT are refused before anything runs."""

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from core.config import apply_overrides, load_config
from core.exchange_rules import SymbolRules
from fake_exchange import FakeBinance
from klines import load_klines
from runners.download import HEADER, format_rows
from runners.paper_session import PaperSession

ROOT = Path(__file__).resolve().parent.parent
ETH_1H = ROOT / "data" / "ETHUSDT_spot_1h_2023-01-01_2023-12-31.csv.gz"
ETH_BTC = ROOT / "tests/fixtures/raw-format-samples/freqtrade-feather/ETH_BTC-5m.feather"
BARS = 1500  # two months of 1h bars: about twenty trades with the config below
CONFIG = """\
decision_engine:
  confidence_threshold: 0.4
strategy:
  allow_short: true
  signal_timeframe: 1h
  execution_timeframe: 1h
database:
  url: sqlite:///{db}
"""


def on_grid(value: float, step: float) -> bool:
    steps = value / step
    return abs(steps - round(steps)) < 1e-6


def run(module, *args, timeout=240):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", module, *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout, env=env)


@pytest.fixture(scope="module")
def eth_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("eth") / "ETHUSDT_spot_1h_2023-01-01.csv"
    path.write_text(HEADER + format_rows(load_klines(ETH_1H).bars().slice(0, BARS)))
    return path


def trade_key(t):
    return (t["side"], t["entry_time"], t["entry_price"], t["exit_time"], t["exit_price"],
            t["exit_reason"], t["size"], t["stop_loss"], t["take_profit"])


def test_eth_replay_uses_ethusdts_step_and_matches_the_backtest(eth_file, tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG.format(db=tmp_path / "paper.db"))
    proc = run("runners.live_paper", "--config", config, "--replay", eth_file, "--speed", 5000,
               "--db", f"sqlite:///{tmp_path / 'paper.db'}", "--log-file", tmp_path / "live.log")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "ETHUSDT order rules: tick 0.01, step 0.0001, min qty 0.0001, min notional 5 USDT " \
           "(exchangeInfo of http://127.0.0.1:" in (tmp_path / "live.log").read_text()
    assert run("runners.live_paper", "--config", config, "--report-json", tmp_path / "paper.json",
               "--log-file", tmp_path / "report.log").returncode == 0
    paper = json.loads((tmp_path / "paper.json").read_text())["trade_list"]
    proc = run("runners.backtest", "--config", config, "--data", eth_file, "--quiet",
               "--report-json", tmp_path / "backtest.json")
    assert proc.returncode == 0, proc.stderr
    backtest = json.loads((tmp_path / "backtest.json").read_text())["trade_list"]
    closed = [trade_key(t) for t in backtest if t["exit_reason"] != "end_of_data"]
    assert len(closed) >= 10
    assert [trade_key(t) for t in paper] == closed
    assert all(on_grid(t["size"], 0.0001) for t in paper)
    assert any(not on_grid(t["size"], 0.001) for t in paper)
    assert all(on_grid(t["stop_loss"], 0.01) and on_grid(t["take_profit"], 0.01) for t in paper)


def test_rules_come_from_the_exchange_with_the_config_on_top(eth_file, tmp_path):
    """The fake exchange serves rules the snapshot does not have; the config overrides one field."""
    served = SymbolRules(tick_size=0.05, lot_step=0.001, min_qty=0.001, min_notional=7.0)
    bars = load_klines(eth_file).bars()
    config = apply_overrides(load_config(), {
        "database.url": f"sqlite:///{tmp_path / 'paper.db'}",
        "decision_engine.confidence_threshold": 0.4, "strategy.allow_short": True,
        "exchanges.binance.rules.ETHUSDT.lot_step": 0.01})
    with FakeBinance({"ETHUSDT": bars}, interval="1h", rules={"ETHUSDT": served}) as server:
        session = PaperSession(config, ws_url=server.ws_url, rest_url=server.rest_url,
                               symbols=["ETHUSDT"], exec_interval="1h",
                               manager_options={"wait_s": 0.05})
        runner = threading.Thread(target=session.run, daemon=True)
        runner.start()
        try:
            deadline = time.monotonic() + 60
            while not session.streaming and time.monotonic() < deadline:
                time.sleep(0.05)
            assert session.streaming, "the engine never connected"
            server.publish(len(bars))
            last_open = int(bars.open_time_ms[-1])
            deadline = time.monotonic() + 120
            while session.last_bar_open_ms("ETHUSDT") != last_open and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(0.5)
        finally:
            session.stop()
            runner.join(timeout=30)
    assert not runner.is_alive()
    strategy = session.strategy
    assert strategy.settings.rules["ETHUSDT"] == SymbolRules(0.05, 0.01, 0.001, 7.0)
    assert len(strategy.trades_closed) >= 5
    for t in strategy.trades_closed:
        assert on_grid(t.size, 0.01), t
        assert on_grid(t.stop_loss, 0.05) and on_grid(t.take_profit, 0.05), t


def test_replay_of_a_pair_not_quoted_in_usdt_is_refused_in_one_line(tmp_path):
    proc = run("runners.live_paper", "--replay", ETH_BTC, "--db",
               f"sqlite:///{tmp_path / 'x.db'}", "--log-file", tmp_path / "x.log")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert lines == [f"error: --replay {ETH_BTC}: ETHBTC is not quoted in USDT: only USDT pairs "
                     f"are supported (the account, sizes and P&L are in USDT)"], proc.stderr
