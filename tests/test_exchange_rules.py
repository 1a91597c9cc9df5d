"""Per-symbol order rules: rounding to the grid, exchangeInfo parsing (the protocol doc's sample),
the bundled snapshot, the merge with config overrides, and the rules read from a local fake
exchange over real HTTP."""

import copy
import json
from pathlib import Path

import pytest

from core.errors import UserInputError
from core.exchange_rules import (
    FIELDS,
    SymbolRules,
    ceil_to_step,
    floor_to_step,
    load_snapshot,
    resolve_rules,
)
from fake_exchange import FakeBinance
from klines import load_klines
from venue import BadSymbolError, WireFormatError, make_exchange
from venue.filters import exchange_rules, order_filters, rules_fields

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "tests" / "fixtures" / "binance-samples" / "rest-exchangeInfo-BTCUSDT.json"
WEEK_1M = ROOT / "data" / "BTCUSDT_spot_1m_2023-03-20_2023-03-26.csv"
BTC = SymbolRules(tick_size=0.01, lot_step=0.00001, min_qty=0.00001, min_notional=5.0)


def sample_entry() -> dict:
    return copy.deepcopy(json.loads(SAMPLE.read_text())["symbols"][0])


# ------------------------------------------------------------------------------------ rounding

@pytest.mark.parametrize(("x", "step", "down", "up"), [
    (0.79112, 0.0001, 0.7911, 0.7912),         # the ETH size
    (0.7911, 0.0001, 0.7911, 0.7911),          # on the grid: kept both ways
    (0.0333399999, 0.00001, 0.03333, 0.03334),
    (4031.28468, 0.01, 4031.28, 4031.29),
    (4099.99, 0.01, 4099.99, 4099.99),         # 4099.99 / 0.01 is 409998.99999999994 in floats
    (68633.7, 0.01, 68633.7, 68633.7),
    (5.9, 1.0, 5.0, 6.0),
    (0.123456, 0.00001, 0.12345, 0.12346),
    (0.3, 0.1, 0.3, 0.3),
    (1.2345, 0.0, 1.2345, 1.2345),             # step 0: not checked, left as it is
])
def test_rounding_to_the_grid(x, step, down, up):
    assert floor_to_step(x, step) == down
    assert ceil_to_step(x, step) == up


def test_rules_round_prices_to_the_tick_and_sizes_to_the_step():
    eth = load_snapshot()["ETHUSDT"]
    assert eth.qty_down(0.79112) == 0.7911
    assert BTC.qty_down(0.79112) == 0.79112
    assert eth.price_down(1834.567) == 1834.56 and eth.price_up(1834.561) == 1834.57


def test_rules_refuse_negative_or_missing_values():
    with pytest.raises(ValueError, match="lot_step"):
        SymbolRules(tick_size=0.01, lot_step=-1, min_qty=0, min_notional=5)
    with pytest.raises(ValueError, match="tick_size"):
        SymbolRules(tick_size=float("nan"), lot_step=1, min_qty=0, min_notional=5)


# ------------------------------------------------------------------------- exchangeInfo parsing

def test_the_protocol_sample_parses_to_the_observed_btcusdt_values():
    assert SymbolRules(**rules_fields(sample_entry())) == BTC


def test_older_min_notional_filter_is_read_and_notional_wins_over_it():
    entry = sample_entry()
    entry["filters"] = [f for f in entry["filters"] if f["filterType"] != "NOTIONAL"]
    entry["filters"].append({"filterType": "MIN_NOTIONAL", "minNotional": "10.00000000",
                             "applyToMarket": True, "avgPriceMins": 5})
    assert rules_fields(entry)["min_notional"] == 10.0
    both = sample_entry()
    both["filters"].append({"filterType": "MIN_NOTIONAL", "minNotional": "10.00000000"})
    assert rules_fields(both)["min_notional"] == 5.0


