"""What an image says about itself: the A1111 ``parameters`` text and the JSON sidecar.

The ``parameters`` PNG text chunk follows the AUTOMATIC1111 convention (prompt, then
``Negative prompt: …``, then one line of ``Key: value`` pairs) so common image viewers
and tools show it. The sidecar holds everything needed to make the image again.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import platform
import re
from dataclasses import dataclass
from datetime import datetime
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

from if_cli import __version__
from if_cli.schema import Maybe, SchemaError, check
from if_cli.untrusted import UnreadableFile, read_json

if TYPE_CHECKING:
    from pathlib import Path

    from if_cli.engine.models import ModelSource
    from if_cli.engine.result import GeneratedImage, GenerationResult


@dataclass(frozen=True)
class ImageLabel:
    """What the run knows about an image beyond the engine: its place and identity."""

    index: int
    name: str | None = None
    fingerprint: str | None = None
    origin: str | None = None
    run: dict[str, Any] | None = None  # a run without --seed: its key and base seed
    cell: dict[str, Any] | None = None  # the values --sweep gave this image


SIDECAR_SCHEMA = 1
MAX_SIDECAR_BYTES = 1024**2
"""A sidecar is a few KiB; a larger file is not one of if-cli's."""
_STAGE_FIELDS = {
    "model": "text",
    "steps": "steps",
    "guidance_scale": "number",
    "noise_level": "whole?",
    "strength": "number?",
}
_MODEL_FIELDS = Maybe({"ref": "text", "path": "text"})
SIDECAR_FIELDS = {
    "schema": "whole",
    "tool": {"name": "text"},
    "image": {
        "prompt": "text",
        "negative_prompt": "text?",
        "seed": "whole",
        "fingerprint": "text?",
        "files": {"image": "text"},
    },
    "request": {
        "negative_prompt": "text?",
        "last_stage": "whole",
        "watermark": "flag",
        "keep_intermediates": "flag",
        "placement": {"variant": "text"},
        "stage_1": _STAGE_FIELDS,
        "stage_2": _STAGE_FIELDS,
        "stage_3": _STAGE_FIELDS,
        "flow": "text?",
        "first_stage": "whole?",
        "init": Maybe({"source": "text", "mask": "text?", "fit": "text", "sha256": "text"}),
        "aspect": "text?",
        "size": "text?",
    },
    "models": {"stage_1": _MODEL_FIELDS, "stage_2": _MODEL_FIELDS, "stage_3": _MODEL_FIELDS},
    "runtime": {"device": "text", "dtype": "text"},
}
"""What replay and upscale read back from a sidecar, and the type each value must have."""
LIBRARIES = (
    "torch",
    "diffusers",
    "transformers",
    "accelerate",
    "huggingface_hub",
    "safetensors",
    "pillow",
)
SAMPLERS = {1: "DDPM", 2: "DDPM", 3: "DDIM"}
"""The schedulers of the published repos, where a model's own config cannot be read."""
SAMPLER_NAMES: dict[str | tuple[str, str], str] = {
    # diffusers scheduler class (and DPM-Solver algorithm) → the name A1111 readers know
    "DDPMScheduler": "DDPM",
    "DDIMScheduler": "DDIM",
    "PNDMScheduler": "PLMS",
    "EulerDiscreteScheduler": "Euler",
    "EulerAncestralDiscreteScheduler": "Euler a",
    "HeunDiscreteScheduler": "Heun",
    "LMSDiscreteScheduler": "LMS",
    "UniPCMultistepScheduler": "UniPC",
    ("DPMSolverMultistepScheduler", "dpmsolver++"): "DPM++ 2M",
    ("DPMSolverMultistepScheduler", "dpmsolver"): "DPM2",
    ("DPMSolverMultistepScheduler", "sde-dpmsolver++"): "DPM++ 2M SDE",
}
_NEEDS_QUOTES = re.compile(r"[,:\n]")
# Every character some reader splits lines at (A1111 splits at \n, others use splitlines).
_LINE_BREAKS = re.compile(r"\s*[\n\r\v\f\x1c-\x1e\x85\u2028\u2029]+\s*")


NEGATIVE_LABEL = "Negative prompt:"
WORD_JOINER = "\u2060"


def one_line(text: str) -> str:
    """Text on one line, so a prompt cannot start a line of its own in the chunk.

    A1111 readers take a line that starts with ``Negative prompt:`` as the negative
    prompt and the last line as the settings; a prompt with line breaks could forge
    both. T5 reads a line break as a space, and the sidecar keeps the exact text.
    """
    return _LINE_BREAKS.sub(" ", text)


def _prompt_line(prompt: str) -> str:
    """The prompt's line: one line, and never read as the negative prompt's label.

    A prompt that itself begins with ``Negative prompt:`` gets an invisible word joiner
    (U+2060) in front, the one change that keeps A1111 readers from taking it as the
    negative prompt while it reads the same.
    """
    line = one_line(prompt)
    return WORD_JOINER + line if line.lstrip().startswith(NEGATIVE_LABEL) else line


def _quote(value: object) -> str:
    text = str(value)
    return json.dumps(text) if _NEEDS_QUOTES.search(text) else text


def sampler_name(source: ModelSource, stage: int) -> str:
    """The sampler that really ran for a stage: its model's scheduler, by A1111's name."""
    path = getattr(source, "path", None)
    return SAMPLERS[stage] if path is None else folder_sampler_name(path, stage)


