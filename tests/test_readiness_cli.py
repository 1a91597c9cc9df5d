"""``python -m runners.readiness`` driven as a user does (a subprocess on crafted databases):
exit codes, the report files (HTML that parses with images that decode, Markdown, JSON, the
latest copy next to the database), backtest evidence in-sample and out-of-sample, the deflated
Sharpe ratio from a research file or ``--trials``, and one-line errors."""

import base64
import io
import json
import math
import os
import statistics as stdlib_statistics
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from analyzers.statistics import deflated_sharpe_ratio, expected_max_sharpe, moments
from tests.paper_builder import DAY, T0, AccountBuilder, crafted_config, good_record

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "fixtures" / "golden" / "default_backtest_report.json"
RESEARCH = ROOT / "tests" / "fixtures" / "research" / "sweep_results.json"
CRAFTED_CONFIG = """\
strategy:
  execution_timeframe: 1h
  signal_timeframe: 1h
database:
  url: sqlite:///{db}
"""


def readiness(*args, cwd=ROOT):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "runners.readiness", *map(str, args)],
                          cwd=cwd, capture_output=True, text=True, timeout=300, env=env)


def config_file(folder: Path, db: Path) -> Path:
    path = folder / "config.yaml"
    path.write_text(CRAFTED_CONFIG.format(db=db))
    return path


@pytest.fixture(scope="module")
def crafted(tmp_path_factory):
    """A good crafted paper record (40 days, 60 % winners) and its config file."""
    folder = tmp_path_factory.mktemp("crafted")
    db = folder / "state" / "paper.db"
    db.parent.mkdir()
    good_record(db, crafted_config(db)).close()
    return db, config_file(folder, db)


@pytest.fixture(scope="module")
def crafted_report(crafted, tmp_path_factory):
    """The report on the crafted record, with the golden backtest and the research file."""
    db, config = crafted
    out = tmp_path_factory.mktemp("out")
    proc = readiness("--config", config, "--backtest-json", GOLDEN, "--research-json", RESEARCH,
                     "--out", out / "report.html", "--json", out / "report.json")
    return proc, out


class _Page(HTMLParser):
    VOID = {"meta", "img", "br", "hr", "link", "input"}

    def __init__(self):
        super().__init__()
        self.stack, self.images, self.links, self.tags = [], [], [], set()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.add(tag)
        if tag == "img":
            self.images.append(attrs)
        for name in ("href", "src"):
            if name in attrs:
                self.links.append(attrs[name])
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes {self.stack[-1:]}"
        self.stack.pop()


def test_a_database_of_replays_only_is_not_ready_no_paper_record(tmp_path):
    db = tmp_path / "replay.db"
    b = AccountBuilder(db, crafted_config(db), mode="replay")
    b.run(T0, T0 + 40 * DAY)
    b.bars(40 * 24)
    b.close()
    proc = readiness("--config", config_file(tmp_path, db), "--json", tmp_path / "r.json",
                     "--backtest-json", GOLDEN)
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert proc.stdout.strip().splitlines()[-1] == (
        "NOT READY: no paper record: the database holds replay runs only, and replays never "
        "count")
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["verdict"] == "NOT READY"
    assert report["reasons"] == ["no paper record: the database holds replay runs only, and "
                                 "replays never count"]
    assert isinstance(report["generated_ms"], int) and report["generated_ms"] > 0
    # the latest copy next to the database, for the status page
    latest = json.loads((tmp_path / "replay-readiness.json").read_text())
    assert latest["verdict"] == "NOT READY" and latest["reasons"] == report["reasons"]
    assert "NOT READY" in (tmp_path / "replay-readiness.html").read_text()


