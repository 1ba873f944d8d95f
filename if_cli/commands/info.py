"""``if-cli info IMAGE|SIDECAR...``: what made a picture, without loading any model.

Reads if-cli's sidecar (given, or the one beside the PNG), else the PNG's own text
chunks: an A1111-style ``parameters`` chunk (if-cli, A1111, Forge …), or ComfyUI's
``prompt`` graph, shown raw. One block (or, with ``--json``, one JSON line) per file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from if_cli.errors import InvalidRequestError


def info(
    files: Annotated[
        list[Path],
        typer.Argument(
            help="PNG pictures or if-cli sidecars (NAME.json).",
            metavar="FILE...",
            show_default=False,
        ),
    ],
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object per file on stdout.")
    ] = False,
) -> None:
    """Show the prompt, seed and settings a picture was made with; loads no model.

    A file without a record gets one error line on stderr; the others are still shown,
    and the exit code is 2.
    """
    from if_cli.output.read_back import read_back
    from if_cli.progress import error_line

    failed = 0
    for path in files:
        try:
            record = read_back(path)
        except InvalidRequestError as error:
            error_line(error)
            failed += 1
            continue
        if as_json:
            print(json.dumps(record.as_json(), ensure_ascii=False), flush=True)
        else:
            print(_text(record), flush=True)
    if failed:
        raise InvalidRequestError(f"{failed} of {len(files)} file(s) have no record if-cli reads")


_STAGE_WORDS = {"steps": "steps", "guidance_scale": "guidance", "noise_level": "noise level"}


def _label(key: str) -> str:
    return key.replace("stage_sizes", "sizes").replace("_", " ")


def _shown(key: str, value: Any) -> str:
    """A setting in words: ``demo-I, 20 steps, guidance 7.0``, ``32×56 → 128×224``."""
    if key.startswith("stage_") and isinstance(value, dict) and "model" in value:
        parts = [str(value["model"])]
        parts += [f"{value[k]} {word}" if k == "steps" else f"{word} {value[k]}"
                  for k, word in _STAGE_WORDS.items() if k in value]  # fmt: skip
        if "strength" in value:
            parts.append(f"strength {value['strength']}")
        return ", ".join(parts)
    if key == "stage_sizes" and isinstance(value, dict):
        return " → ".join(f"{w}×{h}" for w, h in value.values())
    if key == "size" and isinstance(value, list):
        return "×".join(map(str, value))
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _text(record: Any) -> str:
    """A block of ``key: value`` lines, the file first."""
    from if_cli.progress import printable_line as one_line

    where = "" if record.read_from == record.file else f" (from {record.read_from})"
    lines = [f"{record.file}{where}", f"  record: {record.source}"]
    if record.prompt is not None:
        lines.append(f"  prompt: {one_line(record.prompt)}")
    if record.negative_prompt:
        lines.append(f"  negative prompt: {one_line(record.negative_prompt)}")
    if record.seed is not None:
        lines.append(f"  seed: {record.seed}")
    for key, value in record.settings.items():
        lines.append(f"  {_label(key)}: {one_line(_shown(key, value))}")
    if record.raw is not None:
        lines.append(f"  graph: {one_line(record.raw)}")
    return "\n".join(lines)
