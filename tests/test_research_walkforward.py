"""Walk-forward: folds, the winner of each training window, the stitched out-of-sample account
(a chain of engine runs), degradation, the deflated Sharpe ratio and the JSON contract."""

import json
from statistics import NormalDist

import numpy as np
import pandas as pd
import pytest

from core.errors import UserInputError
from research.data import load_datasets
from research.spec import load_spec
from research.walkforward import make_folds
from tests.research_helpers import BTC_1H, ETH_1H, ROOT, column, run_research, table

# Written by hand: unquoted YAML dates, as a user writes them.
SPEC_TEXT = f"""\
config: {ROOT / "config.yaml"}
data:
  - {ETH_1H}
params:
  smc.swing_lookback: [3, 5]
  decision_engine.confidence_threshold: [0.5, 0.7]
objective: {{metric: sharpe, min_trades: 3}}
walk_forward: {{train_months: 3, test_months: 2, from: 2023-01-01}}
"""


def day(ms):
    return pd.Timestamp(ms, unit="ms", tz="UTC").strftime("%Y-%m-%d")


def test_rolling_and_anchored_folds(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(SPEC_TEXT.replace("from: 2023-01-01", "from: 2023-01-01, to: 2023-10-01"))
    spec, _ = load_spec(path, walk_forward=True)
    folds = make_folds(spec, load_datasets(spec))
    assert [(day(f.train.start_ms), day(f.test.start_ms), day(f.test.end_ms)) for f in folds] == [
        ("2023-01-01", "2023-04-01", "2023-06-01"), ("2023-03-01", "2023-06-01", "2023-08-01"),
        ("2023-05-01", "2023-08-01", "2023-10-01")]
    path.write_text(SPEC_TEXT.replace("test_months: 2, from: 2023-01-01",
                                      "test_months: 2, mode: anchored"))
    spec, _ = load_spec(path, walk_forward=True)
    folds = make_folds(spec, load_datasets(spec))
    assert {day(f.train.start_ms) for f in folds} == {"2023-01-01"}  # the first month start
    assert [day(f.test.end_ms) for f in folds] == ["2023-06-01", "2023-08-01", "2023-10-01",
                                                   "2023-12-01"]  # data ends 2024-01-01
    path.write_text(SPEC_TEXT.replace("train_months: 3", "train_months: 12"))
    spec, _ = load_spec(path, walk_forward=True)
    with pytest.raises(UserInputError, match="12 \\+ 2 months do not fit between 2023-01-01 and "
                                             "2024-01-01"):
        make_folds(spec, load_datasets(spec))


@pytest.fixture(scope="module")
def walk(tmp_path_factory):
    folder = tmp_path_factory.mktemp("wf")
    spec = folder / "wf.yaml"
    spec.write_text(SPEC_TEXT)
    proc = run_research("walk-forward", spec, "--in-process", "--results", folder / "r.sqlite",
                        "--json", folder / "wf.json", "--report", folder / "wf.html")
    assert proc.returncode == 0, proc.stderr
    return {"folder": folder, "spec": spec, "proc": proc, "db": folder / "r.sqlite",
            "json": json.loads((folder / "wf.json").read_text())}


def test_each_fold_trades_the_best_of_its_training_window(walk):
    doc = walk["json"]
    rows = column(walk["db"], "SELECT start_ms, end_ms, params, sharpe, trades FROM results "
                              "WHERE extra = '[]'")
    assert len(rows) == 4 * 4  # 4 configurations x 4 folds
    for fold in doc["folds"]:
        train = [r for r in rows if day(r[0]) == fold["train"]["from"]]
        assert len(train) == 4
        eligible = [r for r in train if r[4] >= 3 and r[3] is not None]
        best = max(eligible, key=lambda r: r[3])
        assert fold["chosen_params"] == dict(json.loads(best[2]))
        assert fold["in_sample_score"] == best[3]
    assert doc["chosen_params"] == doc["folds"][-1]["chosen_params"]


def test_out_of_sample_is_a_chain_of_engine_runs(walk):
    doc = walk["json"]
    tests = column(walk["db"], "SELECT start_ms, extra, metrics, final_equity_exact FROM results "
                               "WHERE extra != '[]' ORDER BY start_ms")
    assert [day(t[0]) for t in tests] == [f["test"]["from"] for f in doc["folds"]]
    equity = 10_000.0
    growth = 1.0
    for _, extra, metrics, final in tests:
        (key, balance), = json.loads(extra)
        assert key == "paper_trading.initial_balance"
        assert balance == equity  # each fold starts with what the previous one ended with
        equity = final
        growth *= 1 + json.loads(metrics)["total_return_pct"] / 100
    oos = doc["out_of_sample"]
    assert oos["final_equity"] == pytest.approx(equity, rel=1e-9)
    assert oos["total_return_pct"] == pytest.approx((growth - 1) * 100, abs=1e-3)
    assert oos["trades"] == sum(json.loads(t[2])["trades"] for t in tests)
    assert oos["start"][:10] == "2023-04-01" and oos["end"][:10] == "2023-12-01"
    curve = [v for _, v in oos["equity_curve"]]
    assert curve[-1] == pytest.approx(equity, rel=1e-9) and len(curve) == 244  # Apr..Nov


def test_json_contract_and_deflation(walk):
    doc = walk["json"]
    assert doc["trials"] == 16 and len(doc["trial_sharpes"]) == 16  # every config in every fold
    assert doc["objective"] == "sharpe" and isinstance(doc["seed"], int)
    assert doc["spec"]["walk_forward"] == {"train_months": 3, "test_months": 2,
                                           "mode": "rolling", "from": "2023-01-01", "to": None}
    for key in ("total_return_pct", "sharpe", "max_drawdown_pct", "trades", "buy_hold_return_pct",
                "psr", "deflated_sharpe"):
        assert key in doc["out_of_sample"]
    assert doc["in_sample"]["folds"] == 4
    spread = np.std([s for s in doc["trial_sharpes"] if s is not None], ddof=1)
    z, gamma = NormalDist().inv_cdf, 0.5772156649
    sr0 = spread * ((1 - gamma) * z(1 - 1 / 16) + gamma * z(1 - 1 / (16 * np.e)))
    assert doc["expected_max_sharpe"] == pytest.approx(sr0, rel=1e-5)
    assert 0 <= doc["deflated_sharpe"] <= doc["out_of_sample"]["psr"]
    deg = doc["degradation"]
    assert deg["change"] == pytest.approx(deg["out_of_sample"] - deg["in_sample_mean"], abs=1e-5)
    assert [f["fold"] for f in deg["by_fold"]] == [0, 1, 2, 3]


def test_tables_and_report(walk):
    out = walk["proc"].stdout
    assert "Walk-forward (rolling, train 3 months, test 2 months): 4 folds, 16 trials" in out
    assert "Out of sample, stitched" in out
    html_text = (walk["folder"] / "wf.html").read_text()
    assert html_text.count("data:image/png;base64,") == 3  # equity, stability, heatmap


def test_folds_without_a_qualifying_configuration_stay_in_cash(walk, tmp_path):
    proc = run_research("walk-forward", walk["spec"], "--in-process", "--results",
                        tmp_path / "r.sqlite", "--min-trades", "1000", "--json",
                        tmp_path / "cash.json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads((tmp_path / "cash.json").read_text())
    assert all(f["chosen_params"] is None for f in doc["folds"])
    oos = doc["out_of_sample"]
    assert oos["trades"] == 0 and oos["total_return_pct"] == 0 and oos["folds_in_cash"] == 4
    assert {v for _, v in oos["equity_curve"]} == {10_000.0}
    assert doc["chosen_params"] == {}
    assert "in cash" in proc.stdout


def test_training_results_are_reused_by_a_second_walk_forward(walk, tmp_path):
    before = table(walk["db"])
    again = run_research("walk-forward", walk["spec"], "--in-process", "--results", walk["db"],
                         "--quiet")
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith("0 task(s) run in this process, 20 answered")
    assert table(walk["db"]) == before


def test_a_dataset_joins_the_folds_its_data_covers(tmp_path):
    spec = tmp_path / "two.yaml"
    spec.write_text(SPEC_TEXT.replace(f"  - {ETH_1H}", f"  - {ETH_1H}\n  - {BTC_1H}")
                    .replace("from: 2023-01-01", "from: 2022-09-01"))
    proc = run_research("walk-forward", spec, "--in-process", "--results", tmp_path / "r.sqlite",
                        "--json", tmp_path / "two.json", "--quiet")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads((tmp_path / "two.json").read_text())
    members = [f["datasets"] for f in doc["folds"]]
    assert members[0] == ["BTCUSDT"]            # ETH data starts in 2023
    assert members[-1] == ["ETHUSDT", "BTCUSDT"]
    assert set(doc["by_dataset"]) == {"ETHUSDT", "BTCUSDT"}
    weakest = min(doc["by_dataset"].values(),
                  key=lambda d: d["out_of_sample"]["sharpe"])["out_of_sample"]["dataset"]
    assert doc["out_of_sample"]["dataset"] == weakest
