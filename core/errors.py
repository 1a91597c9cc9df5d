"""Exceptions named for what the caller should do, and the exit codes they map to.

A runner wraps its work in one ``try`` and maps these classes to exit codes:
``UserInputError`` (bad config, bad data, bad arguments) -> 2; anything else -> 1.
Messages are one line that names the input and the problem.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_BAD_INPUT = 2


class UserInputError(Exception):
    """Something the user gave us (config, data file, argument) is wrong; a human must fix it."""


class ConfigError(UserInputError):
    """A configuration key is unknown, of the wrong type or out of range."""


class DataError(UserInputError):
    """A market-data file cannot be read or fails validation (message names the file and line)."""
