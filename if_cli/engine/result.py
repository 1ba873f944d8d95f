"""What a finished generation hands back: images, seeds, models, plan and timings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from PIL.Image import Image

    from if_cli.engine.memory import Plan
    from if_cli.engine.models import ModelSource
    from if_cli.engine.request import GenerationRequest
    from if_cli.engine.sizes import Size


@dataclass
class StageTiming:
    """Seconds spent loading and running one phase (for all images of the request)."""

    load_s: float = 0.0
    run_s: float = 0.0


@dataclass
class GeneratedImage:
    """One finished image; ``intermediates`` maps stage number → that stage's output."""

    index: int
    prompt: str
    seed: int
    image: Image
    intermediates: dict[int, Image] = field(default_factory=dict)
    timings: dict[str, StageTiming] = field(default_factory=dict)
    """What this image cost, by phase: its share of loading each model (split over the
    request's images) and of running the batch that made it (split over the batch)."""


@dataclass
class GenerationResult:
    request: GenerationRequest
    plan: Plan
    models: dict[str, ModelSource]
    images: list[GeneratedImage]
    timings: dict[str, StageTiming]
    sizes: dict[int, Size] = field(default_factory=dict)  # each stage's output size
    worker: dict[str, Any] | None = None  # the worker that ran it (if-cli serve), if any
