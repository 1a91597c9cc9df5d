"""Tests for analyzers.plotting.plot_backtest (the backtest PNG chart)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib import dates as mdates
from matplotlib import image as mimage

from analyzers import plotting
from analyzers.metrics import max_drawdown_pct
from analyzers.plotting import backtest_figure, plot_backtest

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
EXPECTED_SHAPE = (1000, 1400)  # rows, columns: 10 x 14 inches at 100 dpi
REPO_ROOT = Path(__file__).resolve().parents[1]
BTC_1H = REPO_ROOT / "data" / "BTCUSDT_spot_1h_2017-08-17_2023-12-31.csv.gz"
HOUR_MS = 3_600_000


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
        "equity_curve": [[d.strftime("%Y-%m-%d"), float(e)]
                         for d, e in zip(days, equity, strict=True)],
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


def test_year_of_minute_bars_renders(tmp_path):
    df = make_prices(n=525_600, freq="1min", start="2023-01-01", seed=5)
    trades = [make_trade(df, "BTC/USDT", i, i + 600, "long" if i % 2 else "short", "take_profit")
              for i in range(1_000, 520_000, 5_000)]
    report = make_report({"BTC/USDT": df}, trades, timeframe="1m")
    out = tmp_path / "year.png"
    plot_backtest(report, {"BTC/USDT": df}, out)
    assert_png(out)


# --------------------------------------------------------------------------- what is drawn


def panel(fig, gid):
    return next(ax for ax in fig.axes if ax.get_gid() == gid)


def artists(ax, gid):
    return [a for a in ax.get_children() if a.get_gid() == gid]


def only(ax, gid):
    found = artists(ax, gid)
    assert len(found) == 1, f"{len(found)} artists named {gid!r}"
    return found[0]


def line_xy(ax, gid):
    line = only(ax, gid)
    return np.asarray(line.get_xdata(), dtype=float), np.asarray(line.get_ydata(), dtype=float)


def num(ms):
    """Epoch ms -> matplotlib date number."""
    return mdates.date2num(pd.to_datetime(np.asarray(ms, dtype=np.int64), unit="ms", utc=True))


def iso_num(text):
    return float(num([pd.Timestamp(text).value // 1_000_000])[0])


def points(collection):
    return {(round(float(x), 9), round(float(y), 6)) for x, y in collection.get_offsets()}


def legend_labels(ax):
    legend = ax.get_legend()
    return [t.get_text() for t in legend.get_texts()] if legend else []


def title_max_dd(fig):
    match = re.search(r"Max DD (\d+\.\d\d)%", fig._suptitle.get_text())
    assert match, fig._suptitle.get_text()
    return float(match.group(1))


def per_bar_equity(df, initial=10_000.0, seed=1):
    """A per-bar equity record as the backtest gives it: bar open times, equity at each close."""
    rng = np.random.default_rng(seed)
    times = df.index.as_unit("ms").asi8
    values = initial * np.cumprod(1.0 + rng.normal(0.0, 0.002, len(df)))
    return times, values


def test_equity_is_drawn_at_each_bars_close(btc):
    """Bar k's equity is its value at the close, so it sits at open + 1 h; the curve starts at
    the initial equity at the first open, and the first loss shows one bar after it."""
    times = btc.index.as_unit("ms").asi8[:4]
    values = np.array([10_000.0, 9_900.0, 9_900.0, 9_950.0])
    fig = backtest_figure(make_report({"BTC/USDT": btc}, []), {"BTC/USDT": btc},
                          equity_times_ms=times, equity_values=values)
    x, y = line_xy(panel(fig, "equity"), "equity")
    assert x == pytest.approx(num([times[0], *(times + HOUR_MS)]), abs=1e-9)
    assert list(y) == [10_000.0, 10_000.0, 9_900.0, 9_900.0, 9_950.0]
    assert x[np.flatnonzero(y < 10_000.0)[0]] == pytest.approx(num([times[1] + HOUR_MS])[0])


def test_price_is_drawn_at_its_sample_times(btc):
    """The first open at the first open time, then each close at its bar's close time."""
    fig = backtest_figure(make_report({"BTC/USDT": btc}, []), {"BTC/USDT": btc})
    x, y = line_xy(panel(fig, "price:BTC/USDT"), "price")
    opens = btc.index.as_unit("ms").asi8
    assert x == pytest.approx(num([opens[0], *(opens + HOUR_MS)]), abs=1e-9)
    assert y[0] == btc["open"].iloc[0] and list(y[1:]) == list(btc["close"])


