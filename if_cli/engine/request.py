"""Dataclasses that describe one generation job, and their validation.

This module imports nothing heavy: the CLI builds and validates a request before any
model library is imported, so a bad value fails in milliseconds.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from if_cli.engine.flows import FLOWS
from if_cli.engine.schedules import SCHEDULE_NAMES, step_count
from if_cli.engine.sizes import parse_aspect, parse_size
from if_cli.errors import BadFieldError, InvalidRequestError

if TYPE_CHECKING:
    from if_cli.engine.image_input import ImageInput

DEFAULT_STAGE_1_MODEL = "DeepFloyd/IF-I-XL-v1.0"
DEFAULT_STAGE_2_MODEL = "DeepFloyd/IF-II-L-v1.0"
DEFAULT_STAGE_3_MODEL = "stabilityai/stable-diffusion-x4-upscaler"

DEVICES = ("auto", "cuda", "mps", "cpu")
DTYPES = ("auto", "fp16", "bf16", "fp32")
OFFLOADS = ("auto", "none", "text", "unload", "model", "sequential")
VARIANTS = ("auto", "fp16", "fp32")

Device = Literal["auto", "cuda", "mps", "cpu"]
DType = Literal["auto", "fp16", "bf16", "fp32"]
Offload = Literal["auto", "none", "text", "unload", "model", "sequential"]
Variant = Literal["auto", "fp16", "fp32"]
Flow = Literal["generate", "img2img", "style", "upscale", "inpaint"]
# Flows whose prompt may be empty: variations of an image, upscaling without a caption.
FLOWS_WITHOUT_PROMPT = ("img2img", "upscale")

MAX_SEED = 2**63 - 1
MAX_GUIDANCE_SCALE = 1000
"""IF uses 4 to 10; far above, the arithmetic overflows into NaN and a black picture."""
MAX_NUM_IMAGES = 10_000
"""Images of one prompt in one request; more is a typo or a runaway script (see run limits)."""
# The x4 upscaler's model_index sets max_noise_level 350; IF-II's noising scheduler has 1000.
STAGE_2_MAX_NOISE_LEVEL = 999
STAGE_3_MAX_NOISE_LEVEL = 350


@dataclass(frozen=True)
class StageOptions:
    """Settings of one stage, named like the diffusers pipeline arguments.

    ``steps`` is a step count or the name of one of IF's fast timestep schedules
    (``smart27``, ``smart50`` …), which fixes both the count and the timesteps.
    ``strength`` is set where a stage starts from a given picture (img2img, inpaint,
    style): how much of it is noised away, as in diffusers' image-to-image pipelines.
    """

    model: str
    steps: int | str
    guidance_scale: float
    noise_level: int | None = None
    strength: float | None = None

    def steps_run(self) -> int:
        """Denoising steps this stage really runs (fewer than ``steps`` under a strength)."""
        count = step_count(self.steps)
        if self.strength is None:
            return count
        return min(int(count * self.strength), count)


def default_stage_1() -> StageOptions:
    return StageOptions(model=DEFAULT_STAGE_1_MODEL, steps=100, guidance_scale=7.0)


def default_stage_2() -> StageOptions:
    return StageOptions(model=DEFAULT_STAGE_2_MODEL, steps=50, guidance_scale=4.0, noise_level=250)


def default_stage_3() -> StageOptions:
    # The reference recipe passes noise_level=100 (the pipeline's own default is 20).
    return StageOptions(model=DEFAULT_STAGE_3_MODEL, steps=75, guidance_scale=9.0, noise_level=100)


def flow_defaults(flow: Flow) -> tuple[StageOptions, StageOptions, StageOptions]:
    """Each stage's defaults in a flow: those of the diffusers pipeline that runs it
    (``flows.FLOWS``), over the text-to-image defaults."""
    spec = FLOWS[flow]
    defaults = []
    for number, base in enumerate((default_stage_1(), default_stage_2(), default_stage_3()), 1):
        stage = spec.stage_1 if number == 1 else spec.stage(number)
        changes = {
            name: getattr(stage, name)
            for name in ("steps", "guidance_scale", "noise_level", "strength")
            if stage is not None and getattr(stage, name) is not None
        }
        defaults.append(dataclasses.replace(base, **changes))
    return defaults[0], defaults[1], defaults[2]


@dataclass(frozen=True)
class Placement:
    """Where and how the models run; ``auto`` values are resolved by the memory planner.

    ``max_memory`` caps the bytes the plan may use on the device (on CUDA it is also
    enforced); ``compile`` runs the UNets through ``torch.compile``, which pays a one-off
    compile (cached on disk) to make every later step faster.
    """

    device: Device = "auto"
    dtype: DType = "auto"
    offload: Offload = "auto"
    variant: Variant = "auto"
    max_memory: int | None = None
    compile: bool = False


@dataclass(frozen=True)
class GenerationRequest:
    """One job: every image of every prompt, from ``first_stage`` up to ``last_stage``.

    Images are numbered across prompts; image ``i`` uses seed ``seed + i`` so any one of
    them can be made again alone with that seed and ``num_images=1``.

    ``flow`` says what stage I and II do: ``generate`` (text only), ``img2img`` and
    ``inpaint`` (start from ``init``, stage I and II), ``style`` (repaint ``init`` at
    stage II only) or ``upscale`` (``init`` is the low-resolution input of
    ``first_stage``, 2 or 3).
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
    flow: Flow = "generate"
    first_stage: int = 1
    init: ImageInput | None = None
    # The picture's shape: an aspect ratio ("16:9") or the final size ("1792x1024"); a
    # flow that starts from a picture takes its aspect when neither is given.
    aspect: str | None = None
    size: str | None = None

    def __post_init__(self) -> None:
        """A stage that repaints a picture and has no strength takes the flow's default."""
        if self.flow not in FLOWS:
            return  # validate() says so
        for stage, default in enumerate(flow_defaults(self.flow), start=1):
            options = self.stage_options(stage)
            if options.strength is None and default.strength is not None:
                filled = dataclasses.replace(options, strength=default.strength)
                object.__setattr__(self, f"stage_{stage}", filled)

    def stages(self) -> range:
        """The stages this request runs, in order."""
        return range(self.first_stage, self.last_stage + 1)

    @property
    def uses_text_encoder(self) -> bool:
        """T5 feeds stages I and II; a run of stage III alone needs no T5 at all."""
        return self.first_stage <= 2

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
            "stages": [dataclasses.asdict(self.stage_options(n)) for n in self.stages()],
            "watermark": self.watermark,
            "placement": dataclasses.asdict(self.placement),
            "flow": self.flow,
            "first_stage": self.first_stage,
            "init": self.init.identity() if self.init else None,
            "batch_size": self.batch_size,
        }
        if self.aspect is not None or self.size is not None:  # square runs keep their keys
            settings["shape"] = {"aspect": self.aspect, "size": self.size}
        text = json.dumps(settings, sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(text.encode()).hexdigest()

    def validate(self) -> None:
        """Raise InvalidRequestError for the first bad value; cheap, loads nothing."""
        _validate_prompts(self.prompts, self.negative_prompt, self.flow in FLOWS_WITHOUT_PROMPT)
        _check_int("num_images", self.num_images, minimum=1, maximum=MAX_NUM_IMAGES)
        _check_int("batch_size", self.batch_size, minimum=1, maximum=MAX_NUM_IMAGES)
        _check_int("last_stage", self.last_stage, minimum=1, maximum=3)
        _validate_flow(self)
        if self.seed is not None:
            _check_int("seed", self.seed, minimum=0, maximum=MAX_SEED - self.total_images + 1)
        if self.seeds is not None:
            if len(self.seeds) != len(self.prompts) or self.num_images != 1:
                raise InvalidRequestError("seeds needs one seed per prompt and num_images 1")
            for seed in self.seeds:
                _check_int("seed", seed, minimum=0, maximum=MAX_SEED)
        for stage in self.stages():
            _validate_stage(stage, self.stage_options(stage))
        _validate_placement(self.placement)
        _validate_shape(self)


def _check_int(name: str, value: object, minimum: int, maximum: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadFieldError(name, f"must be a whole number, got {value!r}")
    if value < minimum or (maximum is not None and value > maximum):
        bounds = f"at least {minimum}" if maximum is None else f"from {minimum} to {maximum}"
        raise BadFieldError(name, f"must be {bounds}, got {value}")


def _validate_prompts(
    prompts: tuple[str, ...], negative_prompt: str | None, may_be_empty: bool
) -> None:
    if not prompts:
        raise InvalidRequestError("no prompt given")
    for prompt in prompts:
        if not prompt.strip() and not may_be_empty:
            raise InvalidRequestError("the prompt is empty", hint="describe the image to make")
        check_text("the prompt", prompt)
    if negative_prompt is not None:
        check_text("the negative prompt", negative_prompt)


T5_MAX_TOKENS = 77
MAX_PROMPT_CHARS = 10_000
"""T5 reads 77 tokens (a few hundred characters); far longer text is a mistake, such as a
file's contents passed as the prompt."""
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_UNDECODABLE = re.compile(r"[\ud800-\udfff]")  # bytes that were not UTF-8 (surrogateescape)


def check_text(what: str, text: str) -> None:
    """Text must be text: not too long, UTF-8, no NUL or other control characters."""
    if len(text) > MAX_PROMPT_CHARS:
        raise InvalidRequestError(
            f"{what} is {len(text)} characters; the limit is {MAX_PROMPT_CHARS}",
            hint=f"T5 reads only the first {T5_MAX_TOKENS} tokens",
        )
    if _UNDECODABLE.search(text):
        raise InvalidRequestError(f"{what} is not valid UTF-8 text")
    control = _CONTROL.search(text)
    if control:
        name = "a NUL character" if control.group() == "\x00" else "a control character"
        raise InvalidRequestError(
            f"{what} contains {name} ({control.group()!r} at position {control.start()})"
        )


def _validate_flow(request: GenerationRequest) -> None:
    flow = request.flow
    if flow not in FLOWS:
        raise InvalidRequestError(f"unknown flow {flow!r}")
    if request.first_stage not in FLOWS[flow].first_stages:
        raise InvalidRequestError(f"{flow} cannot start at stage {request.first_stage}")
    if request.last_stage < request.first_stage:
        raise BadFieldError(
            "last_stage",
            f"must be {request.first_stage} or more ({flow} starts at stage "
            f"{request.first_stage}), got {request.last_stage}",
        )
    if (flow == "generate") != (request.init is None):
        raise InvalidRequestError(
            "generate takes no input image" if flow == "generate" else f"{flow} needs an image"
        )
    if (flow == "inpaint") != (request.init is not None and request.init.mask is not None):
        raise InvalidRequestError("inpaint needs a mask" if flow == "inpaint" else "unused mask")


def _validate_strength(prefix: str, options: StageOptions) -> None:
    strength = options.strength
    if strength is None:
        return
    if isinstance(strength, bool) or not isinstance(strength, (int, float)):
        raise BadFieldError(f"{prefix}.strength", f"must be a number, got {strength!r}")
    if not 0 < strength <= 1:
        raise BadFieldError(
            f"{prefix}.strength",
            f"must be more than 0 and at most 1, got {strength}",
            hint="0.1 keeps the picture almost as it is; 1 repaints it completely",
        )
    if options.steps_run() < 1:
        raise BadFieldError(
            f"{prefix}.strength",
            f"{strength} of {options.steps} steps leaves no step to run",
            hint="raise the strength or the steps",
        )


def _validate_stage(stage: int, options: StageOptions) -> None:
    prefix = f"stage_{stage}"
    if not options.model.strip():
        raise BadFieldError(f"{prefix}.model", "is empty")
    steps = options.steps
    if isinstance(steps, str):
        if stage == 3:
            raise BadFieldError(
                f"{prefix}.steps", "must be a number: the x4 upscaler has no named schedules"
            )
        if steps not in SCHEDULE_NAMES:
            raise BadFieldError(
                f"{prefix}.steps",
                f"is not a step count or a schedule: {steps!r}",
                hint="use a step count or one of " + ", ".join(SCHEDULE_NAMES),
            )
    else:
        _check_int(f"{prefix}.steps", steps, minimum=1, maximum=1000)
    _validate_strength(prefix, options)
    guidance = options.guidance_scale
    if not isinstance(guidance, (int, float)) or not 0 <= guidance <= MAX_GUIDANCE_SCALE:
        raise BadFieldError(
            f"{prefix}.guidance_scale",
            f"must be a number from 0 to {MAX_GUIDANCE_SCALE}, got {guidance}",
        )
    if stage == 1:
        return
    maximum = STAGE_2_MAX_NOISE_LEVEL if stage == 2 else STAGE_3_MAX_NOISE_LEVEL
    _check_int(f"{prefix}.noise_level", options.noise_level, minimum=0, maximum=maximum)


def _validate_placement(placement: Placement) -> None:
    for name, value, choices in (
        ("device", placement.device, DEVICES),
        ("dtype", placement.dtype, DTYPES),
        ("offload", placement.offload, OFFLOADS),
        ("variant", placement.variant, VARIANTS),
    ):
        if value not in choices:
            raise BadFieldError(
                f"placement.{name}",
                f"must be one of {', '.join(choices)}, got {value!r}",
            )
    if placement.max_memory is not None:
        _check_int("placement.max_memory", placement.max_memory, minimum=1, maximum=2**62)


def _validate_shape(request: GenerationRequest) -> None:
    """The aspect and size parse, and a picture kept whole is not given another shape
    (whether aspect and size agree depends on the models: see ``sizes.sizes_for``)."""
    aspect = None if request.aspect is None else parse_aspect(request.aspect)
    size = None if request.size is None else parse_size(request.size)
    init = request.init
    if init is not None and init.fit == "keep" and (aspect or size):
        option = "--aspect" if aspect else "--size"
        raise InvalidRequestError(
            f"{option} needs --fit crop, pad or stretch: --fit keep (the default) keeps the "
            "picture's own aspect",
        )
