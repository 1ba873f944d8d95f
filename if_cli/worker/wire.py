"""What the client and the worker send each other, as JSON: requests, events, errors.

A job is one ``GenerationRequest``; the worker answers with a stream of events (one JSON
object a line): ``queued``, ``started`` (the plan, models and sizes), ``progress``,
``log``, ``image`` (PNG bytes, base64), then ``done`` or ``error``. Pictures travel as
lossless PNGs, so the client writes exactly the pixels an in-process run would have.

A worker on TCP reads requests from anyone who holds its key, so decoding is strict:
every field has its type checked, unknown fields are refused, pictures are size-checked
before they are decoded, and the values then go through ``GenerationRequest.validate``,
the same check as the command line's.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import io
from pathlib import Path
from typing import TYPE_CHECKING, Any

from if_cli import errors
from if_cli.engine.events import STAGE_LABELS, ProgressEvent
from if_cli.engine.flows import FLOWS
from if_cli.engine.request import GenerationRequest, Placement, flow_defaults
from if_cli.errors import IFCliError, InvalidRequestError
from if_cli.schema import SchemaError, check_value, shown

if TYPE_CHECKING:
    from PIL.Image import Image

    from if_cli.engine.image_input import ImageInput
    from if_cli.engine.memory import Plan
    from if_cli.engine.models import ModelSource
    from if_cli.engine.result import StageTiming
    from if_cli.engine.sizes import Size

PROTOCOL = 1
MAX_BODY_BYTES = 256 * 1024**2
"""A job's JSON: prompts are ≤ 10,000 characters, and a picture is at most 8192² px."""

_STAGE = {
    "model": "text",
    "steps": "steps",
    "guidance_scale": "number",
    "noise_level": "whole?",
    "strength": "number?",
}
_PLACEMENT = {
    "device": "text",
    "dtype": "text",
    "offload": "text",
    "variant": "text",
    "max_memory": "whole?",
    "compile": "flag",
}
_INIT = {
    "image": "text",
    "source": "text",
    "fit": "text",
    "original_size": "size",
    "notes": "texts",
    "mask": "text?",
    "mask_source": "text?",
}
_REQUEST = {
    "prompts": "texts",
    "negative_prompt": "text?",
    "seed": "whole?",
    "seeds": "wholes?",
    "num_images": "whole",
    "last_stage": "whole",
    "batch_size": "whole",
    "watermark": "flag",
    "keep_intermediates": "flag",
    "stage_1": _STAGE,
    "stage_2": _STAGE,
    "stage_3": _STAGE,
    "placement": _PLACEMENT,
    "flow": "text",
    "first_stage": "whole",
    "init": _INIT,
    "aspect": "text?",
    "size": "text?",
}
MAX_LIST = 10_000
MAX_SIDE = 1 << 20


def bad_request(message: str) -> InvalidRequestError:
    return InvalidRequestError(f"bad request: {message}")


def _check_fields(data: Any, schema: dict[str, Any], path: str, required: tuple[str, ...]) -> None:
    """Types of the fields present, no unknown field, the ``required`` ones there."""
    if not isinstance(data, dict):
        raise bad_request(f"{path or 'the body'} must be an object, got {shown(data)}")
    unknown = sorted(set(data) - set(schema))
    if unknown:
        where = f" in {path}" if path else ""
        raise bad_request(f"unknown field {unknown[0]!r}{where}")
    for name in required:
        if name not in data:
            raise bad_request(f"{path + '.' if path else ''}{name} is missing")
    for name, value in data.items():
        where = f"{path}.{name}" if path else name
        kind = schema[name]
        if isinstance(kind, dict):
            if value is not None or name != "init":
                _check_fields(value, kind, where, ("image",) if name == "init" else ())
        else:
            _check_kind(where, value, kind)


