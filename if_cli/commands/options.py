"""Option definitions shared by every command that runs the cascade.

Commands declare their parameters with these aliases (most of them through
``cascade_options``) so that names, help texts and choices are written once.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from if_cli.engine import image_input
from if_cli.engine import request as req
from if_cli.engine.catalog import MODEL_ALIASES, PRESETS
from if_cli.engine.request import (
    DEFAULT_STAGE_1_MODEL,
    DEFAULT_STAGE_2_MODEL,
    DEFAULT_STAGE_3_MODEL,
    Placement,
)
from if_cli.engine.schedules import SCHEDULE_NAMES
from if_cli.errors import InvalidRequestError
from if_cli.output.naming import TEMPLATE_FIELDS
from if_cli.units import parse_bytes

PROMPT_PANEL = "Prompt and seed"
PICTURE_PANEL = "Picture"
STAGES_PANEL = "Stages"
MODELS_PANEL = "Models"
PLACEMENT_PANEL = "Device and memory"
OUTPUT_PANEL = "Output"


def complete_schedules(incomplete: str) -> list[tuple[str, str]]:
    """Shell completion for ``--steps``: IF's named schedules (a number is typed freely)."""
    return [
        (name, "IF fast timestep schedule")
        for name in SCHEDULE_NAMES
        if name.startswith(incomplete)
    ]


def complete_models(incomplete: str) -> list[tuple[str, str]]:
    """Shell completion for model arguments: the short names of the published models."""
    return [(alias, repo) for alias, repo in MODEL_ALIASES.items() if alias.startswith(incomplete)]


def complete_stages(incomplete: str) -> list[tuple[str, str]]:
    """Shell completion for ``--stages``: the last stage and the size it makes."""
    sizes = {"1": "64 px", "2": "256 px", "3": "1024 px"}
    return [(n, size) for n, size in sizes.items() if n.startswith(incomplete)]


_STEPS_HELP = "denoising steps: a count, or a fast schedule (" + ", ".join(SCHEDULE_NAMES) + ")."

