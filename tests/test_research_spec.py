"""The research spec: ranges, and one clear line (exit 2) for every bad input; the search
methods."""

import json

import pytest

from core.errors import UserInputError
from research.space import grid, random_sample
from research.spec import load_spec
from tests.research_helpers import ETH_1H, ROOT, run_research, write_spec

GOOD = {"data": [str(ETH_1H)], "params": {"smc.swing_lookback": [3, 5]}}


def spec_of(tmp_path, **body):
    return load_spec(write_spec(tmp_path, {**GOOD, **body}))[0]


def test_stepped_range_is_exact_and_inclusive(tmp_path):
    spec = spec_of(tmp_path, params={
        "decision_engine.confidence_threshold": {"from": 0.5, "to": 0.9, "step": 0.05},
        "smc.swing_lookback": {"from": 3, "to": 9, "step": 3}})
    threshold, lookback = spec.params
    assert threshold.values == (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9)
    assert lookback.values == (3, 6, 9) and all(type(v) is int for v in lookback.values)


def test_paths_are_relative_to_the_spec_and_the_symbol_comes_from_the_name(tmp_path):
    (tmp_path / "d").mkdir()
    target = tmp_path / "d" / ETH_1H.name
    target.symlink_to(ETH_1H)
    spec = load_spec(write_spec(tmp_path, {"data": [f"d/{ETH_1H.name}", {"BTCUSDT": str(ETH_1H)}],
                                           "params": GOOD["params"]}))[0]
    assert [d.name for d in spec.datasets] == ["ETHUSDT", "BTCUSDT"]
    assert spec.datasets[0].files[0][1] == target


def test_grid_and_seeded_random_sample(tmp_path):
    spec = spec_of(tmp_path, params={"smc.swing_lookback": [3, 5, 8],
                                     "risk_manager.take_profit_ratio": [2.0, 3.0]})
    configs = grid(spec.params)
    assert len(configs) == 6
    assert configs[0] == (("smc.swing_lookback", 3), ("risk_manager.take_profit_ratio", 2.0))
    assert configs[1] == (("smc.swing_lookback", 3), ("risk_manager.take_profit_ratio", 3.0))
    sample = random_sample(spec.params, 4, seed=7)
    assert sample == random_sample(spec.params, 4, seed=7)
    assert len(set(sample)) == 4 and set(sample) <= set(configs)
    assert sample != random_sample(spec.params, 4, seed=8)
    assert random_sample(spec.params, 10, seed=7) == configs  # N covers the grid: the grid


def test_continuous_range_is_drawn_within_its_bounds(tmp_path):
    spec = spec_of(tmp_path, params={"risk_manager.take_profit_ratio": {"from": 1.5, "to": 4.0},
                                     "smc.swing_lookback": {"from": 2, "to": 9}},
                   search={"method": "random", "trials": 30, "seed": 1})
    sample = random_sample(spec.params, 30, seed=1)
    assert len(set(sample)) == 30
    for config in sample:
        ratio, lookback = dict(config).values()
        assert 1.5 <= ratio <= 4.0 and isinstance(ratio, float)
        assert 2 <= lookback <= 9 and isinstance(lookback, int)


def test_optuna_not_installed_is_one_line(tmp_path):
    try:
        import optuna  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("optuna is installed here")
    path = write_spec(tmp_path, {**GOOD, "search": {"method": "optuna", "trials": 5}})
    proc = run_research("sweep", path, "--in-process", "--results", tmp_path / "r.sqlite")
    assert proc.returncode == 2
    assert proc.stderr.strip() == ("error: search method optuna: the optuna package is not "
                                   "installed (pip install optuna), or use grid or random search")


