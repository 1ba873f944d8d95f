"""A1111's txt2img and img2img fields, mapped onto a ``GenerationRequest``.

A1111 clients send every field they know, most at values that ask for nothing (no
hires fix, no face restoration). So each field is one of three kinds:

- **mapped**: prompt, negative_prompt, seed (-1 random), steps and cfg_scale (stage I),
  batch_size × n_iter, width × height (the aspect), denoising_strength, init_images,
  mask, resize_mode, inpainting_mask_invert, sampler_name, override_settings;
- **neutral only**: a feature IF does not have, accepted at the value that leaves it
  off (``enable_hr: false``, ``restore_faces: false``) and refused otherwise;
- **no effect**: fields that change nothing here, as in A1111 itself (``hr_*`` without
  the hires fix, ``do_not_save_*``), or that IF's inpainting has no use for
  (``mask_blur``, ``inpaint_full_res``: IF repaints exactly the masked pixels).

Any other field is refused. docs/compatible-apis.md shows the same table.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from if_cli.engine.catalog import preset_stages
from if_cli.engine.request import GenerationRequest
from if_cli.errors import BadFieldError
from if_cli.worker.apis.inputs import (
    MAX_API_IMAGES,
    ApiState,
    aspect_of,
    check_neutral,
    check_types,
    check_unused,
    model_named,
    number_in,
    picture_bytes,
    preset_request,
    ratio_of,
    refuse_unknown,
    sampler_of,
    seed_of,
    whole_in,
)

if TYPE_CHECKING:
    from if_cli.engine.image_input import ImageInput

CLIENT_DEFAULT_SAMPLERS = ("Euler a", "Euler")
"""Sent when their user chose no sampler (webuiapi's default, and A1111's API schema's
default ``sampler_index``): taken to mean "the model's own", which then runs (and
``info`` names)."""
AUTOMATIC_SCHEDULERS = ("", "automatic", "Automatic")
RESIZE_MODES = {0: "stretch", 1: "crop", 2: "pad"}
"""A1111's resize_mode (just resize, crop and resize, resize and fill) → ``--fit``."""

_MAPPED = {
    "prompt": "text?",
    "negative_prompt": "text?",
    "seed": "whole?",
    "steps": "whole?",
    "cfg_scale": "number?",
    "width": "whole?",
    "height": "whole?",
    "batch_size": "whole?",
    "n_iter": "whole?",
    "sampler_name": "text?",
    "sampler_index": "text?",
    "scheduler": "text?",
    "send_images": "flag?",
    "denoising_strength": "number?",
}
_IMG2IMG_MAPPED = {
    "mask": "text?",
    "resize_mode": "whole?",
    "inpainting_mask_invert": "whole?",
}
_NEUTRAL: dict[str, tuple[Any, ...]] = {
    "enable_hr": (False,),
    "styles": ([],),
    "subseed_strength": (0,),
    "seed_resize_from_h": (0, -1),
    "seed_resize_from_w": (0, -1),
    "restore_faces": (False,),
    "tiling": (False,),
    "eta": (0, 1),
    "s_churn": (0,),
    "s_tmax": (0,),
    "s_tmin": (0,),
    "s_noise": (1,),
    "script_name": ("",),
    "script_args": ([],),
    "alwayson_scripts": ({},),
    "save_images": (False,),
    "refiner_checkpoint": ("",),
    "refiner_switch_at": (0,),
    "include_init_images": (False,),
    "initial_noise_multiplier": (1,),
    "latent_mask": (),
    "inpainting_fill": (0, 1),
}
"""Each value that leaves the feature off (null always does)."""
_NO_EFFECT = {
    "do_not_save_samples",
    "do_not_save_grid",
    "override_settings_restore_afterwards",
    "force_task_id",
    "disable_extra_networks",
    "infotext",
    "comments",
    "subseed",
    "firstphase_width",
    "firstphase_height",
    "image_cfg_scale",
    "mask_blur",
    "mask_blur_x",
    "mask_blur_y",
    "mask_round",
    "inpaint_full_res",
    "inpaint_full_res_padding",
}
_HIRES_PREFIX = "hr_"  # the hires fix's fields: no effect while enable_hr is off
_OPTIONS = {"sd_model_checkpoint"}
"""``override_settings`` and ``/sdapi/v1/options`` keys this server acts on."""
_FIELD_NAMES = {
    "stage_1.steps": "steps",
    "stage_1.guidance_scale": "cfg_scale",
    "stage_1.strength": "denoising_strength",
    "num_images": "n_iter",
    "aspect": "width",
    "prompt": "prompt",
}


@dataclass(frozen=True)
class A1111Job:
    """A request, and what A1111's answer echoes back about it."""

    request: GenerationRequest
    model: str
    send_images: bool
    echo: dict[str, Any]  # the fields as sent, but the pictures: A1111 answers with them


def read_txt2img(data: Mapping[str, Any], state: ApiState) -> A1111Job:
    return _read(data, state, init_of=None)


def read_img2img(data: Mapping[str, Any], state: ApiState) -> A1111Job:
    return _read(data, state, init_of=_init)


