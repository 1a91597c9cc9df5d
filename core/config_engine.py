"""The engine behind ``core.config``: strict YAML, refusal of secrets, typed building of frozen
section dataclasses from a mapping, and one-line problems.

Knows nothing about this project's keys. A schema is a tree of frozen dataclasses whose fields
are declared with ``spec(default, description, *checks)``. Supported field types: ``bool``,
``int``, ``float``, ``str``, ``tuple[str, ...]``, ``X | None`` (None = not set), a nested section
dataclass, and ``Mapping[str, Section]`` (a mapping of sections under names the schema does not
know in advance, such as symbols; its names are checked by the field's ``names`` check).

Types are strict: a bool is not a number, an int is accepted where a float is expected, a string
is never parsed into a number. A problem raises ``Fail(dotted_key, problem)``; ``core.config``
turns it into a ``ConfigError`` that names the file.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import math
import types
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

from core.errors import ConfigError

__all__ = ["Check", "Fail", "build", "error", "fraction", "in_range", "leaf_rows", "num",
           "one_of", "plain", "prefixed", "read_yaml", "reject_secrets", "show", "spec"]

# A check takes a value already of the right type and returns a problem, or None if it is fine.
Check = Callable[[Any], "str | None"]


class Fail(Exception):
    """A problem at a dotted key (``""`` for the whole file)."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(problem)
        self.key, self.problem = key, problem


def error(source: str, key: str | None, problem: str) -> ConfigError:
    """The one-line ``ConfigError``: ``<source>: <key>: <problem>``."""
    text = f"{source}: {key}: {problem}" if key else f"{source}: {problem}"
    return ConfigError(" ".join(text.replace("\r", " ").split("\n")))