def test_entries_exits_and_stops_are_drawn(btc):
    trades = three_trades(btc, "BTC/USDT")
    fig = backtest_figure(make_report({"BTC/USDT": btc}, trades), {"BTC/USDT": btc})
    ax = panel(fig, "price:BTC/USDT")
    assert points(only(ax, "entries:long")) == {
        (round(iso_num(t["entry_time"]), 9), round(t["entry_price"], 6)) for t in trades}
    assert points(only(ax, "exits:win")) == {
        (round(iso_num(trades[0]["exit_time"]), 9), round(trades[0]["exit_price"], 6))}
    assert points(only(ax, "exits:loss")) == {
        (round(iso_num(trades[1]["exit_time"]), 9), round(trades[1]["exit_price"], 6))}
    assert (len(artists(ax, "exits:loss:end_of_data"))
            + len(artists(ax, "exits:win:end_of_data"))) == 1
    for gid, key in (("stop_loss", "stop_loss"), ("take_profit", "take_profit")):
        segments = only(ax, gid).get_segments()
        assert sorted((s[0][0], s[1][0], s[0][1], s[1][1]) for s in segments) == pytest.approx(
            sorted((iso_num(t["entry_time"]), iso_num(t["exit_time"]), t[key], t[key])
                   for t in trades))
    assert "stop loss" in legend_labels(ax) and "take profit" in legend_labels(ax)


def test_short_trades_have_their_own_markers(btc):
    trades = [make_trade(btc, "BTC/USDT", 100, 130, "short", "take_profit")]
    ax = panel(backtest_figure(make_report({"BTC/USDT": btc}, trades), {"BTC/USDT": btc}),
               "price:BTC/USDT")
    assert len(only(ax, "entries:short").get_offsets()) == 1
    assert artists(ax, "entries:long") == []


def test_long_chart_uses_a_log_scale_and_the_last_trades_stops():
    daily = make_prices(n=900, freq="1D", start="2020-01-01", seed=4, base=5_000.0)
    trades = [make_trade(daily, "BTC/USDT", i, i + 2, "long", "stop_loss")
              for i in range(5, 880, 20)]
    report = make_report({"BTC/USDT": daily}, trades, timeframe="1d")
    ax = panel(backtest_figure(report, {"BTC/USDT": daily}), "price:BTC/USDT")
    assert ax.get_yscale() == "log"
    last = sorted(trades, key=lambda t: t["entry_time"])[-plotting.MAX_SL_TP_TRADES:]
    drawn = [p for gid in ("stop_loss", "stop_loss:ticks") for a in artists(ax, gid)
             for p in (a.get_segments() if gid == "stop_loss" else a.get_offsets())]
    assert len(drawn) == plotting.MAX_SL_TP_TRADES < len(trades)
    stops = sorted(float(np.asarray(p)[..., 1].ravel()[0]) for p in drawn)
    assert stops == pytest.approx(sorted(t["stop_loss"] for t in last))
    note = f"(last {plotting.MAX_SL_TP_TRADES} of {len(trades)} trades)"
    assert f"stop loss {note}" in legend_labels(ax)
    assert f"take profit {note}" in legend_labels(ax)
    # every trade still has its entry and exit marker
    assert len(only(ax, "entries:long").get_offsets()) == len(trades)
    short = panel(backtest_figure(make_report({"BTC/USDT": make_prices()}, []),
                                  {"BTC/USDT": make_prices()}), "price:BTC/USDT")
    assert short.get_yscale() == "linear"


def test_long_curves_keep_their_extremes():
    """A year of 1m bars is drawn as an envelope of a few thousand points that still reaches
    the series' highest and lowest price and the deepest drawdown."""
    df = make_prices(n=525_600, freq="1min", start="2023-01-01", seed=5)
    times, values = per_bar_equity(df, seed=6)
    report = make_report({"BTC/USDT": df}, [], timeframe="1m",
                         max_drawdown_pct=max_drawdown_pct(values, 10_000.0))
    fig = backtest_figure(report, {"BTC/USDT": df}, equity_times_ms=times, equity_values=values)
    _, price = line_xy(panel(fig, "price:BTC/USDT"), "price")
    assert len(price) <= plotting.MAX_PRICE_POINTS + 1
    assert price.max() == df["close"].max() and price.min() == min(df["close"].min(),
                                                                    df["open"].iloc[0])
    _, equity = line_xy(panel(fig, "equity"), "equity")
    assert len(equity) <= plotting.MAX_EQUITY_POINTS + 1
    assert equity.max() == max(values.max(), 10_000.0) and equity.min() == values.min()
    _, dd = line_xy(panel(fig, "drawdown"), "drawdown")
    assert -dd.min() == pytest.approx(report["max_drawdown_pct"], rel=1e-12)


def test_daily_curve_without_the_per_bar_record_says_so(btc):
    report = make_report({"BTC/USDT": btc}, [])
    fig = backtest_figure(report, {"BTC/USDT": btc})
    x, _ = line_xy(panel(fig, "equity"), "equity")
    first_day = pd.Timestamp(report["equity_curve"][0][0], tz="UTC")
    assert x[0] == pytest.approx(iso_num(first_day + pd.Timedelta(days=1)))   # end of that day
    assert x[-1] == pytest.approx(iso_num(report["end"]))
    assert any("end of each UTC day" in t for t in legend_labels(panel(fig, "equity")))
    assert any("daily values" in t for t in legend_labels(panel(fig, "drawdown")))


