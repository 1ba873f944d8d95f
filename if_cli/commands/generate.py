"""``if-cli generate PROMPT``: text → 64 → 256 → 1024 px images, paths on stdout."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from if_cli.commands import options as opt
from if_cli.engine.request import GenerationRequest
from if_cli.output.naming import DEFAULT_TEMPLATE


def generate(
    prompt: Annotated[str, typer.Argument(help="What the image should show.", metavar="PROMPT")],
    negative_prompt: opt.NegativePrompt = None,
    seed: opt.Seed = None,
    num_images: opt.NumImages = 1,
    stages: opt.LastStage = 3,
    batch_size: opt.BatchSize = 1,
    steps: opt.Stage1Steps = str(opt.DEFAULTS_1.steps),
    guidance_scale: opt.Stage1Guidance = opt.DEFAULTS_1.guidance_scale,
    stage_2_steps: opt.Stage2Steps = str(opt.DEFAULTS_2.steps),
    stage_2_guidance_scale: opt.Stage2Guidance = opt.DEFAULTS_2.guidance_scale,
    stage_2_noise_level: opt.Stage2NoiseLevel = opt.DEFAULTS_2.noise_level or 0,
    stage_3_steps: opt.Stage3Steps = str(opt.DEFAULTS_3.steps),
    stage_3_guidance_scale: opt.Stage3Guidance = opt.DEFAULTS_3.guidance_scale,
    stage_3_noise_level: opt.Stage3NoiseLevel = opt.DEFAULTS_3.noise_level or 0,
    stage_1_model: opt.Stage1Model = opt.DEFAULT_MODELS[0],
    stage_2_model: opt.Stage2Model = opt.DEFAULT_MODELS[1],
    stage_3_model: opt.Stage3Model = opt.DEFAULT_MODELS[2],
    device: opt.Device = "auto",
    dtype: opt.DType = "auto",
    offload: opt.Offload = "auto",
    variant: opt.Variant = "auto",
    out: opt.OutDir = Path("."),
    name: opt.NameTemplate = DEFAULT_TEMPLATE,
    keep_intermediates: opt.KeepIntermediates = False,
    watermark: opt.Watermark = True,
    dry_run: opt.DryRun = False,
    quiet: opt.Quiet = False,
) -> None:
    """Make images from a text prompt with the IF cascade (64 → 256 → 1024 px).

    Writes NAME.png (with an A1111-style "parameters" text chunk) and NAME.json (every
    setting, seed, model revision and timing) per image, and prints each PNG path.
    """
    request = GenerationRequest(
        prompts=(prompt,),
        negative_prompt=negative_prompt,
        seed=seed,
        num_images=num_images,
        last_stage=stages,
        batch_size=batch_size,
        watermark=watermark,
        keep_intermediates=keep_intermediates,
        stage_1=opt.stage_options(stage_1_model, steps, guidance_scale),
        stage_2=opt.stage_options(
            stage_2_model, stage_2_steps, stage_2_guidance_scale, stage_2_noise_level
        ),
        stage_3=opt.stage_options(
            stage_3_model, stage_3_steps, stage_3_guidance_scale, stage_3_noise_level
        ),
        placement=opt.placement(device, dtype, offload, variant),
    )
    from if_cli.commands.run import run_request

    run_request(request, out=out, name=name, dry_run=dry_run, quiet=quiet, started=time.time())
