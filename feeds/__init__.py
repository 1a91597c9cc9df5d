"""backtrader adapters: the fast ``ArrayFeed``, causal resampling, and the live feed (assembler,
health, ``LiveFeedManager``). Public names are importable from here, each module imported on
first use."""

from core.lazy import lazy_package

__getattr__, __all__ = lazy_package(__name__, ["array_feed", "resample", "live_feed",
                                               "bar_assembler", "feed_health"])
