"""Tests for core.config: the shipped defaults, partial files, every rejection, and round-trips."""

from __future__ import annotations

import dataclasses
import json
import re
import textwrap
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.config import (
    DEFAULT_CONFIG_PATH,
    AppConfig,
    apply_overrides,
    config_from_dict,
    load_config,
    reference_rows,
    reference_table,
)
from core.errors import ConfigError, UserInputError
from core.timeframes import BINANCE_INTERVALS, timeframe_ms

REPO_CONFIG = Path(__file__).resolve().parent.parent / "config.yaml"
README = REPO_CONFIG.parent / "README.md"


def write(tmp_path: Path, text: str, name: str = "config.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


# ---------------------------------------------------------------------------------------------
# The shipped file
# ---------------------------------------------------------------------------------------------

def test_default_path_is_the_repo_config():
    assert DEFAULT_CONFIG_PATH == REPO_CONFIG
    assert load_config() == load_config(REPO_CONFIG) == load_config(str(REPO_CONFIG))


def test_shipped_config_values():
    cfg = load_config()
    assert cfg.app.mode == "paper"
    assert cfg.app.log_level == "INFO"
    assert cfg.paper_trading.initial_balance == 10000
    assert cfg.paper_trading.max_positions == 3
    binance = cfg.exchanges.binance
    assert list(binance.symbols) == ["BTCUSDT"]
    assert binance.ws_url == "wss://stream.binance.com:9443"
    assert binance.rest_url == "https://api.binance.com"
    risk = cfg.risk_manager
    assert risk.max_position_size == 1000
    assert risk.max_daily_loss == 500
    assert risk.stop_loss_percent == 2.0
    assert risk.take_profit_ratio == 3.0
    assert risk.risk_per_trade_percent == 2.0
    assert risk.fee_percent == 0.1
    assert risk.slippage_percent == 0.02
    assert binance.rules == {}
    assert cfg.decision_engine.mode == "heuristic"
    assert cfg.decision_engine.confidence_threshold == 0.70
    assert cfg.strategy.signal_timeframe == "1h"
    assert cfg.strategy.execution_timeframe == "1m"
    assert cfg.strategy.allow_short is False
    assert cfg.smc.swing_lookback == 5
    assert cfg.smc.htf_swing_lookback == 20
    assert cfg.go_live.min_trades == 30
    assert cfg.database.url == "sqlite:///state/paper_trading.db"
    assert cfg.status_page.host == "127.0.0.1"
    assert cfg.status_page.port == 8000


def test_field_types_are_normalised():
    cfg = load_config()
    assert type(cfg.paper_trading.initial_balance) is float  # written as 10000 in the YAML
    assert type(cfg.risk_manager.max_daily_loss) is float
    assert type(cfg.paper_trading.max_positions) is int
    assert cfg.exchanges.binance.symbols == ("BTCUSDT",)


def test_dataclass_defaults_match_the_shipped_file():
    """config.yaml is the source of truth: the code defaults must equal it, key for key."""
    shipped = yaml.safe_load(REPO_CONFIG.read_text(encoding="utf-8"))
    assert AppConfig().as_dict() == shipped
    assert config_from_dict({}) == AppConfig() == load_config()


def test_config_is_frozen():
    cfg = load_config()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.app.mode = "real"  # type: ignore[misc]


def test_as_dict_is_json_safe_and_plain():
    d = load_config().as_dict()
    assert json.loads(json.dumps(d)) == d
    assert d["exchanges"]["binance"]["symbols"] == ["BTCUSDT"]
    assert set(d) == {f.name for f in dataclasses.fields(AppConfig)}


# ---------------------------------------------------------------------------------------------
# Descriptions and the README's table
# ---------------------------------------------------------------------------------------------

def _leaves(node: dict, prefix: str = ""):
    for key, value in node.items():
        dotted = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict) and value:
            yield from _leaves(value, dotted)
        else:
            yield dotted


def test_every_key_has_a_one_sentence_description():
    rows = {key: doc for key, _default, doc in reference_rows()}
    shipped = yaml.safe_load(REPO_CONFIG.read_text(encoding="utf-8"))
    assert set(_leaves(shipped)) <= rows.keys()
    for key, doc in rows.items():
        assert doc[:1].isupper() and doc.endswith("."), key
        assert not re.search(r"\.\s", doc.replace("e.g.", "")), f"{key}: more than one sentence"


