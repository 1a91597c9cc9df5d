"""What a kline file's name says: its symbol (``BTCUSDT_spot_1h_...``) and its interval (``_1h_``).

Pure string work on the name, shared by the reader (which checks the name against the data) and
the runners (which take the symbol from ``--data PATH``).
"""

from __future__ import annotations

import re
from pathlib import Path

from core.timeframes import BINANCE_INTERVALS

__all__ = ["symbol_from_filename", "timeframe_from_filename"]


_PAIR_TOKEN = re.compile(r"^[A-Z0-9]{2,20}$")
_NOT_ASSETS = {"SPOT", "FUTURES", "FUTURE", "PERP", "UM", "CM", "KLINES", "KLINE", "OHLCV", "DATA"}


def _name_tokens(path) -> list[str]:
    stem = Path(str(path).split("[")[0]).name.split(".")[0]
    return [token for token in re.split(r"[_\-\s]+", stem) if token]


def symbol_from_filename(path) -> str | None:
    """Exchange symbol written at the start of a file name, or None.

    ``BTCUSDT_spot_1h_...csv.gz`` and ``BTCUSDT-1m-2023-01-01.zip`` -> ``BTCUSDT``; freqtrade's
    ``BTC_USDT-1h.json`` -> ``BTCUSDT`` and ``XRP_USDT_USDT-1h-futures.json.gz`` -> ``XRPUSDT``.
    Only upper-case tokens count, so ``data.csv`` gives None.
    """
    assets = []
    for token in _name_tokens(path):
        if token in BINANCE_INTERVALS or not _PAIR_TOKEN.match(token) or token.isdigit() \
                or token in _NOT_ASSETS:
            break
        assets.append(token)
    if len(assets) == 3 and assets[2] == assets[1]:
        assets = assets[:2]  # freqtrade futures: BASE_QUOTE_SETTLE
    if not assets or len(assets) > 2:
        return None
    return "".join(assets)


def timeframe_from_filename(path) -> str | None:
    """The Binance interval written in a file name (``..._1h_...``, ``...-5m.feather``), or None."""
    for token in _name_tokens(path):
        if token in BINANCE_INTERVALS:
            return token
    return None
