"""The go_live section's new keys: defaults, and one-line refusals of bad credential variable
names (the names only: a value in the config file is refused as a secret)."""

import pytest

from core.config import config_from_dict, load_config
from core.errors import ConfigError


def test_defaults():
    go_live = load_config().go_live
    assert (go_live.min_paper_days, go_live.min_confidence, go_live.min_engine_uptime,
            go_live.min_feed_uptime) == (30, 0.95, 0.95, 0.95)
    assert (go_live.min_match_rate, go_live.max_slippage_bps,
            go_live.max_tracking_error_percent) == (0.9, 10.0, 20.0)
    assert go_live.credential_variables == ("BINANCE_API_KEY", "BINANCE_API_SECRET")


@pytest.mark.parametrize("names, problem", [
    (["BINANCE_API_KEY"], "must name exactly two environment variables"),
    (["A", "B", "C"], "must name exactly two environment variables"),
    (["binance_key", "B"], "entry 0 'binance_key' is not an environment variable name"),
    (["A", "1B"], "entry 1 '1B' is not an environment variable name"),
    (["A", "A"], "names the same variable twice"),
])
def test_bad_credential_variable_names_are_one_line(names, problem):
    with pytest.raises(ConfigError) as e:
        config_from_dict({"go_live": {"credential_variables": names}}, source="c.yaml")
    assert str(e.value).startswith("c.yaml: go_live.credential_variables: ")
    assert problem in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("key, value", [("min_confidence", 1.5), ("min_feed_uptime", -0.1),
                                        ("max_slippage_bps", -1), ("min_match_rate", 95)])
def test_out_of_range_thresholds(key, value):
    with pytest.raises(ConfigError, match=f"go_live.{key}: must be >= 0"):
        config_from_dict({"go_live": {key: value}}, source="c.yaml")