def _readme_config_rows() -> dict[str, tuple[str, str]]:
    section = README.read_text(encoding="utf-8").split("\n## Configuration\n", 1)[1]
    section = section.split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        match = re.fullmatch(r"\| `([^`]+)` \| `([^`]*)` \| (.*) \|", line.strip())
        if match:
            rows[match[1]] = (match[2], match[3])
    return rows


def test_readme_config_table_matches_the_schema():
    """README.md's table must list every key with the schema's default and description (paste
    ``core.config.reference_table()`` there after changing the schema)."""
    documented = _readme_config_rows()
    expected = {key: (default, doc) for key, default, doc in reference_rows()}
    missing = [key for key in expected if key not in documented]
    assert not missing, f"keys missing from the README's configuration table: {missing}"
    unknown = [key for key in documented if key not in expected]
    assert not unknown, f"README documents keys the config does not have: {unknown}"
    for key, row in expected.items():
        assert documented[key] == row, f"README describes {key} differently"
    assert reference_table() in README.read_text(encoding="utf-8")


# ---------------------------------------------------------------------------------------------
# Partial files
# ---------------------------------------------------------------------------------------------

def test_partial_file_takes_defaults(tmp_path):
    path = write(tmp_path, """
        risk_manager:
          max_daily_loss: 250
        exchanges:
          binance:
            symbols: [ETHUSDT, BTCUSDT]
    """)
    cfg = load_config(path)
    assert cfg.risk_manager.max_daily_loss == 250
    assert cfg.risk_manager.stop_loss_percent == 2.0
    assert cfg.exchanges.binance.symbols == ("ETHUSDT", "BTCUSDT")
    assert cfg.exchanges.binance.ws_url == "wss://stream.binance.com:9443"
    assert cfg.app == AppConfig().app
    assert cfg.status_page.port == 8000


@pytest.mark.parametrize("text", ["", "# only a comment\n", "app:\n", "app:\nsmc:\n",
                                  "exchanges:\n  binance:\n"])
def test_empty_file_or_sections_take_all_defaults(tmp_path, text):
    assert load_config(write(tmp_path, text)) == AppConfig()


def test_per_symbol_rule_overrides(tmp_path):
    path = write(tmp_path, """
        exchanges:
          binance:
            rules:
              ETHUSDT: {lot_step: 0.001}
              SOLUSDT: {tick_size: 0.01, lot_step: 0.001, min_qty: 0.001, min_notional: 5}
    """)
    rules = load_config(path).exchanges.binance.rules
    assert set(rules) == {"ETHUSDT", "SOLUSDT"}
    assert rules["ETHUSDT"].lot_step == 0.001 and rules["ETHUSDT"].tick_size is None
    assert type(rules["SOLUSDT"].min_notional) is float
    with pytest.raises(TypeError):
        rules["BTCUSDT"] = rules["ETHUSDT"]  # type: ignore[index]  (read-only)
    cfg = load_config(path)
    assert config_from_dict(cfg.as_dict()) == cfg
    assert cfg.as_dict()["exchanges"]["binance"]["rules"]["ETHUSDT"] == {
        "tick_size": None, "lot_step": 0.001, "min_qty": None, "min_notional": None}
    again = apply_overrides(cfg, {"exchanges.binance.rules.ETHUSDT.min_notional": 10})
    assert again.exchanges.binance.rules["ETHUSDT"].min_notional == 10.0
    assert again.exchanges.binance.rules["ETHUSDT"].lot_step == 0.001


def test_int_accepted_where_float_expected(tmp_path):
    cfg = load_config(write(tmp_path, "risk_manager:\n  stop_loss_percent: 3\n"))
    assert cfg.risk_manager.stop_loss_percent == 3.0
    assert type(cfg.risk_manager.stop_loss_percent) is float


def test_real_mode_and_ml_free_config_load(tmp_path):
    path = write(tmp_path, """
        app: {mode: real, log_level: DEBUG}
        strategy: {signal_timeframe: 4h, execution_timeframe: 15m, allow_short: true}
        database: {url: "sqlite:////var/lib/smc/state.db"}
    """)
    cfg = load_config(path)
    assert ((cfg.app.mode, cfg.strategy.signal_timeframe, cfg.strategy.allow_short)
            == ("real", "4h", True))


