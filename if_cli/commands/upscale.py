"""``if-cli upscale IMAGE [PROMPT]``: super-resolution of any picture through IF's stages.

The cheap workflow: ``generate --stages 1 --num-images 8`` makes 64 px candidates in
seconds; ``upscale`` takes the one you like to 1024 px. When IMAGE has an if-cli sidecar
next to it (``NAME.png`` + ``NAME.json``), its prompt, negative prompt and seed are used
unless given on the command line.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from if_cli.commands import options as opt
from if_cli.commands.cascade_options import cascade_parameters, run_parameters, with_options
from if_cli.commands.image_flow import ImageArgument, load_picture, run_image_flow
from if_cli.engine.flows import LOW_RES_SIDE
from if_cli.errors import InvalidRequestError

FIRST_STAGE_BY_SIZE = {str(side): stage for stage, side in LOW_RES_SIDE.items()}


def recorded_image(image: str) -> tuple[Path, dict[str, Any]] | None:
    """The sidecar if-cli wrote for IMAGE, and its ``image`` record, if there is one.

    The user named the picture, not the sidecar: a ``NAME.json`` beside it that is not
    an if-cli sidecar of this very picture is ignored, with a warning when it cannot be
    read or holds values of the wrong type.
    """
    from if_cli.engine.request import MAX_SEED
    from if_cli.output.metadata import MAX_SIDECAR_BYTES, checked_sidecar, claims_if_cli
    from if_cli.progress import warn
    from if_cli.schema import SchemaError
    from if_cli.untrusted import UnreadableFile, read_json

    if image == "-":
        return None
    picture = Path(image).expanduser()
    sidecar = picture.with_suffix(".json")
    if not os.path.lexists(sidecar):
        return None
    try:
        data = read_json(sidecar, MAX_SIDECAR_BYTES)
        if not claims_if_cli(data):
            return None
        record = checked_sidecar(data)["image"]
        if not 0 <= record["seed"] <= MAX_SEED:
            raise SchemaError(f"image.seed must be from 0 to {MAX_SEED}, got {record['seed']}")
    except (UnreadableFile, SchemaError) as exc:
        reason = exc.reason if isinstance(exc, UnreadableFile) else str(exc)
        warn(f"ignoring the sidecar {sidecar}: {reason}")
        return None
    return (sidecar, record) if record["files"]["image"] == picture.name else None


def _first_stage(side: int, start: str, to: str) -> int:
    """Where the upscale starts: ``auto`` starts a picture of 256 px or more at stage III
    when stage III runs; a run that stops after stage II (``--to 256``, and the demo,
    which has no stage III of its own) starts every picture there, and a picture that
    is already as large as it makes is drawn again, with a warning (early_warnings.py)."""
    if start == "auto":
        start = "64" if side < LOW_RES_SIDE[3] or to == "256" else "256"
    first = FIRST_STAGE_BY_SIZE[start]
    if to == "256" and first == 3:
        raise InvalidRequestError(
            "--from 256 starts at stage III, but this run stops after stage II "
            "(--to 256; the demo cascade always does)",
            hint="use --to 1024, or --from 64 to redo stage II",
        )
    return first


@with_options(cascade_parameters("upscale", (2, 3), last_stage=None), run_parameters())
def upscale(
    image: ImageArgument,
    prompt: Annotated[
        str | None,
        typer.Argument(
            help="What the picture shows (helps stage II and III); taken from IMAGE's "
            "sidecar when there is one, else empty.",
            metavar="PROMPT",
            show_default=False,
        ),
    ] = None,
    to: Annotated[
        Literal["256", "1024"],
        typer.Option(
            "--to",
            help="Size to reach: 256 (stage II) or 1024 (stage III).",
            rich_help_panel=opt.STAGES_PANEL,
        ),
    ] = "1024",
    start: Annotated[
        Literal["auto", "64", "256"],
        typer.Option(
            "--from",
            help="Treat IMAGE as a 64 px picture (stage II, then III) or a 256 px one "
            "(stage III only); auto: 64 when it is smaller than 256 px or the run stops "
            "at stage II.",
            rich_help_panel=opt.STAGES_PANEL,
        ),
    ] = "auto",
    fit: opt.Fit = "keep",
    **options: Any,
) -> None:
    """Upscale any picture to 256 or 1024 px through stage II and/or III.

    Super-resolution: IMAGE shrunk to 64 px → stage II (IFSuperResolutionPipeline)
    → 256 px → stage III (x4 upscaler) → 1024 px; or from 256 px through stage III only.
    """
    from if_cli.progress import say

    init = load_picture(image, fit, options)
    recorded = recorded_image(image)
    if recorded is not None:
        sidecar, record = recorded
        given = {
            "prompt": prompt,
            "negative_prompt": options["negative_prompt"],
            "seed": options["seed"],
        }
        taken = {key: record.get(key) for key, value in given.items() if value is None}
        if taken and not options["quiet"]:
            names = ", ".join(key.replace("_", " ") for key in taken)
            say(f"using the {names} of {sidecar}")
        prompt = taken.pop("prompt", prompt)
        options.update(taken)
    first = _first_stage(min(init.image.size), start, to)
    options["stages"] = 2 if to == "256" else 3
    run_image_flow("upscale", init, prompt or "", options, first_stage=first)
