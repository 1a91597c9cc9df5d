"""The default backtest (``python -m runners.backtest`` with no options) gives exactly the report
in ``tests/fixtures/golden/default_backtest_report.json``: every trade, every metric, every
equity point. A change that moves any of them shows up here; a deliberate one updates the file
and says why in its commit."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "fixtures" / "golden" / "default_backtest_report.json"


def _normalized(report: dict) -> dict:
    for quality in report["data_quality"].values():
        path = Path(quality["path"])
        quality["path"] = str(path.relative_to(ROOT)) if path.is_absolute() else str(path)
    return report


def test_default_backtest_report_is_unchanged(tmp_path):
    out = tmp_path / "report.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "runners.backtest", "--quiet", "--report-json",
                           str(out)], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env=env)
    assert proc.returncode == 0, proc.stderr
    report = _normalized(json.loads(out.read_text()))
    golden = json.loads(GOLDEN.read_text())
    assert report.keys() == golden.keys()
    for key in golden:
        assert report[key] == golden[key], f"report key {key!r} changed"