def spec(default: Any, description: str, *checks: Check, names: Check | None = None,
         name_label: str = "NAME") -> Any:
    """A schema field: its default, a one-sentence description (with its unit) and its checks.
    ``names``/``name_label`` are for a ``Mapping[str, Section]`` field: the check of each name and
    how the README writes a name (e.g. ``SYMBOL``)."""
    meta = {"description": description, "checks": checks, "names": names, "name_label": name_label}
    if isinstance(default, Mapping):
        frozen = types.MappingProxyType(dict(default))
        return dataclasses.field(default_factory=lambda: frozen, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


# --------------------------------------------------------------------------------- rendering

def show(value: Any, limit: int = 60) -> str:
    """A one-line, bounded rendering of a user value for an error message."""
    text = ("true" if value else "false") if isinstance(value, bool) else repr(value)
    text = text.replace("\n", " ").replace("\r", " ")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def num(x: float) -> str:
    """``5`` for 5.0, ``0.1`` for 0.1."""
    return str(int(x)) if isinstance(x, float) and x.is_integer() else str(x)


_KINDS = ((bool, "a boolean"), (str, "a string"), (int, "an integer"), (float, "a number"),
          (Mapping, "a mapping"), ((list, tuple), "a list"))


def _kind(value: Any) -> str:
    return next((name for tp, name in _KINDS if isinstance(value, tp)), f"a {type(value).__name__}")


def _type_problem(expected: str, value: Any, hint: str = "") -> str:
    got = "an empty value" if value is None else f"{show(value)} ({_kind(value)})"
    return f"expected {expected}, got {got}" + (f"; {hint}" if hint else "")


# ------------------------------------------------------------------------------------ checks

def in_range(lo: float | None = None, hi: float | None = None, *,
             lo_open: bool = False, hi_open: bool = False) -> Check:
    """Bounds check; ``lo_open``/``hi_open`` exclude the bound itself."""
    parts = ([f"{'>' if lo_open else '>='} {num(lo)}"] if lo is not None else []) + \
            ([f"{'<' if hi_open else '<='} {num(hi)}"] if hi is not None else [])
    rule = "must be " + " and ".join(parts)

    def check(v: Any) -> str | None:
        below = lo is not None and (v <= lo if lo_open else v < lo)
        above = hi is not None and (v >= hi if hi_open else v > hi)
        return f"{rule}, got {show(v)}" if below or above else None

    return check


def fraction(v: Any) -> str | None:
    if 0 <= v <= 1:
        return None
    hint = f" (a fraction: write {num(v / 100)} for {num(v)}%)" if 1 < v <= 100 else ""
    return f"must be >= 0 and <= 1{hint}, got {show(v)}"


def one_of(*choices: str, hints: Mapping[str, str] | None = None) -> Check:
    def check(v: Any) -> str | None:
        if v in choices:
            return None
        return ((hints or {}).get(v)
                or f"unknown value {show(v)}; expected one of {', '.join(choices)}")

    return check


def prefixed(*prefixes: str) -> Check:
    def check(v: Any) -> str | None:
        if any(v.startswith(p) and len(v) > len(p) for p in prefixes):
            return None
        return f"must start with {' or '.join(prefixes)} followed by a host, got {show(v)}"

    return check


# ------------------------------------------------------------------------------- strict YAML

class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys in a mapping (plain YAML keeps the last one)."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    loader.flatten_mapping(node)
    seen: dict[Any, Any] = {}
    for key_node, _value_node in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            duplicate = key in seen
        except TypeError:  # unhashable key; let the base constructor report it
            break
        if duplicate:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {show(key)} (first at line {seen[key].line + 1})",
                key_node.start_mark)
        seen[key] = key_node.start_mark
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def read_yaml(path: Path, source: str) -> Any:
    """The parsed file; every problem (missing, unreadable, not UTF-8, bad YAML) is one line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error(source, None, "config file not found") from None
    except IsADirectoryError:
        raise error(source, None, "is a directory, not a config file") from None
    except PermissionError:
        raise error(source, None, "config file is not readable (permission denied)") from None
    except UnicodeDecodeError as e:
        raise error(source, None, f"config file is not UTF-8 text (byte {e.start})") from None
    except OSError as e:
        raise error(source, None, f"cannot read config file: {e.strerror or e}") from None
    try:
        return yaml.load(text, Loader=_StrictLoader)
    except yaml.MarkedYAMLError as e:
        # Built from the parts, not str(e): that would quote the offending line, maybe a secret.
        mark = e.problem_mark or e.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = e.problem or e.context or "syntax error"
        if e.problem and e.context and e.context_mark:
            problem += f" ({e.context} at line {e.context_mark.line + 1})"
        if "\\t" in problem:
            problem += "; indent with spaces, not tabs"
        raise error(source, None, f"{where}invalid YAML: {problem}") from None
    except yaml.YAMLError as e:
        raise error(source, None, f"invalid YAML: {type(e).__name__}") from None


_SECRET_WORDS = ("key", "secret")


def reject_secrets(node: Any, prefix: str = "") -> None:
    """Refuse any key, at any depth, whose name contains ``key`` or ``secret`` (never echoed)."""
    if isinstance(node, Mapping):
        for k, v in node.items():
            dotted = f"{prefix}.{k}" if prefix else str(k)
            if isinstance(k, str) and any(w in k.lower() for w in _SECRET_WORDS):
                raise Fail(dotted, "secrets do not belong in the config file; remove this key and "
                                   "provide the value through an environment variable instead")
            reject_secrets(v, dotted)
    elif isinstance(node, (list, tuple)):
        for i, v in enumerate(node):
            reject_secrets(v, f"{prefix}[{i}]")


# ------------------------------------------------------------------------------------ building

@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _looks_numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _coerce(key: str, tp: Any, value: Any, names: Check | None = None) -> Any:
    """``value`` as type ``tp``, or ``Fail``."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):  # X | None
        return None if value is None else _coerce(key, next(a for a in args if a is not type(None)),
                                                  value, names)
    if dataclasses.is_dataclass(tp):
        return build(tp, value, key)
    if origin is Mapping:
        if value is None:
            return types.MappingProxyType({})
        if not isinstance(value, Mapping):
            raise Fail(key, _type_problem("a mapping", value))
        items = {}
        for name, item in value.items():
            problem = ("must be a string" if not isinstance(name, str) else
                       names(name) if names else None)
            if problem:
                raise Fail(f"{key}.{name}", problem)
            items[name] = _coerce(f"{key}.{name}", args[1], item)
        return types.MappingProxyType(items)
    if origin is tuple:  # tuple[X, ...]
        if not isinstance(value, (list, tuple)):
            raise Fail(key, _type_problem("a list", value,
                                          f"write [{value}]" if isinstance(value, str) else ""))
        items = []
        for i, item in enumerate(value):
            try:
                items.append(_coerce(key, args[0], item))
            except Fail as f:
                raise Fail(key, f"entry {i}: {f.problem}") from None
        return tuple(items)
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise Fail(key, _type_problem("true or false", value))
    if tp is str:
        if isinstance(value, str):
            return value
        raise Fail(key, _type_problem("a string", value,
                                      "YAML reads yes/no/on/off/true/false as "
                                      "booleans; quote the value"
                                      if isinstance(value, bool) else ""))
    is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if tp is int and is_number and isinstance(value, int):
        return value
    if tp is float and is_number:
        try:
            number = float(value)
        except OverflowError:
            raise Fail(key, f"number too large, got {show(value)}") from None
        if not math.isfinite(number):
            raise Fail(key, f"must be a finite number, got {show(value)}")
        return number
    if tp not in (int, float):
        raise TypeError(f"unsupported field type {tp!r} for {key}")  # a schema bug
    hint = ("remove the quotes" if isinstance(value, str) and _looks_numeric(value) else
            f"write {int(value)}" if is_number and float(value).is_integer() else "")
    raise Fail(key, _type_problem("a whole number" if tp is int else "a number", value, hint))


