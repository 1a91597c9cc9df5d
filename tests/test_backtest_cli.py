"""The backtest runner driven the way a user drives it: a subprocess, real files, exit codes."""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
WEEK_1M = ROOT / "data" / "BTCUSDT_spot_1m_2023-03-20_2023-03-26.csv"
ETH_1H = ROOT / "data" / "ETHUSDT_spot_1h_2023-01-01_2023-12-31.csv.gz"
ETH_BTC = ROOT / "tests/fixtures/raw-format-samples/freqtrade-feather/ETH_BTC-5m.feather"


def on_grid(value: float, step: float) -> bool:
    steps = value / step
    return abs(steps - round(steps)) < 1e-6

REPORT_KEYS = {
    "symbols", "timeframe", "start", "end", "bars", "initial_equity", "final_equity",
    "total_return_pct", "buy_hold_return_pct", "cagr_pct", "sharpe", "sortino",
    "max_drawdown_pct", "win_rate", "profit_factor", "expectancy", "trades", "exposure_pct",
    "equity_curve", "trade_list", "config",
}
TRADE_KEYS = {
    "symbol", "side", "entry_time", "exit_time", "entry_price", "exit_price", "size", "stop_loss",
    "take_profit", "pnl", "fees", "exit_reason", "confidence",
}


def run_cli(*args, cwd=ROOT, timeout=300):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "runners.backtest", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout, env=env)


@pytest.fixture(scope="module")
def default_run(tmp_path_factory):
    """The README's first command: the bundled BTCUSDT 1h data with config.yaml, no arguments
    besides the output files."""
    out = tmp_path_factory.mktemp("default")
    proc = run_cli("--report-json", out / "report.json", "--trades-csv", out / "trades.csv",
                   "--plot", out / "chart.png")
    assert proc.returncode == 0, proc.stderr
    return proc, json.loads((out / "report.json").read_text()), out


def test_default_run_prints_summary(default_run):
    proc, report, _ = default_run
    for label in ("Total return", "Sharpe", "Max drawdown", "Win rate", "Trades"):
        assert label in proc.stdout
    assert report["bars"] == 55_740
    assert report["symbols"] == ["BTCUSDT"] and report["timeframe"] == "1h"


def test_report_contract(default_run):
    _, report, _ = default_run
    assert set(report) >= REPORT_KEYS
    assert report["trades"] == len(report["trade_list"]) > 20
    assert 0 <= report["win_rate"] <= 1
    assert report["config"]["app"]["mode"] == "paper"
    for day, equity in report["equity_curve"]:
        assert len(day) == 10 and equity > 0
    for trade in report["trade_list"]:
        assert set(trade) >= TRADE_KEYS
        assert trade["exit_reason"] in {"stop_loss", "take_profit", "end_of_data"}


def test_every_trade_obeys_the_risk_rules(default_run):
    _, report, _ = default_run
    cfg = report["config"]["risk_manager"]
    for t in report["trade_list"]:
        if t["side"] == "long":
            assert t["stop_loss"] < t["entry_price"] < t["take_profit"]
        else:
            assert t["take_profit"] < t["entry_price"] < t["stop_loss"]
        assert t["notional"] <= cfg["max_position_size"] + 1e-6
        assert t["risk_pct_of_equity"] <= cfg["risk_per_trade_percent"] + 1e-9
        # The fee is 0.1 % a side of the traded notional.
        expected_fees = 0.001 * t["size"] * (t["entry_price"] + t["exit_price"])
        assert t["fees"] == pytest.approx(expected_fees, rel=1e-6)
        if t["exit_reason"] == "stop_loss":
            assert t["pnl"] < 0
        # BTCUSDT's exchange rules: prices on the 0.01 tick, sizes on the 0.00001 step
        assert on_grid(t["stop_loss"], 0.01) and on_grid(t["take_profit"], 0.01), t
        assert on_grid(t["size"], 0.00001) and t["notional"] >= 5.0
        # A stop-out loses at most the planned risk, unless the market gapped through the stop.
        if t["exit_reason"] == "stop_loss" and (
                (t["side"] == "long" and t["exit_price"] >= t["stop_loss"] * (1 - 0.0002 - 1e-9))
                or (t["side"] == "short"
                    and t["exit_price"] <= t["stop_loss"] * (1 + 0.0002 + 1e-9))):
            assert -t["pnl"] <= t["risk"] * (1 + 1e-6)