@pytest.fixture(scope="module")
def real_run():
    from core.config import load_config
    from engine.backtest import run_backtest
    from klines import load_klines

    klines = {"BTCUSDT": load_klines(BTC_1H, start="2022-01-01", end="2023-01-01")}
    result = run_backtest(load_config(), klines)
    fig = backtest_figure(result.report, {"BTCUSDT": klines["BTCUSDT"].frame},
                          equity_times_ms=result.equity_times_ms,
                          equity_values=result.equity_values)
    return result, klines, fig


def test_real_run_panels_end_where_the_price_ends(real_run):
    result, _, fig = real_run
    px, _ = line_xy(panel(fig, "price:BTCUSDT"), "price")
    ex, _ = line_xy(panel(fig, "equity"), "equity")
    dx, _ = line_xy(panel(fig, "drawdown"), "drawdown")
    end, start = iso_num(result.report["end"]), iso_num(result.report["start"])
    assert px[-1] == pytest.approx(end) and ex[-1] == pytest.approx(end)
    assert dx[-1] == pytest.approx(end)
    assert ex[0] == pytest.approx(start) and px[0] == pytest.approx(start)


def test_real_run_equity_points_are_the_per_bar_values_at_bar_close(real_run):
    """Every drawn equity point (after the initial one) is the equity of the bar that closes at
    its x: drawn at the bar's open instead, the curve would move before the fill that moved it."""
    result, _, fig = real_run
    x, y = line_xy(panel(fig, "equity"), "equity")
    at_close = dict(zip(np.round(num(result.equity_times_ms + HOUR_MS), 9), result.equity_values,
                        strict=True))
    at_close[round(iso_num(result.report["start"]), 9)] = result.report["initial_equity"]
    assert (x[0], y[0]) == (pytest.approx(iso_num(result.report["start"])),
                            result.report["initial_equity"])
    assert len(x) < len(result.equity_values)          # the envelope is in play
    assert all(at_close[round(float(xi), 9)] == yi for xi, yi in zip(x, y, strict=True))


def test_real_run_drawdown_panel_agrees_with_the_title(real_run):
    result, _, fig = real_run
    ax = panel(fig, "drawdown")
    _, dd = line_xy(ax, "drawdown")
    reported = result.report["max_drawdown_pct"]
    assert -dd.min() == pytest.approx(reported, rel=1e-5)       # the report rounds to 6 digits
    assert title_max_dd(fig) == round(-dd.min(), 2)
    deepest = only(ax, "max_drawdown").get_offsets()[0]
    assert deepest[1] == dd.min()
    assert f"max drawdown {reported:.2f} % (per bar)" in legend_labels(ax)


def test_real_run_draws_every_trade(real_run):
    result, _, fig = real_run
    ax = panel(fig, "price:BTCUSDT")
    trades = result.report["trade_list"]
    entries = only(ax, "entries:long").get_offsets()
    assert len(entries) == len(trades) > plotting.MAX_SL_TP_TRADES
    exits = sum(len(a.get_offsets()) for a in ax.get_children()
                if str(a.get_gid()).startswith("exits:"))
    assert exits == len(trades)
    wins = sum(t["pnl"] > 0 for t in trades)
    assert len(only(ax, "exits:win").get_offsets()) == wins
    sl = sum(len(a.get_segments()) for a in artists(ax, "stop_loss")) + \
        sum(len(a.get_offsets()) for a in artists(ax, "stop_loss:ticks"))
    tp = sum(len(a.get_segments()) for a in artists(ax, "take_profit")) + \
        sum(len(a.get_offsets()) for a in artists(ax, "take_profit:ticks"))
    assert sl == tp == plotting.MAX_SL_TP_TRADES


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


def test_cli_chart_is_drawn_from_the_per_bar_equity(tmp_path, real_run):
    """``--plot`` hands the run's per-bar record to the chart: its PNG is the per-bar chart,
    byte for byte, not the one drawn from the daily curve (Agg output is deterministic)."""
    from argparse import Namespace

    from runners.backtest import _write_outputs

    result, klines, _ = real_run
    cli = tmp_path / "cli.png"
    _write_outputs(Namespace(report_json=None, trades_csv=None, plot=str(cli)), result, klines)
    prices = {"BTCUSDT": klines["BTCUSDT"].frame}
    per_bar, daily = tmp_path / "per_bar.png", tmp_path / "daily.png"
    plot_backtest(result.report, prices, per_bar, equity_times_ms=result.equity_times_ms,
                  equity_values=result.equity_values)
    plot_backtest(result.report, prices, daily)
    assert cli.read_bytes() == per_bar.read_bytes() != daily.read_bytes()
