"""The paper account's state database: bookkeeping, durability, versions and concurrent readers.

Every test uses a real SQLite file in tmp_path (one uses ``sqlite://``); nothing is mocked.
"""

import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from brokers.state import SCHEMA_VERSION, OrderSpec, SchemaVersionError, StateStore, init_db, to_utc
from core.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
T0 = 1_700_000_000_000
FEE = 0.001


def url_of(path: Path) -> str:
    return f"sqlite:///{path}"


@pytest.fixture
def db_path(tmp_path):
    return tmp_path / "state" / "paper.db"


@pytest.fixture
def store(db_path):
    s = StateStore(url_of(db_path))
    yield s
    s.close()


def bracket(tag, entry=100.0, stop=95.0, target=110.0, size=0.5, side="long"):
    buy, sell = ("buy", "sell") if side == "long" else ("sell", "buy")
    return [OrderSpec(client_order_id=f"{tag}-e", role="entry", side=buy, order_type="limit",
                      price=entry, size=size),
            OrderSpec(client_order_id=f"{tag}-sl", role="stop_loss", side=sell, order_type="stop",
                      price=stop, size=size),
            OrderSpec(client_order_id=f"{tag}-tp", role="take_profit", side=sell,
                      order_type="limit", price=target, size=size)]


def new_trade(store, tag, now_ms=T0, side="long", entry=100.0, stop=95.0, target=110.0,
              size=0.5, signal_id=None):
    return store.create_trade(symbol="BTCUSDT", side=side, size=size, planned_entry=entry,
                              stop_loss=stop, take_profit=target, confidence=0.7,
                              risk=abs(entry - stop) * size, signal_id=signal_id,
                              valid_until_ms=now_ms + 3 * 3_600_000, now_ms=now_ms,
                              orders=bracket(tag, entry, stop, target, size, side))


def statuses(store, order_id):
    return [e.status for e in store.order_events(order_id)]


# ---------------------------------------------------------------------------- bookkeeping

def test_trade_lifecycle_books_cash_pnl_and_every_order_event(store):
    acc = store.ensure_account(10_000.0, T0)
    assert (acc.initial_balance, acc.cash) == (10_000.0, 10_000.0)
    run = store.start_run("paper", {"symbols": ["BTCUSDT"]}, T0)
    sig = store.record_signal(run, T0, "BTCUSDT", "long", 0.7, 100.0, 95.0, 110.0,
                              ["order block", "fvg"], True, "traded: confidence 0.70 >= 0.60")
    trade = new_trade(store, "t1", signal_id=sig)
    assert trade.status == "pending" and trade.signal_id == sig
    assert [o.status for o in trade.orders] == ["created"] * 3
    entry, sl, tp = trade.orders

    store.order_status("t1-e", "submitted", T0 + 1)
    store.order_status("t1-e", "accepted", T0 + 2)
    store.order_status("t1-e", "accepted", T0 + 3)            # repeated: no new event
    store.order_status("t1-sl", "accepted", T0 + 2)
    store.order_status("t1-tp", "accepted", T0 + 2)

    entry_fee = 100.0 * 0.5 * FEE
    cash = 10_000.0 - 100.0 * 0.5 - entry_fee
    opened = store.record_fill("t1-e", time_ms=T0 + 60_000, price=100.0, size=0.5,
                               fee=entry_fee, cash_after=cash)
    assert opened.status == "open" and opened.entry_price == 100.0
    assert opened.entry_time_ms == T0 + 60_000 and opened.entry_fee == entry_fee
    [live] = store.open_trades()
    assert [o.role for o in live.live_orders] == ["stop_loss", "take_profit"]
    assert store.account().cash == cash

    exit_price = 94.9                                          # slipped stop
    exit_fee = exit_price * 0.5 * FEE
    cash += exit_price * 0.5 - exit_fee
    closed = store.record_fill("t1-sl", time_ms=T0 + 120_000, price=exit_price, size=0.5,
                               fee=exit_fee, cash_after=cash)
    assert closed.status == "closed" and closed.exit_reason == "stop_loss"
    assert closed.exit_price == exit_price and closed.exit_time_ms == T0 + 120_000
    assert closed.pnl == pytest.approx((exit_price - 100.0) * 0.5 - entry_fee - exit_fee)
    assert store.account().cash == pytest.approx(10_000.0 + closed.pnl)
    assert store.open_trades() == []
    assert store.closed_trades() == [closed]

    assert statuses(store, entry.id) == ["created", "submitted", "accepted", "completed"]
    assert statuses(store, sl.id) == ["created", "accepted", "completed"]
    assert statuses(store, tp.id) == ["created", "accepted", "canceled"]   # OCO sibling ended
    assert [o.status for o in store.orders_for(trade.id)] == ["completed", "completed", "canceled"]
    assert [(f.order_id, f.price) for f in store.fills(trade.id)] == [
        (entry.id, 100.0), (sl.id, exit_price)]
    [s] = store.signals()
    assert s.reasons == ("order block", "fvg") and s.traded and s.decision.startswith("traded")
    assert to_utc(closed.exit_time_ms).tzinfo is not None


