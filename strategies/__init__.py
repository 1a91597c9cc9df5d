"""The strategy: SMC detection and setups, sizing and guards (pure), and the backtrader Strategy.

Every public name of the modules below is importable from here (``from strategies import
SmcStrategy, StrategySettings, find_setups, size_position``); each module is imported on first use,
so ``strategies.smc`` and the pure modules never load backtrader.
"""

from core.lazy import lazy_package

__getattr__, __all__ = lazy_package(__name__, ["smc_strategy", "settings", "setups", "risk",
                                               "guards", "events", "gate"])