# ---------------------------------------------------------------------------------------------
# Rejections: (id, YAML text, dotted key in the message, problem fragment in the message)
# ---------------------------------------------------------------------------------------------

BAD = [
    # structure
    ("top-level-list", "- app\n- smc\n", None, "top level must be a mapping"),
    ("top-level-scalar", "hello\n", None, "top level must be a mapping"),
    ("section-not-mapping", "risk_manager: 5\n", "risk_manager", "expected a mapping"),
    ("section-is-list", "app: [paper]\n", "app", "expected a mapping"),
    ("unknown-section", "risk_manger:\n  max_daily_loss: 5\n", "risk_manger",
     "did you mean risk_manager?"),
    ("unknown-section-no-match", "zzz: 1\n", "zzz", "unknown section"),
    ("unknown-key", "risk_manager:\n  stop_los_percent: 2\n", "risk_manager.stop_los_percent",
     "unknown key (did you mean stop_loss_percent?)"),
    ("unknown-nested-key", "exchanges:\n  binance:\n    symbol: [BTCUSDT]\n",
     "exchanges.binance.symbol", "did you mean symbols?"),
    ("unknown-exchange", "exchanges:\n  bybit: {}\n", "exchanges.bybit", "unknown key"),
    ("duplicate-key", "app:\n  mode: paper\n  mode: real\n", None, "duplicate key 'mode'"),
    ("yaml-syntax", "app:\n  mode: paper\n bad: [\n", None, "line 3"),
    ("yaml-tab", "app:\n\tmode: paper\n", None, "line 2"),
    # types
    ("bool-as-int", "paper_trading:\n  max_positions: true\n", "paper_trading.max_positions",
     "got true"),
    ("bool-as-float", "risk_manager:\n  max_daily_loss: yes\n", "risk_manager.max_daily_loss",
     "expected a number"),
    ("string-as-float", "risk_manager:\n  max_daily_loss: '500'\n", "risk_manager.max_daily_loss",
     "expected a number, got '500'"),
    ("string-as-int", "status_page:\n  port: '8000'\n", "status_page.port",
     "expected a whole number"),
    ("float-as-int", "paper_trading:\n  max_positions: 2.5\n", "paper_trading.max_positions",
     "expected a whole number"),
    ("null-value", "risk_manager:\n  fee_percent:\n", "risk_manager.fee_percent",
     "expected a number, got an empty value"),
    ("nan", "go_live:\n  min_sharpe: .nan\n", "go_live.min_sharpe", "finite"),
    ("infinite", "risk_manager:\n  max_daily_loss: .inf\n", "risk_manager.max_daily_loss",
     "finite"),
    ("int-as-bool", "strategy:\n  allow_short: 1\n", "strategy.allow_short", "true or false"),
    ("bool-as-string", "app:\n  log_level: off\n", "app.log_level", "quote"),
    ("symbols-not-list", "exchanges:\n  binance:\n    symbols: BTCUSDT\n",
     "exchanges.binance.symbols", "expected a list"),
    ("symbol-not-string", "exchanges:\n  binance:\n    symbols: [12]\n",
     "exchanges.binance.symbols", "expected a string"),
    # app
    ("app-mode", "app:\n  mode: live\n", "app.mode",
     "unknown value 'live'; expected one of paper, real"),
    ("log-level", "app:\n  log_level: info\n", "app.log_level",
     "expected one of DEBUG, INFO, WARNING, ERROR"),
    # paper_trading
    ("balance-zero", "paper_trading:\n  initial_balance: 0\n", "paper_trading.initial_balance",
     "must be > 0, got 0"),
    ("max-positions-zero", "paper_trading:\n  max_positions: 0\n", "paper_trading.max_positions",
     "must be >= 1, got 0"),
    # exchanges.binance
    ("enabled-retired", "exchanges:\n  binance:\n    enabled: true\n", "exchanges.binance.enabled",
     "Binance is the only exchange and is always used; remove this key"),
    ("symbols-empty", "exchanges:\n  binance:\n    symbols: []\n", "exchanges.binance.symbols",
     "at least one"),
    ("symbols-lower", "exchanges:\n  binance:\n    symbols: [btcusdt]\n",
     "exchanges.binance.symbols", "must be upper case, e.g. BTCUSDT"),
    ("symbols-slash", "exchanges:\n  binance:\n    symbols: [BTC/USDT]\n",
     "exchanges.binance.symbols", "write BTCUSDT"),
    ("symbols-bad", "exchanges:\n  binance:\n    symbols: [B]\n", "exchanges.binance.symbols",
     "2 to 20 upper-case letters or digits"),
    ("symbols-duplicate", "exchanges:\n  binance:\n    symbols: [BTCUSDT, ETHUSDT, BTCUSDT]\n",
     "exchanges.binance.symbols", "BTCUSDT is listed twice"),
    ("symbols-not-usdt", "exchanges:\n  binance:\n    symbols: [BTCUSDT, ETHBTC]\n",
     "exchanges.binance.symbols",
     "entry 1 'ETHBTC' is not quoted in USDT: only USDT pairs are supported"),
    ("symbols-usdt-alone", "exchanges:\n  binance:\n    symbols: [USDT]\n",
     "exchanges.binance.symbols", "is not quoted in USDT"),
    # exchanges.binance.rules
    ("rules-not-mapping", "exchanges:\n  binance:\n    rules: [ETHUSDT]\n",
     "exchanges.binance.rules", "expected a mapping, got ['ETHUSDT'] (a list)"),
    ("rules-lower-symbol", "exchanges:\n  binance:\n    rules: {ethusdt: {lot_step: 0.001}}\n",
     "exchanges.binance.rules.ethusdt",
     "'ethusdt' must be upper case, e.g. BTCUSDT; write ETHUSDT"),
    ("rules-not-usdt", "exchanges:\n  binance:\n    rules: {ETHBTC: {lot_step: 0.001}}\n",
     "exchanges.binance.rules.ETHBTC", "'ETHBTC' is not quoted in USDT"),
    ("rules-entry-not-mapping", "exchanges:\n  binance:\n    rules: {ETHUSDT: 0.001}\n",
     "exchanges.binance.rules.ETHUSDT", "expected a mapping of keys"),
    ("rules-unknown-field", "exchanges:\n  binance:\n    rules: {ETHUSDT: {price: 0.001}}\n",
     "exchanges.binance.rules.ETHUSDT.price", "unknown key; expected one of tick_size, lot_step"),
    ("rules-typo-field", "exchanges:\n  binance:\n    rules: {ETHUSDT: {lot_stp: 0.001}}\n",
     "exchanges.binance.rules.ETHUSDT.lot_stp", "did you mean lot_step?"),
    ("rules-zero-tick", "exchanges:\n  binance:\n    rules: {ETHUSDT: {tick_size: 0}}\n",
     "exchanges.binance.rules.ETHUSDT.tick_size", "must be > 0, got 0"),
    ("rules-string-step", "exchanges:\n  binance:\n    rules: {ETHUSDT: {lot_step: '0.001'}}\n",
     "exchanges.binance.rules.ETHUSDT.lot_step", "remove the quotes"),
    ("rules-negative-min-qty", "exchanges:\n  binance:\n    rules: {ETHUSDT: {min_qty: -1}}\n",
     "exchanges.binance.rules.ETHUSDT.min_qty", "must be >= 0, got -1"),
    ("rules-min-notional-over-cap",
     "exchanges:\n  binance:\n    rules: {ETHUSDT: {min_notional: 2000}}\n",
     "exchanges.binance.rules.ETHUSDT.min_notional",
     "2000 exceeds risk_manager.max_position_size 1000, so no order could ever be placed"),
    ("ws-url", "exchanges:\n  binance:\n    ws_url: https://stream.binance.com\n",
     "exchanges.binance.ws_url", "must start with ws:// or wss://"),
    ("rest-url", "exchanges:\n  binance:\n    rest_url: api.binance.com\n",
     "exchanges.binance.rest_url", "must start with http:// or https://"),
    # risk_manager
    ("max-position-size", "risk_manager:\n  max_position_size: 0\n",
     "risk_manager.max_position_size", "must be > 0"),
    ("max-daily-loss", "risk_manager:\n  max_daily_loss: -5\n", "risk_manager.max_daily_loss",
     "must be > 0, got -5"),
    ("stop-loss-zero", "risk_manager:\n  stop_loss_percent: 0\n", "risk_manager.stop_loss_percent",
     "must be > 0 and <= 50"),
    ("stop-loss-high", "risk_manager:\n  stop_loss_percent: 50.5\n",
     "risk_manager.stop_loss_percent", "got 50.5"),
    ("take-profit", "risk_manager:\n  take_profit_ratio: 0\n", "risk_manager.take_profit_ratio",
     "must be > 0"),
    ("risk-per-trade", "risk_manager:\n  risk_per_trade_percent: 11\n",
     "risk_manager.risk_per_trade_percent", "must be > 0 and <= 10, got 11"),
    ("fee-negative", "risk_manager:\n  fee_percent: -0.1\n", "risk_manager.fee_percent",
     "must be >= 0 and < 5"),
    ("fee-high", "risk_manager:\n  fee_percent: 5\n", "risk_manager.fee_percent", "got 5"),
    ("slippage", "risk_manager:\n  slippage_percent: 5.0\n", "risk_manager.slippage_percent",
     "must be >= 0 and < 5"),
    ("lot-step-moved", "risk_manager:\n  lot_step: 0.00001\n", "risk_manager.lot_step",
     "each symbol's lot step now comes from the exchange (exchangeInfo live, "
     "data/exchange_rules.json in a backtest); remove this key, or override one symbol with "
     "exchanges.binance.rules.BTCUSDT.lot_step"),
    ("min-notional-moved", "risk_manager:\n  min_notional: 5\n", "risk_manager.min_notional",
     "exchanges.binance.rules.BTCUSDT.min_notional"),
    # decision_engine
    ("engine-ml", "decision_engine:\n  mode: ml\n", "decision_engine.mode",
     "ml engine does not exist yet"),
    ("engine-other", "decision_engine:\n  mode: magic\n", "decision_engine.mode",
     "expected one of heuristic"),
    ("confidence", "decision_engine:\n  confidence_threshold: 1.5\n",
     "decision_engine.confidence_threshold", "must be >= 0 and <= 1"),
    # strategy
    ("signal-tf", "strategy:\n  signal_timeframe: 2d\n", "strategy.signal_timeframe",
     "unknown timeframe '2d'"),
    ("execution-tf", "strategy:\n  execution_timeframe: 1M\n", "strategy.execution_timeframe",
     "unknown timeframe"),
    ("tf-not-multiple", "strategy:\n  signal_timeframe: 5m\n  execution_timeframe: 3m\n",
     "strategy.signal_timeframe", "not a whole multiple of strategy.execution_timeframe"),
    ("tf-signal-shorter", "strategy:\n  signal_timeframe: 1m\n  execution_timeframe: 5m\n",
     "strategy.signal_timeframe", "not a whole multiple"),
    ("allow-short", "strategy:\n  allow_short: 'no'\n", "strategy.allow_short", "true or false"),
    ("entry-valid-bars", "strategy:\n  entry_valid_bars: 0\n", "strategy.entry_valid_bars",
     "must be >= 1"),
    ("stop-buffer", "strategy:\n  stop_buffer_percent: 10\n", "strategy.stop_buffer_percent",
     "must be >= 0 and < 10"),
    ("gap-cooldown", "strategy:\n  gap_cooldown_bars: -1\n", "strategy.gap_cooldown_bars",
     "must be >= 0"),
    # smc
    ("swing-low", "smc:\n  swing_lookback: 0\n", "smc.swing_lookback", "must be >= 1 and <= 50"),
    ("swing-high", "smc:\n  swing_lookback: 51\n", "smc.swing_lookback", "got 51"),
    ("htf-not-longer", "smc:\n  swing_lookback: 20\n  htf_swing_lookback: 20\n",
     "smc.htf_swing_lookback", "must be > smc.swing_lookback (20)"),
    ("htf-high", "smc:\n  htf_swing_lookback: 201\n", "smc.htf_swing_lookback", "must be <= 200"),
    ("break-on", "smc:\n  break_on: body\n", "smc.break_on", "expected one of close, wick"),
    ("order-block", "smc:\n  order_block: first\n", "smc.order_block",
     "expected one of lowest_low, last_opposite"),
    ("fvg-fill", "smc:\n  fvg_fill: quarter\n", "smc.fvg_fill",
     "expected one of full, half, touch"),
    ("ob-age", "smc:\n  max_order_block_age: 0\n", "smc.max_order_block_age", "must be >= 1"),
    ("displacement", "smc:\n  displacement_factor: 0\n", "smc.displacement_factor", "must be > 0"),
    # go_live
    ("min-sharpe-type", "go_live:\n  min_sharpe: high\n", "go_live.min_sharpe",
     "expected a number"),
    ("max-drawdown-zero", "go_live:\n  max_drawdown_percent: 0\n", "go_live.max_drawdown_percent",
     "must be > 0 and <= 100"),
    ("max-drawdown-high", "go_live:\n  max_drawdown_percent: 101\n", "go_live.max_drawdown_percent",
     "got 101"),
    ("win-rate", "go_live:\n  min_win_rate: 55\n", "go_live.min_win_rate",
     "must be >= 0 and <= 1 (a fraction: write 0.55 for 55%)"),
    ("win-rate-negative", "go_live:\n  min_win_rate: -0.1\n", "go_live.min_win_rate", "got -0.1"),
    ("min-trades", "go_live:\n  min_trades: -1\n", "go_live.min_trades", "must be >= 0"),
    ("min-paper-days", "go_live:\n  min_paper_days: 1.5\n", "go_live.min_paper_days",
     "expected a whole number"),
    # database
    ("db-postgres", "database:\n  url: postgresql://localhost/db\n", "database.url",
     "must start with sqlite://"),
    ("db-bare", "database:\n  url: sqlite:///\n", "database.url",
     "write e.g. sqlite:///state/paper_trading.db"),
    # status_page
    ("host-empty", "status_page:\n  host: ''\n", "status_page.host", "must not be empty"),
    ("host-type", "status_page:\n  host: 127\n", "status_page.host", "expected a string"),
    ("port-zero", "status_page:\n  port: 0\n", "status_page.port", "must be >= 1 and <= 65535"),
    ("port-high", "status_page:\n  port: 70000\n", "status_page.port", "got 70000"),
]


