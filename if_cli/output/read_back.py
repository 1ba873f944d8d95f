"""What made a picture, read back from files alone: no model, no torch, no pixels decoded.

In order: if-cli's sidecar (given, or the one written beside the PNG), else the PNG's
text chunks: an A1111-style ``parameters`` chunk (if-cli's own, A1111, Forge and the
tools that copy them), or ComfyUI's ``prompt`` chunk, which is a graph and is shown raw.
Every file is read as untrusted: bounded, regular files only, and no pixel is decoded.
"""

from __future__ import annotations

import io
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from if_cli.errors import InvalidRequestError
from if_cli.output.metadata import (
    MAX_SIDECAR_BYTES,
    NEGATIVE_LABEL,
    WORD_JOINER,
    claims_if_cli,
    read_sidecar,
)
from if_cli.schema import SchemaError
from if_cli.untrusted import UnreadableFile, read_bytes, read_json

MAX_PICTURE_BYTES = 512 * 1024**2
SIDECAR = "if-cli sidecar"
A1111 = "A1111 parameters chunk"
COMFYUI = "ComfyUI prompt chunk"
# A1111's own pattern for "Key: value, Key: "quoted, value"" (modules/infotext_utils.py),
# with keys of at most 64 characters: unbounded, a long line without a colon took time
# that grew with the square of its length (an hour for 1 MB).
_PAIR = re.compile(r'\s*(\w[\w \-/]{1,63}):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')
MAX_SETTINGS_LINE = 64 * 1024
"""A settings line is a few hundred characters; a longer last line is read as text."""
_SEED = re.compile(r"\s*([0-9]{1,20})\s*")


@dataclass(frozen=True)
class Provenance:
    """One picture's recorded making: where it was read from, and what it says."""

    file: str
    source: str  # SIDECAR, A1111 or COMFYUI
    read_from: str  # the file the record came from (the sidecar, or the PNG itself)
    prompt: str | None = None
    negative_prompt: str | None = None
    seed: int | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    raw: str | None = None  # a ComfyUI graph, as written

    def as_json(self) -> dict[str, Any]:
        return {key: value for key, value in self.__dict__.items() if value is not None}


def read_back(path: Path) -> Provenance:
    """The record of ``path`` (a PNG or an if-cli sidecar), or InvalidRequestError."""
    if not path.exists():
        raise InvalidRequestError(f"{path}: no such file")
    if path.suffix.lower() == ".json":
        return _from_sidecar(path, path)
    beside = _sidecar_beside(path)
    if beside is not None:
        return _from_sidecar(path, beside)
    return _from_chunks(path)


def sidecar_of_picture(picture: Path) -> Path | None:
    """The sidecar written with ``picture``: ``NAME.json`` beside ``NAME.png``, or the
    ``NAME-xxxx.json`` that names it (when another file had taken ``NAME.json``)."""
    from glob import escape

    beside = [
        picture.with_suffix(".json"),
        *sorted(picture.parent.glob(f"{escape(picture.stem)}-*.json")),
    ]
    for candidate in beside:
        try:
            files = read_sidecar(candidate)["image"]["files"]
        except (UnreadableFile, SchemaError):
            continue
        if picture.name in files.values():
            return candidate
    return None


def _sidecar_beside(picture: Path) -> Path | None:
    return sidecar_of_picture(picture) if picture.is_file() else None


def _from_sidecar(file: Path, sidecar: Path) -> Provenance:
    try:
        data = read_json(sidecar, MAX_SIDECAR_BYTES)
    except UnreadableFile as exc:
        raise InvalidRequestError(str(exc)) from exc
    if not claims_if_cli(data):
        raise InvalidRequestError(f"{sidecar} is JSON, but not a sidecar if-cli knows")
    try:
        side = read_sidecar(sidecar)
    except (UnreadableFile, SchemaError) as exc:
        raise InvalidRequestError(f"{sidecar} is not a sidecar this if-cli reads: {exc}") from exc
    image, request, runtime = side["image"], side["request"], side["runtime"]
    first, last = request.get("first_stage") or 1, request["last_stage"]
    stages = {
        f"stage_{n}": {
            key: value
            for key, value in request[f"stage_{n}"].items()
            if value is not None
            and key in ("model", "steps", "guidance_scale", "noise_level", "strength")
        }
        for n in range(first, last + 1)
    }
    settings: dict[str, Any] = {
        "flow": request.get("flow") or "generate",
        "stages": f"{first}-{last}",
        **stages,
        "size": [image.get("width"), image.get("height")],
        "stage_sizes": image.get("stage_sizes"),
        "aspect": request.get("aspect"),
        "watermark": request["watermark"],
        "device": runtime["device"],
        "dtype": runtime["dtype"],
        "created": side.get("created"),
        "tool": f"if-cli {side['tool'].get('version', '?')}",
    }
    if request.get("init"):
        settings["input"] = request["init"]["source"]
    return Provenance(
        file=str(file),
        source=SIDECAR,
        read_from=str(sidecar),
        prompt=image["prompt"],
        negative_prompt=image.get("negative_prompt"),
        seed=image["seed"],
        settings={key: value for key, value in settings.items() if value is not None},
    )


