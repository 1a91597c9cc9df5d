"""Runs without a command line: what the runners, the readiness report and the research tools
share.

``backtest`` runs one backtest (klines in, trades and the report contract out), ``lookahead``
re-runs it on prefixes and lists what differs, ``data`` finds and loads the kline files a run
reads, and ``paper_report`` turns a paper account's record in the state database into the same
report contract. It sits above the feeds, brokers and strategy it wires together and below every
runner; nothing here parses arguments or maps errors to exit codes.

The front door below loads each name on first use (importing the package loads nothing).
"""

from core.lazy import lazy_package

__getattr__, __all__ = lazy_package(__name__, ["backtest", "data", "lookahead", "paper_report"])
