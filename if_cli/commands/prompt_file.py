"""Reading ``--prompts FILE``: plain text (one prompt a line) or JSON Lines.

Plain text skips blank lines and ``#`` comments. In JSON Lines each object sets
``prompt`` and may override any per-image option of ``generate`` (``seed``,
``num_images``, ``steps``, ``guidance_scale``, ``name`` …); each value must have its
option's type (``"watermark": false``, not ``"no"``), and null means "not set on this
line". A file is one kind throughout: a line of the other kind is refused rather than
drawn as text. Every problem is reported with its file and line before any model loads.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from typing import Any

from if_cli.errors import InvalidRequestError
from if_cli.schema import SchemaError, check_value
from if_cli.untrusted import UnreadableFile, parse_json, read_bytes

# The source of the item made from the PROMPT argument rather than a file line.
ARGUMENT = "<argument>"
MAX_PROMPT_FILE_BYTES = 64 * 1024**2

# Options a line may set, with the type each must have; the rest (device, out …) are per run.
ITEM_FIELDS: dict[str, str] = {
    "prompt": "text",
    "negative_prompt": "text",
    "seed": "whole",
    "num_images": "whole",
    "name": "text",
    "stages": "whole",
    "steps": "steps",
    "guidance_scale": "number",
    "stage_2_steps": "steps",
    "stage_2_guidance_scale": "number",
    "stage_2_noise_level": "whole",
    "stage_3_steps": "steps",
    "stage_3_guidance_scale": "number",
    "stage_3_noise_level": "whole",
    "stage_1_model": "text",
    "stage_2_model": "text",
    "stage_3_model": "text",
    "watermark": "flag",
    "aspect": "text",
    "size": "text",
}


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
    """The file's text: a regular file or a pipe (``<(…)``, ``-``), at most 64 MiB."""
    try:
        if source == "-":
            data = sys.stdin.buffer.read(MAX_PROMPT_FILE_BYTES + 1)
            if len(data) > MAX_PROMPT_FILE_BYTES:
                raise UnreadableFile("<stdin>", f"is larger than {MAX_PROMPT_FILE_BYTES:,} bytes")
        else:
            data = read_bytes(source, MAX_PROMPT_FILE_BYTES, streams=True)
    except UnreadableFile as exc:
        raise InvalidRequestError(f"cannot read prompt file {exc}") from exc
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
    return _starts_an_object(first)


def _starts_an_object(text: str) -> bool:
    """``{"…`` or ``{}``: a JSON object, not a ``{red|blue}`` wildcard."""
    return re.match(r'\{\s*["}]', text) is not None


MIXED_HINT = "a prompt file is plain text or JSON Lines throughout (a .jsonl name: JSON Lines)"


def _looks_like_an_item(text: str) -> bool:
    """A line of a plain-text file that is really a JSON Lines object: taken as a prompt,
    its braces and keys would be drawn, so it is refused instead."""
    if not _starts_an_object(text):
        return False
    try:
        data = parse_json(text)
    except ValueError:
        return False
    return isinstance(data, dict) and "prompt" in data


def _json_item(source: str, number: int, text: str) -> PromptItem:
    where = f"{source}:{number}"
    try:
        data = parse_json(text)
    except ValueError as exc:
        if _starts_an_object(text) or text.startswith(("[", '"')):
            raise InvalidRequestError(f"{where}: {exc}") from exc
        raise InvalidRequestError(
            f"{where}: plain text in a JSON Lines prompt file", hint=MIXED_HINT
        ) from exc
    if not isinstance(data, dict):
        raise InvalidRequestError(f"{where}: each line must be a JSON object")
    unknown = sorted(set(data) - set(ITEM_FIELDS))
    if unknown:
        raise InvalidRequestError(
            f"{where}: unknown field {unknown[0]!r}",
            hint="fields: " + ", ".join(sorted(ITEM_FIELDS)),
        )
    if data.get("prompt") is None:
        raise InvalidRequestError(f'{where}: "prompt" is missing')
    try:
        for key, value in data.items():
            check_value(f'"{key}"', value, ITEM_FIELDS[key] + "?")
    except SchemaError as exc:
        raise InvalidRequestError(f"{where}: {exc}") from exc
    overrides = {key: value for key, value in data.items() if value is not None}
    return PromptItem(source, number, overrides.pop("prompt"), overrides)


def read_prompt_file(source: str) -> list[PromptItem]:
    """All items of ``source`` (a path, or ``-`` for stdin), in file order."""
    lines = _read_text(source).splitlines()
    label = "<stdin>" if source == "-" else source
    json_lines = _is_json_lines(source, lines)
    items: list[PromptItem] = []
    for number, raw in enumerate(lines, start=1):
        text = raw.strip()
        if not text or text.startswith("#"):
            continue
        if json_lines:
            items.append(_json_item(label, number, text))
        elif _looks_like_an_item(text):
            raise InvalidRequestError(
                f"{label}:{number}: a JSON Lines object in a plain-text prompt file "
                f"(line {items[0].line} is plain text)",
                hint=MIXED_HINT,
            )
        else:
            items.append(PromptItem(label, number, text))
    if not items:
        raise InvalidRequestError(f"{label}: no prompts in the file")
    return items
