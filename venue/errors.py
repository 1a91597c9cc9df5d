"""The venue's errors, as classes of ``core.errors`` (so callers need not know ccxt).

``venue.rest`` translates ccxt exceptions into these at the boundary; ``venue.wire`` raises
``WireFormatError`` for a frame it cannot trust.
"""

from __future__ import annotations

from core.errors import InternalError, RateLimited, TemporaryError, UserInputError

__all__ = ["BadRequestError", "BadSymbolError", "ExchangeError", "RateLimited", "TemporaryError",
           "WireFormatError"]


class BadSymbolError(UserInputError):
    """The exchange does not list the symbol."""


class BadRequestError(UserInputError):
    """The exchange refused a request's parameters (bad interval, bad time range...)."""


class ExchangeError(InternalError):
    """Any other exchange failure: not retried, not the user's fault."""


class WireFormatError(ValueError):
    """A frame is not valid Binance wire format (message: a short reason)."""
