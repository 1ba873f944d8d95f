"""``if-cli generate PROMPT`` or ``--prompts FILE``: images through the IF cascade."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import typer

from if_cli.commands import options as opt
from if_cli.engine.request import GenerationRequest
from if_cli.errors import InvalidRequestError
from if_cli.output.naming import DEFAULT_TEMPLATE

BATCH_PANEL = "Batch and scripting"


def request_from_options(o: Mapping[str, Any]) -> GenerationRequest:
    """One request from option values (command line, config, or a prompt-file line)."""
    return GenerationRequest(
        prompts=(o["prompt"],),
        negative_prompt=o.get("negative_prompt"),
        seed=o.get("seed"),
        num_images=o["num_images"],
        last_stage=o["stages"],
        batch_size=o["batch_size"],
        watermark=o["watermark"],
        keep_intermediates=o["keep_intermediates"],
        stage_1=opt.stage_options(o["stage_1_model"], o["steps"], o["guidance_scale"]),
        stage_2=opt.stage_options(
            o["stage_2_model"],
            o["stage_2_steps"],
            o["stage_2_guidance_scale"],
            o["stage_2_noise_level"],
        ),
        stage_3=opt.stage_options(
            o["stage_3_model"],
            o["stage_3_steps"],
            o["stage_3_guidance_scale"],
            o["stage_3_noise_level"],
        ),
        placement=opt.placement(o["device"], o["dtype"], o["offload"], o["variant"]),
    )


def generate(
    prompt: Annotated[
        str | None,
        typer.Argument(
            help="What the image should show (or use --prompts).",
            metavar="PROMPT",
            show_default=False,
        ),
    ] = None,
    prompts: Annotated[
        str | None,
        typer.Option(
            "--prompts",
            help="A file of prompts, - for stdin: one a line (blank "
            "lines and # comments skipped), or JSON Lines whose objects set "
            '"prompt" and any per-image option.',
            rich_help_panel=BATCH_PANEL,
            show_default=False,
        ),
    ] = None,
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
    json_output: Annotated[
        bool,
        typer.Option(
            "--json",
            help="One JSON object per written image on stdout "
            "(path, sidecar, prompt, seed, size, timings) instead of paths.",
            rich_help_panel=BATCH_PANEL,
        ),
    ] = False,
    keep_going: Annotated[
        bool,
        typer.Option(
            "--keep-going",
            help="Go on after a chunk fails (out of memory, a missing model); exit 10 at the end.",
            rich_help_panel=BATCH_PANEL,
        ),
    ] = False,
    overwrite: Annotated[
        bool,
        typer.Option(
            "--overwrite",
            help="Make images again even when the output "
            "folder already has them (new files; nothing is replaced).",
            rich_help_panel=BATCH_PANEL,
        ),
    ] = False,
    chunk_size: Annotated[
        int,
        typer.Option(
            "--chunk-size",
            help="Images per chunk: T5, then stage I, II, III "
            "for the whole chunk, each model loaded once per chunk.",
            rich_help_panel=BATCH_PANEL,
        ),
    ] = 16,
    embedding_cache: Annotated[
        bool,
        typer.Option(
            "--embedding-cache/--no-embedding-cache",
            help="Reuse T5 embeddings of prompts seen before (a cached prompt never loads T5).",
            rich_help_panel=BATCH_PANEL,
        ),
    ] = True,
    embedding_cache_gib: Annotated[
        float,
        typer.Option(
            "--embedding-cache-gib",
            help="Size cap of the embedding cache; least recently used entries go first.",
            rich_help_panel=BATCH_PANEL,
        ),
    ] = 2.0,
    dry_run: opt.DryRun = False,
    quiet: opt.Quiet = False,
) -> None:
    """Make images from text with the IF cascade (64 → 256 → 1024 px).

    Writes NAME.png (with an A1111-style "parameters" text chunk) and NAME.json (every
    setting, seed, model revision and timing) per image, and prints each PNG path.
    Images already in the output folder for the same settings are skipped, so an
    interrupted run can simply be run again.
    """
    from if_cli.commands.batch import plan_jobs
    from if_cli.commands.prompt_file import ARGUMENT, PromptItem, read_prompt_file
    from if_cli.commands.run import RunOptions, run_jobs

    if (prompt is None) == (prompts is None):
        raise InvalidRequestError("give either a PROMPT or --prompts FILE")
    if chunk_size < 1 or embedding_cache_gib < 0:
        raise InvalidRequestError(
            "--chunk-size must be at least 1 and --embedding-cache-gib 0 or more"
        )
    values = dict(locals())
    items = [PromptItem(ARGUMENT, 0, prompt)] if prompt is not None else read_prompt_file(prompts)  # type: ignore[arg-type]
    jobs = plan_jobs(items, values, request_from_options)
    run_jobs(
        jobs,
        RunOptions(
            out=out,
            name=name,
            dry_run=dry_run,
            quiet=quiet,
            json_output=json_output,
            keep_going=keep_going,
            overwrite=overwrite,
            chunk_size=chunk_size,
            embedding_cache=embedding_cache,
            embedding_cache_gib=embedding_cache_gib,
        ),
    )
