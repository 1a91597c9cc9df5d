"""The real-mode gate: what ``app.mode: real`` must pass before anything could trade real money.

``real_mode_gate(config, confirmed=..., environ=...)`` logs the warning banner at CRITICAL, then
checks three conditions and refuses, in ONE line naming every condition that failed, unless all
hold:

1. the readiness verdict is READY, computed now from the database (``readiness.assess``, the
   same computation as ``python -m runners.readiness``), never read from a report file;
2. the user confirmed on the command line for this start (``--confirm-real-money``): a flag,
   not a config key, so no config file copied between machines ever carries it;
3. both credential variables (``go_live.credential_variables``, by default ``BINANCE_API_KEY``
   and ``BINANCE_API_SECRET``) are set in the environment. Only their presence is checked; the
   values are never logged, printed, stored or passed on from here.

The gate only reads (a read-only store); it writes nothing to the database.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping

from core.errors import UserInputError
from readiness.assess import Readiness, assess

__all__ = ["CONFIRM_FLAG", "REAL_BANNER", "real_mode_gate", "readiness_now"]

REAL_BANNER = "⚠️ REAL TRADING MODE ENABLED - REAL CAPITAL AT RISK"
CONFIRM_FLAG = "--confirm-real-money"

log = logging.getLogger("smc.gate")


def readiness_now(config, db_option: str = "database.url") -> Readiness | str:
    """The readiness of the configured database now, or why there is none to compute."""
    from brokers.state import sqlite_path
    from brokers.state.store import StateStore

    path = sqlite_path(config.database.url, db_option)
    if path is None or not os.path.isfile(path):
        return f"no paper record: {db_option} {config.database.url} does not exist yet"
    store = StateStore(config.database.url, readonly=True, option=db_option)
    try:
        return assess(store, config, now_ms=int(time.time() * 1000))
    finally:
        store.close()


def real_mode_gate(config, *, confirmed: bool, environ: Mapping[str, str] | None = None,
                   db_option: str = "database.url",
                   logger: logging.Logger | None = None) -> Readiness:
    """Pass (returning the READY assessment) or raise ``UserInputError`` with every problem."""
    logger = logger or log
    environ = os.environ if environ is None else environ
    logger.critical(REAL_BANNER)
    problems = []
    readiness = readiness_now(config, db_option)
    if isinstance(readiness, str):
        problems.append(f"readiness NOT READY ({readiness})")
    elif not readiness.ready:
        problems.append(f"readiness NOT READY ({'; '.join(readiness.reasons)})")
    if not confirmed:
        problems.append(f"not confirmed: add {CONFIRM_FLAG} to the command line of this start")
    missing = [name for name in config.go_live.credential_variables
               if not environ.get(name, "").strip()]
    if missing:
        problems.append(f"{' and '.join(missing)} not set in the environment (API credentials "
                        f"come from the environment only)")
    if problems:
        raise UserInputError("app.mode is 'real': refusing to start: " + "; ".join(problems))
    logger.critical("real-mode gate passed: readiness READY, confirmed with %s, credentials "
                    "present in %s", CONFIRM_FLAG,
                    " and ".join(config.go_live.credential_variables))
    return readiness