def folder_sampler_name(folder: Path, stage: int) -> str:
    """The A1111 name of the scheduler of the model in ``folder`` (a stage's usual one
    where the folder has none)."""
    try:
        config = read_json(folder / "scheduler" / "scheduler_config.json", 1024**2)
        kind = config["_class_name"]
        algorithm = config.get("algorithm_type", "dpmsolver++")
    except (UnreadableFile, KeyError, TypeError, AttributeError):
        return SAMPLERS[stage]
    named = SAMPLER_NAMES.get((kind, algorithm)) or SAMPLER_NAMES.get(kind)
    return named if isinstance(named, str) else str(kind).removesuffix("Scheduler")


def _model_name(source: ModelSource) -> str:
    return source.repo_id or source.path.name


def a1111_parameters(result: GenerationResult, image: GeneratedImage, size: tuple[int, int]) -> str:
    """The ``parameters`` text of one picture of ``size`` (the final or an intermediate).

    The first stage that ran fills A1111's own keys (Steps, Sampler, CFG scale, Model,
    and Denoising strength where it starts from a picture); later stages add theirs.
    """
    request = result.request
    first, *later = request.stages()
    options = request.stage_options(first)
    pairs: list[tuple[str, object]] = [
        ("Steps", options.steps),
        ("Sampler", sampler_name(result.models[f"stage_{first}"], first)),
        ("CFG scale", options.guidance_scale),
        ("Seed", image.seed),
        ("Size", f"{size[0]}x{size[1]}"),
        ("Model", _model_name(result.models[f"stage_{first}"])),
    ]
    if options.strength is not None:
        pairs.append(("Denoising strength", options.strength))
    if request.flow != "generate":
        pairs.append(("Mode", request.flow))
    for stage in later:
        options = request.stage_options(stage)
        pairs += [
            (f"Stage {stage} model", _model_name(result.models[f"stage_{stage}"])),
            (f"Stage {stage} steps", options.steps),
            (f"Stage {stage} CFG scale", options.guidance_scale),
            (f"Stage {stage} noise level", options.noise_level),
        ]
        if options.strength is not None:
            pairs.append((f"Stage {stage} strength", options.strength))
    pairs.append(("Version", f"if-cli {__version__}"))
    lines = [_prompt_line(image.prompt)]
    if request.negative_prompt:
        lines.append(f"{NEGATIVE_LABEL} {one_line(request.negative_prompt)}")
    lines.append(", ".join(f"{key}: {_quote(value)}" for key, value in pairs))
    return "\n".join(lines)


def read_sidecar(path: Path) -> dict[str, Any]:
    """A sidecar, checked field by field before any value is used.

    Raises ``UnreadableFile`` (not a regular file, too large, not JSON) or
    ``SchemaError`` (a field missing or of the wrong type; also another tool's JSON).
    """
    return checked_sidecar(read_json(path, MAX_SIDECAR_BYTES))


def claims_if_cli(data: Any) -> bool:
    """Whether parsed JSON says it is an if-cli sidecar (another tool's JSON is not)."""
    tool = data.get("tool") if isinstance(data, dict) else None
    return isinstance(tool, dict) and tool.get("name") == "if-cli"


def checked_sidecar(data: Any) -> dict[str, Any]:
    """``data`` once every field replay and upscale use has its type (else SchemaError)."""
    check(data, SIDECAR_FIELDS)
    if not claims_if_cli(data) or data["schema"] != SIDECAR_SCHEMA:
        raise SchemaError(
            f"written by {data['tool']['name']!r} with schema {data['schema']}, "
            f"not by if-cli with schema {SIDECAR_SCHEMA}"
        )
    return data


def library_versions() -> dict[str, str | None]:
    return dict(_library_versions())


@functools.cache
def _library_versions() -> dict[str, str | None]:
    """The versions of what made an image (read once: a worker's client asks twice)."""
    found: dict[str, str | None] = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = None
    return found


def sidecar(
    result: GenerationResult,
    image: GeneratedImage,
    label: ImageLabel,
    files: dict[str, str],
    created: datetime,
) -> dict[str, Any]:
    """Everything needed to reproduce one image, as JSON-ready data."""
    request = result.request
    plan = result.plan
    runtime: dict[str, Any] = {
        "device": plan.device,
        "dtype": plan.dtype,
        "offload": plan.offload,
        "offload_reason": plan.reason,
        "versions": library_versions(),
    }
    if result.worker is not None:  # made by `if-cli serve`, written by the command
        runtime["worker"] = result.worker
    fields = dataclasses.asdict(dataclasses.replace(request, init=None))
    fields["prompts"] = list(request.prompts)
    fields["init"] = request.init.describe() if request.init else None
    return {
        "schema": SIDECAR_SCHEMA,
        "tool": {"name": "if-cli", "version": __version__},
        "created": created.isoformat(timespec="seconds"),
        "image": {
            "index": label.index,
            "name": label.name,
            "origin": label.origin,
            "fingerprint": label.fingerprint,
            "run": label.run,
            "cell": label.cell,
            "prompt": image.prompt,
            "negative_prompt": request.negative_prompt,
            "seed": image.seed,
            "width": image.image.width,
            "height": image.image.height,
            "stage_sizes": {  # what each stage made: [width, height]
                f"stage_{n}": size.as_list()
                for n, size in result.sizes.items()
                if n in request.stages()
            },
            "files": files,
        },
        "request": fields,
        "models": {
            key: {
                "ref": source.ref,
                "repo_id": source.repo_id,
                "revision": source.revision,
                "path": str(source.path),
                "variants": {s.key: s.variant for s in plan.stages if s.source == source},
            }
            for key, source in result.models.items()
        },
        "runtime": runtime,
        "timings_s": {  # this image's share (see GeneratedImage.timings)
            key: {"load": round(t.load_s, 4), "run": round(t.run_s, 4)}
            for key, t in image.timings.items()
        },
    }