def test_the_report_of_a_record_exits_1_when_not_ready_and_lists_every_criterion(crafted_report):
    proc, out = crafted_report
    assert proc.returncode == 1, proc.stderr[-2000:]
    report = json.loads((out / "report.json").read_text())
    assert report["verdict"] == "NOT READY"
    # flat crafted prices: the backtest replayed on them trades nothing, so drift fails
    assert report["reasons"][0] == "Drift: match rate: 0.0 % (needs >= 90.0 %)"
    keys = [c["key"] for c in report["criteria"]]
    assert keys[:11] == ["paper_record", "paper_days", "total_pnl", "sharpe", "max_drawdown",
                         "win_rate", "closed_trades", "daily_loss_limit", "engine_uptime",
                         "feed_uptime", "psr_vs_0"]
    for c in report["criteria"]:
        assert set(c) >= {"name", "value", "threshold", "result", "meaning"}
        assert c["result"] in ("PASS", "FAIL", "info")
    stats = report["statistics"]
    assert stats["trades"] == 40 and stats["wins"] == 24
    assert stats["binomial_p_vs_50pct"] == pytest.approx(
        sum(math.comb(40, i) for i in range(24, 41)) / 2**40)
    assert proc.stdout.splitlines()[-1].startswith("NOT READY: Drift: match rate")


def test_the_html_parses_and_its_images_decode(crafted_report):
    _, out = crafted_report
    text = (out / "report.html").read_text()
    page = _Page()
    page.feed(text)
    page.close()
    assert page.stack == []                         # every element closed, in order
    assert len(page.images) == 2                    # equity + drawdown, histogram
    for img in page.images:
        prefix = "data:image/png;base64,"
        assert img["src"].startswith(prefix) and img["alt"]
        data = base64.b64decode(img["src"][len(prefix):], validate=True)
        picture = Image.open(io.BytesIO(data))
        picture.load()
        assert picture.format == "PNG" and picture.size[0] > 500
    # self-contained: no link, script or stylesheet from anywhere else
    assert all(link.startswith("data:") for link in page.links)
    assert not {"script", "link", "iframe"} & page.tags
    assert "http://" not in text and "https://" not in text
    assert 'id="verdict"' in text and "NOT READY" in text
    assert "the luckiest of 24 trials" in text           # the DSR in words


def test_backtest_evidence_in_and_out_of_sample_with_the_deflated_sharpe(crafted_report):
    """The golden backtest split 70/30 by days; the in-sample Sharpe deflated by the research
    file's 24 trials and the variance of their Sharpes."""
    _, out = crafted_report
    report = json.loads((out / "report.json").read_text())
    golden = json.loads(GOLDEN.read_text())
    (evidence,) = report["backtests"]
    full, ins, oos = evidence["segments"]
    assert [s["name"] for s in evidence["segments"]] == ["full period", "in-sample",
                                                         "out-of-sample"]
    days = len(golden["equity_curve"])
    k = round(days * 0.7)
    assert (ins["days"], oos["days"]) == (k, days - k)
    assert full["sharpe"] == golden["sharpe"]
    assert ins["trades"] + oos["trades"] == golden["trades"]
    values = np.array([v for _, v in golden["equity_curve"]])
    is_returns = np.diff(np.r_[golden["initial_equity"], values[:k]]) / np.r_[
        golden["initial_equity"], values[:k - 1]]
    oos_returns = np.diff(values[k - 1:]) / values[k - 1:-1]
    assert ins["sharpe"] == pytest.approx(is_returns.mean() / is_returns.std(ddof=1)
                                          * math.sqrt(365), rel=1e-9)
    assert oos["sharpe"] == pytest.approx(oos_returns.mean() / oos_returns.std(ddof=1)
                                          * math.sqrt(365), rel=1e-9)
    research = json.loads(RESEARCH.read_text())
    variance = stdlib_statistics.variance(research["trial_sharpes"])
    assert report["sweep"]["trials"] == 24
    assert report["sweep"]["trial_sharpe_variance"] == pytest.approx(variance)
    assert report["sweep"]["variance_assumed"] is False
    m = moments(is_returns)
    assert ins["dsr"] == pytest.approx(deflated_sharpe_ratio(m, 24, variance / 365), rel=1e-9)
    assert ins["dsr_expected_max_sharpe"] == pytest.approx(
        expected_max_sharpe(24, variance / 365) * math.sqrt(365), rel=1e-9)
    assert oos["dsr"] is None


