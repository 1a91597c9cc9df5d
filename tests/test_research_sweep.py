"""The sweep driven as a user drives it: the CLI on real data, its results table, ranking,
resume, failures, JSON and report; and the same table from an embedded Dask cluster."""

import base64
import gzip
import hashlib
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

from core.config import apply_overrides, load_config
from engine.backtest import run_backtest
from klines import load_klines
from research.tasks import METRIC_KEYS
from tests.research_helpers import BTC_1H, ETH_1H, ROOT, column, run_research, table, write_spec

HOLDOUT_MS = 1688169600000  # 2023-07-01: the holdout window starts here
REFUSED = "config: smc.htf_swing_lookback: must be > smc.swing_lookback (5), got 4"
SPEC = {
    "data": [str(ETH_1H)],
    "windows": [{"from": "2023-01-01", "to": "2023-04-01"}, {"from": "2023-04-01",
                                                               "to": "2023-07-01"}],
    "params": {"smc.swing_lookback": [3, 5],
               "decision_engine.confidence_threshold": [0.5, 0.7],
               "smc.htf_swing_lookback": [4, 20]},
    "objective": {"metric": "sharpe", "min_trades": 3},
    "holdout": {"from": "2023-07-01", "to": "2023-10-01"},
}


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sweep")
    spec = write_spec(folder, SPEC)
    args = ("sweep", spec, "--in-process", "--results", folder / "results.sqlite",
            "--json", folder / "out.json", "--report", folder / "report.html")
    proc = run_research(*args)
    assert proc.returncode == 0, proc.stderr
    return {"folder": folder, "spec": spec, "args": args, "proc": proc,
            "db": folder / "results.sqlite", "json": json.loads((folder / "out.json").read_text())}


def ok_rows(db):
    return column(db, "SELECT params, start_ms, sharpe, trades, metrics, equity_sha256 "
                      f"FROM results WHERE status = 'ok' AND start_ms < {HOLDOUT_MS}")


def test_every_task_is_in_the_table_failures_with_their_error(sweep):
    rows = column(sweep["db"], "SELECT status, error, params FROM results")
    assert len(rows) == 8 * 2 + 1  # 8 configurations x 2 windows, and the holdout run
    failed = [r for r in rows if r[0] == "failed"]
    assert len(failed) == 4  # swing 5 with HTF 4, on both windows: refused, the others ran
    assert {r[1] for r in failed} == {REFUSED}
    assert all(dict(json.loads(r[2]))["smc.htf_swing_lookback"] == 4 for r in failed)
    assert f"first failure: {REFUSED}" in sweep["proc"].stdout


def test_the_ranked_table_puts_the_best_mean_objective_first(sweep):
    by_config = {}
    for params, _, sharpe, trades, _, _ in ok_rows(sweep["db"]):
        by_config.setdefault(params, []).append(sharpe if trades >= 3 else None)
    scores = {p: sum(v) / 2 for p, v in by_config.items() if len(v) == 2 and None not in v}
    best = dict(json.loads(max(scores, key=scores.get)))
    lines = sweep["proc"].stdout.splitlines()
    first = next(line for line in lines if re.match(r"\s+1\s", line)).split()
    assert [int(first[1]), float(first[2]), int(first[3])] == list(best.values())
    assert float(first[4]) == pytest.approx(max(scores.values()), abs=5e-4)
    assert sweep["json"]["chosen_params"] == best


def test_a_row_is_the_standalone_backtest_of_its_window(sweep):
    params, start_ms, _, _, metrics, equity_sha = ok_rows(sweep["db"])[0]
    config = apply_overrides(load_config(), dict(json.loads(params)))
    start = pd.Timestamp(start_ms, unit="ms", tz="UTC")
    klines = load_klines(ETH_1H, start=start, end=start + pd.DateOffset(months=3))
    result = run_backtest(config, {"ETHUSDT": klines})
    stored = json.loads(metrics)
    for key in METRIC_KEYS:
        if key not in ("psr", "calmar"):
            assert stored[key] == result.report[key], key
    digest = hashlib.sha256(np.ascontiguousarray(result.equity_times_ms, np.int64).tobytes()
                            + np.ascontiguousarray(result.equity_values).tobytes()).hexdigest()
    assert digest == equity_sha


def test_a_second_run_resumes_and_computes_nothing(sweep):
    before = table(sweep["db"])
    again = run_research(*sweep["args"][:-4], "--json", sweep["folder"] / "again.json")
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith("0 task(s) run in this process, 17 answered from ")
    assert table(sweep["db"]) == before
    assert json.loads((sweep["folder"] / "again.json").read_text()) == sweep["json"]