def build(cls: type, data: Any, prefix: str = "") -> Any:
    """Section ``cls`` from mapping ``data`` (None: all defaults), every key and value checked, in
    schema order."""
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        if prefix:
            raise Fail(prefix, _type_problem("a mapping of keys", data))
        raise Fail("", f"the top level must be a mapping of sections, got {_kind(data)}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for raw_key in data:
        if not isinstance(raw_key, str) or raw_key not in fields:
            raise _unknown_key(str(raw_key), prefix, list(fields))
    values = {}
    for name, f in fields.items():
        if name not in data:
            continue
        dotted = f"{prefix}.{name}" if prefix else name
        raw = data[name]
        value = _coerce(dotted, _hints(cls)[name], raw, f.metadata.get("names"))
        shown = raw if isinstance(raw, (int, float)) and not isinstance(raw, bool) else value
        for check in f.metadata.get("checks", ()) if value is not None else ():
            problem = check(shown)  # messages echo -5 as written, not -5.0
            if problem:
                raise Fail(dotted, problem)
        values[name] = value
    return cls(**values)


def _unknown_key(key: str, prefix: str, known: list[str]) -> Fail:
    what = "key" if prefix else "section"
    close = difflib.get_close_matches(key, known, n=1)
    if close:
        return Fail(f"{prefix}.{key}" if prefix else key,
                    f"unknown {what} (did you mean {close[0]}?)")
    return Fail(f"{prefix}.{key}" if prefix else key,
                f"unknown {what}; expected one of {', '.join(known)}")


# ------------------------------------------------------------------------------ introspection

def plain(obj: Any) -> Any:
    """A built section as plain dicts and lists (JSON- and YAML-safe)."""
    if dataclasses.is_dataclass(obj):
        return {f.name: plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, Mapping):
        return {k: plain(v) for k, v in obj.items()}
    if isinstance(obj, tuple):
        return [plain(x) for x in obj]
    return obj


def leaf_rows(cls: type, prefix: str = "") -> list[tuple[str, Any, str]]:
    """``(dotted key, default, description)`` of every key of the schema, in schema order; a
    mapping of sections gives its own row, then its sections' keys under ``<name_label>``."""
    rows = []
    for f in dataclasses.fields(cls):
        dotted = f"{prefix}.{f.name}" if prefix else f.name
        tp = _hints(cls)[f.name]
        if dataclasses.is_dataclass(tp):
            rows += leaf_rows(tp, dotted)
            continue
        default = f.default_factory() if f.default is dataclasses.MISSING else f.default
        rows.append((dotted, plain(default), f.metadata["description"]))
        if typing.get_origin(tp) is Mapping:
            rows += leaf_rows(typing.get_args(tp)[1], f"{dotted}.{f.metadata['name_label']}")
    return rows
