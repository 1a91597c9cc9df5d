"""The status page through Flask's test client, on the three databases a user meets: none yet
(a fresh install), an empty one, and one filled by a replay run (``runners.live_paper --replay``
of the bundled week); then every bad query value, the token, the Host check, the methods and the
headers, and the figures against the paper report they must equal."""

import json
import logging
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from brokers.state.store import StateStore
from core.config import apply_overrides, load_config
from core.errors import ConfigError
from engine.paper_report import paper_report
from status_page import create_app
from status_page.charts import price_chart
from status_page.database import StateDatabase
from status_page.record import PaperRecord, RecordKey
from status_page.security import CSP, bind_policy
from status_page.zones import chart_zones, smc_params
from strategies.smc import SmcParams, detect_smc
from tests.status_page_support import BUSY_YAML, derived, run_replay

TOKEN = "t0ken-for-the-tests-0123456789"
ENDPOINTS = ["/", "/fragment", "/api/health", "/api/account", "/api/positions", "/api/signals",
             "/api/equity", "/api/trades", "/api/market", "/api/candles"]
ALIASES = {"/api/python/account": "/api/account", "/api/python/positions": "/api/positions",
           "/api/python/paper-trades": "/api/trades", "/api/trading/market-data": "/api/market",
           "/api/trading/data-health": "/api/health", "/api/trading/live-ohlcv": "/api/candles"}


@pytest.fixture(scope="module")
def replay_db(tmp_path_factory):
    return run_replay(tmp_path_factory.mktemp("status-replay"))


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    path = tmp_path_factory.mktemp("status-config") / "c.yaml"
    path.write_text(BUSY_YAML)
    return load_config(path)


def url(path):
    return f"sqlite:///{path}"


def app_for(config, db, clock=None, **kwargs):
    extra = {"clock": clock} if clock is not None else {}
    return create_app(config, db_url=url(db), **extra, **kwargs)


def heartbeat_ms(db):
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT max(last_heartbeat_ms) FROM runs").fetchone()[0]


@pytest.fixture()
def empty_db(tmp_path):
    db = tmp_path / "empty.db"
    StateStore(url(db)).close()          # what the engine creates on its first start, no rows
    return db


# ----------------------------------------------------------------- the three databases

@pytest.mark.parametrize("kind", ["missing", "empty", "zero-byte"])
def test_fresh_install_shows_no_trades_yet_on_every_endpoint(kind, tmp_path, config, empty_db):
    db = {"missing": tmp_path / "state" / "nothing.db", "empty": empty_db,
          "zero-byte": tmp_path / "zero.db"}[kind]
    if kind == "zero-byte":
        db.write_bytes(b"")
    client = app_for(config, db).test_client()
    for path in ENDPOINTS:
        response = client.get(path)
        assert response.status_code == (503 if path == "/api/health" else 200), path
        if path.startswith("/api/"):
            assert response.is_json, path
    page = client.get("/").get_data(as_text=True)
    assert "no trades yet" in page.lower() and "Traceback" not in page
    assert 'class="banner mode-paper"' in page and "<strong>PAPER</strong>" in page
    account = client.get("/api/account").get_json()
    assert account["note"] == "no trades yet" and account["cash"] == 10000.0
    assert client.get("/api/trades").get_json() == {"total": 0, "limit": 50, "offset": 0,
                                                    "trades": []}
    health = client.get("/api/health").get_json()
    assert health["status"] == "unavailable" and health["reasons"]
    # the engine's fresh file has the schema and no rows; a zero-byte file has not even that
    assert health["database"]["state"] == {"missing": "missing", "empty": "ready",
                                           "zero-byte": "empty"}[kind]
    assert not (tmp_path / "state").exists()     # the page never creates the engine's folder


def test_a_newer_schema_is_reported_not_crashed_on(tmp_path, config, empty_db):
    with sqlite3.connect(empty_db) as conn:
        conn.execute("PRAGMA user_version = 99")
    client = app_for(config, empty_db).test_client()
    health = client.get("/api/health")
    assert health.status_code == 503
    assert "newer than this code" in health.get_json()["reasons"][0]
    assert client.get("/").status_code == 200