def _read(data: Mapping[str, Any], state: ApiState, init_of: Any) -> A1111Job:
    mapped = _MAPPED if init_of is None else {**_MAPPED, **_IMG2IMG_MAPPED}
    # txt2img's denoising_strength is the hires fix's: no effect without it.
    known = {*mapped, "init_images"} if init_of is not None else set(mapped)
    check_types(data, mapped)
    check_unused(data, {*mapped, "init_images"})
    refuse_unknown(
        {k: v for k, v in data.items() if not k.startswith(_HIRES_PREFIX)},
        {*known, *_NEUTRAL, *_NO_EFFECT, "override_settings"},
    )
    check_neutral(data, _NEUTRAL)
    model = _model(data, state)
    _check_sampler(data, model)
    batch = whole_in(data, "batch_size", 1, MAX_API_IMAGES, 1)
    iterations = whole_in(data, "n_iter", 1, MAX_API_IMAGES, 1)
    if batch * iterations > MAX_API_IMAGES:
        raise BadFieldError(
            "n_iter",
            f"× batch_size asks for {batch * iterations} pictures; one request makes at "
            f"most {MAX_API_IMAGES}",
        )
    flow = "generate"
    if init_of is not None:
        flow = "inpaint" if data.get("mask") is not None else "img2img"
    stage_1, stage_2, stage_3 = preset_stages(model, flow)
    stage_1 = dataclasses.replace(
        stage_1,
        steps=whole_in(data, "steps", 1, 1000, int(stage_1.steps)),
        guidance_scale=number_in(data, "cfg_scale", 0, 1000, stage_1.guidance_scale),
    )
    init = None
    if init_of is not None:
        strength = _strength(data, stage_1.strength or 0.7)
        stage_1 = dataclasses.replace(stage_1, strength=strength)
        init = init_of(data)  # read last: every cheaper check first
    request = preset_request(
        model,
        flow,
        (stage_1, stage_2, stage_3),
        _FIELD_NAMES,
        prompts=(data.get("prompt") or "",),
        negative_prompt=data.get("negative_prompt") or None,
        seed=seed_of(data.get("seed")),
        num_images=batch * iterations,
        batch_size=batch,
        init=init,
        aspect=_aspect(data),
    )
    echo = {key: value for key, value in data.items() if key not in ("init_images", "mask")}
    return A1111Job(request, model, data.get("send_images") is not False, echo)


def _model(data: Mapping[str, Any], state: ApiState) -> str:
    settings = data.get("override_settings")
    if settings is None:
        return state.model
    if not isinstance(settings, dict):
        raise BadFieldError("override_settings", "must be an object")
    check_options(settings, "override_settings.")
    if "sd_model_checkpoint" in settings:
        return model_named(settings["sd_model_checkpoint"], "override_settings.sd_model_checkpoint")
    return state.model


def check_options(options: Mapping[str, Any], prefix: str = "") -> None:
    unknown = sorted(set(options) - _OPTIONS)
    if unknown:
        raise BadFieldError(
            f"{prefix}{unknown[0]}",
            "is not an option this server has (it has: " + ", ".join(sorted(_OPTIONS)) + ")",
        )


def _check_sampler(data: Mapping[str, Any], model: str) -> None:
    runs = sampler_of(model)
    sampler = data.get("sampler_name") or data.get("sampler_index")
    if sampler and sampler != runs and sampler not in CLIENT_DEFAULT_SAMPLERS:
        raise BadFieldError(
            "sampler_name",
            f"is {sampler!r}, but the {model} cascade runs its own sampler, {runs}",
            hint=f"send {runs!r} or leave it out",
        )
    scheduler = data.get("scheduler")
    if scheduler not in (None, *AUTOMATIC_SCHEDULERS):
        raise BadFieldError(
            "scheduler",
            f"is {scheduler!r}, but the models keep their own noise schedules",
            hint="send 'automatic' or leave it out",
        )


def _aspect(data: Mapping[str, Any]) -> str | None:
    width, height = data.get("width"), data.get("height")
    if width is None and height is None:
        return None
    width = height if width is None else width
    return aspect_of(width, width if height is None else height, "width")


def _strength(data: Mapping[str, Any], default: float) -> float:
    value = data.get("denoising_strength")
    if value is None:
        return default
    if not (math.isfinite(value) and 0 < value <= 1):
        raise BadFieldError("denoising_strength", f"must be more than 0 and at most 1, got {value}")
    return float(value)


def _init(data: Mapping[str, Any]) -> ImageInput:
    """The init picture (one) and mask, fitted as resize_mode says."""
    from if_cli.engine.image_input import load_input

    images = data.get("init_images")
    if not isinstance(images, list) or len(images) != 1:
        got = len(images) if isinstance(images, list) else "none"
        raise BadFieldError("init_images", f"must hold exactly one picture, got {got}")
    mode = data.get("resize_mode")
    fit = RESIZE_MODES.get(0 if mode is None else mode)
    if fit is None:
        raise BadFieldError(
            "resize_mode", f"must be 0, 1 or 2 (latent upscale is not IF's), got {mode}"
        )
    mask = data.get("mask")
    invert = whole_in(data, "inpainting_mask_invert", 0, 1, 0)
    return load_input(
        "init_images[0]",
        fit=fit,
        mask=None if mask is None else "in the request",
        ratio=ratio_of(_aspect(data)),
        data=picture_bytes(images[0], "init_images[0]"),
        mask_data=None if mask is None else picture_bytes(mask, "mask"),
        invert_mask=bool(invert),
    )
