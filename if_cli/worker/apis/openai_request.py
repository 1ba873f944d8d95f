"""OpenAI's image generation and edit fields, mapped onto a ``GenerationRequest``.

``prompt``, ``n``, ``size`` (its aspect), ``model`` (a preset: ``if`` or ``demo``) and
``response_format: b64_json`` are mapped; ``seed`` is an if-cli extension (OpenAI has
none; -1 or none is random). Options for what IF cannot do pass only at the value that
asks for none of it (``quality: auto``, ``background: opaque``); ``user`` and
``safety_identifier`` change nothing. Any other field is refused.

An edit repaints where the mask is fully transparent (OpenAI's convention); without a
mask, where the image itself is; an opaque image without a mask is repainted whole
(img2img).
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from if_cli.engine.catalog import preset_stages
from if_cli.engine.request import GenerationRequest
from if_cli.errors import BadFieldError, InvalidRequestError
from if_cli.worker.apis.inputs import (
    MAX_API_IMAGES,
    ApiState,
    aspect_of,
    check_neutral,
    check_types,
    model_named,
    preset_request,
    ratio_of,
    refuse_unknown,
    seed_of,
    whole_in,
)

if TYPE_CHECKING:
    from if_cli.engine.image_input import ImageInput

_FIELDS = {
    "prompt": "text",
    "model": "text?",
    "n": "whole?",
    "size": "text?",
    "seed": "whole?",
    "response_format": "text?",
    "user": "text?",
    "safety_identifier": "text?",
}
_NEUTRAL: dict[str, tuple[Any, ...]] = {
    "response_format": ("b64_json",),
    "quality": ("auto", "standard"),
    "style": (),
    "background": ("auto", "opaque"),
    "moderation": ("auto", "low"),
    "output_format": ("png",),
    "output_compression": (100,),
    "partial_images": (0,),
    "stream": (False,),
    "complexity": (),
    "frame_count": (),
    "frame_duration_ms": (),
    "svg": (),
    "markup": (),
    "input_fidelity": (),
}
_NUMBERS = ("n", "seed", "output_compression", "partial_images", "frame_count")
_FIELD_NAMES = {"num_images": "n", "aspect": "size", "prompt": "prompt"}
UPLOADED = "from the request"  # how messages name the pictures: "the mask from the request"


@dataclass(frozen=True)
class OpenAIJob:
    request: GenerationRequest
    model: str


def read_generation(data: Mapping[str, Any], state: ApiState) -> OpenAIJob:
    return _read(data, state, None)


def read_edit(
    form: Mapping[str, Any], image: bytes, mask: bytes | None, state: ApiState
) -> OpenAIJob:
    """An edit's form fields (text, as multipart sends them) and its pictures."""
    data = _typed(form)
    return _read(data, state, _init(image, mask, data.get("size")))


def _read(data: Mapping[str, Any], state: ApiState, init: ImageInput | None) -> OpenAIJob:
    check_types(data, _FIELDS)
    refuse_unknown(data, {*_FIELDS, *_NEUTRAL})
    if "prompt" not in data:
        raise BadFieldError("prompt", "is missing")
    check_neutral(data, _NEUTRAL)
    model = state.model if data.get("model") is None else model_named(data["model"], "model")
    flow = "generate" if init is None else ("inpaint" if init.mask is not None else "img2img")
    request = preset_request(
        model,
        flow,
        preset_stages(model, flow),
        _FIELD_NAMES,
        prompts=(data["prompt"],),
        seed=seed_of(data.get("seed")),
        num_images=whole_in(data, "n", 1, MAX_API_IMAGES, 1),
        init=init,
        aspect=_aspect(data.get("size")),
    )
    return OpenAIJob(request, model)


def _typed(form: Mapping[str, Any]) -> dict[str, Any]:
    """Multipart sends every value as text: numbers and flags back to their types."""
    data: dict[str, Any] = {}
    for name, value in form.items():
        if not isinstance(value, str):
            raise BadFieldError(name, "must be text, not a file")
        if name in _NUMBERS:
            try:
                data[name] = int(value)
            except ValueError:
                raise BadFieldError(name, f"must be a whole number, got {value!r}") from None
        elif name == "stream":
            data[name] = {"true": True, "false": False}.get(value.lower(), value)
        else:
            data[name] = value
    return data


def _aspect(size: str | None) -> str | None:
    if size is None or size == "auto":
        return None
    from if_cli.engine.sizes import parse_size

    parsed = parse_size(size)
    return aspect_of(parsed.width, parsed.height, "size")


def _init(image: bytes, mask: bytes | None, size: Any) -> ImageInput:
    """The picture, and the mask from the mask's transparency or else the picture's."""
    try:
        return _read_pictures(image, mask, size)
    except InvalidRequestError as error:
        if getattr(error, "field", None) is None:  # OpenAI's errors name the field
            picture = "mask" if error.message.startswith(("mask", "the mask")) else "image"
            error.field = picture  # type: ignore[attr-defined]
        raise


def _read_pictures(image: bytes, mask: bytes | None, size: Any) -> ImageInput:
    from if_cli.engine.image_input import load_input, transparent_area

    what = "image" if mask is None else "mask"
    area = transparent_area(image if mask is None else mask, UPLOADED, what)
    low, high = (0, 0) if area is None else area.getextrema()
    if mask is not None and high == 0:
        raise BadFieldError(
            "mask",
            "has no fully transparent pixels: OpenAI masks mark what to repaint as transparent",
        )
    if low == 255:
        raise BadFieldError(
            what,
            "is fully transparent: everything would be repainted",
            hint="make a new picture with images/generations",
        )
    return load_input(
        UPLOADED,
        fit="keep" if size in (None, "auto") else "crop",
        mask=None if high == 0 else UPLOADED,
        ratio=ratio_of(_aspect(None if size is None else str(size))),
        data=image,
        mask_data=None if area is None or high == 0 else _png(area),
    )


def _png(picture: Any) -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()
