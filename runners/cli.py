"""What every command-line runner shares: an argparse that reports usage errors in one line."""

from __future__ import annotations

import argparse

from core.errors import EXIT_BAD_INPUT


class OneLineErrorParser(argparse.ArgumentParser):
    """argparse that reports a usage error in one line (exit code 2), like every other input error."""

    def error(self, message):
        self.exit(EXIT_BAD_INPUT, f"error: {message} (see --help)\n")