def test_short_take_profit_and_close_order_with_reason(store):
    store.ensure_account(1_000.0, T0)
    new_trade(store, "s", side="short", entry=100.0, stop=105.0, target=90.0, size=1.0)
    store.record_fill("s-e", time_ms=T0 + 1, price=100.0, size=1.0, fee=0.1, cash_after=1_099.9)
    t = store.record_fill("s-tp", time_ms=T0 + 2, price=90.0, size=1.0, fee=0.09,
                          cash_after=1_009.81)
    assert t.exit_reason == "take_profit" and t.pnl == pytest.approx(10.0 - 0.1 - 0.09)

    trade = new_trade(store, "c")
    store.record_fill("c-e", time_ms=T0 + 3, price=100.0, size=0.5, fee=0.05, cash_after=959.76)
    store.add_order(trade.id, OrderSpec(client_order_id="c-x", role="close", side="sell",
                                        order_type="market", price=None, size=0.5), T0 + 4)
    t = store.record_fill("c-x", time_ms=T0 + 5, price=101.0, size=0.5, fee=0.0505,
                          cash_after=1_010.21, reason="stopped_while_down")
    assert t.exit_reason == "stopped_while_down"
    assert [o.status for o in t.orders] == ["completed", "canceled", "canceled", "completed"]


def test_a_second_fill_of_the_same_order_is_refused_and_changes_nothing(store):
    store.ensure_account(10_000.0, T0)
    trade = new_trade(store, "d")
    store.record_fill("d-e", time_ms=T0 + 1, price=100.0, size=0.5, fee=0.05, cash_after=9_949.95)
    events = statuses(store, trade.orders[0].id)
    with pytest.raises(ValueError, match="already filled"):
        store.record_fill("d-e", time_ms=T0 + 2, price=100.0, size=0.5, fee=0.05,
                          cash_after=9_899.90)
    assert store.account().cash == 9_949.95
    assert len(store.fills()) == 1 and statuses(store, trade.orders[0].id) == events
    with pytest.raises(ValueError, match="no order"):
        store.record_fill("nope", time_ms=T0, price=1.0, size=1.0, fee=0.0, cash_after=0.0)
    with pytest.raises(ValueError, match="record_fill"):
        store.order_status("d-sl", "completed", T0 + 3)
    with pytest.raises(ValueError, match="client_order_id"):
        new_trade(store, "d")                                   # same client_order_ids
    assert len(store.trades()) == 1


