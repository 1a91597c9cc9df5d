"""What every command-line runner shares: the one outer error handler, one-line usage errors,
output paths.

``run_cli(body, argv)`` is the single place where the error hierarchy of ``core.errors`` becomes
an exit code, for every runner:

==========================  ====  =======================================================
outcome                     code  what is printed
==========================  ====  =======================================================
``body`` returns            its   (``EXIT_OK`` 0, or ``EXIT_CHECK_FAILED`` 3 from a check)
``UserInputError``          2     ``error: <one line>`` on stderr (and in the log)
``TemporaryError``          1     ``error: <one line>`` (the network or the exchange failed)
Ctrl-C (``KeyboardInterrupt``)  130   ``interrupted``
anything else               1     ``internal error`` with the traceback in the log
==========================  ====  =======================================================

argparse's own usage errors exit 2 with one line too (``OneLineErrorParser``).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from core.errors import (
    EXIT_BAD_INPUT,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    TemporaryError,
    UserInputError,
)

__all__ = ["CONFIG_HELP", "OneLineErrorParser", "config_notices", "iso_date", "prepare_output",
           "run_cli", "runner_parser", "write_atomically"]

SPOT_SHORT_NOTICE = (
    "strategy.allow_short is true, but a Binance spot account cannot sell what it does not hold: "
    "short trades are simulated as if the asset could be borrowed and sold at the same fees and "
    "slippage, with no borrowing interest and no margin calls; real spot trading cannot place them")


CONFIG_HELP = ("YAML config (default: config.yaml in the current folder, else the project's "
               "own)")

log = logging.getLogger("smc.cli")


class OneLineErrorParser(argparse.ArgumentParser):
    """argparse that reports a usage error in one line (exit code 2), like every other input
    error."""

    def error(self, message):
        self.exit(EXIT_BAD_INPUT, f"error: {message} (see --help)\n")


def runner_parser(module: str, description: str, exit_codes: str, *,
                  config: bool = True) -> OneLineErrorParser:
    """The argument parser of ``python -m runners.<module>``: its exit codes in the epilog and,
    unless ``config`` is false, the ``--config`` option every runner shares."""
    parser = OneLineErrorParser(prog=f"python -m runners.{module}", description=description,
                                epilog=f"exit codes: {exit_codes}")
    if config:
        parser.add_argument("--config", default=None, help=CONFIG_HELP)
    return parser


def iso_date(text: str):
    """argparse ``type=`` for ``--from``/``--to``: an ISO date or time, UTC when naive."""
    import pandas as pd  # only the runners that take dates load pandas

    try:
        stamp = pd.Timestamp(text)
    except (ValueError, TypeError):
        raise argparse.ArgumentTypeError(
            f"not an ISO date: {text!r} (expected e.g. 2023-01-01)") from None
    if stamp is pd.NaT:
        raise argparse.ArgumentTypeError(f"not an ISO date: {text!r} (expected e.g. 2023-01-01)")
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def config_notices(config) -> list[str]:
    """Warnings a run must print about what its config asks (the runners log each at start)."""
    return [SPOT_SHORT_NOTICE] if config.strategy.allow_short else []


def run_cli(body: Callable[[], int], *, logger: logging.Logger | None = None,
            log_refusals: bool = False) -> int:
    """Run ``body`` and map its outcome to an exit code (see the module docstring).

    ``log_refusals``: also log a refusal at ERROR (a runner whose log goes to a file, so the
    reason is found there too, not only on stderr)."""
    logger = logger or log
    try:
        return body()
    except UserInputError as exc:
        message = " ".join(str(exc).split())
        if log_refusals:  # to the log file only: stderr already has the line
            logger.error("refused: %s", message, extra={"file_only": True})
        print(f"error: {message}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except TemporaryError as exc:
        message = " ".join(str(exc).split())
        if log_refusals:
            logger.error("gave up: %s", message, extra={"file_only": True})
        print(f"error: {message}", file=sys.stderr)
        return EXIT_INTERNAL
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception:
        logger.exception("internal error")
        return EXIT_INTERNAL


def prepare_output(path: str | os.PathLike | None, option: str, suffix: str | None = None) -> None:
    """Make ``path`` ready to be written: check it before a long run (not after), and create its
    folder (every output is treated alike: reports, CSV, plots, databases and logs)."""
    if path is None:
        return
    target = Path(path)
    if suffix and target.suffix.lower() != suffix:
        raise UserInputError(f"{option} {path}: must end in {suffix}")
    if target.is_dir():
        raise UserInputError(f"{option} {path}: is a folder, not a file")
    parent = target.resolve().parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserInputError(f"{option} {path}: cannot create folder {parent}: "
                             f"{exc.strerror or exc}") from exc
    if not os.access(parent, os.W_OK) or (target.exists() and not os.access(target, os.W_OK)):
        raise UserInputError(f"{option} {path}: not writable")


def write_atomically(path: Path, text: str) -> None:
    """Write through a temporary file in the same folder, so a reader never sees half a file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
