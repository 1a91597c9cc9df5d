"""Kline files: format detection and parsing (``formats``), validation into ``Klines``
(``reader``) and what a file's name says (``filenames``). Uses pandas; the live engine never
imports this package."""

from klines.filenames import symbol_from_filename, timeframe_from_filename
from klines.reader import Gap, Klines, find_gaps, load_klines

__all__ = ["Gap", "Klines", "find_gaps", "load_klines", "symbol_from_filename",
           "timeframe_from_filename"]