def test_cancel_a_pending_trade_ends_it_and_its_orders(store):
    store.ensure_account(10_000.0, T0)
    trade = new_trade(store, "x")
    store.order_status("x-e", "accepted", T0 + 1)
    t = store.cancel_trade(trade.id, T0 + 10, "entry expired")
    assert t.status == "cancelled" and t.exit_reason == "entry expired" and t.pnl is None
    assert [o.status for o in t.orders] == ["canceled"] * 3 and t.live_orders == ()
    assert statuses(store, t.orders[0].id) == ["created", "accepted", "canceled"]
    assert store.cancel_trade(trade.id, T0 + 11, "again") == t            # no-op
    with pytest.raises(ValueError):
        store.record_fill("x-e", time_ms=T0 + 12, price=100.0, size=0.5, fee=0.05,
                          cash_after=1.0)
    assert store.account().cash == 10_000.0 and store.open_trades() == []
    assert [x.id for x in store.trades(status="cancelled")] == [trade.id]


def test_account_runs_market_and_equity(store):
    assert store.account() is None and store.first_run_ms() is None
    store.ensure_account(5_000.0, T0)
    assert store.ensure_account(99.0, T0 + 5).initial_balance == 5_000.0   # unchanged
    run = store.start_run("paper", {"a": 1}, T0)
    store.heartbeat(run, T0 + 30_000)
    store.snapshot_equity(run, T0 + 60_000, 5_010.0, 4_000.0, 1)
    store.snapshot_equity(run, T0, 5_000.0, 5_000.0, 0)
    assert store.equity_curve() == [(T0, 5_000.0), (T0 + 60_000, 5_010.0)]
    assert store.open_position_counts() == [(T0, 0), (T0 + 60_000, 1)]
    store.update_market("BTCUSDT", feed_status="BACKFILLING", now_ms=T0)
    store.update_market("BTCUSDT", last_price=42_000.5, last_price_ms=T0 + 1, feed_status="LIVE",
                        last_message_ms=T0 + 2, now_ms=T0 + 3)
    store.update_market("BTCUSDT", last_closed_bar_ms=T0, now_ms=T0 + 4)   # others kept
    [m] = store.market()
    assert (m.last_price, m.feed_status, m.last_message_ms, m.last_closed_bar_ms,
            m.updated_ms) == (42_000.5, "LIVE", T0 + 2, T0, T0 + 4)
    with pytest.raises(ValueError):
        store.update_market("BTCUSDT", feed_status="UP", now_ms=T0)
    store.stop_run(run, T0 + 90_000)
    [r] = store.runs()
    assert (r.status, r.stopped_ms, r.config, r.pid) == ("stopped", T0 + 90_000, {"a": 1},
                                                         os.getpid())
    assert store.first_run_ms() == T0


def test_stale_running_run_is_marked_crashed_on_next_start(db_path):
    first = StateStore(url_of(db_path))
    old = first.start_run("paper", {}, T0)
    first.heartbeat(old, T0 + 5_000)
    first.close()                                              # no stop_run: it "crashed"
    second = StateStore(url_of(db_path))
    new = second.start_run("paper", {}, T0 + 60_000)
    crashed, running = second.runs()
    assert (crashed.id, crashed.status, crashed.stopped_ms) == (old, "crashed", T0 + 5_000)
    assert (running.id, running.status) == (new, "running")
    assert second.first_run_ms() == T0
    second.close()


def test_in_memory_url_works():
    s = StateStore("sqlite://")
    s.ensure_account(100.0, T0)
    new_trade(s, "m", size=0.1)
    assert len(s.open_trades()) == 1 and s.account().cash == 100.0
    s.close()


# ---------------------------------------------------------------------------- the database

