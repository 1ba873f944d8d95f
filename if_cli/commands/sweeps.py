"""``--sweep KEY=V1,V2,…``: the same prompts and seeds once for each value; several
sweeps make a grid (every combination). Each image's sidecar records its cell, and
``if-cli sheet`` lays the grid out along the swept keys.

A key is any per-line option of a prompt file (``guidance_scale``, ``steps``,
``stage_2_noise_level``, ``aspect`` …, dashes or underscores), or ``guidance`` for
``guidance_scale``; values are read as that option's type.
"""

from __future__ import annotations

import itertools
from typing import Any

from if_cli.commands.prompt_file import ITEM_FIELDS
from if_cli.errors import InvalidRequestError
from if_cli.schema import SchemaError, check_value

ALIASES = {
    "guidance": "guidance_scale",
    "stage_2_guidance": "stage_2_guidance_scale",
    "stage_3_guidance": "stage_3_guidance_scale",
}
NOT_SWEPT = ("prompt", "name", "seed", "num_images")  # seeds are swept by --seed 1-4
MAX_CELLS = 1000

Cell = dict[str, Any]


def sweep_keys() -> list[str]:
    return sorted(set(ITEM_FIELDS) - set(NOT_SWEPT))


def parse_sweeps(texts: list[str] | tuple[str, ...] | None) -> list[tuple[str, list[Any]]]:
    """``["guidance=4,7", "steps=smart27,50"]`` → ``[("guidance_scale", [4.0, 7.0]), …]``."""
    sweeps: list[tuple[str, list[Any]]] = []
    for text in texts or ():
        name, equals, listed = str(text).partition("=")
        key = name.strip().lower().replace("-", "_")
        key = ALIASES.get(key, key)
        if not equals or not name.strip():
            raise InvalidRequestError(
                f"--sweep {text!r} must be KEY=VALUE,VALUE…", hint="for example guidance=4,7,10"
            )
        if key not in sweep_keys():
            raise InvalidRequestError(
                f"--sweep: unknown key {name.strip()!r}",
                hint="sweep one of: guidance, " + ", ".join(sweep_keys()),
            )
        if key in dict(sweeps):
            raise InvalidRequestError(f"--sweep {key} is given twice; list its values once")
        parts = [part.strip() for part in listed.split(",")]
        if "" in parts:
            raise InvalidRequestError(f"--sweep {name.strip()}: a value is empty in {text!r}")
        values = [_value(key, part) for part in parts]
        sweeps.append((key, values))
    return sweeps


def grid(sweeps: list[tuple[str, list[Any]]]) -> list[Cell]:
    """Every combination of the swept values (one empty cell without sweeps)."""
    keys = [key for key, _ in sweeps]
    cells = [
        dict(zip(keys, combo, strict=True)) for combo in itertools.product(*(v for _, v in sweeps))
    ]
    if len(cells) > MAX_CELLS:
        raise InvalidRequestError(
            f"the sweeps make {len(cells):,} combinations; at most {MAX_CELLS:,} are run",
            hint="sweep fewer values",
        )
    return cells


def _value(key: str, text: str) -> Any:
    kind = ITEM_FIELDS[key]
    value: Any = text
    if kind == "whole" and text.lstrip("-").isdigit():
        value = int(text)
    elif kind == "number":
        try:
            value = float(text)
        except ValueError:
            value = text
    elif kind == "steps" and text.isdigit():
        value = int(text)
    elif kind == "flag" and text.lower() in ("true", "false"):
        value = text.lower() == "true"
    try:
        check_value(f"--sweep {key}", value, kind)
    except SchemaError as error:
        raise InvalidRequestError(str(error)) from error
    return value
