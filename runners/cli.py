"""What every command-line runner shares: one-line usage errors, output-path checks."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from core.errors import EXIT_BAD_INPUT, UserInputError


class OneLineErrorParser(argparse.ArgumentParser):
    """argparse that reports a usage error in one line (exit code 2), like every other input error."""

    def error(self, message):
        self.exit(EXIT_BAD_INPUT, f"error: {message} (see --help)\n")


def check_output_path(path: str | None, option: str, suffix: str | None = None) -> None:
    """Fail before a long run, not after it, when an output file cannot be written."""
    if path is None:
        return
    target = Path(path)
    parent = target.resolve().parent
    if suffix and target.suffix.lower() != suffix:
        raise UserInputError(f"{option} {path}: must end in {suffix}")
    if not parent.is_dir():
        raise UserInputError(f"{option} {path}: folder {parent} does not exist")
    if target.is_dir():
        raise UserInputError(f"{option} {path}: is a folder, not a file")
    if not os.access(parent, os.W_OK) or (target.exists() and not os.access(target, os.W_OK)):
        raise UserInputError(f"{option} {path}: not writable")
