"""What the A1111 and OpenAI endpoints share in reading a request: the body, pictures
sent as base64, a width and height, the model asked for, and field types.

Every value is checked before a job is queued, so a bad request is answered at once
and never reaches the engine; the engine's own ``GenerationRequest.validate`` then runs
as for any other request.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from if_cli.engine.catalog import PRESETS, shipped_model_path
from if_cli.engine.request import MAX_SEED, GenerationRequest, StageOptions
from if_cli.errors import BadFieldError, InvalidRequestError
from if_cli.schema import SchemaError, check_value, shown
from if_cli.untrusted import parse_json
from if_cli.worker.jobs import JobRunner
from if_cli.worker.wire import MAX_BODY_BYTES

T = TypeVar("T")

UNKNOWN_FIELD = "is not a field this server knows"
MAX_API_IMAGES = 100
"""Pictures one API request may ask for: they travel back in one answer, in memory
(a script that wants more sends more requests, or uses ``if-cli generate``)."""


class BodyTooLarge(InvalidRequestError):
    def __init__(self) -> None:
        super().__init__(f"the body is over {MAX_BODY_BYTES} bytes")


INTAKE_AT_ONCE = 2
"""Requests whose bodies are parsed and pictures decoded at the same time."""
MAX_UNUSED_FIELD_BYTES = 64 * 1024
"""A field the server does not use (A1111's ``comments``) is echoed back, so it is kept
while the job waits: it may be at most this long."""


class Intake:
    """Reads requests (JSON parsing, picture decoding) off the event loop, so a large or
    hostile body never stalls the other clients; ``INTAKE_AT_ONCE`` at a time, and only
    while the queue has room, so a flood of requests waits (or is refused) before its
    pictures are decoded, not after."""

    def __init__(self, runner: JobRunner) -> None:
        self.runner = runner
        self.slots = asyncio.Semaphore(INTAKE_AT_ONCE)

    async def read(self, work: Callable[..., T], *args: Any) -> T:
        self.runner.check_room()
        async with self.slots:
            self.runner.check_room()
            return await run_in_threadpool(work, *args)


@dataclass
class ApiState:
    """What the APIs share: how requests are read, and the cascade a request runs when it
    names none (``serve --model``; A1111's ``sd_model_checkpoint`` option changes it)."""

    intake: Intake
    model: str = "if"


async def body_bytes(request: Request) -> bytes:
    """The whole body, refused beyond ``MAX_BODY_BYTES`` before it is all read."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise BodyTooLarge
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def parse_object(body: bytes) -> dict[str, Any]:
    """A body as a JSON object (in the intake's thread: parsing 256 MiB takes seconds)."""
    try:
        data = parse_json(body)
    except ValueError as error:
        raise InvalidRequestError(f"the body is {error}") from None
    if not isinstance(data, dict):
        raise InvalidRequestError(f"the body must be a JSON object, got {shown(data)}")
    return data


def check_unused(data: Mapping[str, Any], used: Iterable[str]) -> None:
    """Fields the server does not use are still finite JSON of a bounded size: they are
    kept while the job waits, and echoed back."""
    used = set(used)
    for name, value in data.items():
        if name in used:
            continue
        try:
            size = len(json.dumps(value, allow_nan=False))
        except ValueError:
            raise BadFieldError(name, "holds NaN or Infinity, which JSON has not") from None
        if size > MAX_UNUSED_FIELD_BYTES:
            raise BadFieldError(
                name, f"is {size} bytes; a field without effect may be at most 64 KiB"
            )


def check_types(data: Mapping[str, Any], kinds: Mapping[str, str]) -> None:
    """Each field present has its kind (``schema`` kinds: ``text``, ``whole?`` …)."""
    for name, value in data.items():
        kind = kinds.get(name)
        if kind is None:
            continue
        try:
            check_value(name, value, kind)
        except SchemaError as error:
            raise BadFieldError(name, str(error).removeprefix(f"{name} ")) from None


def refuse_unknown(data: Mapping[str, Any], known: Iterable[str]) -> None:
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise BadFieldError(unknown[0], UNKNOWN_FIELD)


def check_neutral(data: Mapping[str, Any], neutral: Mapping[str, tuple[Any, ...]]) -> None:
    """Fields for what IF cannot do pass only at a value that asks for none of it (or
    null); ``neutral`` gives those values by field."""
    for name, values in neutral.items():
        value = data.get(name)
        if value is None or any(_same(value, n) for n in values):
            continue
        accepted = " or ".join(json.dumps(n) for n in values) or "null"
        raise BadFieldError(
            name, f"is {shown(value)}, which this server cannot honour: only {accepted} is"
        )


def _same(value: Any, neutral: Any) -> bool:
    if isinstance(value, bool) or isinstance(neutral, bool):
        return value is neutral
    if isinstance(value, (int, float)) and isinstance(neutral, (int, float)):
        return math.isclose(value, neutral)
    return bool(value == neutral)


def whole_in(data: Mapping[str, Any], name: str, low: int, high: int, default: int) -> int:
    value = data.get(name)
    if value is None:
        return default
    if not low <= value <= high:
        raise BadFieldError(name, f"must be from {low} to {high}, got {value}")
    return int(value)


def number_in(data: Mapping[str, Any], name: str, low: float, high: float, default: float) -> float:
    value = data.get(name)
    if value is None:
        return default
    if not (math.isfinite(value) and low <= value <= high):
        raise BadFieldError(name, f"must be from {low:g} to {high:g}, got {value}")
    return float(value)


def seed_of(value: int | None, name: str = "seed") -> int | None:
    """A seed; -1 (or none) asks for a random one."""
    if value is None or value == -1:
        return None
    if not 0 <= value <= MAX_SEED:
        raise BadFieldError(name, f"must be -1 (random) or from 0 to {MAX_SEED}, got {value}")
    return value


def aspect_of(width: int, height: int, names: str) -> str | None:
    """A width and height as the picture's aspect ratio (None for a square): the cascade
    makes its own size in that shape (docs/compatible-apis.md)."""
    from if_cli.engine.sizes import MAX_ASPECT, aspect_text

    if width < 1 or height < 1 or max(width, height) > 1 << 16:
        raise BadFieldError(names, f"must be from 1 to 65536 px, got {width}x{height}")
    ratio = Fraction(width, height)
    if ratio == 1:
        return None
    if max(ratio, 1 / ratio) > MAX_ASPECT:
        raise BadFieldError(
            names, f"{width}x{height} is wider or taller than {MAX_ASPECT}:1, which IF cannot make"
        )
    return aspect_text(ratio)


class UnknownModel(BadFieldError):
    """A model name that is none of the presets (OpenAI answers 404 for it)."""


def ratio_of(aspect: str | None) -> Fraction | None:
    """The ratio an aspect (from ``aspect_of``) fits an input picture to; None: a square."""
    from if_cli.engine.sizes import parse_aspect

    return None if aspect is None else parse_aspect(aspect)


def model_named(name: Any, field: str) -> str:
    """One of the presets (``if``, ``demo``); the APIs run nothing else."""
    if not isinstance(name, str):
        raise BadFieldError(field, f"must be a string, got {shown(name)}")
    if name not in PRESETS:
        raise UnknownModel(
            field,
            f"must be one of {', '.join(PRESETS)}, got {shown(name)}",
            hint="GET /v1/models or /sdapi/v1/sd-models lists them",
        )
    return str(name)


def sampler_of(model: str) -> str:
    """The A1111 name of the sampler stage I of a preset runs."""
    from pathlib import Path

    from if_cli.output.metadata import SAMPLERS, folder_sampler_name

    stage_1 = PRESETS[model].models[0]
    folder = shipped_model_path(stage_1)
    return SAMPLERS[1] if folder is None else folder_sampler_name(Path(folder), 1)


def preset_request(
    model: str,
    flow: str,
    stages: tuple[StageOptions, StageOptions, StageOptions],
    names: Mapping[str, str],
    **fields: Any,
) -> GenerationRequest:
    """A request that runs the preset ``model`` (these options of its stages, its last
    stage and watermark) in ``flow``, checked by the engine's own rules; ``names`` gives
    the API's words for the engine's field names in those checks' errors."""
    preset = PRESETS[model]
    request = GenerationRequest(
        last_stage=preset.last_stage,
        watermark=preset.watermark,
        stage_1=stages[0],
        stage_2=stages[1],
        stage_3=stages[2],
        flow=flow,  # type: ignore[arg-type]
        **fields,
    )
    try:
        request.validate()
    except BadFieldError as error:
        name = names.get(error.field)
        if name is None:
            raise
        raise BadFieldError(name, error.problem, error.hint) from None
    return request


def picture_bytes(value: Any, field: str) -> bytes:
    """A picture sent as base64 text, with or without a ``data:image/…;base64,`` prefix."""
    if not isinstance(value, str):
        raise BadFieldError(field, f"must be a base64 picture, got {shown(value)}")
    text = value
    if text.startswith("data:"):
        header, comma, text = text.partition(",")
        if not comma or not header.endswith(";base64"):
            raise BadFieldError(field, "is a data URL without base64 data")
    try:
        data = base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        raise BadFieldError(field, "is not valid base64") from None
    if not data:
        raise BadFieldError(field, "is empty")
    return data


def png_base64(png: bytes) -> str:
    return base64.b64encode(png).decode("ascii")


def compact(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False)
