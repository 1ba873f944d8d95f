"""Reading ``--prompts FILE``: plain text (one prompt a line) or JSON Lines.

Plain text skips blank lines and ``#`` comments. In JSON Lines each object sets
``prompt`` and may override any per-image option of ``generate`` (``seed``,
``num_images``, ``steps``, ``guidance_scale``, ``name`` …). Every problem is reported
with its file and line before any model is loaded.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from if_cli.errors import InvalidRequestError

# The source of the item made from the PROMPT argument rather than a file line.
ARGUMENT = "<argument>"

# Options a line may set; the rest (device, offload, out …) are per run.
ITEM_FIELDS = frozenset(
    {
        "prompt",
        "negative_prompt",
        "seed",
        "num_images",
        "name",
        "stages",
        "steps",
        "guidance_scale",
        "stage_2_steps",
        "stage_2_guidance_scale",
        "stage_2_noise_level",
        "stage_3_steps",
        "stage_3_guidance_scale",
        "stage_3_noise_level",
        "stage_1_model",
        "stage_2_model",
        "stage_3_model",
        "watermark",
    }
)


@dataclass(frozen=True)
class PromptItem:
    """One line of a prompt file: its prompt and the options it overrides."""

    source: str
    line: int
    prompt: str
    overrides: dict[str, Any] = field(default_factory=dict)

    @property
    def where(self) -> str:
        return f"{self.source}:{self.line}"


def _read_text(source: str) -> str:
    try:
        data = sys.stdin.buffer.read() if source == "-" else Path(source).read_bytes()
    except OSError as exc:
        raise InvalidRequestError(f"cannot read prompt file {source}: {exc.strerror}") from exc
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidRequestError(
            f"{source}: not UTF-8 text (bad byte at offset {exc.start})",
            hint="save the prompt file as UTF-8",
        ) from exc


def _is_json_lines(source: str, lines: list[str]) -> bool:
    if source.endswith((".jsonl", ".ndjson")):
        return True
    first = next((s.strip() for s in lines if s.strip() and not s.lstrip().startswith("#")), "")
    return first.startswith("{")


def _json_item(source: str, number: int, text: str) -> PromptItem:
    where = f"{source}:{number}"
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidRequestError(f"{where}: not valid JSON: {exc.msg}") from exc
    if not isinstance(data, dict):
        raise InvalidRequestError(f"{where}: each line must be a JSON object")
    unknown = sorted(set(data) - ITEM_FIELDS)
    if unknown:
        raise InvalidRequestError(
            f"{where}: unknown field {unknown[0]!r}",
            hint="fields: " + ", ".join(sorted(ITEM_FIELDS)),
        )
    prompt = data.pop("prompt", None)
    if not isinstance(prompt, str):
        raise InvalidRequestError(f'{where}: "prompt" must be a string')
    if "name" in data and not isinstance(data["name"], str):
        raise InvalidRequestError(f'{where}: "name" must be a string')
    return PromptItem(source, number, prompt, data)


def read_prompt_file(source: str) -> list[PromptItem]:
    """All items of ``source`` (a path, or ``-`` for stdin), in file order."""
    lines = _read_text(source).splitlines()
    label = "<stdin>" if source == "-" else source
    json_lines = _is_json_lines(source, lines)
    items = []
    for number, raw in enumerate(lines, start=1):
        text = raw.strip()
        if not text or text.startswith("#"):
            continue
        items.append(
            _json_item(label, number, text) if json_lines else PromptItem(label, number, text)
        )
    if not items:
        raise InvalidRequestError(f"{label}: no prompts in the file")
    return items
