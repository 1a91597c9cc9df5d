"""The house's floors: every import of the project's own code points down (or stays in its
package), so data flows feed -> strategy -> broker -> journal/store -> reports with no
back-edges, and no package imports the command-line runners."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Lowest first; a package may import its own modules and those of any lower floor.
FLOORS = [
    ["core"],
    ["klines", "venue", "strategies", "analyzers"],
    ["feeds", "brokers", "fake_exchange"],
    ["engine"],
    ["readiness", "research"],
    ["status_page"],
    ["runners"],
]
FLOOR = {package: level for level, packages in enumerate(FLOORS) for package in packages}


def _imports(path: Path):
    """(line, top-level package) of every absolute import in ``path``, lazy ones included."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module.split(".")[0]


def test_every_package_has_a_floor():
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")} - {"tests", "benchmarks"}
    assert packages == set(FLOOR)


def test_imports_point_down():
    wrong = []
    for package, level in FLOOR.items():
        for path in sorted((ROOT / package).rglob("*.py")):
            for line, target in _imports(path):
                if target in FLOOR and target != package and FLOOR[target] >= level:
                    wrong.append(f"{path.relative_to(ROOT)}:{line} imports {target}")
    assert wrong == []
