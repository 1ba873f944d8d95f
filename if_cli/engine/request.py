"""Dataclasses that describe one generation job, and their validation.

This module imports nothing heavy: the CLI builds and validates a request before any
model library is imported, so a bad value fails in milliseconds.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import secrets
from dataclasses import dataclass, field
from typing import Literal

from if_cli.engine.schedules import SCHEDULE_NAMES
from if_cli.errors import InvalidRequestError

DEFAULT_STAGE_1_MODEL = "DeepFloyd/IF-I-XL-v1.0"
DEFAULT_STAGE_2_MODEL = "DeepFloyd/IF-II-L-v1.0"
DEFAULT_STAGE_3_MODEL = "stabilityai/stable-diffusion-x4-upscaler"

DEVICES = ("auto", "cuda", "mps", "cpu")
DTYPES = ("auto", "fp16", "bf16", "fp32")
OFFLOADS = ("auto", "none", "unload", "model", "sequential")
VARIANTS = ("auto", "fp16", "fp32")

Device = Literal["auto", "cuda", "mps", "cpu"]
DType = Literal["auto", "fp16", "bf16", "fp32"]
Offload = Literal["auto", "none", "unload", "model", "sequential"]
Variant = Literal["auto", "fp16", "fp32"]

MAX_SEED = 2**63 - 1
# The x4 upscaler's model_index sets max_noise_level 350; IF-II's noising scheduler has 1000.
STAGE_2_MAX_NOISE_LEVEL = 999
STAGE_3_MAX_NOISE_LEVEL = 350


@dataclass(frozen=True)
class StageOptions:
    """Settings of one stage, named like the diffusers pipeline arguments.

    ``steps`` is a step count or the name of one of IF's fast timestep schedules
    (``smart27``, ``smart50`` …), which fixes both the count and the timesteps.
    """

    model: str
    steps: int | str
    guidance_scale: float
    noise_level: int | None = None


def default_stage_1() -> StageOptions:
    return StageOptions(model=DEFAULT_STAGE_1_MODEL, steps=100, guidance_scale=7.0)


def default_stage_2() -> StageOptions:
    return StageOptions(model=DEFAULT_STAGE_2_MODEL, steps=50, guidance_scale=4.0, noise_level=250)


def default_stage_3() -> StageOptions:
    # The reference recipe passes noise_level=100 (the pipeline's own default is 20).
    return StageOptions(model=DEFAULT_STAGE_3_MODEL, steps=75, guidance_scale=9.0, noise_level=100)


@dataclass(frozen=True)
class Placement:
    """Where and how the models run; ``auto`` values are resolved by the memory planner."""

    device: Device = "auto"
    dtype: DType = "auto"
    offload: Offload = "auto"
    variant: Variant = "auto"


@dataclass(frozen=True)
class GenerationRequest:
    """One text-to-image job: every image of every prompt, up to ``last_stage``.

    Images are numbered across prompts; image ``i`` uses seed ``seed + i`` so any one of
    them can be made again alone with that seed and ``num_images=1``.
    """

    prompts: tuple[str, ...]
    negative_prompt: str | None = None
    seed: int | None = None
    # Batch runs give each prompt its own seed (then num_images must be 1).
    seeds: tuple[int, ...] | None = None
    num_images: int = 1
    last_stage: int = 3
    batch_size: int = 1
    watermark: bool = True
    keep_intermediates: bool = False
    stage_1: StageOptions = field(default_factory=default_stage_1)
    stage_2: StageOptions = field(default_factory=default_stage_2)
    stage_3: StageOptions = field(default_factory=default_stage_3)
    placement: Placement = field(default_factory=Placement)

    @property
    def total_images(self) -> int:
        return len(self.prompts) * self.num_images

    def stage_options(self, stage: int) -> StageOptions:
        return (self.stage_1, self.stage_2, self.stage_3)[stage - 1]

    def with_seed(self) -> GenerationRequest:
        """Return a copy whose seed is fixed (a random one if none was given)."""
        if self.seed is not None or self.seeds is not None:
            return self
        return dataclasses.replace(self, seed=secrets.randbelow(2**32))

    def image_seeds(self) -> list[int]:
        """Seed of each image, in image order."""
        if self.seeds is not None:
            return list(self.seeds)
        if self.seed is None:
            raise ValueError("call with_seed() first")
        return [self.seed + i for i in range(self.total_images)]

    def image_fingerprint(self, prompt: str, seed: int) -> str:
        """Identity of one image of this request: what decides its pixels.

        Two runs that agree on it make the same image (at ``batch_size=1`` on the same
        device and software), so a finished image with this fingerprint can be skipped.
        """
        settings = {
            "prompt": prompt,
            "seed": seed,
            "negative_prompt": self.negative_prompt,
            "last_stage": self.last_stage,
            "stages": [
                dataclasses.asdict(self.stage_options(n)) for n in range(1, self.last_stage + 1)
            ],
            "watermark": self.watermark,
            "placement": dataclasses.asdict(self.placement),
            "batch_size": self.batch_size,
        }
        text = json.dumps(settings, sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(text.encode()).hexdigest()

    def validate(self) -> None:
        """Raise InvalidRequestError for the first bad value; cheap, loads nothing."""
        _validate_prompts(self.prompts, self.negative_prompt)
        _check_int("num_images", self.num_images, minimum=1)
        _check_int("batch_size", self.batch_size, minimum=1)
        _check_int("last_stage", self.last_stage, minimum=1, maximum=3)
        if self.seed is not None:
            _check_int("seed", self.seed, minimum=0, maximum=MAX_SEED - self.total_images)
        if self.seeds is not None:
            if len(self.seeds) != len(self.prompts) or self.num_images != 1:
                raise InvalidRequestError("seeds needs one seed per prompt and num_images 1")
            for seed in self.seeds:
                _check_int("seed", seed, minimum=0, maximum=MAX_SEED)
        for stage in range(1, self.last_stage + 1):
            _validate_stage(stage, self.stage_options(stage))
        _validate_placement(self.placement)


def _check_int(name: str, value: object, minimum: int, maximum: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidRequestError(f"{name} must be a whole number, got {value!r}")
    if value < minimum or (maximum is not None and value > maximum):
        bounds = f"at least {minimum}" if maximum is None else f"from {minimum} to {maximum}"
        raise InvalidRequestError(f"{name} must be {bounds}, got {value}")


def _validate_prompts(prompts: tuple[str, ...], negative_prompt: str | None) -> None:
    if not prompts:
        raise InvalidRequestError("no prompt given")
    for prompt in prompts:
        if not prompt.strip():
            raise InvalidRequestError("the prompt is empty", hint="describe the image to make")
        if "\x00" in prompt:
            raise InvalidRequestError("the prompt contains a NUL character")
    if negative_prompt is not None and "\x00" in negative_prompt:
        raise InvalidRequestError("the negative prompt contains a NUL character")


def _validate_stage(stage: int, options: StageOptions) -> None:
    prefix = f"stage {stage}"
    if not options.model.strip():
        raise InvalidRequestError(f"{prefix} model is empty")
    steps = options.steps
    if isinstance(steps, str):
        if stage == 3:
            raise InvalidRequestError(
                f"{prefix} steps must be a number: the x4 upscaler has no named schedules"
            )
        if steps not in SCHEDULE_NAMES:
            raise InvalidRequestError(
                f"unknown timestep schedule {steps!r} for {prefix}",
                hint="use a step count or one of " + ", ".join(SCHEDULE_NAMES),
            )
    else:
        _check_int(f"{prefix} steps", steps, minimum=1, maximum=1000)
    guidance = options.guidance_scale
    if not isinstance(guidance, (int, float)) or guidance != guidance or guidance < 0:
        raise InvalidRequestError(f"{prefix} guidance scale must be 0 or more, got {guidance}")
    if stage == 1:
        return
    maximum = STAGE_2_MAX_NOISE_LEVEL if stage == 2 else STAGE_3_MAX_NOISE_LEVEL
    _check_int(f"{prefix} noise level", options.noise_level, minimum=0, maximum=maximum)


def _validate_placement(placement: Placement) -> None:
    for name, value, choices in (
        ("device", placement.device, DEVICES),
        ("dtype", placement.dtype, DTYPES),
        ("offload", placement.offload, OFFLOADS),
        ("variant", placement.variant, VARIANTS),
    ):
        if value not in choices:
            raise InvalidRequestError(
                f"unknown {name} {value!r}", hint="choose one of " + ", ".join(choices)
            )
