"""``venue.rest`` imports ccxt's Binance exchange only; the rest of ccxt still loads on demand."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PROBE = """
import sys
import venue.rest as rest
loaded = lambda: sorted(m for m in sys.modules if m == "ccxt" or m.startswith("ccxt."))
assert "ccxt.binance" in loaded() and "ccxt.kraken" not in loaded(), loaded()
exchange = rest.make_exchange("http://127.0.0.1:9")
import ccxt
from ccxt.base import errors
assert type(exchange) is ccxt.binance
assert all(getattr(ccxt, name) is getattr(errors, name) for name in errors.__all__)
assert issubclass(ccxt.RateLimitExceeded, ccxt.BaseError)
assert "ccxt.kraken" not in loaded(), loaded()
assert ccxt.kraken.__name__ == "kraken" and ccxt.__version__   # the full package, on demand
assert "ccxt.kraken" in loaded() and ccxt.binance is sys.modules["ccxt.binance"].binance
print("ok")
"""


def test_only_binance_is_imported_until_something_else_is_asked_for():
    proc = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip() == "ok"
