"""FakeBinance against real clients: websockets for the streams, urllib and ccxt for REST."""

import json
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from websockets.exceptions import ConnectionClosedError, ConnectionClosedOK
from websockets.sync.client import connect

from core.bars import Bars
from core.errors import RateLimited, TemporaryError
from core.retry import retry_transient
from fake_exchange import FakeBinance
from klines import load_klines
from venue import (
    BadSymbolError,
    KlineUpdate,
    ServerShutdown,
    WireFormatError,
    fetch_closed_bars,
    make_exchange,
    parse_stream_message,
)

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = Path(__file__).resolve().parent / "fixtures" / "binance-samples"
WEEK_1M = ROOT / "data" / "BTCUSDT_spot_1m_2023-03-20_2023-03-26.csv"
STREAM = "btcusdt@kline_1m"


@pytest.fixture(scope="module")
def btc() -> Bars:
    return load_klines(WEEK_1M).bars().slice(0, 40)


@pytest.fixture
def server(btc):
    with FakeBinance({"BTCUSDT": btc}, "1m", history_bars=10, updates_per_bar=3) as fake:
        yield fake


def sample(name: str):
    return json.loads((SAMPLES / name).read_text())


def open_stream(fake: FakeBinance, path: str = f"/stream?streams={STREAM}"):
    before = fake.ws_connections
    ws = connect(fake.ws_url + path, open_timeout=5)
    assert fake.wait_connections(before + 1)  # registered: frames published from now on reach it
    return ws


def recv_json(ws, timeout: float = 2.0):
    return json.loads(ws.recv(timeout=timeout))


def recv_updates(ws, n: int, timeout: float = 2.0) -> list[KlineUpdate]:
    return [parse_stream_message(ws.recv(timeout=timeout)) for _ in range(n)]


def assert_silent(ws, seconds: float = 0.2) -> None:
    with pytest.raises(TimeoutError):
        ws.recv(timeout=seconds)


def rest(fake: FakeBinance, path: str):
    """(status, headers, JSON body) of GET rest_url + path."""
    try:
        with urllib.request.urlopen(fake.rest_url + path, timeout=5) as response:
            return response.status, response.headers, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, err.headers, json.loads(err.read())


def bar_values(bars: Bars, i: int):
    return (float(bars.open[i]), float(bars.high[i]), float(bars.low[i]), float(bars.close[i]),
            float(bars.volume[i]))


# ------------------------------------------------------------------------------- streaming


def test_forming_then_closed_updates_in_order(server, btc):
    with open_stream(server) as ws:
        assert server.publish(2) == 2
        updates = recv_updates(ws, 6)
    assert [u.closed for u in updates] == [False, False, True] * 2
    assert [u.open_time_ms for u in updates] == (
        [int(btc.open_time_ms[10])] * 3 + [int(btc.open_time_ms[11])] * 3)
    events = [u.event_ms for u in updates]
    assert events == sorted(events) and events[2] == btc.open_time_ms[10] + 60_000
    o, h, low, c, v = bar_values(btc, 10)
    final = updates[2]
    assert (final.open, final.high, final.low, final.close, final.volume) == (o, h, low, c, v)
    volumes = [u.volume for u in updates[:3]]
    assert volumes == sorted(volumes) and volumes[0] < v
    for u in updates[:2]:  # forming values stay inside the final bar
        assert u.open == o and low <= u.low <= min(o, u.close) and max(o, u.close) <= u.high <= h
    assert server.published_index == 12
    assert server.now_ms == btc.open_time_ms[11] + 60_000


def test_frames_are_the_exact_combined_shape(server):
    with open_stream(server) as ws:
        server.publish(1)
        frame = recv_json(ws)
    doc = sample("ws-kline-combined.json")
    assert frame.keys() == doc.keys() and frame["stream"] == STREAM
    assert frame["data"].keys() == doc["data"].keys()
    assert frame["data"]["k"].keys() == doc["data"]["k"].keys()
    for key, value in doc["data"]["k"].items():
        assert type(frame["data"]["k"][key]) is type(value), key


def test_history_bars_are_never_streamed_and_raw_path_gets_bare_payloads(server, btc):
    with open_stream(server, f"/ws/{STREAM}") as ws:
        server.publish(1)
        payload = recv_json(ws)
    assert payload["e"] == "kline" and payload["k"]["t"] == btc.open_time_ms[10]