def test_pnl_adds_up_to_equity_change(default_run):
    _, report, _ = default_run
    total = sum(t["pnl"] for t in report["trade_list"])
    assert total == pytest.approx(report["final_equity"] - report["initial_equity"], abs=1e-4)


def test_no_two_positions_on_one_symbol_at_once(default_run):
    _, report, _ = default_run
    trades = sorted(report["trade_list"], key=lambda t: t["entry_time"])
    for before, after in zip(trades, trades[1:], strict=False):
        assert after["entry_time"] >= before["exit_time"]


def test_trades_csv_and_plot_written(default_run):
    _, report, out = default_run
    with open(out / "trades.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == report["trades"]
    assert float(rows[0]["entry_price"]) == pytest.approx(report["trade_list"][0]["entry_price"])
    assert (out / "chart.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_multi_timeframe_run_on_1m_data(tmp_path):
    proc = run_cli("--data", WEEK_1M, "--report-json", tmp_path / "r.json", "--quiet")
    assert proc.returncode == 0, proc.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["timeframe"] == "1m" and report["signal_timeframe"] == "1h"
    assert report["bars"] == 10_000
    assert report["data_quality"]["BTCUSDT"]["largest_gap_bars"] == 80


def test_two_symbols_share_max_positions(tmp_path):
    config = tmp_path / "one_position.yaml"
    config.write_text("paper_trading:\n  max_positions: 1\n")
    proc = run_cli("--config", config, "--data", ETH_1H,
                   "--from", "2023-01-01", "--to", "2024-01-01",
                   "--data", ROOT / "data" / "BTCUSDT_spot_1h_2017-08-17_2023-12-31.csv.gz",
                   "--report-json", tmp_path / "r.json", "--quiet")
    assert proc.returncode == 0, proc.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["symbols"] == ["ETHUSDT", "BTCUSDT"]
    traded = {t["symbol"] for t in report["trade_list"]}
    assert traded == {"ETHUSDT", "BTCUSDT"}
    trades = sorted(report["trade_list"], key=lambda t: t["entry_time"])
    for before, after in zip(trades, trades[1:], strict=False):
        assert after["entry_time"] >= before["exit_time"], "two positions open with max_positions 1"
    # each symbol its own rules: ETH sizes on ETHUSDT's 0.0001 step (BTC's 0.00001 would be
    # refused by Binance), every price on the 0.01 tick
    eth = [t for t in trades if t["symbol"] == "ETHUSDT"]
    assert all(on_grid(t["size"], 0.0001) for t in eth)
    assert any(not on_grid(t["size"], 0.001) for t in eth)  # not merely a coarser grid
    assert all(on_grid(t["stop_loss"], 0.01) and on_grid(t["take_profit"], 0.01) for t in trades)


def test_config_overrides_one_symbols_rules(tmp_path):
    config = tmp_path / "coarse.yaml"
    config.write_text("exchanges:\n  binance:\n    rules:\n"
                      "      BTCUSDT: {lot_step: 0.001, tick_size: 1}\n")
    proc = run_cli("--config", config, "--from", "2022-01-01", "--report-json",
                   tmp_path / "r.json", "--quiet")
    assert proc.returncode == 0, proc.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["config"]["exchanges"]["binance"]["rules"]["BTCUSDT"]["lot_step"] == 0.001
    assert report["trade_list"]
    for t in report["trade_list"]:
        assert on_grid(t["size"], 0.001) and on_grid(t["stop_loss"], 1) \
            and on_grid(t["take_profit"], 1), t


def test_config_yaml_of_the_current_folder_is_the_default(tmp_path):
    """A user's own config.yaml beside where they run is read without --config; a folder
    without one falls back to the project's."""
    (tmp_path / "config.yaml").write_text("paper_trading:\n  initial_balance: 5000\n")
    proc = run_cli("--from", "2023-01-01", "--report-json", "r.json", "--quiet", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads((tmp_path / "r.json").read_text())["initial_equity"] == 5000
    other = tmp_path / "elsewhere"
    other.mkdir()
    proc = run_cli("--from", "2023-01-01", "--report-json", "r.json", "--quiet", cwd=other)
    assert proc.returncode == 0, proc.stderr
    assert json.loads((other / "r.json").read_text())["initial_equity"] == 10000


def test_from_to_window(tmp_path):
    proc = run_cli("--from", "2022-01-01", "--to", "2022-02-01",
                   "--report-json", tmp_path / "r.json", "--quiet")
    assert proc.returncode == 0, proc.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["start"].startswith("2022-01-01T00:00")
    assert report["end"].startswith("2022-02-01T00:00")
    assert report["bars"] == 31 * 24


@pytest.mark.parametrize("args, expected", [
    (["--data", "nope/missing.csv"], "missing.csv"),
    (["--from", "2023-02-01", "--to", "2023-01-01"], "--from"),
    (["--from", "yesterday-ish"], "not an ISO date"),
    (["--plot", "chart.jpg"], "--plot"),
    (["--data", "weird.csv"], "--data weird.csv: file not found"),
    (["--data", "nope/BTCUSDT_spot_1h.csv"], "--data nope/BTCUSDT_spot_1h.csv: file not found"),
    (["--data", "."], "--data .: is a folder, not a kline file"),
    (["--from", "2030-01-01"], "no bars"),
    (["--data", str(WEEK_1M), "--to", "2023-03-20T00:59"], "no complete 1h bar"),
    (["--report-json", "."], "is a folder"),
    (["--from", "2023-13-01"], "not an ISO date"),
    (["--cuts", "abc"], "--cuts"),
    (["--bogus"], "unrecognized arguments"),
    (["--quiet", "--verbose"], "not allowed with"),
    (["--data", "=x.csv"], "not a Binance symbol"),
    (["--data", "BTC/USDT=x.csv"], "not a Binance symbol"),
    (["--data", str(ETH_BTC)], f"--data {ETH_BTC}: ETHBTC is not quoted in USDT: only USDT pairs "
                               f"are supported (the account, sizes and P&L are in USDT)"),
    (["--data", f"ETHBTC={WEEK_1M}"], "ETHBTC is not quoted in USDT"),
    (["--data", f"ABCUSDT={WEEK_1M}"], "ABCUSDT: order rules unknown (data/exchange_rules.json "
                                       "has no entry for it); set exchanges.binance.rules.ABCUSDT"),
])
def test_bad_arguments_exit_2_with_one_line(args, expected, tmp_path):
    proc = run_cli(*args, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert expected in lines[0]
    assert "Traceback" not in proc.stderr


def test_bad_config_exits_2(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("risk_manager:\n  max_daily_loss: -5\n")
    proc = run_cli("--config", bad)
    assert proc.returncode == 2
    assert "risk_manager.max_daily_loss" in proc.stderr and "Traceback" not in proc.stderr


def test_a_position_cap_below_the_symbols_min_notional_exits_2(tmp_path):
    config = tmp_path / "tiny.yaml"
    config.write_text("risk_manager:\n  max_position_size: 4\n")
    proc = run_cli("--config", config, "--data", WEEK_1M, "--quiet")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "error: BTCUSDT: its minimum notional 5 USDT exceeds risk_manager.max_position_size 4, "
        "so no order could ever be placed"]


def test_malformed_data_exits_2_naming_file_and_line(tmp_path):
    bad = tmp_path / "BTCUSDT_bad.csv"
    bad.write_text("timestamp,open,high,low,close,volume\n"
                   "2023-01-01T00:00:00Z,100,101,99,100.5,1\n"
                   "2023-01-01T01:00:00Z,100,99,98,100.5,1\n")   # high below open
    proc = run_cli("--data", bad)
    assert proc.returncode == 2
    assert "BTCUSDT_bad.csv" in proc.stderr and "3" in proc.stderr.splitlines()[-1]


def test_signal_timeframe_4h_uses_the_bundled_1h_file(tmp_path):
    config = tmp_path / "four_hours.yaml"
    config.write_text("strategy:\n  signal_timeframe: 4h\n")
    proc = run_cli("--config", config, "--from", "2023-01-01", "--report-json", tmp_path / "r.json",
                   "--quiet")
    assert proc.returncode == 0, proc.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["timeframe"] == "1h" and report["signal_timeframe"] == "4h"


def test_check_lookahead_on_a_short_file_skips_cuts_without_a_signal_bar():
    sample = ROOT / ("tests/fixtures/raw-format-samples/binance-spot-kline-ms/"
                     "BTCUSDT-1m-2023-01-01.first200.csv")
    proc = run_cli("--data", f"BTCUSDT={sample}", "--check-lookahead", "--cuts", "6", "--quiet")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "LOOKAHEAD CHECK: 0 differences" in proc.stdout and "skipped" in proc.stdout


def test_check_lookahead_finds_nothing_on_real_data():
    proc = run_cli("--data", WEEK_1M, "--check-lookahead", "--cuts", "8", "--quiet")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "LOOKAHEAD CHECK: 0 differences over 8 cut points" in proc.stdout