def test_missing_filters_are_named_when_resolving():
    entry = sample_entry()
    entry["filters"] = [f for f in entry["filters"] if f["filterType"] != "LOT_SIZE"]
    fields = rules_fields(entry)
    assert "lot_step" not in fields and "min_qty" not in fields
    with pytest.raises(UserInputError) as info:
        resolve_rules(["BTCUSDT"], {"BTCUSDT": fields}, {}, "exchangeInfo of http://x")
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("BTCUSDT: order rules unknown (exchangeInfo of http://x lacks "
                              "LOT_SIZE stepSize, LOT_SIZE minQty)")
    assert "exchanges.binance.rules.BTCUSDT.lot_step" in message


def test_a_value_that_is_not_a_decimal_string_is_a_wire_format_error():
    entry = sample_entry()
    entry["filters"][0]["tickSize"] = "one cent"
    with pytest.raises(WireFormatError, match="BTCUSDT PRICE_FILTER tickSize"):
        rules_fields(entry)


def test_order_filters_round_trip_for_every_snapshot_symbol():
    for symbol, rules in load_snapshot().items():
        assert SymbolRules(**rules_fields({"symbol": symbol, "filters": order_filters(rules)})) \
            == rules, symbol


# ----------------------------------------------------------------------------------- snapshot

def test_snapshot_covers_common_usdt_pairs_with_their_provenance():
    doc = json.loads((ROOT / "data" / "exchange_rules.json").read_text())
    assert "not re-read" in doc["provenance"].lower() or "NOT re-read" in doc["provenance"]
    rules = load_snapshot()
    assert {"BTCUSDT", "ETHUSDT"} <= rules.keys()
    assert all(symbol.endswith("USDT") for symbol in rules)
    for symbol, entry in doc["symbols"].items():
        assert entry["source"], symbol
        assert set(FIELDS) <= entry.keys()
    assert rules["BTCUSDT"] == BTC                 # observed (protocol doc §2.4)
    assert rules["ETHUSDT"].lot_step == 0.0001     # stated by the issue
    assert "observed" in doc["symbols"]["BTCUSDT"]["source"]


# ------------------------------------------------------------------------------------ merging

def test_overrides_replace_single_fields():
    known = {"BTCUSDT": BTC}
    got = resolve_rules(["BTCUSDT"], known, {"BTCUSDT": {"lot_step": 0.001, "tick_size": None}},
                        "x")
    assert got["BTCUSDT"] == SymbolRules(0.01, 0.001, 0.00001, 5.0)
    full = {"tick_size": 0.001, "lot_step": 0.01, "min_qty": 0.01, "min_notional": 1}
    assert resolve_rules(["NEWUSDT"], known, {"NEWUSDT": full}, "x")["NEWUSDT"] == \
        SymbolRules(0.001, 0.01, 0.01, 1.0)


def test_unknown_symbol_is_refused_in_one_line():
    with pytest.raises(UserInputError) as info:
        resolve_rules(["NEWUSDT"], load_snapshot(), {}, "data/exchange_rules.json")
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("NEWUSDT: order rules unknown (data/exchange_rules.json has no "
                              "entry for it); set exchanges.binance.rules.NEWUSDT.tick_size")
    assert "python -m runners.exchange_rules" in message


def test_pairs_not_quoted_in_usdt_are_refused():
    with pytest.raises(UserInputError, match=r"^ETHBTC is not quoted in USDT: only USDT pairs"):
        resolve_rules(["ETHBTC"], {"ETHBTC": BTC}, {}, "x")


# ------------------------------------------------------------------------ live: a fake exchange

@pytest.fixture(scope="module")
def bars():
    return load_klines(WEEK_1M).bars().slice(0, 5)


