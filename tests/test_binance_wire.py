"""Binance wire formats: parsing the documented samples, building payloads that match them."""

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from venue.wire import (
    KlineUpdate,
    ServerShutdown,
    WireFormatError,
    combined,
    combined_stream_url,
    kline_event,
    parse_stream_message,
    rest_kline_row,
    stream_name,
)

SAMPLES = Path(__file__).resolve().parent / "fixtures" / "binance-samples"


def sample_text(name: str) -> str:
    return (SAMPLES / name).read_text()


def sample(name: str):
    return json.loads(sample_text(name))


# ------------------------------------------------------------------------------------ parsing


def test_raw_kline_sample_parses():
    update = parse_stream_message(sample_text("ws-kline.json"))
    assert update == KlineUpdate(symbol="BNBBTC", interval="1m", open_time_ms=1672515780000,
                                 open=0.001, high=0.0025, low=0.0015, close=0.002, volume=1000.0,
                                 closed=False, event_ms=1672515782136)


def test_combined_kline_sample_parses_like_the_raw_one():
    assert parse_stream_message(sample_text("ws-kline-combined.json")) == \
        parse_stream_message(sample_text("ws-kline.json"))


@pytest.mark.parametrize("name", ["ws-serverShutdown.json", "ws-serverShutdown-combined.json"])
def test_server_shutdown_both_shapes(name):
    assert parse_stream_message(sample_text(name)) == ServerShutdown(event_ms=1770123456789)


@pytest.mark.parametrize("name", [
    "ws-subscribe-response.json", "ws-unsubscribe-response.json",
    "ws-list-subscriptions-response.json", "ws-get-property-response.json",
    "ws-error-invalid-json.json", "ws-trade.json",
    "ws-bookTicker.json", "ws-depth-partial.json", "ws-depth-diff.json", "ws-aggTrade.json",
    "ws-avgPrice.json", "ws-miniTicker.json", "ws-ticker.json",
])
def test_control_replies_and_other_streams_are_none(name):
    assert parse_stream_message(sample_text(name)) is None


def test_other_stream_in_combined_envelope_is_none():
    text = json.dumps(combined("bnbbtc@trade", sample("ws-trade.json")))
    assert parse_stream_message(text) is None


def _kline_with(**changes):
    message = sample("ws-kline-combined.json")
    k = message["data"]["k"]
    for key, value in changes.items():
        if value is None:
            del k[key]
        else:
            k[key] = value
    return json.dumps(message)


@pytest.mark.parametrize("text, reason", [
    ("{not json", "invalid JSON"),
    ("", "invalid JSON"),
    ("42", "JSON object"),
    (_kline_with(o=None), "missing k.o"),
    (_kline_with(t="1672515780000"), "k.t must be an integer"),
    (_kline_with(t=True), "k.t must be an integer"),
    (_kline_with(x="false"), "k.x must be a boolean"),
    (_kline_with(c=0.002), "k.c must be a decimal string"),
    (_kline_with(c="abc"), "not a number"),
    (_kline_with(c="NaN"), "not a number"),
    (_kline_with(l="-0.0015"), "must be > 0"),
    (_kline_with(h="0.0010", l="0.0015"), "high 0.0010 < low 0.0015"),
    (_kline_with(v="-1"), "negative volume"),
    (_kline_with(s="ETHBTC"), "differs from s"),
    (_kline_with(i="1x"), "unknown interval"),
    (json.dumps({"stream": "bnbbtc@kline_1m", "data": "kline"}), "not an object"),
    (json.dumps({"stream": "ethbtc@kline_1m", "data": sample("ws-kline.json")}),
     "payload is BNBBTC"),
    (json.dumps({"e": "kline", "E": 1, "s": "BNBBTC"}), "missing object 'k'"),
])
def test_garbage_raises_wire_format_error_with_reason(text, reason):
    with pytest.raises(WireFormatError, match=reason):
        parse_stream_message(text)


def test_open_outside_low_high_is_accepted_like_the_documented_sample():
    # ws-kline.json itself has o=0.0010 below l=0.0015; only high < low is refused
    assert parse_stream_message(_kline_with(o="0.0030")).open == 0.003


def test_wire_format_error_is_a_value_error():
    assert issubclass(WireFormatError, ValueError)


# ----------------------------------------------------------------------------------- building


