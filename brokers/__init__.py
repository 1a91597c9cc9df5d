"""Brokers and the account's records: fills and costs, the paper broker, the event sinks (the
live ``PaperJournal``, the backtest's ``FillLedger``) and restart restore; the database itself is
``brokers.state``. Public names are importable from here, each module imported on first use."""

from core.lazy import lazy_package

__getattr__, __all__ = lazy_package(__name__, ["bar_broker", "paper_broker", "costs", "journal",
                                               "ledger", "restore"])