class NotAPicture(InvalidRequestError):
    """Bytes that no picture decoder recognises (not a damaged picture)."""


def text_chunks(data: bytes, name: str) -> dict[str, str]:
    """A picture's text chunks, read from its header and the chunks before its pixels:
    nothing is decoded, and a header that claims a decompression bomb is refused."""
    from PIL import Image

    from if_cli.engine.image_input import DECODER_ERRORS

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as picture:
                info = dict(picture.info)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise InvalidRequestError(
            f"{name} is too large a picture; refused before decoding ({exc})"
        ) from exc
    except DECODER_ERRORS as exc:  # UnidentifiedImageError is an OSError
        if data.startswith(b"\x89PNG\r\n\x1a\n"):
            raise InvalidRequestError(f"{name} is a damaged PNG ({exc})") from exc
        raise NotAPicture(f"{name} is not a picture Pillow can read") from exc
    return {key: value for key, value in info.items() if isinstance(value, str)}


def _from_chunks(path: Path) -> Provenance:
    try:
        data = read_bytes(path, MAX_PICTURE_BYTES)
    except UnreadableFile as exc:
        raise InvalidRequestError(str(exc)) from exc
    try:
        info = text_chunks(data, str(path))
    except NotAPicture as exc:
        raise InvalidRequestError(
            f"{path} is neither a picture nor a sidecar if-cli reads"
        ) from exc
    parameters = info.get("parameters")
    if isinstance(parameters, str) and parameters.strip():
        return parse_a1111(str(path), parameters)
    prompt = info.get("prompt")
    if isinstance(prompt, str) and prompt.strip():
        return Provenance(file=str(path), source=COMFYUI, read_from=str(path), raw=prompt)
    raise InvalidRequestError(
        f"{path} has no generation record: no if-cli sidecar beside it, and no "
        "parameters or prompt text chunk",
        hint="images made with --no-metadata carry none",
    )


def parse_a1111(file: str, text: str) -> Provenance:
    """An A1111 ``parameters`` text: prompt lines, ``Negative prompt:`` lines, then one
    line of ``Key: value`` pairs (the last line, when it reads as such)."""
    lines = text.strip().split("\n")
    pairs: dict[str, str] = {}
    found = dict(_PAIR.findall(lines[-1])) if len(lines[-1]) <= MAX_SETTINGS_LINE else {}
    if "Steps" in found or "Seed" in found:
        pairs = {key.strip(): _unquote(value) for key, value in found.items()}
        lines = lines[:-1]
    prompt_lines, negative_lines = [], None
    for line in lines:
        if negative_lines is None and line.startswith(NEGATIVE_LABEL):
            negative_lines = [line[len(NEGATIVE_LABEL) :].strip()]
        elif negative_lines is not None:
            negative_lines.append(line)
        else:
            prompt_lines.append(line)
    seed = _seed(pairs.get("Seed"))
    if seed is not None:  # one that is no seed stays a setting: nothing read is dropped
        del pairs["Seed"]
    return Provenance(
        file=file,
        source=A1111,
        read_from=file,
        prompt="\n".join(prompt_lines).removeprefix(WORD_JOINER),
        negative_prompt="\n".join(negative_lines) if negative_lines is not None else None,
        seed=seed,
        settings=pairs,
    )


def _seed(text: str | None) -> int | None:
    """A seed in ASCII digits (``isdigit`` also takes ``²``, which ``int`` refuses)."""
    match = None if text is None else _SEED.fullmatch(text)
    return int(match[1]) if match else None


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        import json

        try:
            return str(json.loads(value))
        except ValueError:
            return value[1:-1]
    return value