def _check_kind(where: str, value: Any, kind: str) -> None:
    optional = kind.endswith("?")
    if value is None and optional:
        return
    name = kind.removesuffix("?")
    if name in ("texts", "wholes", "size"):
        item = {"texts": "text", "wholes": "whole", "size": "whole"}[name]
        if not isinstance(value, list):
            raise bad_request(f"{where} must be a list, got {shown(value)}")
        if len(value) > MAX_LIST:
            raise bad_request(f"{where} has {len(value)} items; the limit is {MAX_LIST}")
        if name == "size" and len(value) != 2:
            raise bad_request(f"{where} must be [width, height], got {shown(value)}")
        for number, element in enumerate(value):
            _check_kind(f"{where}[{number}]", element, item)
            if name == "size" and not 1 <= element <= MAX_SIDE:
                raise bad_request(f"{where}[{number}] must be from 1 to {MAX_SIDE}")
        return
    try:
        check_value(where, value, kind)
    except SchemaError as error:
        raise bad_request(str(error)) from None


# Requests ------------------------------------------------------------------------------


def encode_request(request: GenerationRequest) -> dict[str, Any]:
    fields = dataclasses.asdict(dataclasses.replace(request, init=None))
    fields["prompts"] = list(request.prompts)
    fields["seeds"] = None if request.seeds is None else list(request.seeds)
    fields["init"] = None if request.init is None else encode_input(request.init)
    return fields


def decode_request(data: Any, init: ImageInput | None = None) -> GenerationRequest:
    """A checked request; fields left out take the flow's defaults, as on the command line.

    ``init`` is the picture, when the caller has it already (the worker sends the client
    its request back without the pixels). Raises InvalidRequestError with the same words
    as the command line's checks.
    """
    _check_fields(data, _REQUEST, "request", ("prompts",))
    flow = data.get("flow", "generate")
    defaults = flow_defaults(flow if flow in FLOWS else "generate")  # validate() names it
    values: dict[str, Any] = {k: v for k, v in data.items() if k not in _NESTED}
    values["prompts"] = tuple(data["prompts"])
    if data.get("seeds") is not None:
        values["seeds"] = tuple(data["seeds"])
    for number in (1, 2, 3):
        given = data.get(f"stage_{number}") or {}
        values[f"stage_{number}"] = dataclasses.replace(defaults[number - 1], **given)
    values["placement"] = Placement(**(data.get("placement") or {}))
    if init is None and data.get("init") is not None:
        init = decode_input(data["init"])
    values["init"] = init
    request = GenerationRequest(**values)
    request.validate()
    return request


_NESTED = ("stage_1", "stage_2", "stage_3", "placement", "init", "prompts", "seeds")


def encode_input(init: ImageInput) -> dict[str, Any]:
    return {
        "image": encode_picture(init.image),
        "source": init.source,
        "fit": init.fit,
        "original_size": list(init.original_size),
        "notes": list(init.notes),
        "mask": None if init.mask is None else encode_picture(init.mask),
        "mask_source": init.mask_source,
    }


def decode_input(data: dict[str, Any]) -> ImageInput:
    from if_cli.engine.image_input import FITS, ImageInput

    fit = data.get("fit", "keep")
    if fit not in FITS:
        raise bad_request(f"init.fit must be one of {', '.join(FITS)}, got {shown(fit)}")
    image = decode_picture(data["image"], "init.image", "RGB")
    mask = None
    if data.get("mask") is not None:
        mask = decode_picture(data["mask"], "init.mask", "L")
        if mask.size != image.size:
            raise bad_request(f"init.mask is {mask.size}, not the picture's {image.size}")
    width, height = data.get("original_size", image.size)
    return ImageInput(
        image=image,
        source=data.get("source", "(sent to the worker)"),
        fit=fit,
        original_size=(width, height),
        notes=tuple(data.get("notes", ())),
        mask=mask,
        mask_source=data.get("mask_source"),
    )


# Pictures ------------------------------------------------------------------------------


def encode_picture(picture: Image) -> str:
    """A lossless PNG, base64 (fast to write: the client compresses the file it keeps)."""
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", compress_level=1)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def decode_picture(text: str, what: str, mode: str) -> Image:
    """A base64 PNG of ``mode``; its size is checked before a pixel is decoded."""
    from PIL import Image as PILImage

    from if_cli.engine.image_input import MAX_INPUT_PIXELS

    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise bad_request(f"{what} is not base64") from None
    too_large = bad_request(f"{what} is larger than {MAX_INPUT_PIXELS} px")
    try:
        picture = PILImage.open(io.BytesIO(data), formats=["PNG"])
        if picture.width * picture.height > MAX_INPUT_PIXELS:
            raise too_large
        picture.load()
    except InvalidRequestError:
        raise
    except PILImage.DecompressionBombError:
        raise too_large from None
    except Exception:  # PIL raises many kinds for a damaged file
        raise bad_request(f"{what} is not a PNG picture") from None
    if picture.mode != mode:
        raise bad_request(f"{what} must be a {mode} picture, got {picture.mode}")
    picture.info.clear()  # a PNG's own chunks must not reach the files the client writes
    return picture


