"""``if-cli inpaint IMAGE MASK PROMPT``: repaint the white part of a mask."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from if_cli.commands import options as opt
from if_cli.commands.cascade_options import cascade_parameters, run_parameters, with_options
from if_cli.commands.image_flow import ImageArgument, load_picture, run_image_flow


@with_options(cascade_parameters("inpaint", (1, 2, 3)), run_parameters())
def inpaint(
    image: ImageArgument,
    mask: Annotated[
        str,
        typer.Argument(
            help="White where IMAGE is repainted, black where it is kept; "
            "resized to IMAGE if it has the same shape.",
            metavar="MASK",
            show_default=False,
        ),
    ],
    prompt: Annotated[
        str,
        typer.Argument(help="What the repainted part should show.", metavar="PROMPT"),
    ],
    fit: opt.Fit = "keep",
    **options: Any,
) -> None:
    """Repaint the white part of a mask after a prompt (64 → 256 → 1024 px).

    Inpainting: repaint the white part of MASK after PROMPT at 64 px
    (IFInpaintingPipeline), again at 256 px (IFInpaintingSuperResolutionPipeline), then
    upscale to 1024 px. The black part stays as it is in IMAGE.
    """

    run_image_flow("inpaint", load_picture(image, fit, options, mask=mask), prompt, options)
