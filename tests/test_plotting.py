"""Tests for analyzers.plotting.plot_backtest (the backtest PNG chart)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib import image as mimage

from analyzers.plotting import plot_backtest

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
EXPECTED_SHAPE = (1000, 1400)  # rows, columns: 10 x 14 inches at 100 dpi
REPO_ROOT = Path(__file__).resolve().parents[1]


def make_prices(n: int = 500, freq: str = "1h", start: str = "2023-03-01", seed: int = 0,
                base: float = 20_000.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    index = pd.date_range(start, periods=n, freq=freq, tz="UTC")
    close = base * np.exp(np.cumsum(rng.normal(0.0, 0.004, n)))
    open_ = np.concatenate([[close[0]], close[:-1]])
    spread = np.abs(rng.normal(0.0, 0.002, n)) * close
    return pd.DataFrame(
        {"open": open_, "high": np.maximum(open_, close) + spread,
         "low": np.minimum(open_, close) - spread, "close": close,
         "volume": rng.uniform(1.0, 10.0, n)},
        index=index,
    )


def _iso(ts: pd.Timestamp) -> str:
    return ts.isoformat()


def make_trade(df: pd.DataFrame, symbol: str, i0: int, i1: int, side: str, reason: str) -> dict:
    entry, exit_ = float(df["close"].iloc[i0]), float(df["close"].iloc[i1])
    sign = 1.0 if side == "long" else -1.0
    size = 0.1
    return {
        "symbol": symbol, "side": side,
        "entry_time": _iso(df.index[i0]), "exit_time": _iso(df.index[i1]),
        "entry_price": entry, "exit_price": exit_,
        "size": size,
        "stop_loss": entry * (1 - 0.02 * sign), "take_profit": entry * (1 + 0.04 * sign),
        "pnl": sign * (exit_ - entry) * size - 1.0, "fees": 1.0,
        "exit_reason": reason, "confidence": 0.7,
    }


def make_report(prices: dict[str, pd.DataFrame], trades: list[dict], **overrides) -> dict:
    first = next(iter(prices.values()))
    days = pd.date_range(first.index[0].normalize(), first.index[-1].normalize(), freq="D")
    rng = np.random.default_rng(1)
    equity = 10_000.0 * np.cumprod(1.0 + rng.normal(0.0005, 0.01, len(days)))
    report = {
        "symbols": list(prices), "timeframe": "1h",
        "start": first.index[0].isoformat(), "end": first.index[-1].isoformat(),
        "initial_equity": 10_000.0, "final_equity": float(equity[-1]),
        "total_return_pct": (equity[-1] / 10_000.0 - 1) * 100, "max_drawdown_pct": -4.2,
        "sharpe": 1.37, "win_rate": 0.5, "trades": len(trades),
        "equity_curve": [[d.strftime("%Y-%m-%d"), float(e)] for d, e in zip(days, equity)],
        "trade_list": trades,
    }
    report.update(overrides)
    return report


def three_trades(df: pd.DataFrame, symbol: str) -> list[dict]:
    trades = [make_trade(df, symbol, 50, 90, "long", "take_profit"),
              make_trade(df, symbol, 200, 240, "long", "stop_loss"),
              make_trade(df, symbol, 450, 499, "long", "end_of_data")]
    # make sure we really have one win and one loss whatever the random walk did
    trades[0]["pnl"], trades[1]["pnl"] = 55.0, -30.0
    return trades


def assert_png(path: Path) -> None:
    assert path.is_file() and path.stat().st_size > 0
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    img = mimage.imread(path)
    assert img.shape[:2] == EXPECTED_SHAPE


@pytest.fixture
def btc() -> pd.DataFrame:
    return make_prices()


def test_writes_png_with_trades(tmp_path, btc):
    report = make_report({"BTC/USDT": btc}, three_trades(btc, "BTC/USDT"))
    out = tmp_path / "chart.png"
    assert plot_backtest(report, {"BTC/USDT": btc}, out) is None
    assert_png(out)


def test_accepts_str_path(tmp_path, btc):
    report = make_report({"BTC/USDT": btc}, three_trades(btc, "BTC/USDT"))
    out = tmp_path / "chart.png"
    plot_backtest(report, {"BTC/USDT": btc}, str(out))
    assert_png(out)


def test_zero_trades_and_none_metrics(tmp_path, btc):
    report = make_report({"BTC/USDT": btc}, [], sharpe=None, win_rate=None,
                         max_drawdown_pct=float("nan"), total_return_pct=None)
    out = tmp_path / "empty.png"
    plot_backtest(report, {"BTC/USDT": btc}, out)
    assert_png(out)


def test_empty_equity_curve_and_missing_prices(tmp_path):
    report = {"symbols": ["BTC/USDT"], "timeframe": "1h", "start": None, "end": None,
              "initial_equity": None, "trades": 0, "equity_curve": [], "trade_list": []}
    out = tmp_path / "bare.png"
    plot_backtest(report, {}, out)
    assert_png(out)


def test_several_symbols_with_short_trades(tmp_path, btc):
    eth = make_prices(seed=2, base=1_600.0)
    sol = make_prices(seed=3, base=20.0)
    prices = {"BTC/USDT": btc, "ETH/USDT": eth, "SOL/USDT": sol}
    trades = three_trades(btc, "BTC/USDT") + [
        make_trade(eth, "ETH/USDT", 100, 130, "short", "take_profit"),
        make_trade(eth, "ETH/USDT", 300, 350, "short", "stop_loss"),
    ]
    out = tmp_path / "multi.png"
    plot_backtest(make_report(prices, trades), prices, out)
    assert_png(out)


def test_trade_with_missing_sl_tp(tmp_path, btc):
    trade = make_trade(btc, "BTC/USDT", 10, 20, "long", "signal")
    trade["stop_loss"] = None
    trade["take_profit"] = None
    report = make_report({"BTC/USDT": btc}, [trade])
    out = tmp_path / "nosltp.png"
    plot_backtest(report, {"BTC/USDT": btc}, out)
    assert_png(out)


@pytest.mark.parametrize("name", ["chart.jpg", "chart.pdf", "chart", "chart.png.txt"])
def test_non_png_path_raises(tmp_path, btc, name):
    report = make_report({"BTC/USDT": btc}, [])
    with pytest.raises(ValueError, match=r"\.png"):
        plot_backtest(report, {"BTC/USDT": btc}, tmp_path / name)
    assert not (tmp_path / name).exists()


def test_year_of_minute_bars_is_fast(tmp_path):
    df = make_prices(n=525_600, freq="1min", start="2023-01-01", seed=5)
    trades = [make_trade(df, "BTC/USDT", i, i + 600, "long" if i % 2 else "short", "take_profit")
              for i in range(1_000, 520_000, 5_000)]
    report = make_report({"BTC/USDT": df}, trades, timeframe="1m")
    out = tmp_path / "year.png"
    t0 = time.perf_counter()
    plot_backtest(report, {"BTC/USDT": df}, out)
    elapsed = time.perf_counter() - t0
    assert_png(out)
    assert elapsed < 15.0, f"plotting a year of 1m bars took {elapsed:.1f}s"


def _run_python(code: str, backend: str | None = None) -> str:
    env = dict(os.environ)
    env.pop("MPLBACKEND", None)
    if backend is not None:
        env["MPLBACKEND"] = backend
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.mark.parametrize("backend", [None, "svg"])
def test_import_does_not_change_backend(backend):
    # Fresh interpreters, so that the result does not depend on test order.
    # Note: matplotlib.get_backend() itself may import pyplot to resolve the
    # default backend, so the "no pyplot" check runs before any get_backend().
    code = (
        "import sys, matplotlib\n"
        "before = matplotlib.get_backend()\n"
        "import analyzers.plotting\n"
        "after = matplotlib.get_backend()\n"
        "assert before == after, (before, after)\n"
        "print(after)\n"
    )
    out = _run_python(code, backend)
    if backend is not None:
        assert out.lower() == backend
    no_pyplot = (
        "import sys\n"
        "import analyzers.plotting\n"
        "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot was imported'\n"
    )
    _run_python(no_pyplot, backend)


def test_import_keeps_backend_in_process():
    import importlib

    import matplotlib

    import analyzers.plotting as plotting

    before = matplotlib.get_backend()
    importlib.reload(plotting)
    assert matplotlib.get_backend() == before