def test_trials_without_a_research_file_assume_the_noise_variance(crafted, tmp_path):
    db, config = crafted
    proc = readiness("--config", config, "--backtest-json", GOLDEN, GOLDEN, "--trials", 50,
                     "--oos-fraction", 0.5, "--json", tmp_path / "r.json")
    assert proc.returncode == 1, proc.stderr[-2000:]
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["sweep"]["variance_assumed"] is True
    assert len(report["backtests"]) == 2 and report["backtests"][0] == report["backtests"][1]
    ins = report["backtests"][0]["segments"][1]
    golden = json.loads(GOLDEN.read_text())
    k = round(len(golden["equity_curve"]) * 0.5)
    assert ins["days"] == k
    values = np.r_[golden["initial_equity"], [v for _, v in golden["equity_curve"][:k]]]
    m = moments(values[1:] / values[:-1] - 1)
    assert ins["dsr"] == pytest.approx(deflated_sharpe_ratio(m, 50, 1 / (m.n - 1)), rel=1e-9)


def test_markdown_report_and_a_fresh_backtest_by_default(crafted, tmp_path):
    """Without --backtest-json the config is backtested over its bundled history."""
    db, config = crafted
    proc = readiness("--config", config, "--out", tmp_path / "report.md")
    assert proc.returncode == 1, proc.stderr[-2000:]
    text = (tmp_path / "report.md").read_text()
    assert text.startswith("# Go-live readiness")
    assert "| criterion | value | threshold | result | meaning |" in text
    assert "| Win rate | 60.0 % | > 55.0 % | PASS |" in text
    assert "fresh backtest: BTCUSDT BTCUSDT_spot_1h_2017-08-17_2023-12-31.csv.gz" in text
    assert text.count("](data:image/png;base64,") == 2


def test_research_choice_other_than_the_config_is_noted(crafted, tmp_path):
    db, config = crafted
    research = json.loads(RESEARCH.read_text())
    research["chosen_params"]["decision_engine.confidence_threshold"] = 0.6
    path = tmp_path / "research.json"
    path.write_text(json.dumps(research))
    proc = readiness("--config", config, "--backtest-json", GOLDEN, "--research-json", path,
                     "--json", tmp_path / "r.json")
    assert proc.returncode == 1
    notes = json.loads((tmp_path / "r.json").read_text())["notes"]
    assert ("the config is not the research's choice: decision_engine.confidence_threshold: "
            "research chose 0.6, the config has 0.7") in notes


def test_no_paper_database_yet_points_to_the_replays(tmp_path):
    """A new user's first run, before the paper engine ever started: one line that says so and
    how to judge a replay's account instead."""
    proc = readiness("--config", config_file(tmp_path, tmp_path / "paper_trading.db"))
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        f"error: database.url: {tmp_path / 'paper_trading.db'} does not exist yet (the paper "
        f"engine creates it on its first start); to judge a replay's account instead: "
        f"--db sqlite:///state/replay.db")


@pytest.mark.parametrize("args, expected", [
    (["--out", "report.txt"], "--out report.txt: must end in .html or .md"),
    (["--db", "postgresql://x/y"], "--db: only SQLite is supported"),
    (["--db", "sqlite:///{tmp}/missing.db"], "does not exist yet"),
    (["--trials", "0"], "--trials 0: must be at least 1"),
    (["--trials", "3", "--research-json", "{research}"], "not allowed with argument"),
    (["--oos-fraction", "1.5"], "--oos-fraction: must be between 0 and 1"),
    (["--account", "9"], "--account 9: no such account; the database holds accounts 1 (paper)"),
    (["--backtest-json", "{research}"], "not a backtest report (no equity_curve)"),
    (["--backtest-json", "{tmp}/nope.json"], "nope.json: file not found"),
    (["--research-json", "{golden}"], "trials must be a whole number >= 1"),
    (["--research-json", "{short}"], "trial_sharpes has 2 entries but trials is 3"),
])
def test_bad_input_exits_2_with_one_line(crafted, tmp_path, args, expected):
    db, config = crafted
    short = tmp_path / "short.json"
    short.write_text(json.dumps({"trials": 3, "trial_sharpes": [0.1, 0.2]}))
    args = [a.format(tmp=tmp_path, research=RESEARCH, golden=GOLDEN, short=short) for a in args]
    proc = readiness("--config", config, *args)
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    lines = [line for line in proc.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and expected in lines[0], proc.stderr
