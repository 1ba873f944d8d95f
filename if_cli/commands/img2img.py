"""``if-cli img2img IMAGE [PROMPT]``: repaint a picture after a prompt, or vary it."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from if_cli.commands import options as opt
from if_cli.commands.cascade_options import cascade_parameters, run_parameters, with_options
from if_cli.commands.image_flow import ImageArgument, load_picture, run_image_flow


@with_options(cascade_parameters("img2img", (1, 2, 3)), run_parameters())
def img2img(
    image: ImageArgument,
    prompt: Annotated[
        str,
        typer.Argument(
            help='What the new picture should show; empty ("") for variations of IMAGE.',
            metavar="PROMPT",
        ),
    ] = "",
    fit: opt.Fit = "keep",
    **options: Any,
) -> None:
    """Repaint a picture after a prompt, or make variations of it (64 → 256 → 1024 px).

    Image to image: IMAGE at 64 px is noised by --strength and denoised after PROMPT
    (IFImg2ImgPipeline), stage II repaints it at 256 px with IMAGE as its guide
    (IFImg2ImgSuperResolutionPipeline), stage III upscales it to 1024 px.

    Without a PROMPT it makes variations of IMAGE. Writes and prints images as
    `generate` does; the sidecar records the input, its fit and its checksum.
    """

    run_image_flow("img2img", load_picture(image, fit, options), prompt, options)