def test_replay_database_every_endpoint_and_the_stopped_engine(replay_db, config):
    client = app_for(config, replay_db).test_client()
    for path in ENDPOINTS:
        response = client.get(path)
        assert response.status_code == (503 if path == "/api/health" else 200), path
    page = client.get("/").get_data(as_text=True)
    assert "<strong>REPLAY</strong>" in page and 'mode-replay' in page
    assert "engine not running · last heartbeat" in page and "(stopped)" in page
    health = client.get("/api/health").get_json()
    assert health["engine"]["running"] is False and health["engine"]["run_status"] == "stopped"
    assert health["reasons"][0].startswith("the engine is not running (run 1 stopped; last "
                                           "heartbeat")
    assert health["database"]["size_bytes"] > 0


def test_aliases_answer_like_the_endpoints(replay_db, config):
    client = app_for(config, replay_db, clock=lambda: 1_800_000_000).test_client()
    for alias, endpoint in ALIASES.items():
        a, b = client.get(alias), client.get(endpoint)
        assert (a.status_code, a.get_json()) == (b.status_code, b.get_json()), alias


# ----------------------------------------------------------------- what the replay shows

def test_account_positions_and_market_from_the_database(replay_db, config):
    client = app_for(config, replay_db).test_client()
    store = StateStore(url(replay_db), readonly=True)
    try:
        acc = store.account()
        held = [t for t in store.open_trades(acc.id) if t.status == "open"]
        price = store.market()[0].last_price
    finally:
        store.close()
    assert len(held) == 1
    account = client.get("/api/account").get_json()
    trade = held[0]
    sign = 1 if trade.side == "long" else -1
    assert account["cash"] == pytest.approx(acc.cash)
    assert account["equity"] == pytest.approx(acc.cash + sign * trade.size * price)
    assert account["open_risk"] == pytest.approx(trade.risk)
    assert account["daily_loss"]["limit"] == 500.0 and account["daily_loss"]["halted"] is False
    (position,) = client.get("/api/positions").get_json()["positions"]
    assert position["trade_id"] == trade.id and position["entry"] == pytest.approx(
        trade.entry_price)
    assert position["stop_loss"] == trade.stop_loss and position["take_profit"] == trade.take_profit
    unrealized = sign * (price - trade.entry_price) * trade.size - trade.entry_fee
    assert position["unrealized_pnl"] == pytest.approx(unrealized)
    assert position["r_multiple"] == pytest.approx(unrealized / trade.risk, abs=1e-4)
    (market,) = client.get("/api/market").get_json()["market"]
    assert market["symbol"] == "BTCUSDT" and market["feed_status"] == "LIVE"
    assert market["last_price"] == price and market["last_data_age_s"] >= 0
    page = client.get("/").get_data(as_text=True)
    assert page.count('class="position-row open"') == 1


def test_metrics_and_equity_are_the_paper_reports(replay_db, config):
    client = app_for(config, replay_db).test_client()
    store = StateStore(url(replay_db), readonly=True)
    try:
        report = paper_report(store, config)
    finally:
        store.close()
    body = client.get("/api/equity").get_json()
    for key, value in body["metrics"].items():
        if key in report:
            assert value == report[key], key
    assert body["equity_curve"] == report["equity_curve"]
    assert body["metrics"]["trades"] == report["trades"] == 13
    assert body["metrics"]["max_drawdown_pct"] == report["max_drawdown_pct"]
    assert min(v for _, v in body["drawdown"]) == pytest.approx(-report["max_drawdown_pct"],
                                                                rel=1e-5)
    assert body["points"][-1][1] == pytest.approx(report["final_equity"])


