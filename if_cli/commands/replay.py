"""``if-cli replay SIDECAR.json``: make the image a sidecar describes, or continue it.

The request is rebuilt from the sidecar: prompt, seed, every stage setting, the input
picture of an image flow (read again, and refused if it changed), and the device and
dtype it ran with; models are read from the exact cached revision when it is
still there. ``--stages 3`` on a 64 px sidecar makes the same 64 px image again and
carries on to 1024 px. A replay is always made, never skipped, and never overwrites.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from if_cli.commands import options as opt
from if_cli.errors import InvalidRequestError
from if_cli.output.naming import DEFAULT_TEMPLATE
from if_cli.progress import say

if TYPE_CHECKING:
    from if_cli.commands.batch import ImageJob
    from if_cli.engine.image_input import ImageInput


def _model(side: dict[str, Any], stage: int, settings: dict[str, Any]) -> str:
    """The exact snapshot that made the image when it still exists, else its reference."""
    recorded = side["models"].get(f"stage_{stage}")
    if recorded is None:  # a stage the original run never reached
        return settings["model"]
    if Path(recorded["path"]).is_dir():
        return str(recorded["path"])
    say(f"{recorded['path']} is no longer a model folder; using {recorded['ref']} as it is now")
    return recorded["ref"]


def sidecar_of_picture(picture: Path) -> Path:
    """The sidecar written with ``picture`` (see ``read_back.sidecar_of_picture``)."""
    from if_cli.output.read_back import sidecar_of_picture as found_beside

    if not picture.is_file():
        raise InvalidRequestError(
            f"{picture} does not exist" if not picture.exists() else f"{picture} is not a file"
        )
    sidecar = found_beside(picture)
    if sidecar is None:
        raise InvalidRequestError(
            f"{picture} has no if-cli sidecar beside it ({picture.with_suffix('.json').name})",
            hint="replay needs the NAME.json written with the image "
            "(images made with --no-metadata have none)",
        )
    return sidecar


def options_from_sidecar(path: Path, stages: int | None) -> dict[str, Any]:
    """The option values that make the sidecar's image again.

    Every field used is type-checked first (``read_sidecar``), so a hand-edited or
    foreign file is one line naming the field, never an error inside the run.
    """
    from if_cli.output.metadata import read_sidecar
    from if_cli.schema import SchemaError
    from if_cli.untrusted import UnreadableFile

    if path.suffix.lower() == ".png":
        path = sidecar_of_picture(path)
    try:
        side = read_sidecar(path)
    except UnreadableFile as exc:
        raise InvalidRequestError(f"sidecar {exc}") from exc
    except SchemaError as exc:
        raise InvalidRequestError(f"{path} is not an if-cli sidecar: {exc}") from exc
    image, request, runtime = side["image"], side["request"], side["runtime"]
    values: dict[str, Any] = {
        "prompt": image["prompt"],
        "negative_prompt": request.get("negative_prompt"),
        "seed": image["seed"],
        "num_images": 1,
        "stages": stages or request["last_stage"],
        "batch_size": 1,
        "watermark": request["watermark"],
        "keep_intermediates": request["keep_intermediates"],
        "device": runtime["device"].split(":")[0],
        "dtype": runtime["dtype"],
        "offload": "auto",
        "variant": request["placement"]["variant"],
    }
    names = {
        1: ("steps", "guidance_scale"),
        2: ("stage_2_steps", "stage_2_guidance_scale"),
        3: ("stage_3_steps", "stage_3_guidance_scale"),
    }
    for stage, (steps, guidance) in names.items():
        settings = request[f"stage_{stage}"]
        values[f"stage_{stage}_model"] = _model(side, stage, settings)
        values[steps] = settings["steps"]
        values[guidance] = settings["guidance_scale"]
        values[f"stage_{stage}_strength"] = settings.get("strength")
        if stage > 1:
            values[f"stage_{stage}_noise_level"] = settings.get("noise_level")
    values["flow"] = request.get("flow") or "generate"
    values["first_stage"] = request.get("first_stage") or 1
    values["init"] = request.get("init")
    values["aspect"] = request.get("aspect")
    values["size"] = request.get("size")
    batch = request.get("batch_size")
    if isinstance(batch, int) and batch > 1:
        from if_cli.progress import warn

        warn(
            f"{path.name} was made in a batch of {batch}; made alone, its pixels can differ "
            "slightly (see Reproducibility in docs/options.md)"
        )
    return values


def _input_again(values: dict[str, Any]) -> ImageInput | None:
    """The picture an image flow started from, read again and checked to be unchanged."""
    record = values["init"]
    if record is None:
        return None
    from if_cli.commands.cascade_options import requested_ratio
    from if_cli.engine.image_input import STDIN, load_input

    if STDIN in (record["source"], record["mask"]):
        raise InvalidRequestError(
            "the input picture came from stdin, so it cannot be read again",
            hint="run the command again with the picture as a file",
        )
    ratio = requested_ratio(values)
    init = load_input(record["source"], record["fit"], mask=record["mask"], ratio=ratio)
    if init.digest != record["sha256"]:
        raise InvalidRequestError(
            f"{_input_names(record)} changed since the image was made (checksum differs)"
        )
    return init


def _input_names(record: dict[str, Any]) -> str:
    if record["mask"] is None:
        return f"{record['source']} has"
    return f"{record['source']} or its mask {record['mask']} has"


def replay_jobs(sidecar: Path, stages: int | None) -> list[ImageJob]:
    """The one job that makes a sidecar's image again, every value checked."""
    from if_cli.commands.batch import plan_jobs
    from if_cli.commands.cascade_options import request_from_options
    from if_cli.commands.prompt_file import ARGUMENT, PromptItem

    values = options_from_sidecar(sidecar, stages)
    build = functools.partial(
        request_from_options,
        flow=values["flow"],
        init=_input_again(values),
        first_stage=values["first_stage"],
    )
    return plan_jobs([PromptItem(ARGUMENT, 0, values["prompt"])], values, build)


def replay(
    sidecar: Annotated[
        Path,
        typer.Argument(
            help="A NAME.json written by if-cli, or the NAME.png it was written with.",
            metavar="SIDECAR",
        ),
    ],
    stages: Annotated[
        int | None,
        typer.Option(
            "--stages",
            help="Stop after this stage instead of the recorded one "
            "(a later stage continues the image).",
            show_default=False,
        ),
    ] = None,
    out: opt.OutDir = Path("."),
    name: opt.NameTemplate = DEFAULT_TEMPLATE,
    json_output: Annotated[bool, typer.Option("--json", help="JSON per image on stdout.")] = False,
    quiet: opt.Quiet = False,
    worker: opt.Worker = "auto",
) -> None:
    """Make again the image a sidecar describes (same pixels on the same device and
    dtype), or continue it to a later stage."""
    from if_cli.commands.run import RunOptions, run_jobs

    jobs = replay_jobs(sidecar, stages)
    run_jobs(
        jobs,
        RunOptions(
            out=out, name=name, quiet=quiet, json_output=json_output, overwrite=True, worker=worker
        ),
    )
