"""The one error hierarchy, named for what the caller should do, and the exit codes it maps to.

========================  ===============================================  =========
class                     the caller should                                exit code
========================  ===============================================  =========
``UserInputError``        stop and tell a human what to fix (config, data  2
                          file, argument, unknown symbol, bad URL)
``TemporaryError``        retry later, with back-off (network, 5xx, 429)   1 if it
                                                                           still fails
``InternalError``         stop: a bug or an exchange answer we do not      1
                          understand (a human reads the log)
========================  ===============================================  =========

Every message is one line that names the input and the problem. ``core.cli.run_main`` maps the
classes to exit codes for every runner (0 ok, 1 internal or temporary, 2 bad input, 3 a check
found problems, 130 interrupted). Libraries' own exceptions are translated at the boundary that
calls them (``raise ... from exc``), so nothing above that boundary sees a ccxt or SQLAlchemy
class.
"""

from __future__ import annotations

__all__ = [
    "ConfigError", "DataError", "EXIT_BAD_INPUT", "EXIT_CHECK_FAILED", "EXIT_INTERNAL",
    "EXIT_INTERRUPTED", "EXIT_NOT_READY", "EXIT_OK", "InternalError", "RateLimited", "SmcError",
    "TemporaryError", "UserInputError",
]

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_BAD_INPUT = 2
EXIT_CHECK_FAILED = 3       # a check ran and found problems (lookahead differences)
EXIT_NOT_READY = 1          # the readiness report's NOT READY (its contract: 0 READY, 1, 2 error)
EXIT_INTERRUPTED = 130      # Ctrl-C / SIGINT, as a shell reports it


class SmcError(Exception):
    """Base of every error this project raises on purpose."""


class UserInputError(SmcError):
    """Something the user gave us (config, data file, argument) is wrong; a human must fix it."""


class ConfigError(UserInputError):
    """A configuration key is unknown, of the wrong type or out of range."""


class DataError(UserInputError):
    """A market-data file cannot be read or fails validation (message names the file and line)."""


class TemporaryError(SmcError):
    """The exchange or the network failed in a way that may pass: retry later."""


class RateLimited(TemporaryError):
    """HTTP 429/418 or code -1003: back off for at least ``retry_after_s`` seconds."""

    def __init__(self, message: str, retry_after_s: float = 1.0, status: int | None = None):
        super().__init__(message)
        self.retry_after_s = float(retry_after_s)
        self.status = status


class InternalError(SmcError):
    """Not the user's fault and not worth retrying: an unexpected answer or state."""