def test_step_sends_single_updates(server, btc):
    with open_stream(server) as ws:
        assert server.step(1) == 1
        (update,) = recv_updates(ws, 1)
        assert not update.closed and server.published_index == 10
        assert_silent(ws, 0.1)
        assert server.step(2) == 2
        assert [u.closed for u in recv_updates(ws, 2)] == [False, True]
    assert server.published_index == 11


def test_end_of_data_publishes_no_more(btc):
    with FakeBinance({"BTCUSDT": btc.slice(0, 3)}, "1m") as fake:
        assert fake.publish(10) == 3
        assert fake.publish(1) == 0
        assert fake.published_index == fake.total_bars == 3


def test_gap_in_one_symbol_sends_nothing_for_it(btc):
    eth = btc.slice(0, 6)
    keep = np.array([0, 1, 3, 4, 5])  # no ETH bar at the third open time
    eth = Bars(eth.timeframe_ms, eth.open_time_ms[keep], eth.open[keep] / 10, eth.high[keep] / 10,
               eth.low[keep] / 10, eth.close[keep] / 10, eth.volume[keep])
    with FakeBinance({"BTCUSDT": btc.slice(0, 6), "ETHUSDT": eth}, "1m", updates_per_bar=1,
                     history_bars=1) as fake:
        with open_stream(fake, "/stream?streams=btcusdt@kline_1m/ethusdt@kline_1m") as ws:
            fake.publish(3)
            got = [(u.symbol, u.open_time_ms) for u in recv_updates(ws, 5)]
            assert_silent(ws, 0.1)
        t = btc.open_time_ms
        assert sorted(got) == sorted([("BTCUSDT", t[1]), ("ETHUSDT", t[1]), ("BTCUSDT", t[2]),
                                      ("BTCUSDT", t[3]), ("ETHUSDT", t[3])])
        status, _, rows = rest(fake, "/api/v3/klines?symbol=ETHUSDT&interval=1m&limit=10")
        assert status == 200 and [r[0] for r in rows] == [t[0], t[1], t[3], t[4]]  # t4 forming


def test_speed_mode_publishes_by_itself(btc):
    with FakeBinance({"BTCUSDT": btc.slice(0, 8)}, "1m", speed=50, history_bars=2) as fake:
        with open_stream(fake) as ws:
            assert fake.wait_published(5, timeout=5)
            update = parse_stream_message(ws.recv(timeout=2))
            assert isinstance(update, KlineUpdate)
        assert fake.wait_published(8, timeout=5)


# ----------------------------------------------------------------------------- control frames


def test_subscribe_list_unsubscribe_replies_match_the_doc(server):
    with open_stream(server, "/ws/0") as ws:  # ccxt.pro's path: no stream in it
        ws.send((SAMPLES / "ws-subscribe-request.json").read_text())
        assert recv_json(ws) == sample("ws-subscribe-response.json")
        ws.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 3}))
        assert recv_json(ws) == {"result": ["btcusdt@aggTrade", "btcusdt@depth"], "id": 3}
        ws.send((SAMPLES / "ws-unsubscribe-request.json").read_text())
        assert recv_json(ws) == sample("ws-unsubscribe-response.json")
        ws.send((SAMPLES / "ws-list-subscriptions-request.json").read_text())
        assert recv_json(ws) == sample("ws-list-subscriptions-response.json")


def test_subscribe_then_receive_and_properties(server):
    with open_stream(server, "/ws") as ws:
        server.publish(1)
        assert_silent(ws, 0.1)  # nothing subscribed yet
        ws.send(json.dumps({"method": "SUBSCRIBE", "params": [STREAM], "id": "abc1"}))
        assert recv_json(ws) == {"result": None, "id": "abc1"}
        ws.send(json.dumps({"method": "GET_PROPERTY", "params": ["combined"], "id": 2}))
        assert recv_json(ws) == {"result": False, "id": 2}
        server.step(1)
        assert recv_json(ws)["e"] == "kline"  # raw payload on /ws
        ws.send((SAMPLES / "ws-set-property-request.json").read_text())
        assert recv_json(ws) == {"result": None, "id": 5}
        server.step(1)
        assert recv_json(ws)["stream"] == STREAM  # envelope once combined is on
    with open_stream(server, "/stream") as ws:
        ws.send((SAMPLES / "ws-get-property-request.json").read_text())
        assert recv_json(ws) == sample("ws-get-property-response.json")


