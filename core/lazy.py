"""Lazy package front doors: ``from strategies import SmcStrategy`` without importing backtrader
for ``import strategies.smc``.

``lazy_package(name, modules)`` reads each module's ``__all__`` from its source (``ast``, no
import), so a package's public names are known at once, and returns the package's
``__getattr__`` (which imports a module on the first use of one of its names) and ``__all__``.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

__all__ = ["lazy_package"]


def _declared_names(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else []
        if any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets):
            return list(ast.literal_eval(node.value))
    return []


def lazy_package(package: str, modules: Iterable[str]) -> tuple[Callable[[str], Any], list[str]]:
    """``(__getattr__, __all__)`` for ``package`` exporting every ``__all__`` of ``modules``."""
    folder = Path(importlib.util.find_spec(package).origin).parent
    home: dict[str, str] = {}
    for module in modules:
        for name in _declared_names(folder / f"{module}.py"):
            home.setdefault(name, f"{package}.{module}")

    def __getattr__(name: str) -> Any:
        module = home.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(module), name)

    return __getattr__, sorted(home)
