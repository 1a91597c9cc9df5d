"""Reading a JSON file the user names on the command line, with one-line errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from core.errors import UserInputError

__all__ = ["read_json_file"]


def read_json_file(path: str | Path, option: str) -> Any:
    """The parsed content of ``path``; a ``UserInputError`` starting with ``option`` (e.g.
    ``--backtest-json PATH``) when it is missing, unreadable or not JSON."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserInputError(f"{option}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserInputError(f"{option}: cannot read it: {getattr(exc, 'strerror', exc)}") from None
    except json.JSONDecodeError as exc:
        raise UserInputError(f"{option}: not JSON (line {exc.lineno}: {exc.msg})") from None
