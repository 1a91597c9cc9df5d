"""The packages' front doors: every name in ``__all__`` resolves, and the pure parts stay pure
(importing SMC detection, setups, sizing, metrics or the records never loads backtrader)."""

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ["analyzers", "brokers", "brokers.state", "core", "engine", "fake_exchange", "feeds",
            "klines", "readiness", "research", "status_page", "strategies", "venue"]


@pytest.mark.parametrize("package", PACKAGES)
def test_every_public_name_resolves(package):
    module = importlib.import_module(package)
    for name in getattr(module, "__all__", ()):
        assert getattr(module, name) is not None, f"{package}.{name}"


def test_pure_modules_do_not_load_backtrader_or_flask():
    code = ("import sys; import strategies.smc, strategies.setups, strategies.risk, "
            "strategies.guards, analyzers.metrics, analyzers.equity_curve, core.records; "
            "from strategies import find_setups; "
            "print(sorted(m for m in ('backtrader', 'flask') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"