NegativePrompt = Annotated[
    str | None,
    typer.Option(
        "--negative-prompt",
        "-n",
        help="What the image should not show.",
        rich_help_panel=PROMPT_PANEL,
    ),
]
Seed = Annotated[
    str | None,
    typer.Option(
        "--seed",
        "-s",
        help="Seed of the first image (image i uses seed + i), or a list 1,5,9 or range "
        "10-17 that every prompt gets. Random when not given, and kept in the sidecars: "
        "the same command resumes.",
        metavar="SEED",
        rich_help_panel=PROMPT_PANEL,
    ),
]
NumImages = Annotated[
    int, typer.Option("--num-images", help="Images to make.", rich_help_panel=PROMPT_PANEL)
]
LastStage = Annotated[
    int,
    typer.Option(
        "--stages",
        help="Run stages 1 to N: 1 → 64 px, 2 → 256 px, 3 → 1024 px.",
        autocompletion=complete_stages,
        rich_help_panel=STAGES_PANEL,
    ),
]
BatchSize = Annotated[
    int,
    typer.Option(
        "--batch-size",
        help="Images per denoising batch. 1 keeps every image "
        "bit-identical to making it alone; more is faster on a GPU.",
        rich_help_panel=STAGES_PANEL,
    ),
]
Stage1Steps = Annotated[
    str,
    typer.Option(
        "--steps",
        "--stage-1-steps",
        help="Stage I " + _STEPS_HELP,
        rich_help_panel=STAGES_PANEL,
        autocompletion=complete_schedules,
    ),
]
Stage1Guidance = Annotated[
    float,
    typer.Option(
        "--guidance-scale",
        "--stage-1-guidance-scale",
        help="Stage I classifier-free guidance scale.",
        rich_help_panel=STAGES_PANEL,
    ),
]
Stage2Steps = Annotated[
    str,
    typer.Option(
        "--stage-2-steps",
        help="Stage II " + _STEPS_HELP,
        rich_help_panel=STAGES_PANEL,
        autocompletion=complete_schedules,
    ),
]
Stage2Guidance = Annotated[
    float,
    typer.Option(
        "--stage-2-guidance-scale", help="Stage II guidance scale.", rich_help_panel=STAGES_PANEL
    ),
]
Stage2NoiseLevel = Annotated[
    int,
    typer.Option(
        "--stage-2-noise-level",
        "--noise-level",
        help="Noise added to the 64 px image before stage II (0–999).",
        rich_help_panel=STAGES_PANEL,
    ),
]
Stage3Steps = Annotated[
    str,
    typer.Option(
        "--stage-3-steps", help="Stage III denoising steps (a count).", rich_help_panel=STAGES_PANEL
    ),
]
Stage3Guidance = Annotated[
    float,
    typer.Option(
        "--stage-3-guidance-scale", help="Stage III guidance scale.", rich_help_panel=STAGES_PANEL
    ),
]
Stage3NoiseLevel = Annotated[
    int,
    typer.Option(
        "--stage-3-noise-level",
        help="Noise added to the 256 px image before stage III (0–350).",
        rich_help_panel=STAGES_PANEL,
    ),
]
ModelPreset = Annotated[
    Literal["if", "demo"],
    typer.Option(
        "--model",
        help="Cascade to run: "
        + "; or ".join(f"{name}, {preset.description}" for name, preset in PRESETS.items())
        + ". It sets the stage models, --stages, steps, guidance and watermark you leave "
        "unset.",
        rich_help_panel=MODELS_PANEL,
    ),
]
Stage1Model = Annotated[
    str,
    typer.Option(
        "--stage-1-model",
        autocompletion=complete_models,
        help="Stage I (and T5 text encoder) model: a hub id "
        "in the Hugging Face cache or a local folder.",
        rich_help_panel=MODELS_PANEL,
    ),
]
Stage2Model = Annotated[
    str,
    typer.Option(
        "--stage-2-model",
        help="Stage II model: hub id or folder.",
        rich_help_panel=MODELS_PANEL,
        autocompletion=complete_models,
    ),
]
Stage3Model = Annotated[
    str,
    typer.Option(
        "--stage-3-model",
        autocompletion=complete_models,
        help="Stage III (x4 upscaler) model: hub id or folder.",
        rich_help_panel=MODELS_PANEL,
    ),
]
Device = Annotated[
    req.Device,
    typer.Option(
        "--device",
        help="Where to run; auto prefers CUDA, then MPS, then the CPU.",
        rich_help_panel=PLACEMENT_PANEL,
    ),
]
DType = Annotated[
    req.DType,
    typer.Option(
        "--dtype",
        help="Compute precision; auto is fp16 on CUDA, fp32 elsewhere.",
        rich_help_panel=PLACEMENT_PANEL,
    ),
]
Offload = Annotated[
    req.Offload,
    typer.Option(
        "--offload",
        help="What stays on the device: none (all resident), text (free T5 once the "
        "prompts are encoded, keep stages I–III), unload (free each stage after use), "
        "model / sequential (accelerate CPU offload); auto picks the fastest that fits.",
        rich_help_panel=PLACEMENT_PANEL,
    ),
]
MaxGpuMemory = Annotated[
    str | None,
    typer.Option(
        "--max-gpu-memory",
        metavar="SIZE",
        help="Use at most this much device memory (24GiB, 16GB …): the plan keeps to it "
        "and, on CUDA, the allocator enforces it. Default: whatever is free.",
        show_default=False,
        rich_help_panel=PLACEMENT_PANEL,
    ),
]
Compile = Annotated[
    bool,
    typer.Option(
        "--compile",
        help="torch.compile the UNets: the first run compiles (minutes; cached on disk), "
        "later steps run faster. Worth it for long or repeated runs.",
        rich_help_panel=PLACEMENT_PANEL,
    ),
]
Variant = Annotated[
    req.Variant,
    typer.Option(
        "--variant",
        help="Which weight files to load; auto takes fp16 files for fp16/bf16 "
        "and full-precision files for fp32, falling back to what is there.",
        rich_help_panel=PLACEMENT_PANEL,
    ),
]
OutDir = Annotated[
    Path,
    typer.Option(
        "--out",
        "-o",
        help="Folder for the images (created if missing).",
        rich_help_panel=OUTPUT_PANEL,
    ),
]
NameTemplate = Annotated[
    str,
    typer.Option(
        "--name",
        help="File name template; fields: "
        + ", ".join(f"{{{f}}}" for f in TEMPLATE_FIELDS)
        + ". An existing file is never overwritten: -2, -3 … is added.",
        rich_help_panel=OUTPUT_PANEL,
    ),
]
KeepIntermediates = Annotated[
    bool,
    typer.Option(
        "--keep-intermediates",
        help="Also save the 64 px and 256 px images.",
        rich_help_panel=OUTPUT_PANEL,
    ),
]
Watermark = Annotated[
    bool,
    typer.Option(
        "--watermark/--no-watermark",
        help="Stamp IF's watermark on the final image, as the reference pipelines do.",
        rich_help_panel=OUTPUT_PANEL,
    ),
]
Worker = Annotated[
    str,
    typer.Option(
        "--worker",
        metavar="auto|off|ADDRESS",
        help="Run on a warm worker (if-cli serve): auto uses yours when one runs, else runs "
        "here; off never does; or a socket path or http://HOST:PORT (key in IF_CLI_API_KEY).",
        rich_help_panel=PLACEMENT_PANEL,
    ),
]
DryRun = Annotated[
    bool,
    typer.Option(
        "--dry-run",
        help="Print the plan (models, sizes, what is resident "
        "when, peak memory) and exit without loading any weights.",
        rich_help_panel=OUTPUT_PANEL,
    ),
]
Quiet = Annotated[
    bool,
    typer.Option(
        "--quiet",
        "-q",
        help="No progress on stderr (warnings still show).",
        rich_help_panel=OUTPUT_PANEL,
    ),
]


