"""A local Binance-compatible exchange (WebSocket + REST on 127.0.0.1) for ``--replay`` and tests.

``FakeBinance`` (``server``) replays ``Bars`` as kline streams and REST klines, following
``shared/docs/binance-protocol.md``; ``rest``, ``ws`` and ``faults`` hold its REST routes, its
WebSocket side and the faults a test can inject. ``python -m runners.fake_exchange`` runs one
by itself.
"""

from fake_exchange.server import FakeBinance

__all__ = ["FakeBinance"]