def test_kline_event_matches_the_sample_keys_and_types():
    ours = kline_event("bnbbtc", "1m", 1672515780000, "0.0010", "0.0025", "0.0015", "0.0020",
                       "1000", False, 1672515782136, trades=100)
    doc = sample("ws-kline.json")
    assert ours.keys() == doc.keys() and ours["k"].keys() == doc["k"].keys()
    for key in doc["k"]:
        assert type(ours["k"][key]) is type(doc["k"][key]), key
    for key in ("e", "E", "s"):
        assert ours[key] == doc[key]
    for key in ("t", "T", "s", "i", "o", "c", "h", "l", "v", "n", "x"):
        assert ours["k"][key] == doc["k"][key], key


def test_kline_event_formats_floats_as_decimal_strings_and_close_time():
    event = kline_event("BTCUSDT", "1h", 1735689600000, 93500.0, 93675.65, 93455.75, 93620.15,
                        120.5, True, 1735693200000)
    k = event["k"]
    assert (k["o"], k["h"], k["l"], k["c"], k["v"]) == (
        "93500.00000000", "93675.65000000", "93455.75000000", "93620.15000000", "120.50000000")
    assert k["T"] == 1735689600000 + 3_600_000 - 1 and k["x"] is True
    assert (k["f"], k["L"], k["n"]) == (-1, -1, 0)  # no trade ids modelled


def test_combined_envelope_matches_sample():
    doc = sample("ws-kline-combined.json")
    assert combined(doc["stream"], doc["data"]) == doc


def test_rest_kline_row_matches_the_documented_shape():
    doc = sample("rest-klines.json")[0]
    ours = rest_kline_row("1m", 1499040000000, "0.01634790", "0.80000000", "0.01575800",
                          "0.01577100", "148976.11427815", trades=308)
    assert len(ours) == 12 and [type(x) for x in ours] == [type(x) for x in doc]
    assert ours[:6] == doc[:6] and ours[8] == 308 and ours[11] == "0"
    assert ours[6] == 1499040000000 + 60_000 - 1


def test_synthetic_rest_rows_round_trip_through_rest_kline_row():
    for row in sample("rest-klines-btcusdt-1h-synthetic.json"):
        ours = rest_kline_row("1h", row[0], *(float(x) for x in row[1:6]), trades=row[8])
        assert ours[:7] == row[:7]


def test_built_event_parses_back():
    event = kline_event("ETHUSDT", "5m", 1_700_000_100_000, 2000.5, 2010.25, 1990.0, 2005.75, 12.5,
                        True, 1_700_000_400_000)
    update = parse_stream_message(json.dumps(combined(stream_name("ETHUSDT", "5m"), event)))
    assert update == KlineUpdate("ETHUSDT", "5m", 1_700_000_100_000, 2000.5, 2010.25, 1990.0,
                                 2005.75, 12.5, True, 1_700_000_400_000)


@given(
    open_=st.decimals("0.01", "100000", places=2),
    up=st.decimals("0", "1000", places=2),
    down=st.decimals("0", "0.5", places=2),
    frac=st.floats(0, 1),
    volume=st.decimals("0", "1000000", places=8),
    closed=st.booleans(),
)
def test_any_consistent_bar_round_trips(open_, up, down, frac, volume, closed):
    high = open_ + up
    low = max(open_ * (1 - down), type(open_)("0.01")).quantize(open_)
    close = low + (high - low) * type(open_)(str(frac))
    close = min(max(close.quantize(open_), low), high)
    event = kline_event("BTCUSDT", "1m", 60_000 * 28_000_000, open_, high, low, close, volume,
                        closed, 60_000 * 28_000_000 + 5)
    update = parse_stream_message(json.dumps(event))
    assert (update.open, update.high, update.low, update.close, update.volume) == (
        float(open_), float(high), float(low), float(close), float(volume))
    assert update.closed is closed


# ---------------------------------------------------------------------------------- names, URLs


def test_stream_names_are_lowercase():
    assert stream_name("BTCUSDT", "1m") == "btcusdt@kline_1m"
    assert stream_name("ethusdt", "1M") == "ethusdt@kline_1M"  # month, case kept


@pytest.mark.parametrize("symbol, interval", [("BTCUSDT", "2m"), ("BTC/USDT", "1m"), ("", "1m")])
def test_stream_name_rejects_bad_input(symbol, interval):
    with pytest.raises(ValueError):
        stream_name(symbol, interval)


def test_combined_stream_url():
    assert combined_stream_url(
        "wss://stream.binance.com:9443/", ["BTCUSDT", "ETHUSDT"], ["1m", "1h"]) == (
        "wss://stream.binance.com:9443/stream?streams="
        "btcusdt@kline_1m/btcusdt@kline_1h/ethusdt@kline_1m/ethusdt@kline_1h")
    assert combined_stream_url("ws://127.0.0.1:9", ["BTCUSDT"], "1m") == \
        "ws://127.0.0.1:9/stream?streams=btcusdt@kline_1m"