def test_json_contract(sweep):
    doc = sweep["json"]
    ok = column(sweep["db"], "SELECT sharpe FROM results WHERE status = 'ok' "
                             f"AND start_ms < {HOLDOUT_MS}")
    assert doc["trials"] == len(ok) == 12 and len(doc["trial_sharpes"]) == 12
    assert sorted(doc["trial_sharpes"]) == sorted(r[0] for r in ok)
    assert doc["objective"] == "sharpe" and doc["seed"] == 0
    assert set(doc["chosen_params"]) == set(SPEC["params"])
    for part in ("in_sample", "out_of_sample"):
        assert set(METRIC_KEYS) <= set(doc[part])
    assert doc["out_of_sample"]["from"] == "2023-07-01"  # the holdout
    assert doc["spec"]["params"]["smc.swing_lookback"] == [3, 5]
    assert doc["failed_tasks"] == 4
    assert 0 <= doc["deflated_sharpe"] <= 1 and doc["expected_max_sharpe"] > 0


def test_report_is_self_contained_html(sweep):
    text = (sweep["folder"] / "report.html").read_text()
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', text)
    assert len(images) == 1  # the heatmaps (three varying parameters)
    assert base64.b64decode(images[0])[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<table>" in text and "smc.htf_swing_lookback" in text
    assert "http" not in text.replace("http-equiv", "")  # nothing fetched from elsewhere


def test_progress_shows_done_total_failures_and_eta(sweep):
    last = [line for line in sweep["proc"].stderr.splitlines() if "tasks" in line][-1]
    assert re.search(r"16/16 tasks, 4 failed, ETA 0s", last), last


def test_embedded_cluster_gives_the_same_table(sweep, tmp_path):
    proc = run_research("sweep", sweep["spec"], "--workers", "2", "--results",
                        tmp_path / "dask.sqlite", "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert "on an embedded LocalCluster (2 workers)" in proc.stdout
    assert table(tmp_path / "dask.sqlite") == table(sweep["db"])


def test_a_task_failing_in_the_engine_is_recorded_and_the_sweep_goes_on(tmp_path):
    spec = write_spec(tmp_path, {"data": [str(ETH_1H)],
                                 "windows": [{"from": "2023-01-01", "to": "2023-02-01"}],
                                 "params": {"strategy.signal_timeframe": ["30m", "4h"]}})
    proc = run_research("sweep", spec, "--workers", "1", "--results", tmp_path / "r.sqlite")
    assert proc.returncode == 0, proc.stderr
    rows = dict(column(tmp_path / "r.sqlite", "SELECT params, error FROM results"))
    assert rows['[["strategy.signal_timeframe", "4h"]]'] is None
    assert rows['[["strategy.signal_timeframe", "30m"]]'] == (
        "strategy.signal_timeframe 30m must be a whole multiple of the data's interval 1h; use "
        "data of 30m or finer")


def test_a_changed_data_file_or_base_config_is_never_answered_from_old_results(tmp_path):
    data = tmp_path / ETH_1H.name
    data.write_bytes(ETH_1H.read_bytes())
    body = {"data": [str(data)], "windows": [{"from": "2023-01-01", "to": "2023-02-01"}],
            "params": {"smc.swing_lookback": [3, 5]}}
    spec = write_spec(tmp_path, body)
    args = ("sweep", spec, "--in-process", "--results", tmp_path / "r.sqlite", "--quiet")
    assert run_research(*args).stdout.startswith("2 task(s) run")
    assert run_research(*args).stdout.startswith("0 task(s) run")
    lines = gzip.decompress(data.read_bytes()).decode().splitlines(keepends=True)
    data.write_bytes(gzip.compress("".join(lines[:-1]).encode()))  # one bar less, in December
    assert run_research(*args).stdout.startswith("2 task(s) run")
    config = tmp_path / "config.yaml"
    config.write_text("risk_manager:\n  fee_percent: 0.075\n")
    spec = write_spec(tmp_path, {**body, "config": str(config)})
    assert run_research(*args).stdout.startswith("2 task(s) run")
    assert len(table(tmp_path / "r.sqlite")) == 6


def finished(db) -> int:
    """Rows in the results table so far (0 while the file or its table is being created)."""
    try:
        return column(db, "SELECT count(*) FROM results")[0][0] if db.exists() else 0
    except sqlite3.OperationalError:
        return 0


def test_an_interrupted_sweep_keeps_what_it_finished_and_resumes(tmp_path):
    spec = write_spec(tmp_path, {"data": [str(BTC_1H)],
                                 "windows": [{"from": "2021-01-01", "to": "2022-01-01"}],
                                 "params": {"decision_engine.confidence_threshold":
                                            [0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85]}})
    db = tmp_path / "r.sqlite"
    args = ["sweep", str(spec), "--in-process", "--results", str(db), "--quiet"]
    proc = subprocess.Popen([sys.executable, "-m", "runners.research", *args], cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None and finished(db) < 1:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert err.strip().endswith("interrupted")
    kept = len(table(db))
    assert 1 <= kept < 8
    again = run_research(*args)
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith(f"{8 - kept} task(s) run in this process, {kept} answered")
    assert len(table(db)) == 8