def test_reopening_the_file_keeps_everything(db_path):
    a = StateStore(url_of(db_path))
    a.ensure_account(10_000.0, T0)
    run = a.start_run("paper", {"k": "v"}, T0)
    sig = a.record_signal(run, T0, "ETHUSDT", "short", 0.65, 2_000.0, 2_050.0, 1_900.0, ["x"],
                          False, "skipped: max positions")
    t1 = new_trade(a, "r1")
    a.record_fill("r1-e", time_ms=T0 + 1, price=100.0, size=0.5, fee=0.05, cash_after=9_949.95)
    t2 = new_trade(a, "r2", entry=99.0)
    a.order_status("r2-e", "accepted", T0 + 2, note="broker ack")
    a.snapshot_equity(run, T0 + 3, 9_999.9, 9_949.95, 1)
    a.update_market("BTCUSDT", last_price=100.0, feed_status="LIVE", now_ms=T0 + 4)
    before = (a.account(), a.runs(), a.signals(), a.open_trades(), a.trades(), a.fills(),
              a.equity_curve(), a.market(),
              [a.order_events(o.id) for t in a.trades() for o in t.orders])
    a.close()

    b = StateStore(url_of(db_path))
    after = (b.account(), b.runs(), b.signals(), b.open_trades(), b.trades(), b.fills(),
             b.equity_curve(), b.market(),
             [b.order_events(o.id) for t in b.trades() for o in t.orders])
    assert after == before
    assert [t.id for t in b.open_trades()] == [t1.id, t2.id]
    assert b.signals()[0].id == sig
    with b.engine.connect() as c:
        assert c.exec_driver_sql("PRAGMA user_version").scalar() == SCHEMA_VERSION == 3
    b.close()


def test_pragmas_are_set_on_every_connection(store, db_path):
    with store.engine.connect() as c:
        pragma = lambda name: c.exec_driver_sql(f"PRAGMA {name}").scalar()   # noqa: E731
        assert pragma("journal_mode") == "wal"
        assert pragma("synchronous") == 2                      # FULL
        assert pragma("foreign_keys") == 1
        assert pragma("busy_timeout") == 5000
        assert pragma("user_version") == SCHEMA_VERSION
    raw = sqlite3.connect(db_path)                             # the file itself says so too
    assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    names = {r[0] for r in raw.execute("SELECT name FROM sqlite_master")}
    orders_sql = raw.execute("SELECT sql FROM sqlite_master WHERE name = 'orders'").fetchone()[0]
    raw.close()
    assert {"runs", "accounts", "equity_snapshots", "signals", "trades", "orders", "order_events",
            "fills", "market_status", "bars", "ix_trades_status", "ix_orders_status",
            "ix_equity_snapshots_time_ms", "ix_trades_account_id"} <= names
    assert "account" not in names                              # the v1 one-row table is gone
    assert "CONSTRAINT uq_orders_client_order_id UNIQUE" in orders_sql


def test_foreign_keys_are_enforced(store):
    with pytest.raises(Exception, match="FOREIGN KEY"):
        store.snapshot_equity(run_id=12345, time_ms=T0, equity=1.0, cash=1.0, open_positions=0)


def test_a_newer_schema_is_refused_without_touching_the_file(tmp_path):
    path = tmp_path / "future.db"
    raw = sqlite3.connect(path)
    raw.execute("CREATE TABLE trades (id INTEGER PRIMARY KEY, note TEXT)")
    raw.execute("INSERT INTO trades VALUES (1, 'from the future')")
    raw.execute("PRAGMA user_version = 99")
    raw.commit()
    raw.close()
    content = path.read_bytes()
    for readonly in (False, True):
        with pytest.raises(SchemaVersionError, match="99"):
            StateStore(url_of(path), readonly=readonly)
    assert path.read_bytes() == content
    assert sorted(p.name for p in tmp_path.iterdir()) == ["future.db"]    # no -wal, no -shm


@pytest.mark.parametrize("url", ["postgresql://user:secret@host/db", "mysql://x", "sqlite:///",
                                 "sqlite:///   ", "sqlite+pysqlite:///x.db", "state/paper.db", "",
                                 "sqlite:///x.db?mode=ro"])