BAD = [
    ({"params": {"smc.swing_lookbak": [3]}},
     "params.smc.swing_lookbak: unknown key (did you mean swing_lookback?)"),
    ({"params": {"decision_engine.confidence_threshold": {"from": 0.5, "to": 1.5, "step": 0.5}}},
     "params.decision_engine.confidence_threshold: must be >= 0 and <= 1"),
    ({"params": {"smc.swing_lookback": {"from": 3, "to": 9, "step": 0}}},
     "params.smc.swing_lookback.step: must be > 0, got 0"),
    ({"params": {"smc.swing_lookback": {"from": 9, "to": 3, "step": 1}}},
     "params.smc.swing_lookback: from 9 is above to 3"),
    ({"params": {"smc.swing_lookback": []}}, "params.smc.swing_lookback: an empty list"),
    ({"params": {"smc": [1]}}, "params.smc: is a section, not a value"),
    ({"params": {"risk_manager.take_profit_ratio": {"from": 1, "to": 3.5}}},
     "params.risk_manager.take_profit_ratio: a range without a step has no grid"),
    ({"search": {"method": "random"}}, "search.trials: required for random search"),
    ({"search": {"method": "annealing"}}, "search.method: unknown value 'annealing'"),
    ({"objective": "sortino"}, "objective.metric: unknown value 'sortino'"),
    ({"window": [{"from": "2023-01-01"}]}, "window: unknown key (did you mean windows?)"),
    ({"windows": [{"from": "2023-03-01", "to": "2023-02-01"}]},
     "windows[0]: from 2023-03-01 is not before to 2023-02-01"),
    ({"windows": [{"from": "March"}]}, "windows[0].from: not an ISO date: 'March'"),
    ({"data": ["nowhere/BTCUSDT_spot_1h.csv"]}, "data[0]: nowhere/BTCUSDT_spot_1h.csv: no such "
                                                "file"),
    ({"data": [{"ETHBTC": str(ETH_1H)}]}, "data[0]: ETHBTC is not quoted in USDT"),
    ({"data": [str(ETH_1H), str(ETH_1H)]}, "data[1]: dataset ETHUSDT is listed twice"),
    ({"holdout": {"from": "2023-06-01", "to": "2024-01-01"}},
     "holdout: 2023-06-01..2024-01-01 overlaps windows[0] all; the holdout must lie outside"),
    ({"walk_forward": {"train_months": 0, "test_months": 1}},
     "walk_forward.train_months: must be >= 1, got 0"),
]


@pytest.mark.parametrize("body, message", BAD, ids=[m.split(":")[0] for _, m in BAD])
def test_bad_spec_is_one_line_naming_file_and_key(tmp_path, body, message):
    path = write_spec(tmp_path, {**GOOD, **body})
    with pytest.raises(UserInputError) as caught:
        load_spec(path)
    text = str(caught.value)
    assert "\n" not in text
    assert text.startswith(f"{path}: {message}"), text


def test_cli_exit_2_one_line(tmp_path):
    path = write_spec(tmp_path, {**GOOD, "params": {"smc.swing_lookback": [0, 3]}})
    proc = run_research("sweep", path, "--in-process", "--results", tmp_path / "r.sqlite")
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.strip() == (f"error: {path}: params.smc.swing_lookback: must be >= 1 and "
                                   f"<= 50, got 0")
    missing = run_research("sweep", tmp_path / "nope.yaml", "--in-process")
    assert missing.returncode == 2
    assert missing.stderr.strip() == f"error: {tmp_path / 'nope.yaml'}: spec file not found"


def test_walk_forward_needs_its_section_and_keeps_the_balance_unswept(tmp_path):
    path = write_spec(tmp_path, GOOD)
    with pytest.raises(UserInputError, match=r"walk_forward: missing: give train_months"):
        load_spec(path, walk_forward=True)
    path = write_spec(tmp_path, {**GOOD, "walk_forward": {"train_months": 3, "test_months": 1},
                                 "params": {"paper_trading.initial_balance": [5000, 10000]}})
    with pytest.raises(UserInputError, match="cannot be swept in a walk-forward"):
        load_spec(path, walk_forward=True)