def test_the_fake_exchange_serves_each_symbols_own_filters(bars):
    with FakeBinance({"BTCUSDT": bars, "ETHUSDT": bars}, history_bars=5) as fake:
        got = exchange_rules(make_exchange(fake.rest_url), ["ETHUSDT", "BTCUSDT"])
    snapshot = load_snapshot()
    assert SymbolRules(**got["ETHUSDT"]) == snapshot["ETHUSDT"]
    assert got["ETHUSDT"]["lot_step"] == 0.0001
    assert SymbolRules(**got["BTCUSDT"]) == BTC


def test_live_rules_come_from_the_server_not_the_snapshot(bars):
    served = SymbolRules(tick_size=0.05, lot_step=0.001, min_qty=0.002, min_notional=7.0)
    with FakeBinance({"ETHUSDT": bars}, history_bars=5, rules={"ETHUSDT": served}) as fake:
        got = exchange_rules(make_exchange(fake.rest_url), ["ETHUSDT"])
    assert resolve_rules(["ETHUSDT"], got, {}, "exchangeInfo")["ETHUSDT"] == served


def test_live_symbol_without_filters_is_refused(bars):
    with FakeBinance({"ABCUSDT": bars}, history_bars=5) as fake:  # in no snapshot
        got = exchange_rules(make_exchange(fake.rest_url), ["ABCUSDT"])
        source = f"exchangeInfo of {fake.rest_url}"
    assert got == {"ABCUSDT": {}}
    with pytest.raises(UserInputError, match=r"^ABCUSDT: order rules unknown \(exchangeInfo of "
                                             r"http://127\.0\.0\.1:\d+ lacks PRICE_FILTER"):
        resolve_rules(["ABCUSDT"], got, {}, source)


def test_live_pair_quoted_in_btc_is_refused(bars):
    with (FakeBinance({"ETHBTC": bars}, history_bars=5) as fake,
          pytest.raises(BadSymbolError, match=r"^ETHBTC is quoted in BTC on http://127")):
        exchange_rules(make_exchange(fake.rest_url), ["ETHBTC"])


# ------------------------------------------------------------------- refreshing the snapshot

def test_refresh_writes_what_the_server_serves(bars, tmp_path, capsys):
    from runners.exchange_rules import main

    served = SymbolRules(tick_size=0.05, lot_step=0.001, min_qty=0.002, min_notional=7.0)
    out = tmp_path / "rules.json"
    with FakeBinance({"BTCUSDT": bars, "ETHUSDT": bars}, history_bars=5,
                     rules={"BTCUSDT": BTC, "ETHUSDT": served}) as fake:
        assert main(["--out", str(out), "--rest-url", fake.rest_url,
                     "--symbols", "ethusdt", "BTCUSDT"]) == 0
        assert load_snapshot(out) == {"BTCUSDT": BTC, "ETHUSDT": served}
        doc = json.loads(out.read_text())
        assert fake.rest_url in doc["symbols"]["ETHUSDT"]["source"]
        assert doc["symbols"]["ETHUSDT"]["tick_size"] == "0.05"
        # without --symbols: the symbols already in --out
        out.write_text(out.read_text().replace('"tick_size": "0.05"', '"tick_size": "0.5"'))
        assert main(["--out", str(out), "--rest-url", fake.rest_url]) == 0
    assert load_snapshot(out)["ETHUSDT"] == served
    assert f"{out}: order rules of 2 symbol(s)" in capsys.readouterr().out


@pytest.mark.parametrize(("symbol", "message"), [
    ("XYZUSDT", "unknown symbol XYZUSDT on http://127.0.0.1"),
    ("ETHBTC", "ETHBTC is quoted in BTC on http://127.0.0.1"),
])
def test_refresh_refuses_bad_symbols_in_one_line(bars, tmp_path, capsys, symbol, message):
    from runners.exchange_rules import main

    out = tmp_path / "rules.json"
    with FakeBinance({"BTCUSDT": bars, "ETHBTC": bars}, history_bars=5) as fake:
        assert main(["--out", str(out), "--rest-url", fake.rest_url, "--symbols", symbol]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err
    assert not out.exists()
