"""Every flow at a glance: where it starts, what runs at each stage, and with what defaults.

The weights a stage loads do not depend on the flow: an IF-I repo serves IFPipeline,
IFImg2ImgPipeline and IFInpaintingPipeline alike. So a stage is loaded (or kept
resident) once, and each call wraps the same components in the pipeline class the flow
needs; see ``loading.for_flow``.

This module imports nothing heavy; the request's validation reads the table too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from if_cli.engine.request import GenerationRequest
    from if_cli.engine.sizes import Size


@dataclass(frozen=True)
class FlowStage:
    """What one stage of a flow runs, and the defaults its diffusers pipeline has where
    they differ from the text-to-image ones (``None``: the same).

    A stage with a ``strength`` repaints the input picture: it starts from it, noised by
    the strength, instead of from pure noise.
    """

    pipeline: str
    steps: int | None = None
    guidance_scale: float | None = None
    noise_level: int | None = None
    strength: float | None = None

    @property
    def repaints(self) -> bool:
        return self.strength is not None


@dataclass(frozen=True)
class FlowSpec:
    """A flow: the stages it may start at, and stage I's and II's pipelines."""

    first_stages: tuple[int, ...]
    stage_1: FlowStage | None  # None where the flow never runs stage I
    stage_2: FlowStage

    def stage(self, number: int) -> FlowStage:
        if number == 3:
            return STAGE_3
        found = self.stage_1 if number == 1 else self.stage_2
        if found is None:
            raise ValueError(f"this flow has no stage {number}")
        return found


STAGE_3 = FlowStage("StableDiffusionUpscalePipeline")  # the same x4 upscaler in every flow
FLOWS: dict[str, FlowSpec] = {
    "generate": FlowSpec(
        first_stages=(1,),
        stage_1=FlowStage("IFPipeline"),
        stage_2=FlowStage("IFSuperResolutionPipeline"),
    ),
    "img2img": FlowSpec(
        first_stages=(1,),
        stage_1=FlowStage("IFImg2ImgPipeline", steps=80, guidance_scale=10.0, strength=0.7),
        stage_2=FlowStage("IFImg2ImgSuperResolutionPipeline", strength=0.8),
    ),
    "inpaint": FlowSpec(
        first_stages=(1,),
        stage_1=FlowStage("IFInpaintingPipeline", steps=50, strength=1.0),
        stage_2=FlowStage(
            "IFInpaintingSuperResolutionPipeline", steps=100, noise_level=0, strength=0.8
        ),
    ),
    "style": FlowSpec(  # stage II repaints the picture itself after the new prompt
        first_stages=(2,),
        stage_1=None,
        stage_2=FlowStage("IFImg2ImgSuperResolutionPipeline", strength=0.8),
    ),
    "upscale": FlowSpec(  # the picture is stage II's or stage III's low-resolution input
        first_stages=(2, 3),
        stage_1=None,
        stage_2=FlowStage("IFSuperResolutionPipeline"),
    ),
}
# The side of the low-resolution picture each upscaling stage takes in IF: stage II turns
# 64 px into 256 px, the x4 upscaler 256 px into 1024 px.
LOW_RES_SIDE = {2: 64, 3: 256}


def pipeline_name(flow: str, stage: int) -> str:
    """The diffusers pipeline class that runs ``stage`` of ``flow``."""
    return FLOWS[flow].stage(stage).pipeline


def picture_arguments(
    request: GenerationRequest,
    stage: int,
    previous: Any | None,
    count: int,
    sizes: dict[int, Size],
) -> dict[str, Any]:
    """The picture arguments of a batch of ``count`` images at ``stage``.

    ``previous`` is the batch's output of the stage before (a tensor in [-1, 1]), or None
    where this stage is the first: then the input picture, at the size of the stage
    before, takes its place. ``sizes`` holds each stage's output size; a picture a stage
    repaints is handed over at that size, so the pipeline's own resize keeps it as it is
    and every stage stays exactly four times the one before.
    """
    init = request.init
    options = request.stage_options(stage)
    repaints = stage < 3 and FLOWS[request.flow].stage(stage).repaints
    arguments: dict[str, Any] = {}
    if stage == 1:
        if init is not None:
            arguments["image"] = [init.resized(sizes[1])] * count
            arguments["strength"] = options.strength
            if init.mask is not None:
                arguments["mask_image"] = [init.mask_resized(sizes[1])] * count
        return arguments
    if previous is None:
        if init is None:
            raise ValueError(f"stage {stage} needs the stage before it or an input picture")
        previous = [init.resized(sizes[stage - 1])] * count
    arguments["image"] = previous
    arguments["noise_level"] = options.noise_level
    if repaints and init is not None:
        arguments["original_image"] = [init.resized(sizes[stage])] * count
        arguments["strength"] = options.strength
        if init.mask is not None:
            arguments["mask_image"] = [init.mask_resized(sizes[stage])] * count
    return arguments