@pytest.mark.parametrize("chunk", [7, 4096])
def test_incremental_record_equals_the_paper_report(replay_db, tmp_path, config, chunk):
    """Read part of the record (the first half of the bars and fills), then the rest: the figures
    equal the paper report's over the whole database, whatever the chunking."""
    store = StateStore(url(replay_db), readonly=True)
    try:
        report = paper_report(store, config)
        acc = store.account()
        cut = sorted(store.equity_curve(acc.id))[len(store.equity_curve(acc.id)) // 2][0]
    finally:
        store.close()
    half = derived(replay_db, tmp_path, f"DELETE FROM bars WHERE open_time_ms > {cut}",
                   f"DELETE FROM fills WHERE time_ms > {cut}")
    whole, part = StateDatabase(url(replay_db)), StateDatabase(url(half))
    conn_part, conn_whole = part.connect(), whole.connect()
    try:
        from status_page import queries

        account = queries.shown_account(conn_whole)
        key = RecordKey.of(account, queries.latest_run(conn_whole, account["id"])["config"])
        record = PaperRecord(key, chunk=chunk)
        record.update(conn_part)
        assert 0 < len(record.times) < report["bars"]
        record.update(conn_whole)
        summary = record.summary(conn_whole, ())
    finally:
        conn_part.close()
        conn_whole.close()
        part.close()
        whole.close()
    for k in ("total_return_pct", "sharpe", "sortino", "max_drawdown_pct", "win_rate",
              "profit_factor", "expectancy", "avg_r_multiple", "exposure_pct", "trades",
              "final_equity", "equity_curve", "buy_hold_return_pct"):
        assert summary.metrics[k] == report[k], k


def test_record_cache_serves_the_last_figures_while_it_refreshes(replay_db, tmp_path, config):
    """Unchanged data: the same summary, no recompute. New data: the previous summary at once,
    the new one once the background refresh is done; never a refresh before min_interval_s."""
    from status_page import queries
    from status_page.record import RecordCache

    db = derived(replay_db, tmp_path)
    database = StateDatabase(url(db))
    now = [100.0]
    cache = RecordCache(database, min_interval_s=5.0, clock=lambda: now[0])

    def summary():
        conn = database.connect()
        try:
            account = queries.shown_account(conn)
            key = RecordKey.of(account, queries.latest_run(conn, account["id"])["config"])
            return cache.summary(conn, key)
        finally:
            conn.close()

    first = summary()
    assert summary() is first and cache.refresh_thread is None
    with sqlite3.connect(db) as conn:       # the engine records one more closed 1m bar
        t, o, h, lo, c, v = conn.execute("SELECT open_time_ms, open, high, low, close, volume "
                                         "FROM bars WHERE interval = '1m' ORDER BY open_time_ms "
                                         "DESC LIMIT 1").fetchone()
        conn.execute("INSERT INTO bars VALUES (1, 'BTCUSDT', '1m', ?, ?, ?, ?, ?, ?)",
                     (t + 60_000, c, h + 500, lo, c + 400, v))
    now[0] += 1.0
    assert summary() is first and cache.refresh_thread is None      # within min_interval_s
    now[0] += 5.0
    assert summary() is first                                       # stale, refresh started
    cache.refresh_thread.join(timeout=60)
    fresh = summary()
    assert fresh is not first and fresh.metrics["bars"] == first.metrics["bars"] + 1
    assert fresh.metrics["final_equity"] != first.metrics["final_equity"]  # the open long moved
    database.close()


def test_closed_trades_are_paginated_newest_first(replay_db, config):
    client = app_for(config, replay_db).test_client()
    everything = client.get("/api/trades?limit=500").get_json()
    assert everything["total"] == 13 and len(everything["trades"]) == 13
    exits = [t["exit_time"] for t in everything["trades"]]
    assert exits == sorted(exits, reverse=True)
    page = client.get("/api/trades?limit=5&offset=5").get_json()
    assert [t["trade_id"] for t in page["trades"]] == \
        [t["trade_id"] for t in everything["trades"][5:10]]
    assert client.get("/api/trades?offset=13").get_json()["trades"] == []
    first = everything["trades"][0]
    assert first["exit_reason"] in ("stop_loss", "take_profit")
    assert first["fees"] > 0 and first["r_multiple"] is not None
    html = client.get("/?page=1").get_data(as_text=True)
    assert html.count('class="trade-row"') == 13 and "page 1 of 1" in html


def test_signals_say_whether_they_were_traded_and_why_not(replay_db, config):
    client = app_for(config, replay_db).test_client()
    signals = client.get("/api/signals?limit=500").get_json()["signals"]
    assert len(signals) == 18
    assert all(s["reasons"] and 0 < s["confidence"] <= 1 for s in signals)
    untraded = [s for s in signals if not s["traded"]]
    assert untraded and all(s["decision"] and s["decision"] != "order placed" for s in untraded)
    assert len(client.get("/api/signals?limit=3").get_json()["signals"]) == 3


def test_candles_carry_the_zones_known_at_the_last_bar(replay_db, config):
    client = app_for(config, replay_db).test_client()
    body = client.get("/api/candles?symbol=btcusdt&limit=100").get_json()
    assert body["symbol"] == "BTCUSDT" and body["interval"] == "15m" and len(body["bars"]) == 100
    store = StateStore(url(replay_db), readonly=True)
    try:
        bars = store.bars(store.account().id, "BTCUSDT", "15m")
    finally:
        store.close()
    assert body["bars"][-1][0] == int(bars.open_time_ms[-1])
    params, max_age = smc_params(json.loads(json.dumps(config.as_dict())))
    last = len(bars) - 1
    known = detect_smc(bars.open, bars.high, bars.low, bars.close, params).as_of(last)
    live_blocks = known.order_blocks[(known.order_blocks["invalidated_at"] < 0)
                                     & (last - known.order_blocks["known_at"] <= max_age)]
    zones = body["zones"]
    assert zones["order_blocks"] and zones["fvgs"] and zones["swings"]
    assert [ob["top"] for ob in zones["order_blocks"]] == [float(x) for x in
                                                           live_blocks["top"][-8:]]
    assert {b["kind"] for b in zones["breaks"]} == {"BOS", "CHOCH"}
    assert body["position"] is not None and body["trades"]
    svg = price_chart(body, 15 * 60_000)
    assert svg.count('class="ob ob-') == len(zones["order_blocks"])
    assert svg.count('class="fvg fvg-') == len(zones["fvgs"])
    assert '<g class="sl">' in svg and '<g class="tp">' in svg and 'class="entry entry-' in svg


def test_zones_use_only_what_was_known_at_the_last_bar():
    """Zones at a cut are the detection as of the cut: a block invalidated only after the cut is
    still drawn there, and nothing known after the cut is."""
    rng = np.random.default_rng(7)
    n, cut = 600, 300
    close = 100 + rng.standard_normal(n).cumsum()
    open_ = close + rng.standard_normal(n) * 0.3
    high, low = np.maximum(open_, close) + 0.4, np.minimum(open_, close) - 0.4
    table = np.column_stack([np.arange(n) * 60_000, open_, high, low, close, np.ones(n)])
    params = SmcParams(swing_lookback=3)
    full = detect_smc(open_, high, low, close, params).order_blocks
    later = full[(full["invalidated_at"] > cut) & (full["known_at"] <= cut)]
    assert len(later), "the series should have a block invalidated after the cut"
    at_cut = chart_zones(table[:cut + 1], params, max_age=10_000)
    tops = [ob["top"] for ob in at_cut["order_blocks"]]
    assert float(later["top"][-1]) in tops
    assert float(later["top"][-1]) not in [ob["top"] for ob in chart_zones(
        table, params, max_age=10_000)["order_blocks"]]
    assert all(z["known"] <= cut * 60_000 for z in at_cut["order_blocks"] + at_cut["fvgs"])


# ----------------------------------------------------------------- health

def _running(replay_db, tmp_path, *extra):
    return derived(replay_db, tmp_path, "UPDATE runs SET status = 'running'", *extra)


def test_health_200_with_a_fresh_heartbeat_and_live_feeds(replay_db, tmp_path, config):
    db = _running(replay_db, tmp_path)
    beat = heartbeat_ms(db)
    fresh = app_for(config, db, clock=lambda: (beat + 3_000) / 1000).test_client()
    response = fresh.get("/api/health")
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["status"] == "ok" and body["reasons"] == [] and body["engine"]["running"]
    assert body["circuit_breaker"] == {"active": False, "reason": None}
    assert "engine running · heartbeat 3 s ago" in fresh.get("/").get_data(as_text=True)
    stale = app_for(config, db, clock=lambda: (beat + 60_000) / 1000).test_client()
    response = stale.get("/api/health")
    assert response.status_code == 503
    assert response.get_json()["reasons"] == [
        "the engine is not running: last heartbeat 60 s ago (more than 15 s)"]


def test_health_503_and_circuit_breaker_when_a_feed_is_delayed(replay_db, tmp_path, config):
    db = _running(replay_db, tmp_path, "UPDATE market_status SET feed_status = 'DELAYED'")
    beat = heartbeat_ms(db)
    client = app_for(config, db, clock=lambda: (beat + 1_000) / 1000).test_client()
    response = client.get("/api/health")
    assert response.status_code == 503
    body = response.get_json()
    assert body["reasons"] == ["BTCUSDT feed is DELAYED"]
    assert body["circuit_breaker"] == {"active": True, "reason": "feeds not LIVE: BTCUSDT DELAYED"}
    assert "ACTIVE: feeds not LIVE" in client.get("/").get_data(as_text=True)


def test_daily_loss_halt_against_the_limit(replay_db, tmp_path, config):
    """An equity 600 above the current one at the start of the market's day: -600 <= -500."""
    client = app_for(config, replay_db).test_client()
    account = client.get("/api/account").get_json()
    day_start = f"strftime('%s', '{account['daily_loss']['day']}') * 1000"
    db = derived(replay_db, tmp_path, f"INSERT INTO equity_snapshots (time_ms, equity, cash, "
                 f"open_positions, run_id) VALUES ({day_start}, {account['equity'] + 600}, "
                 f"0, 0, 1)")
    halted = app_for(config, db).test_client()
    body = halted.get("/api/account").get_json()["daily_loss"]
    assert body["today_pnl"] == pytest.approx(-600) and body["halted"] is True
    assert body["used_pct"] == 100.0 and body["until"].endswith("T00:00:00+00:00")
    assert halted.get("/api/health").get_json()["daily_loss_halt"] is True
    assert "HALTED until" in halted.get("/").get_data(as_text=True)


@pytest.mark.parametrize("mode, label", [("real", "REAL"), ("paper", "PAPER")])
def test_mode_banner(replay_db, tmp_path, config, mode, label):
    db = derived(replay_db, tmp_path, f"UPDATE runs SET mode = '{mode}'")
    page = app_for(config, db).test_client().get("/").get_data(as_text=True)
    assert f'class="banner mode-{mode}"' in page and f"<strong>{label}</strong>" in page


# ----------------------------------------------------------------- readiness link

def test_readiness_report_verdict_age_and_page(replay_db, tmp_path, config):
    db = derived(replay_db, tmp_path)
    client = app_for(config, db, clock=lambda: 1_700_000_600).test_client()
    assert "no readiness report yet" in client.get("/").get_data(as_text=True)
    missing = client.get("/readiness")
    assert missing.status_code == 404 and "no readiness report yet" in missing.get_json()["error"]
    # a report on another database in the same folder (a replay's) is not this one's
    (tmp_path / "replay-readiness.json").write_text(json.dumps(
        {"verdict": "READY", "reasons": [], "generated_ms": 1_700_000_000_000}))
    (tmp_path / "replay-readiness.html").write_text("<html><body><h1>READY</h1></body></html>")
    assert "no readiness report yet" in client.get("/").get_data(as_text=True)
    assert client.get("/readiness").status_code == 404
    stem = Path(db).stem
    (tmp_path / f"{stem}-readiness.json").write_text(json.dumps(
        {"verdict": "NOT READY", "reasons": ["too few trades"], "generated_ms": 1_700_000_000_000}))
    (tmp_path / f"{stem}-readiness.html").write_text(
        "<html><body><h1>NOT READY</h1></body></html>")
    page = client.get("/").get_data(as_text=True)
    assert "<strong>NOT READY</strong> · 10 min old" in page and 'href="readiness"' in page
    report = client.get("/readiness")
    assert report.status_code == 200 and b"<h1>NOT READY</h1>" in report.data
    assert "script-src" not in report.headers["Content-Security-Policy"]
    assert "default-src 'none'" in report.headers["Content-Security-Policy"]


# ----------------------------------------------------------------- bad input

@pytest.mark.parametrize("query, named", [
    ("/api/trades?limit=abc", "limit"), ("/api/trades?limit=0", "limit"),
    ("/api/trades?limit=-1", "limit"), ("/api/trades?limit=501", "limit"),
    ("/api/trades?limit=1.5", "limit"), ("/api/trades?limit=", "limit"),
    ("/api/trades?offset=-3", "offset"), ("/api/trades?offset=x", "offset"),
    ("/api/python/paper-trades?limit=1e3", "limit"), ("/api/signals?limit=0", "limit"),
    ("/api/candles?limit=99999", "limit"), ("/api/candles?symbol=ETHUSDT", "symbol"),
    ("/api/candles?symbol=%3Cscript%3E", "symbol"), ("/?page=0", "page"),
    ("/fragment?page=abc", "page"),
])
def test_bad_query_values_are_one_line_json_400(query, named, replay_db, config):
    response = app_for(config, replay_db).test_client().get(query)
    assert response.status_code == 400 and response.is_json
    error = response.get_json()["error"]
    assert error.startswith(f"{named}: ") and "\n" not in error and "Traceback" not in error


# ----------------------------------------------------------------- methods, paths, headers

@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
@pytest.mark.parametrize("path", ["/", "/api/account", "/api/trades", "/nowhere"])
def test_only_get_every_other_method_405(method, path, replay_db, config):
    response = app_for(config, replay_db).test_client().open(path, method=method)
    assert response.status_code == 405 and response.is_json
    assert "read-only" in response.get_json()["error"]


def test_unknown_paths_are_json_404(replay_db, config):
    client = app_for(config, replay_db).test_client()
    for path in ("/nope", "/api/nope", "/api/account/1", "/static/nothing.css"):
        response = client.get(path)
        assert response.status_code == 404 and response.is_json and "error" in response.get_json()


def test_security_headers_and_no_cors(replay_db, config):
    client = app_for(config, replay_db).test_client()
    for path in (*ENDPOINTS, "/nope", "/static/status.css", "/static/refresh.js"):
        response = client.get(path, headers={"Origin": "http://evil.example"})
        h = response.headers
        assert h["Content-Security-Policy"] == CSP, path
        assert CSP == ("default-src 'self'; object-src 'none'; frame-ancestors 'none'; "
                       "base-uri 'none'")
        assert h["X-Content-Type-Options"] == "nosniff" and h["Referrer-Policy"] == "no-referrer"
        assert not [k for k, _ in h.items() if k.lower().startswith("access-control-")], path
        if path.startswith("/api/"):
            assert h["Cache-Control"] == "no-store"
    page = client.get("/").get_data(as_text=True)
    assert "<script>" not in page and " style=" not in page and "onload=" not in page
    assert '<script src="/static/refresh.js" defer></script>' in page


def test_internal_errors_are_json_500_without_traceback(replay_db, config, monkeypatch, caplog):
    from status_page import views

    def broken(self):
        raise RuntimeError("boom with details")

    monkeypatch.setattr(views.View, "positions", broken)
    with caplog.at_level(logging.ERROR):
        response = app_for(config, replay_db).test_client().get("/api/positions")
    assert response.status_code == 500 and response.is_json
    assert "boom" not in response.get_data(as_text=True)
    assert "boom with details" in caplog.text


# ----------------------------------------------------------------- host check

@pytest.mark.parametrize("host, ok", [
    ("localhost", True), ("localhost:8000", True), ("127.0.0.1:8000", True), ("[::1]:8000", True),
    ("evil.example", False), ("evil.example:8000", False), ("127.0.0.1.evil.example", False),
    ("", False), ("trader.lan:8000", True), ("TRADER.LAN.", True),
])
def test_host_header_must_name_this_server(host, ok, replay_db, config):
    config = apply_overrides(config, {"status_page.allowed_hosts": ["trader.lan"]})
    response = app_for(config, replay_db).test_client().get("/api/account",
                                                            headers={"Host": host})
    assert response.status_code == (200 if ok else 400), host
    if not ok:
        assert "Host header not allowed" in response.get_json()["error"]


def test_bound_to_every_address_only_the_configured_names_pass(replay_db, config):
    config = apply_overrides(config, {"status_page.allowed_hosts": ["trader.lan"]})
    client = app_for(config, replay_db, token=TOKEN, bind_host="0.0.0.0").test_client()
    auth = {"Authorization": f"Bearer {TOKEN}"}
    assert client.get("/api/account", headers={**auth, "Host": "trader.lan"}).status_code == 200
    assert client.get("/api/account", headers={**auth, "Host": "0.0.0.0"}).status_code == 400
    assert client.get("/api/account", headers={**auth, "Host": "10.1.2.3"}).status_code == 400


# ----------------------------------------------------------------- token

def test_with_a_token_every_request_needs_it(replay_db, config):
    client = app_for(config, replay_db, token=TOKEN).test_client()
    for path in [p for p in ENDPOINTS if p != "/api/health"] + ["/static/status.css"]:
        assert client.get(path).status_code == 401, path
        assert client.get(path, headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert client.get(path, headers={"Authorization": TOKEN}).status_code == 401
        ok = client.get(path, headers={"Authorization": f"Bearer {TOKEN}"})
        assert ok.status_code == 200, path
    denied = client.get("/api/account")
    assert denied.is_json and denied.headers["WWW-Authenticate"].startswith("Bearer")


def test_health_status_code_stays_open_for_monitors_details_need_the_token(replay_db, config):
    client = app_for(config, replay_db, token=TOKEN).test_client()
    open_ = client.get("/api/health")
    assert open_.status_code == 503 and open_.get_json() == {"status": "unavailable"}
    full = client.get("/api/health", headers={"Authorization": f"Bearer {TOKEN}"})
    assert full.status_code == 503 and full.get_json()["reasons"]


def test_the_token_never_appears_in_a_response(replay_db, config, caplog):
    client = app_for(config, replay_db, token=TOKEN).test_client()
    with caplog.at_level(logging.DEBUG):
        for path in [*ENDPOINTS, *ALIASES, "/nope", "/api/trades?limit=x"]:
            for headers in ({}, {"Authorization": f"Bearer {TOKEN}"},
                            {"Authorization": f"Bearer {TOKEN}x"}):
                response = client.get(path, headers=headers)
                assert TOKEN not in response.get_data(as_text=True)
                assert TOKEN not in str(response.headers)
    assert TOKEN not in caplog.text


def test_bind_policy():
    assert bind_policy("127.0.0.1", "T", {}) is None
    assert bind_policy("::1", "T", {}) is None and bind_policy("localhost", "T", {}) is None
    assert bind_policy("127.0.0.1", "T", {"T": TOKEN}) == TOKEN
    assert bind_policy("0.0.0.0", "T", {"T": TOKEN}) == TOKEN
    for host in ("0.0.0.0", "192.168.1.5", "trader.lan", "::"):
        with pytest.raises(ConfigError, match="is not a loopback address: set a token in the "
                                              "environment variable T"):
            bind_policy(host, "T", {})
    with pytest.raises(ConfigError, match="too short"):
        bind_policy("0.0.0.0", "T", {"T": "short"})
    with pytest.raises(ConfigError) as excinfo:
        bind_policy("0.0.0.0", "T", {"T": "tiny"})
    assert "tiny" not in str(excinfo.value)


# ----------------------------------------------------------------- documentation and deployment

def test_readme_documents_every_endpoint_with_valid_examples(config, tmp_path):
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Status page"):readme.index("## Benchmarks")]
    blocks = re.findall(r"```json\n(.*?)```", section, re.S)
    assert len(blocks) >= 8 and all(json.loads(b) is not None for b in blocks)
    app = app_for(config, tmp_path / "none.db")
    paths = {r.rule for r in app.url_map.iter_rules() if r.rule.startswith("/api/")}
    assert paths == {*(p for p in ENDPOINTS if p.startswith("/api/")), *ALIASES}
    for path in paths:
        assert f"`{path}" in section or f"`GET {path}" in section, path


def test_systemd_units_restart_run_as_a_user_and_take_secrets_from_a_file():
    import configparser
    from pathlib import Path

    deploy = Path(__file__).resolve().parent.parent / "deploy"
    for unit, module in (("smc-paper.service", "runners.live_paper"),
                         ("smc-status-page.service", "runners.status_page")):
        parser = configparser.ConfigParser(strict=False, interpolation=None)
        parser.optionxform = str
        parser.read(deploy / unit)
        service = parser["Service"]
        assert service["Restart"] == "on-failure" and service["RestartPreventExitStatus"] == "2"
        assert service["User"] == "smc" and service["WorkingDirectory"].startswith("/")
        assert service["EnvironmentFile"].lstrip("-").startswith("/etc/")
        assert f"-m {module} " in service["ExecStart"]
        assert parser["Install"]["WantedBy"] == "multi-user.target"
        assert "state" in service["ReadWritePaths"]
    assert "SMC_STATUS_TOKEN" in (deploy / "env.example").read_text()