def test_the_bundled_example_spec_is_valid():
    from research.data import load_datasets
    from research.walkforward import make_folds
    from tests.research_helpers import ROOT

    spec, _ = load_spec(ROOT / "research.yaml", walk_forward=True)
    assert len(grid(spec.params)) == 18 and spec.holdout is not None
    assert len(make_folds(spec, load_datasets(spec))) == 8  # 2019-09 .. 2023-09, six months each


FAKE_OPTUNA = '''
"""A stand-in with optuna's ask-and-tell surface, recording what the sweep tells it."""
import json, os, random, types

class TrialState:
    FAIL = "FAIL"

trial = types.SimpleNamespace(TrialState=TrialState)
logging = types.SimpleNamespace(WARNING=30, set_verbosity=lambda level: None)

class TPESampler:
    def __init__(self, seed=None):
        self.rng = random.Random(seed)

samplers = types.SimpleNamespace(TPESampler=TPESampler)

class _Trial:
    def __init__(self, number, rng):
        self.number, self.rng, self.params = number, rng, {}
    def suggest_categorical(self, name, choices):
        self.params[name] = self.rng.choice(list(choices))
        return self.params[name]
    def suggest_int(self, name, low, high, step=1):
        self.params[name] = self.rng.randrange(low, high + 1, step)
        return self.params[name]
    def suggest_float(self, name, low, high, step=None):
        self.params[name] = low + step * self.rng.randrange(int(round((high - low) / step)) + 1)
        return self.params[name]

class _Study:
    def __init__(self, sampler):
        self.sampler, self.asked = sampler, 0
    def ask(self):
        self.asked += 1
        return _Trial(self.asked - 1, self.sampler.rng)
    def tell(self, trial, values=None, state=None):
        with open(os.environ["FAKE_OPTUNA_LOG"], "a") as fh:
            fh.write(json.dumps([trial.number, trial.params, values, state]) + "\\n")

def create_study(direction, sampler):
    assert direction == "maximize"
    return _Study(sampler)
'''


def test_optuna_search_asks_and_tells_each_trial(tmp_path):
    (tmp_path / "fake" / "optuna").mkdir(parents=True)
    (tmp_path / "fake" / "optuna" / "__init__.py").write_text(FAKE_OPTUNA)
    path = write_spec(tmp_path, {
        "data": [str(ETH_1H)], "windows": [{"from": "2023-01-01", "to": "2023-03-01"}],
        "params": {"smc.swing_lookback": {"from": 3, "to": 6, "step": 1},
                   "decision_engine.confidence_threshold": {"from": 0.5, "to": 0.8,
                                                            "step": 0.1}},
        "search": {"method": "optuna", "trials": 10, "seed": 3},
        "objective": {"metric": "sharpe", "min_trades": 5}})
    log = tmp_path / "told.jsonl"
    env = {"PYTHONPATH": f"{tmp_path / 'fake'}:{ROOT}", "FAKE_OPTUNA_LOG": str(log)}
    proc = run_research("sweep", path, "--in-process", "--results", tmp_path / "r.sqlite",
                        "--json", tmp_path / "o.json", "--quiet", env_extra=env)
    assert proc.returncode == 0, proc.stderr
    told = [json.loads(line) for line in log.read_text().splitlines()]
    assert [t[0] for t in told] == list(range(10))  # every trial told, in order
    ranking = json.loads((tmp_path / "o.json").read_text())["ranking"]
    scores = {json.dumps(r["params"], sort_keys=True): r["score"] for r in ranking}
    for _, params, value, state in told:
        assert params["decision_engine.confidence_threshold"] in (0.5, 0.6, 0.7, 0.8)  # on grid
        score = scores[json.dumps(params, sort_keys=True)]
        assert (value, state) == ((score, None) if score is not None else (None, "FAIL"))
