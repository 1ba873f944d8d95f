"""Run one image flow (img2img, inpaint, style, upscale) from a command's options.

The commands differ only in their arguments and the flow they name; reading the
picture, building and checking the requests, skipping finished images and writing go
through here and ``run_jobs``, exactly as for ``generate``.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Annotated, Any

import typer

from if_cli.engine.image_input import ImageInput
from if_cli.engine.request import Flow

ImageArgument = Annotated[
    str,
    typer.Argument(
        help="The picture: PNG, JPEG, WebP, BMP, TIFF or GIF (first frame); - reads stdin.",
        metavar="IMAGE",
        show_default=False,
    ),
]


def load_picture(
    image: str, fit: str, options: Mapping[str, Any], mask: str | None = None
) -> ImageInput:
    """IMAGE (and MASK) read and fitted to the aspect ``--aspect``/``--size`` ask for."""
    from if_cli.commands.cascade_options import requested_ratio
    from if_cli.engine.image_input import load_input

    return load_input(image, fit, mask=mask, ratio=requested_ratio(options))


def run_image_flow(
    flow: Flow,
    init: ImageInput,
    prompt: str,
    options: Mapping[str, Any],
    first_stage: int = 1,
) -> None:
    """Plan the images of one picture and prompt, then make and write them."""
    from if_cli.commands.batch import plan_jobs
    from if_cli.commands.cascade_options import request_from_options
    from if_cli.commands.prompt_file import ARGUMENT, PromptItem
    from if_cli.commands.run import RunOptions, run_jobs

    build = functools.partial(request_from_options, flow=flow, init=init, first_stage=first_stage)
    jobs = plan_jobs([PromptItem(ARGUMENT, 0, prompt)], options, build)
    run_jobs(jobs, RunOptions.from_options(options))
