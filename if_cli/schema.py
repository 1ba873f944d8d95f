"""The types a value read from a file must have: prompt-file lines, sidecars, the config.

JSON and TOML carry types of their own, and a value of the wrong type must stop with one
line that names the file and the field, not a TypeError deep inside the run: ``"seed":
"abc"`` is no seed and ``"watermark": "no"`` is not true. Booleans must be booleans and
numbers numbers; nothing is guessed from a string.

A schema is a dict of field → kind: a kind name from ``KINDS`` (a trailing ``?`` allows
null or a missing field), a nested schema (a required object) or ``Maybe(schema)`` (an
object that may be null or missing). Fields a schema does not name are not checked.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, time
from typing import Any, TypeAlias


def _is_whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


KINDS: dict[str, tuple[str, Callable[[Any], bool]]] = {
    "text": ("a string", lambda v: isinstance(v, str)),
    "whole": ("a whole number", _is_whole),
    "number": (
        "a number",
        lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    ),
    "flag": ("true or false", lambda v: isinstance(v, bool)),
    "steps": ("a step count or a schedule name", lambda v: isinstance(v, str) or _is_whole(v)),
}


@dataclass(frozen=True)
class Maybe:
    """A nested object that may also be null or missing."""

    fields: Mapping[str, Kind]


Kind: TypeAlias = "str | Mapping[str, Kind] | Maybe"


class SchemaError(ValueError):
    """A value of the wrong type; the message names the field (``request.stage_2.steps``)."""


def shown(value: Any) -> str:
    """A value as the user wrote it, in JSON terms, short enough for one line."""
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, (date, time)):  # TOML has dates and times; JSON has not
        return f"the date or time {value.isoformat()}"
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 40 else text[:37] + "..."


def check_value(field: str, value: Any, kind: str) -> None:
    """Raise SchemaError unless ``value`` is of ``kind`` (null passes for ``kind?``)."""
    name = kind.removesuffix("?")
    if value is None and kind.endswith("?"):
        return
    description, accepts = KINDS[name]
    if not accepts(value):
        raise SchemaError(f"{field} must be {description}, got {shown(value)}")


def check(data: Any, schema: Mapping[str, Kind], path: str = "") -> None:
    """Check ``data`` against ``schema``; the first wrong field raises SchemaError."""
    if not isinstance(data, dict):
        raise SchemaError(f"{path or 'the file'} must be an object, got {shown(data)}")
    for key, kind in schema.items():
        where = f"{path}.{key}" if path else key
        value = data.get(key)
        if isinstance(kind, Maybe):
            if value is not None:
                check(value, kind.fields, where)
        elif isinstance(kind, Mapping):
            if key not in data:
                raise SchemaError(f"{where} is missing")
            check(value, kind, where)
        elif key not in data and not kind.endswith("?"):
            raise SchemaError(f"{where} is missing")
        else:
            check_value(where, value, kind)
