"""``if-cli style IMAGE STYLE``: keep a picture's composition, repaint it in a style."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from if_cli.commands import options as opt
from if_cli.commands.cascade_options import cascade_parameters, run_parameters, with_options
from if_cli.commands.image_flow import ImageArgument, load_picture, run_image_flow

StyleStages = Annotated[
    int,
    typer.Option(
        "--stages",
        help="Stop after stage 2 (256 px) or 3 (1024 px).",
        rich_help_panel=opt.STAGES_PANEL,
    ),
]


@with_options(cascade_parameters("style", (2, 3), last_stage=StyleStages), run_parameters())
def style(
    image: ImageArgument,
    prompt: Annotated[
        str,
        typer.Argument(
            help='The style, e.g. "an oil painting in the style of Van Gogh".',
            metavar="STYLE",
        ),
    ],
    fit: opt.Fit = "keep",
    **options: Any,
) -> None:
    """Keep a picture's composition and repaint it in a style (256 → 1024 px).

    Style transfer: IMAGE's layout and colours at 64 px are kept, and stage II
    repaints it at 256 px after STYLE (IFImg2ImgSuperResolutionPipeline, as the
    deepfloyd_if package's style transfer does at stage II); stage III upscales it.
    """

    run_image_flow("style", load_picture(image, fit, options), prompt, options, first_stage=2)
