"""What an image says about itself: the A1111 ``parameters`` text and the JSON sidecar.

The ``parameters`` PNG text chunk follows the AUTOMATIC1111 convention (prompt, then
``Negative prompt: …``, then one line of ``Key: value`` pairs) so common image viewers
and tools show it. The sidecar holds everything needed to make the image again.
"""

from __future__ import annotations

import dataclasses
import json
import platform
import re
from dataclasses import dataclass
from datetime import datetime
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

from if_cli import __version__

if TYPE_CHECKING:
    from if_cli.engine.models import ModelSource
    from if_cli.engine.result import GeneratedImage, GenerationResult


@dataclass(frozen=True)
class ImageLabel:
    """What the run knows about an image beyond the engine: its place and identity."""

    index: int
    name: str | None = None
    fingerprint: str | None = None
    origin: str | None = None


SIDECAR_SCHEMA = 1
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
_NEEDS_QUOTES = re.compile(r"[,:\n]")


def _quote(value: object) -> str:
    text = str(value)
    return json.dumps(text) if _NEEDS_QUOTES.search(text) else text


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
        ("Sampler", SAMPLERS[first]),
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
    lines = [image.prompt]
    if request.negative_prompt:
        lines.append(f"Negative prompt: {request.negative_prompt}")
    lines.append(", ".join(f"{key}: {_quote(value)}" for key, value in pairs))
    return "\n".join(lines)


def library_versions() -> dict[str, str | None]:
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
            "prompt": image.prompt,
            "negative_prompt": request.negative_prompt,
            "seed": image.seed,
            "width": image.image.width,
            "height": image.image.height,
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
        "runtime": {
            "device": plan.device,
            "dtype": plan.dtype,
            "offload": plan.offload,
            "offload_reason": plan.reason,
            "versions": library_versions(),
        },
        "timings_s": {
            key: {"load": round(t.load_s, 4), "run": round(t.run_s, 4)}
            for key, t in result.timings.items()
        },
    }
