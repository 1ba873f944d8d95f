"""``if-cli sheet FOLDER|IMAGES... -o sheet.png``: many pictures on one contact sheet."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def sheet(
    sources: Annotated[
        list[Path],
        typer.Argument(
            help="Folders of PNGs (their stage intermediates left out) or PNG files.",
            metavar="FOLDER|IMAGE...",
            show_default=False,
        ),
    ],
    out: Annotated[
        Path,
        typer.Option("--out", "-o", help="The sheet to write (a PNG; a taken name gets a suffix)."),
    ] = Path("sheet.png"),
) -> None:
    """Lay pictures out on one PNG, each captioned with its seed and swept values.

    The grid follows a --sweep: its last key's values are the columns. Prints the
    sheet's path.
    """
    from if_cli.output.sheet import draw_sheet, tiles_of
    from if_cli.streams import emit

    emit(str(draw_sheet(tiles_of(sources), out)))