@pytest.mark.parametrize("request_text, reply", [
    ("not json", sample("ws-error-invalid-json.json")),
    ('{"method":"SUBSCRIBEX","params":[],"id":7}',
     {"code": 2, "id": 7,
      "msg": "Invalid request: unknown variant SUBSCRIBEX, expected one of "
             "SUBSCRIBE, UNSUBSCRIBE, LIST_SUBSCRIPTIONS, SET_PROPERTY, GET_PROPERTY"}),
    ('{"method":"SET_PROPERTY","params":["combined","yes"],"id":8}',
     {"code": 1, "id": 8, "msg": "Invalid value type: expected Boolean"}),
    ('{"method":"GET_PROPERTY","params":["colour"],"id":9}',
     {"code": 0, "id": 9, "msg": "Unknown property: colour"}),
])
def test_error_replies(server, request_text, reply):
    with open_stream(server) as ws:
        ws.send(request_text)
        assert recv_json(ws) == reply


@pytest.mark.parametrize("request_text", [
    '{"params":[],"id":1}', '{"method":"SUBSCRIBE","params":"x","id":1}',
    '{"method":"SUBSCRIBE","params":[],"id":true}', '{"method":"SUBSCRIBE","params":[],"id":"a-b"}',
    '{"method":"GET_PROPERTY","params":[5],"id":1}', '[1]',
])
def test_invalid_requests_get_code_2(server, request_text):
    with open_stream(server) as ws:
        ws.send(request_text)
        reply = recv_json(ws)
        assert reply["code"] == 2 and reply["msg"].startswith("Invalid request")


# ---------------------------------------------------------------------------- fault injection


def test_drop_connections_is_abrupt(server):
    with open_stream(server) as ws:
        server.drop_connections()
        with pytest.raises(ConnectionClosedError):
            ws.recv(timeout=2)
    assert server.ws_connections == 1
    with open_stream(server) as ws:  # reconnecting works
        server.publish(1)
        assert len(recv_updates(ws, 3)) == 3
    assert server.ws_connections == 2


def test_stall_sends_nothing_for_that_long(server):
    with open_stream(server) as ws:
        server.stall(0.4)
        t0 = time.monotonic()
        server.publish(1)  # blocks through the stall
        assert time.monotonic() - t0 >= 0.35
        assert len(recv_updates(ws, 3)) == 3
        ws.ping().wait(1)  # the connection stayed open


def test_garbage_frame(server):
    with open_stream(server) as ws:
        server.send_garbage()
        text = ws.recv(timeout=2)
        assert text == "{not json"
        with pytest.raises(WireFormatError):
            parse_stream_message(text)
        server.publish(1)
        assert len(recv_updates(ws, 3)) == 3


def test_duplicate_next_sends_the_closing_update_twice(server):
    with open_stream(server) as ws:
        server.duplicate_next()
        server.publish(2)
        updates = recv_updates(ws, 7)
        assert_silent(ws, 0.1)
    assert [u.closed for u in updates] == [False, False, True, True, False, False, True]
    assert updates[2] == updates[3]


def test_reorder_next_swaps_two_closing_bars(server, btc):
    with open_stream(server, f"/stream?streams={STREAM}") as ws:
        server.reorder_next()
        server.publish(2)
        updates = recv_updates(ws, 6)
    closing = [u.open_time_ms for u in updates if u.closed]
    assert closing == [btc.open_time_ms[11], btc.open_time_ms[10]]
    assert [u.closed for u in updates] == [False, False, False, False, True, True]


def test_skip_next_bar_streams_nothing_but_rest_has_it(server, btc):
    with open_stream(server) as ws:
        server.skip_next_bar()
        server.publish(1)
        assert_silent(ws, 0.15)
        server.publish(1)
        assert {u.open_time_ms for u in recv_updates(ws, 3)} == {btc.open_time_ms[11]}
    _, _, rows = rest(server, "/api/v3/klines?symbol=BTCUSDT&interval=1m"
                              f"&startTime={btc.open_time_ms[10]}&limit=1")
    assert rows[0][0] == btc.open_time_ms[10] and float(rows[0][4]) == btc.close[10]


def test_shutdown_event_then_clean_close(server):
    with open_stream(server) as combined_ws, open_stream(server, f"/ws/{STREAM}") as raw_ws:
        server.shutdown_event()
        assert recv_json(combined_ws) == {"stream": "!serverShutdown",
                                          "data": {"e": "serverShutdown", "E": server.now_ms}}
        assert parse_stream_message(raw_ws.recv(timeout=2)) == ServerShutdown(server.now_ms)
        for ws in (combined_ws, raw_ws):
            with pytest.raises(ConnectionClosedOK):
                ws.recv(timeout=2)