def _strength(*flags: str, stage: str) -> object:
    return Annotated[
        float,
        typer.Option(
            *flags,
            help=f"How much of the picture {stage} repaints: a little above 0 keeps it "
            "almost as it is, 1 starts from pure noise.",
            rich_help_panel=PICTURE_PANEL,
        ),
    ]


Stage1Strength = _strength("--strength", "--stage-1-strength", stage="stage I")
Stage2Strength = _strength("--stage-2-strength", stage="stage II")
Stage2MainStrength = _strength("--strength", "--stage-2-strength", stage="stage II")
STEPS = {1: Stage1Steps, 2: Stage2Steps, 3: Stage3Steps}
GUIDANCE = {1: Stage1Guidance, 2: Stage2Guidance, 3: Stage3Guidance}
NOISE = {2: Stage2NoiseLevel, 3: Stage3NoiseLevel}
# ``--strength`` names the stage that repaints first; a later one is ``--stage-N-strength``.
MAIN_STRENGTH = {1: Stage1Strength, 2: Stage2MainStrength}
STRENGTH = {2: Stage2Strength}

JsonOutput = Annotated[
    bool,
    typer.Option(
        "--json",
        help="One JSON object per image on stdout instead of its path: files, prompt, "
        'seed, size, timings, and "skipped": true for one the folder already had.',
        rich_help_panel=OUTPUT_PANEL,
    ),
]
Overwrite = Annotated[
    bool,
    typer.Option(
        "--overwrite",
        help="Make images again even when the output "
        "folder already has them (new files; nothing is replaced).",
        rich_help_panel=OUTPUT_PANEL,
    ),
]
Metadata = Annotated[
    bool,
    typer.Option(
        "--metadata/--no-metadata",
        help="Record the prompt and settings in a JSON sidecar and the PNG's text chunk. "
        "--no-metadata writes bare pixels (no sidecar: re-runs cannot skip finished "
        "images and replay cannot read them).",
        rich_help_panel=OUTPUT_PANEL,
    ),
]
Fit = Annotated[
    image_input.Fit,
    typer.Option(
        "--fit",
        help="keep: the picture keeps its own aspect and the output follows it; or fit it "
        "to --aspect/--size (a square without them): crop (centre), pad (black bars) or "
        "stretch.",
        rich_help_panel=PICTURE_PANEL,
    ),
]
Aspect = Annotated[
    str | None,
    typer.Option(
        "--aspect",
        help="Aspect ratio W:H of the pictures, such as 16:9, 3:2 or 2:3 (1:4 to 4:1); the "
        "short side stays 64, 256 and 1024 px at stages I, II and III. Default: square "
        "(a picture you start from: its own).",
        metavar="W:H",
        rich_help_panel=PICTURE_PANEL,
        show_default=False,
    ),
]
PictureSize = Annotated[
    str | None,
    typer.Option(
        "--size",
        help="Final size WIDTHxHEIGHT, such as 1792x1024; a size the stages cannot make "
        "exactly is refused with the nearest that work.",
        metavar="WxH",
        rich_help_panel=PICTURE_PANEL,
        show_default=False,
    ),
]

DEFAULT_MODELS = (DEFAULT_STAGE_1_MODEL, DEFAULT_STAGE_2_MODEL, DEFAULT_STAGE_3_MODEL)


def parse_steps(value: str) -> int | str:
    """``"50"`` → 50; a schedule name stays a name (validated with the request)."""
    text = value.strip()
    return int(text) if text.lstrip("+-").isdigit() else text


def placement(o: Mapping[str, Any]) -> Placement:
    """The placement from option values; a malformed ``--max-gpu-memory`` is a usage error."""
    cap = o.get("max_gpu_memory")
    try:
        max_memory = None if cap is None else parse_bytes(str(cap))
    except ValueError as error:
        raise InvalidRequestError(f"--max-gpu-memory: {error}") from error
    return Placement(
        device=o["device"],
        dtype=o["dtype"],
        offload=o["offload"],
        variant=o["variant"],
        max_memory=max_memory,
        compile=bool(o.get("compile", False)),
    )


CacheDir = Annotated[
    Path | None,
    typer.Option(
        "--cache-dir",
        help="Hugging Face cache folder (default: HF_HUB_CACHE, or HF_HOME/hub).",
        show_default=False,
    ),
]
Yes = Annotated[
    bool,
    typer.Option("--yes", "-y", help="Do not ask for confirmation (for scripts)."),
]