# What the worker reports ---------------------------------------------------------------


def encode_event(event: ProgressEvent) -> dict[str, Any]:
    fields = dataclasses.asdict(event)
    fields["images"] = None if event.images is None else list(event.images)
    return {"event": "progress", **fields}


def decode_event(data: dict[str, Any]) -> ProgressEvent:
    images = data.get("images")
    if data.get("stage") not in STAGE_LABELS:
        raise ValueError(f"unknown stage {data.get('stage')!r}")
    return ProgressEvent(
        stage=data["stage"],
        phase=data["phase"],
        step=int(data["step"]),
        total=int(data["total"]),
        detail=str(data.get("detail", "")),
        images=None if images is None else (int(images[0]), int(images[1]), int(images[2])),
    )


def encode_plan(plan: Plan) -> dict[str, Any]:
    return dataclasses.asdict(plan, dict_factory=_json_ready)


def decode_plan(data: dict[str, Any]) -> Plan:
    from if_cli.engine.memory import Plan, StageFootprint

    stages = tuple(
        StageFootprint(
            **{
                **stage,
                "source": decode_source(stage["source"]),
                "components": tuple(stage["components"]),
            }
        )
        for stage in data["stages"]
    )
    return Plan(**{**data, "stages": stages})


def decode_source(data: dict[str, Any]) -> ModelSource:
    from if_cli.engine.models import ModelSource

    return ModelSource(**{**data, "path": Path(data["path"])})


def encode_sources(sources: dict[str, ModelSource]) -> dict[str, Any]:
    return {key: dataclasses.asdict(s, dict_factory=_json_ready) for key, s in sources.items()}


def encode_sizes(sizes: dict[int, Size]) -> dict[str, list[int]]:
    return {str(stage): [size.width, size.height] for stage, size in sizes.items()}


def decode_sizes(data: dict[str, list[int]]) -> dict[int, Size]:
    from if_cli.engine.sizes import Size

    return {int(stage): Size(int(w), int(h)) for stage, (w, h) in data.items()}


def encode_timings(timings: dict[str, StageTiming]) -> dict[str, list[float]]:
    return {key: [t.load_s, t.run_s] for key, t in timings.items()}


def decode_timings(data: dict[str, list[float]]) -> dict[str, StageTiming]:
    from if_cli.engine.result import StageTiming

    return {key: StageTiming(float(load), float(run)) for key, (load, run) in data.items()}


def _json_ready(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    return {key: str(value) if isinstance(value, Path) else value for key, value in pairs}


# Errors --------------------------------------------------------------------------------


def encode_error(error: IFCliError) -> dict[str, Any]:
    """An if-cli error, so the client raises the same kind with the same exit code."""
    return {
        "type": type(error).__name__,
        "exit_code": error.exit_code,
        "message": error.message,
        "hint": error.hint,
        "field": getattr(error, "field", None),
        "problem": getattr(error, "problem", None),
        "repo_id": getattr(error, "repo_id", None),
    }


def decode_error(data: Any) -> IFCliError:
    """The error the worker sent, as the same class (another one: a plain IFCliError with
    the exit code it carried)."""
    if not isinstance(data, dict) or not isinstance(data.get("message"), str):
        return errors.WorkerError(
            f"the worker answered with an error it did not explain: {shown(data)}"
        )
    kind = getattr(errors, str(data.get("type")), None)
    if not (isinstance(kind, type) and issubclass(kind, IFCliError)):
        kind = IFCliError
    error = kind.__new__(kind)
    IFCliError.__init__(error, data["message"], data.get("hint"))
    for name in ("field", "problem", "repo_id"):
        if data.get(name) is not None:
            setattr(error, name, data[name])
    code = data.get("exit_code")
    if isinstance(code, int) and code != error.exit_code:
        error.exit_code = code
    return error