def test_bad_urls_are_a_config_error_naming_database_url(url):
    with pytest.raises(ConfigError) as err:
        init_db(url)
    msg = str(err.value)
    assert msg.startswith("database.url:") and "sqlite:///state/paper_trading.db" in msg
    assert "\n" not in msg and "secret" not in msg


def test_not_a_database_file_is_a_config_error(tmp_path):
    path = tmp_path / "junk.db"
    path.write_text("not sqlite " * 200)
    with pytest.raises(ConfigError, match="database.url: .*not a SQLite database"):
        init_db(url_of(path))


def test_relative_path_is_under_the_current_directory_and_folder_created(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    StateStore("sqlite:///state/deep/paper.db").close()
    assert (tmp_path / "state" / "deep" / "paper.db").is_file()


def test_readonly_store_reads_but_never_writes(db_path, tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        StateStore(url_of(tmp_path / "missing.db"), readonly=True)
    assert not (tmp_path / "missing.db").exists()
    w = StateStore(url_of(db_path))
    w.ensure_account(10.0, T0)
    r = StateStore(url_of(db_path), readonly=True)
    assert r.account().cash == 10.0
    with pytest.raises(Exception, match="readonly"):
        r.start_run("paper", {}, T0)
    assert w.runs() == []
    r.close()
    w.close()


# ------------------------------------------------------------------ concurrency and crashes

def test_reader_engine_while_writer_commits_in_another_thread(db_path):
    writer = StateStore(url_of(db_path))
    writer.ensure_account(10_000.0, T0)
    run = writer.start_run("paper", {}, T0)
    reader = StateStore(url_of(db_path), readonly=True)       # its own engine, like Flask's
    errors, reads, done = [], [0], threading.Event()

    def write():
        try:
            cash = 10_000.0
            for i in range(60):
                new_trade(writer, f"w{i}", now_ms=T0 + i)
                cash -= 50.05
                writer.record_fill(f"w{i}-e", time_ms=T0 + i, price=100.0, size=0.5, fee=0.05,
                                   cash_after=cash)
                writer.snapshot_equity(run, T0 + i, 10_000.0 - 0.05 * (i + 1), cash, i + 1)
        except Exception as e:                                 # pragma: no cover
            errors.append(e)
        finally:
            done.set()

    def read():
        try:
            while not done.is_set() or reads[0] < 5:
                trades = reader.open_trades()
                # one snapshot per read: every open trade has its entry completed
                assert all(t.orders[0].status == "completed" for t in trades if t.status == "open")
                reader.equity_curve()
                reader.account()
                reads[0] += 1
        except Exception as e:
            errors.append(e)

    threads = [threading.Thread(target=write), threading.Thread(target=read)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    assert errors == [] and reads[0] >= 5
    assert len(reader.open_trades()) == 60 and len(reader.equity_curve()) == 60
    reader.close()
    writer.close()


CHILD = r"""
import itertools, sys, time
from brokers.state import OrderSpec, StateStore
url, tag = sys.argv[1], sys.argv[2]
store = StateStore(url)
store.ensure_account(10_000.0, 0)
store.start_run("paper", {"tag": tag}, int(time.time() * 1000))
cash = store.account().cash
now = lambda: int(time.time() * 1000)

def fill(coid, price, size, buy, reason=None):
    global cash
    fee = price * size * 0.001
    cash = cash - price * size - fee if buy else cash + price * size - fee
    store.record_fill(coid, time_ms=now(), price=price, size=size, fee=fee, cash_after=cash,
                      reason=reason)
    print("fill", coid, flush=True)            # printed only after the commit returned

for t in store.open_trades():                  # recovery after a crash
    if t.status == "pending":
        store.cancel_trade(t.id, now(), "restart")
    else:
        stop = next(o for o in t.live_orders if o.role == "stop_loss")
        fill(stop.client_order_id, t.stop_loss, t.size, buy=False)
print("ready", flush=True)
for i in itertools.count():
    c = f"{tag}-{i}"
    size = 0.01 * (1 + i % 3)
    trade = store.create_trade(symbol="BTCUSDT", side="long", size=size, planned_entry=100.0,
        stop_loss=95.0, take_profit=110.0, confidence=0.7, risk=5 * size, signal_id=None,
        valid_until_ms=None, now_ms=now(), orders=[
            OrderSpec(client_order_id=c + "-e", role="entry", side="buy", order_type="limit",
                      price=100.0, size=size),
            OrderSpec(client_order_id=c + "-sl", role="stop_loss", side="sell", order_type="stop",
                      price=95.0, size=size),
            OrderSpec(client_order_id=c + "-tp", role="take_profit", side="sell",
                      order_type="limit", price=110.0, size=size)])
    store.order_status(c + "-e", "accepted", now())
    if i % 4 == 3:
        store.cancel_trade(trade.id, now(), "entry expired")
        continue
    fill(c + "-e", 100.0 - i % 5, size, buy=True)
    store.order_status(c + "-sl", "accepted", now())
    if i % 2:
        fill(c + "-sl", 95.0, size, buy=False)
    else:
        fill(c + "-tp", 110.0, size, buy=False)
"""


def check_consistent(url, acknowledged):
    raw = sqlite3.connect(url[len("sqlite:///"):])
    assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert raw.execute("PRAGMA foreign_key_check").fetchall() == []
    raw.close()
    store = StateStore(url, readonly=True)
    fills = store.fills()
    orders = {o.id: o for t in store.trades() for o in t.orders}
    by_order = {}
    for f in fills:
        assert f.order_id not in by_order, "two fills of one order"
        by_order[f.order_id] = f
    for o in orders.values():
        assert (o.status == "completed") == (o.id in by_order)
    for t in store.trades():
        roles = sorted(o.role for o in t.orders if o.id in by_order)
        expected = {"pending": [], "cancelled": [], "open": ["entry"]}.get(t.status)
        if t.status == "closed":
            assert roles in (["entry", "stop_loss"], ["entry", "take_profit"])
            assert t.exit_reason in roles and t.live_orders == ()
            e, x = by_order[t.orders[0].id], by_order[next(o.id for o in t.orders
                                                          if o.role == t.exit_reason)]
            assert t.pnl == pytest.approx((x.price - e.price) * e.size - e.fee - x.fee)
        else:
            assert roles == expected, (t.status, roles)
    effect = sum(-f.price * f.size - f.fee if orders[f.order_id].side == "buy"
                 else f.price * f.size - f.fee for f in fills)
    account = store.account()
    assert account.cash == pytest.approx(account.initial_balance + effect, rel=1e-12)
    filled = {orders[f.order_id].client_order_id for f in fills}
    assert acknowledged <= filled, "a fill reported as committed is missing"
    store.close()
    return len(fills)


def test_sigkill_at_a_random_moment_loses_no_committed_fill(db_path):
    url = url_of(db_path)
    rng = random.Random()
    acknowledged: set[str] = set()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for round_no in range(3):
        proc = subprocess.Popen([sys.executable, "-c", CHILD, url, f"k{round_no}"], cwd=ROOT,
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        lines = []
        try:                                   # recovery fills come before "ready"
            while (line := proc.stdout.readline()) not in (b"ready\n", b""):
                lines.append(line)
            if line:
                time.sleep(rng.uniform(0.05, 0.6))
        finally:
            os.kill(proc.pid, signal.SIGKILL)
        out, err = proc.communicate(timeout=10)
        assert line == b"ready\n" and proc.returncode == -signal.SIGKILL, err.decode()
        lines += out.splitlines(keepends=True)
        acknowledged |= {line.split()[1].decode() for line in lines
                         if line.startswith(b"fill ") and line.endswith(b"\n")}
        assert check_consistent(url, acknowledged) >= len(acknowledged) > 0
    crashed = StateStore(url, readonly=True).runs()
    assert [r.status for r in crashed][:2] == ["crashed", "crashed"]
