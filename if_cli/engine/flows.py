"""What each flow runs at each stage: the diffusers pipeline and its picture arguments.

The weights a stage loads do not depend on the flow: an IF-I repo serves IFPipeline,
IFImg2ImgPipeline and IFInpaintingPipeline alike. So a stage is loaded (or kept
resident) once, and each call wraps the same components in the pipeline class the flow
needs; see ``loading.for_flow``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from if_cli.engine.request import GenerationRequest

STAGE_3_PIPELINE = "StableDiffusionUpscalePipeline"
PIPELINES: dict[tuple[str, int], str] = {
    ("generate", 1): "IFPipeline",
    ("generate", 2): "IFSuperResolutionPipeline",
    ("img2img", 1): "IFImg2ImgPipeline",
    ("img2img", 2): "IFImg2ImgSuperResolutionPipeline",
    ("inpaint", 1): "IFInpaintingPipeline",
    ("inpaint", 2): "IFInpaintingSuperResolutionPipeline",
    ("style", 2): "IFImg2ImgSuperResolutionPipeline",
    ("upscale", 2): "IFSuperResolutionPipeline",
}
# The side of the low-resolution picture each upscaling stage takes: IF's stage II turns
# 64 px into 256 px, the x4 upscaler 256 px into 1024 px.
LOW_RES_SIDE = {2: 64, 3: 256}
SR_FACTOR = 4  # IF-II and the x4 upscaler both make pictures four times as wide
# Flows whose stage II starts from the input picture itself (``original_image``).
_REPAINTS_AT_STAGE_2 = ("img2img", "inpaint", "style")


def pipeline_name(flow: str, stage: int) -> str:
    """The diffusers pipeline class that runs ``stage`` of ``flow``."""
    return STAGE_3_PIPELINE if stage == 3 else PIPELINES[(flow, stage)]


def low_res_side(stage: int, sample_size: int) -> int:
    """The side of the picture ``stage`` upscales, given its UNet's ``sample_size``.

    A quarter of stage II's output (64 px for IF-II's 256, 32 px for the demo's 128);
    the x4 upscaler's UNet works on latents, so its input side is IF's 256 px.
    """
    return sample_size // SR_FACTOR if stage == 2 else LOW_RES_SIDE[3]


def picture_arguments(
    request: GenerationRequest, stage: int, previous: Any | None, count: int, side: int
) -> dict[str, Any]:
    """The picture arguments of a batch of ``count`` images at ``stage``.

    ``previous`` is the batch's output of the stage before (a tensor in [-1, 1]), or None
    where this stage is the first: then the input picture, shrunk to ``side``, takes its
    place.
    """
    init = request.init
    options = request.stage_options(stage)
    arguments: dict[str, Any] = {}
    if stage == 1:
        if init is not None:
            arguments["image"] = [init.image] * count
            arguments["strength"] = options.strength
            if init.mask is not None:
                arguments["mask_image"] = [init.mask] * count
        return arguments
    if previous is None:
        if init is None:
            raise ValueError(f"stage {stage} needs the stage before it or an input picture")
        previous = [init.square(side)] * count
    arguments["image"] = previous
    arguments["noise_level"] = options.noise_level
    if stage == 2 and request.flow in _REPAINTS_AT_STAGE_2 and init is not None:
        arguments["original_image"] = [init.image] * count
        arguments["strength"] = options.strength
        if init.mask is not None:
            arguments["mask_image"] = [init.mask] * count
    return arguments