def test_fail_rest_answers_429_with_retry_after(server):
    server.fail_rest(429, count=1, retry_after=7)
    status, headers, body = rest(server, "/api/v3/ping")
    assert (status, headers["Retry-After"], body) == (
        429, "7", {"code": -1003, "msg": "Too many requests."})
    assert rest(server, "/api/v3/ping")[:3:2] == (200, {})
    server.fail_rest(418, count=2)
    assert [rest(server, "/api/v3/time")[0] for _ in range(3)] == [418, 418, 200]


def test_rate_limited_then_succeeds_after_retry(server, btc):
    exchange = make_exchange(server.rest_url)
    server.fail_rest(429, count=1, retry_after=1)
    with pytest.raises(RateLimited) as caught:
        fetch_closed_bars(exchange, "BTCUSDT", "1m")
    assert caught.value.retry_after_s == 1 and caught.value.status == 429
    server.fail_rest(429, count=1, retry_after=1)
    t0 = time.monotonic()
    bars = retry_transient(lambda: fetch_closed_bars(exchange, "BTCUSDT", "1m"), base_delay_s=0.01)
    assert time.monotonic() - t0 >= 1.0  # Retry-After honoured although ccxt ignores it
    assert list(bars.open_time_ms) == list(btc.open_time_ms[:10])


def test_server_errors_are_temporary_and_give_up_after_attempts(server, caplog):
    exchange = make_exchange(server.rest_url)
    exchange.load_markets()
    server.fail_rest(503, count=3)
    with pytest.raises(TemporaryError):
        retry_transient(lambda: fetch_closed_bars(exchange, "BTCUSDT", "1m"), attempts=3,
                        base_delay_s=0.01)
    messages = [r.getMessage() for r in caplog.records if r.name == "smc.retry"]
    assert len(messages) == 3 and "(2 left)" in messages[0] and "giving up" in messages[-1]
    assert all(m.startswith("❌ Failed to fetch live OHLCV data: ") for m in messages)


# ------------------------------------------------------------------------------------- REST


def test_ping_time_exchange_info(server):
    assert rest(server, "/api/v3/ping")[2] == sample("rest-ping.json")
    assert rest(server, "/api/v3/time")[2] == {"serverTime": server.now_ms}
    assert rest(server, "/api/v3/time")[2].keys() == sample("rest-time.json").keys()
    status, headers, info = rest(server, "/api/v3/exchangeInfo")
    doc = sample("rest-exchangeInfo-BTCUSDT.json")
    assert status == 200 and headers["Content-Type"].startswith("application/json")
    assert info.keys() == doc.keys() and info["symbols"] == doc["symbols"]
    assert rest(server, "/api/v3/exchangeInfo?symbol=BTCUSDT")[2]["symbols"][0]["symbol"] == \
        "BTCUSDT"
    assert rest(server, "/api/v3/exchangeInfo?symbol=XRPUSDT")[:3:2] == \
        (400, sample("rest-error.json"))


def test_klines_errors(server):
    assert rest(server, "/api/v3/klines?symbol=XRPUSDT&interval=1m")[:3:2] == \
        (400, sample("rest-error.json"))
    assert rest(server, "/api/v3/klines?symbol=BTCUSDT&interval=7m")[:3:2] == \
        (400, {"code": -1120, "msg": "Invalid interval."})
    # not served
    assert rest(server, "/api/v3/klines?symbol=BTCUSDT&interval=1h")[2]["code"] == -1120
    assert rest(server, "/api/v3/klines?symbol=BTCUSDT&interval=1m&limit=x")[2]["code"] == -1100
    assert rest(server, "/api/v3/klines?interval=1m")[2]["code"] == -1102


def test_klines_newest_rows_include_the_forming_bar(server, btc):
    t = btc.open_time_ms
    _, _, rows = rest(server, "/api/v3/klines?symbol=BTCUSDT&interval=1m")
    assert [r[0] for r in rows] == list(t[:11])  # 10 closed + bar 10 opening at the clock
    assert rows[-1][1:5] == [f"{btc.open[10]:.8f}"] * 4 and rows[-1][5] == "0.00000000"
    with open_stream(server) as ws:
        server.step(1)
        forming = parse_stream_message(ws.recv(timeout=2))
    _, _, rows = rest(server, "/api/v3/klines?symbol=BTCUSDT&interval=1m&limit=2")
    assert [r[0] for r in rows] == [t[9], t[10]] and rows[-1][6] > server.now_ms
    assert [float(x) for x in rows[-1][1:6]] == [forming.open, forming.high, forming.low,
                                                  forming.close, forming.volume]
    server.step(2)  # bar 10 closes; the clock sits at bar 11's open
    _, _, rows = rest(server, "/api/v3/klines?symbol=BTCUSDT&interval=1m&limit=2")
    assert [r[0] for r in rows] == [t[10], t[11]] and float(rows[0][4]) == btc.close[10]