@pytest.mark.parametrize(("text", "key", "problem"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_input_is_rejected_with_one_line(tmp_path, text, key, problem):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert "\n" not in message and "\r" not in message
    assert message.startswith(f"{path}: ")
    if key is not None:
        assert message.startswith(f"{path}: {key}: "), message
    assert problem in message, message


def test_config_error_is_a_user_input_error(tmp_path):
    with pytest.raises(UserInputError):
        load_config(write(tmp_path, "app:\n  mode: live\n"))


def test_example_messages_exactly(tmp_path):
    path = write(tmp_path, "risk_manager:\n  max_daily_loss: -5\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value) == f"{path}: risk_manager.max_daily_loss: must be > 0, got -5"
    with pytest.raises(ConfigError) as info:
        config_from_dict({"app": {"mode": "live"}}, source="config.yaml")
    assert str(info.value) == (
        "config.yaml: app.mode: unknown value 'live'; expected one of paper, real"
    )
    with pytest.raises(ConfigError) as info:
        config_from_dict({"risk_manager": {"stop_los_percent": 2}}, source="config.yaml")
    assert str(info.value) == (
        "config.yaml: risk_manager.stop_los_percent: unknown key (did you mean stop_loss_percent?)"
    )


def test_yaml_syntax_error_names_the_line(tmp_path):
    path = write(tmp_path, "app:\n  mode: paper\nsmc:\n  swing_lookback: [5\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert "invalid YAML" in str(info.value) and "line " in str(info.value)


def test_missing_file(tmp_path):
    path = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError, match="config file not found") as info:
        load_config(path)
    assert str(info.value).startswith(str(path))


def test_directory_instead_of_file(tmp_path):
    with pytest.raises(ConfigError, match="is a directory"):
        load_config(tmp_path)


def test_file_not_utf8(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_bytes(b"app:\n  mode: \xff\xfe\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(path)


@pytest.mark.parametrize(("text", "key"), [
    ("exchanges:\n  binance:\n    api_key: AKIA-TOP-SECRET-VALUE-123\n",
     "exchanges.binance.api_key"),
    ("exchanges:\n  binance:\n    secret: AKIA-TOP-SECRET-VALUE-123\n", "exchanges.binance.secret"),
    ("exchanges:\n  binance:\n    API_SECRET: AKIA-TOP-SECRET-VALUE-123\n",
     "exchanges.binance.API_SECRET"),
    ("binance_api_key: AKIA-TOP-SECRET-VALUE-123\n", "binance_api_key"),
    ("app:\n  apikey: AKIA-TOP-SECRET-VALUE-123\n", "app.apikey"),
    ("app: 5\nzz:\n  - {secret_key: AKIA-TOP-SECRET-VALUE-123}\n", "zz[0].secret_key"),
    # a secret with a YAML syntax error after it: the syntax message must not quote the line
    ("exchanges:\n  binance:\n    api_key: \"AKIA-TOP-SECRET-VALUE-123\n", None),
])
def test_secrets_are_refused_without_echoing_them(tmp_path, text, key):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert "AKIA" not in message and "SECRET-VALUE" not in message
    assert "\n" not in message
    if key is not None:
        assert message.startswith(f"{path}: {key}: ")
        assert "environment variable" in message


# ---------------------------------------------------------------------------------------------
# config_from_dict and apply_overrides
# ---------------------------------------------------------------------------------------------

def test_config_from_dict_names_its_source():
    with pytest.raises(ConfigError, match=r"^<dict>: smc.break_on: "):
        config_from_dict({"smc": {"break_on": "body"}})
    with pytest.raises(ConfigError, match=r"^bench: smc.break_on: "):
        config_from_dict({"smc": {"break_on": "body"}}, source="bench")


def test_config_from_dict_accepts_tuples_for_lists():
    cfg = config_from_dict({"exchanges": {"binance": {"symbols": ("ETHUSDT",)}}})
    assert cfg.exchanges.binance.symbols == ("ETHUSDT",)


def test_apply_overrides_returns_a_revalidated_copy():
    base = load_config()
    cfg = apply_overrides(base, {"strategy.signal_timeframe": "4h",
                                 "risk_manager.max_daily_loss": 100,
                                 "exchanges.binance.symbols": ["ETHUSDT"]})
    assert cfg.strategy.signal_timeframe == "4h"
    assert cfg.risk_manager.max_daily_loss == 100.0
    assert cfg.exchanges.binance.symbols == ("ETHUSDT",)
    assert base.strategy.signal_timeframe == "1h"  # the original is untouched
    assert apply_overrides(base, {}) == base


@pytest.mark.parametrize(("overrides", "fragment"), [
    ({"strategy.signal_timeframe": "7m"},
     "<overrides>: strategy.signal_timeframe: unknown timeframe"),
    ({"strategy.execution_timeframe": "1h", "strategy.signal_timeframe": "30m"},
     "<overrides>: strategy.signal_timeframe: 30m is not a whole multiple"),
    ({"risk_manager.stop_los_percent": 1}, "did you mean stop_loss_percent?"),
    ({"riskmanager.max_daily_loss": 1},
     "<overrides>: riskmanager: unknown section (did you mean risk_manager?)"),
    ({"app.mode.x": 1}, "<overrides>: app.mode: is a value, not a section"),
    ({"exchanges.binance.api_key": "x"}, "environment variable"),
])
def test_apply_overrides_rejects_bad_values(overrides, fragment):
    with pytest.raises(ConfigError) as info:
        apply_overrides(load_config(), overrides)
    assert fragment in str(info.value)


# ---------------------------------------------------------------------------------------------
# Property-based: round-trips and robustness
# ---------------------------------------------------------------------------------------------

def _floats(lo=None, hi=None, *, lo_open=False, hi_open=False):
    return st.floats(min_value=lo, max_value=hi, exclude_min=lo_open and lo is not None,
                     exclude_max=hi_open and hi is not None, allow_nan=False, allow_infinity=False)



@st.composite
def valid_config_dicts(draw):
    execution = draw(st.sampled_from(BINANCE_INTERVALS))
    signal = draw(st.sampled_from(
        [tf for tf in BINANCE_INTERVALS if timeframe_ms(tf) % timeframe_ms(execution) == 0]))
    swing = draw(st.integers(1, 50))
    max_position_size = draw(st.one_of(st.integers(1, 10**9), _floats(0, 1e9, lo_open=True)))
    sections = {
        "app": {"mode": draw(st.sampled_from(["paper", "real"])),
                "log_level": draw(st.sampled_from(["DEBUG", "INFO", "WARNING", "ERROR"]))},
        "paper_trading": {"initial_balance": draw(_floats(0, 1e12, lo_open=True)),
                          "max_positions": draw(st.integers(1, 1000))},
        "exchanges": {"binance": {
            "symbols": draw(st.lists(st.from_regex(r"\A[A-Z0-9]{1,16}USDT\Z"), min_size=1,
                                     max_size=5, unique=True)),
            "rules": draw(st.dictionaries(
                st.from_regex(r"\A[A-Z0-9]{1,16}USDT\Z"),
                st.fixed_dictionaries({}, optional={
                    "tick_size": _floats(0, 1e6, lo_open=True),
                    "lot_step": _floats(0, 1e6, lo_open=True),
                    "min_qty": _floats(0, 1e6),
                    "min_notional": _floats(0, min(max_position_size, 1000))}),
                max_size=3)),
            "ws_url": (draw(st.sampled_from(["ws://", "wss://"]))
                       + draw(st.from_regex(r"\A[a-z0-9.:/]{1,30}\Z"))),
            "rest_url": (draw(st.sampled_from(["http://", "https://"]))
                         + draw(st.from_regex(r"\A[a-z0-9.:/]{1,30}\Z"))),
        }},
        "risk_manager": {
            "max_position_size": max_position_size,
            "max_daily_loss": draw(_floats(0, 1e9, lo_open=True)),
            "stop_loss_percent": draw(_floats(0, 50, lo_open=True)),
            "take_profit_ratio": draw(_floats(0, 100, lo_open=True)),
            "risk_per_trade_percent": draw(_floats(0, 10, lo_open=True)),
            "fee_percent": draw(_floats(0, 5, hi_open=True)),
            "slippage_percent": draw(_floats(0, 5, hi_open=True)),
        },
        "decision_engine": {"mode": "heuristic", "confidence_threshold": draw(_floats(0, 1))},
        "strategy": {"signal_timeframe": signal, "execution_timeframe": execution,
                     "allow_short": draw(st.booleans()),
                     "entry_valid_bars": draw(st.integers(1, 10**6)),
                     "stop_buffer_percent": draw(_floats(0, 10, hi_open=True)),
                     "gap_cooldown_bars": draw(st.integers(0, 10**6))},
        "smc": {"swing_lookback": swing, "htf_swing_lookback": draw(st.integers(swing + 1, 200)),
                "break_on": draw(st.sampled_from(["close", "wick"])),
                "order_block": draw(st.sampled_from(["lowest_low", "last_opposite"])),
                "fvg_fill": draw(st.sampled_from(["full", "half", "touch"])),
                "max_order_block_age": draw(st.integers(1, 10**6)),
                "displacement_factor": draw(_floats(0, 100, lo_open=True))},
        "go_live": {"min_sharpe": draw(_floats(-1e6, 1e6)),
                    "max_drawdown_percent": draw(_floats(0, 100, lo_open=True)),
                    "min_win_rate": draw(_floats(0, 1)), "min_trades": draw(st.integers(0, 10**6)),
                    "min_paper_days": draw(st.integers(0, 10**4))},
        "database": {"url": "sqlite:///" + draw(st.from_regex(r"\A[a-z0-9_/.]{1,40}\Z"))},
        "status_page": {"host": draw(st.from_regex(r"\A[a-z0-9.\-]{1,30}\Z")),
                        "port": draw(st.integers(1, 65535))},
    }
    # Any subset of sections: omitted ones take their defaults.
    keep = draw(st.sets(st.sampled_from(sorted(sections))))
    return {name: body for name, body in sections.items() if name in keep}


@settings(max_examples=200, deadline=None)
@given(valid_config_dicts())
def test_as_dict_round_trips(data):
    cfg = config_from_dict(data)
    d = cfg.as_dict()
    again = config_from_dict(d)
    assert again == cfg
    assert again.as_dict() == d
    # JSON-safe and YAML-safe: both serialisations load back to the same config.
    assert config_from_dict(json.loads(json.dumps(d))) == cfg
    assert config_from_dict(yaml.safe_load(yaml.safe_dump(d))) == cfg


_junk_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(),
                          st.text(max_size=10))
_known_keys = st.sampled_from(
    [f.name for f in dataclasses.fields(AppConfig)]
    + [k for section in AppConfig().as_dict().values() for k in section]
    + ["binance"]
)
_junk = st.recursive(
    _junk_scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.one_of(_known_keys, st.text(max_size=8)), inner,
                                            max_size=4)),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(_known_keys, _junk, max_size=4))
def test_arbitrary_input_gives_a_config_or_a_one_line_config_error(data):
    try:
        cfg = config_from_dict(data, source="fuzz.yaml")
    except ConfigError as e:
        message = str(e)
        assert message.startswith("fuzz.yaml: ")
        assert "\n" not in message and "\r" not in message
    else:
        assert isinstance(cfg, AppConfig)