def test_klines_start_end_limit(btc):
    with FakeBinance({"BTCUSDT": btc}, "1m", history_bars=len(btc)) as fake:
        t = btc.open_time_ms

        def times(query):
            status, _, rows = rest(fake, "/api/v3/klines?symbol=BTCUSDT&interval=1m" + query)
            assert status == 200
            return [r[0] for r in rows]

        assert times("") == list(t)  # all published, clock at the end: no forming row
        assert times("&limit=3") == list(t[-3:])
        assert times(f"&startTime={t[5]}&limit=3") == list(t[5:8])
        assert times(f"&startTime={t[5] - 1}&limit=2") == list(t[5:7])
        assert times(f"&endTime={t[20]}&limit=3") == list(t[18:21])
        assert times(f"&startTime={t[5]}&endTime={t[7]}&limit=100") == list(t[5:8])
        assert times(f"&startTime={t[5] * 1000}&limit=1") == [t[5]]  # µs accepted
        assert times(f"&startTime={t[7]}&endTime={t[5]}") == []
        assert times("&limit=5000") == list(t)  # capped at 1000, fewer here


def test_klines_default_and_max_limit():
    n = 1200
    open_ms = 1_700_000_040_000 + 60_000 * np.arange(n)
    prices = np.full(n, 100.0)
    bars = Bars(60_000, open_ms, prices, prices + 1, prices - 1, prices, np.ones(n))
    with FakeBinance({"BTCUSDT": bars}, "1m", history_bars=n) as fake:
        assert len(rest(fake, "/api/v3/klines?symbol=BTCUSDT&interval=1m")[2]) == 500
        assert len(rest(fake, "/api/v3/klines?symbol=BTCUSDT&interval=1m&limit=1000")[2]) == 1000
        assert len(rest(fake, "/api/v3/klines?symbol=BTCUSDT&interval=1m&limit=1001")[2]) == 1000


def test_ccxt_fetch_ohlcv_through_make_exchange(server, btc):
    exchange = make_exchange(server.rest_url)
    candles = exchange.fetch_ohlcv("BTC/USDT", "1m", limit=3)
    assert [c[0] for c in candles] == list(btc.open_time_ms[8:11])
    assert candles[0][1:] == list(bar_values(btc, 8))
    since = exchange.fetch_ohlcv("BTC/USDT", "1m", since=int(btc.open_time_ms[2]), limit=2)
    assert [c[0] for c in since] == list(btc.open_time_ms[2:4])
    assert server.rest_requests == [
        "/api/v3/exchangeInfo",
        "/api/v3/klines?interval=1m&limit=3&symbol=BTCUSDT",
        f"/api/v3/klines?interval=1m&limit=2&symbol=BTCUSDT&startTime={btc.open_time_ms[2]}",
    ]
    market = exchange.market("BTC/USDT")
    assert market["precision"]["price"] == 0.01 and market["limits"]["cost"]["min"] == 5


def test_fetch_closed_bars_drops_the_forming_row_and_pages(btc):
    with FakeBinance({"BTCUSDT": btc}, "1m", history_bars=30) as fake:
        exchange = make_exchange(fake.rest_url)
        bars = fetch_closed_bars(exchange, "BTCUSDT", "1m", since_ms=int(btc.open_time_ms[3]),
                                 limit=7)
        assert list(bars.open_time_ms) == list(btc.open_time_ms[3:30])
        assert np.array_equal(bars.close, btc.close[3:30])
        klines = [p for p in fake.rest_requests if "klines" in p]
        assert len(klines) == 4  # 27 closed bars + 1 forming at 7 a page
        until = fetch_closed_bars(exchange, "BTCUSDT", "1m", since_ms=int(btc.open_time_ms[3]),
                                  until_ms=int(btc.open_time_ms[6]))
        assert list(until.open_time_ms) == list(btc.open_time_ms[3:6])
        with pytest.raises(BadSymbolError, match=f"unknown symbol ETHUSDT on {fake.rest_url}"):
            fetch_closed_bars(exchange, "ETHUSDT", "1m")
