"""Contact sheets: many pictures on one PNG, each captioned with its seed and the values
a sweep gave it; the grid follows the sweep when there is one.

Rows and columns: with two or more swept keys, the last key's values are the columns
and every other combination (with the prompt and seed) a row; with one, its values are
the columns and each prompt and seed a row; without a sweep, the pictures fill rows in
order. Pillow draws it, with the font Pillow ships.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from if_cli.errors import InvalidRequestError

TILE = 256  # the long side of each picture on the sheet
CAPTION = 18
MARGIN = 8
MAX_PICTURES = 1000
SOFTWARE = "if-cli sheet"  # in each sheet's PNG text, so a sheet is not put on the next
BACKGROUND = (255, 255, 255)
INK = (20, 20, 20)


@dataclass(frozen=True)
class Tile:
    path: Path
    prompt: str | None
    seed: int | None
    cell: dict[str, Any]

    def caption(self, with_prompt: bool = False) -> str:
        words = [self.prompt] if with_prompt and self.prompt else []
        words += [f"seed {self.seed}"] if self.seed is not None else [self.path.stem[:24]]
        words += [f"{_short(key)} {value}" for key, value in self.cell.items()]
        return " · ".join(words)


def tiles_of(sources: list[Path]) -> list[Tile]:
    """The pictures of ``sources`` (files, or folders of PNGs), with what their records
    say; a picture without a record is captioned with its name."""
    from if_cli.output.read_back import SIDECAR, read_back, sidecar_of_picture

    pictures: list[Path] = []
    for source in sources:
        if source.is_dir():
            found = sorted(p for p in source.glob("*.png") if ".stage-" not in p.name)
            pictures += [p for p in found if not _is_sheet(p)]
        elif source.is_file():
            pictures.append(source)
        else:
            raise InvalidRequestError(f"{source}: no such file or folder")
    if not pictures:
        raise InvalidRequestError("no PNG pictures to put on the sheet")
    if len(pictures) > MAX_PICTURES:
        raise InvalidRequestError(f"{len(pictures)} pictures; a sheet holds at most {MAX_PICTURES}")
    tiles = []
    for picture in pictures:
        try:
            record = read_back(picture)
        except InvalidRequestError:
            tiles.append(Tile(picture, None, None, {}))
            continue
        cell: dict[str, Any] = {}
        if record.source == SIDECAR:
            sidecar = sidecar_of_picture(picture)
            cell = _cell(sidecar) if sidecar else {}
        tiles.append(Tile(picture, record.prompt, record.seed, cell))
    return tiles


def _is_sheet(path: Path) -> bool:
    from PIL import Image

    try:
        with Image.open(path) as picture:
            return picture.info.get("Software") == SOFTWARE
    except (OSError, ValueError, SyntaxError):
        return False


def _cell(sidecar: Path) -> dict[str, Any]:
    from if_cli.untrusted import UnreadableFile, read_json

    try:
        cell = read_json(sidecar, 1024**2)["image"].get("cell")
    except (UnreadableFile, KeyError, TypeError, AttributeError):
        return {}
    return cell if isinstance(cell, dict) else {}


def layout(tiles: list[Tile]) -> list[list[Tile | None]]:
    """Rows of tiles (None: an empty place), following the sweep when there is one."""
    keys = list(dict.fromkeys(key for tile in tiles for key in tile.cell))
    if not keys:
        width = math.ceil(math.sqrt(len(tiles)))
        return [list(tiles[i : i + width]) for i in range(0, len(tiles), width)]
    column_key = keys[-1]
    values = sorted({repr(t.cell.get(column_key)): t.cell.get(column_key) for t in tiles}.items(),
                    key=lambda item: _order(item[1]))  # fmt: skip
    columns = [shown for shown, _ in values]
    rows: dict[tuple[Any, ...], list[Tile | None]] = {}
    for tile in sorted(tiles, key=lambda t: [_order(t.cell.get(k)) for k in keys[:-1]]):
        others = tuple(repr(tile.cell.get(key)) for key in keys[:-1])
        row = rows.setdefault((*others, tile.prompt, tile.seed), [None] * len(columns))
        place = columns.index(repr(tile.cell.get(column_key)))
        if row[place] is not None:  # the same cell twice (another run): a row of its own
            row = rows.setdefault(
                (*others, tile.prompt, tile.seed, tile.path), [None] * len(columns)
            )
        row[place] = tile
    return list(rows.values())


def draw_sheet(tiles: list[Tile], out: Path) -> Path:
    """Write the sheet of ``tiles`` as the PNG ``out`` (or, when that name is taken,
    ``out``'s stem with a number: nothing is replaced) and return its path."""
    import io

    from PIL import Image, ImageDraw, ImageFont

    from if_cli.output.files import ensure_writable_dir, publish_beside

    grid = layout(tiles)
    with_prompt = len({tile.prompt for tile in tiles}) > 1
    font = ImageFont.load_default(size=13)
    columns = max(len(row) for row in grid)
    cell_w, cell_h = TILE + MARGIN, TILE + CAPTION + MARGIN
    sheet = Image.new("RGB", (columns * cell_w + MARGIN, len(grid) * cell_h + MARGIN), BACKGROUND)
    pen = ImageDraw.Draw(sheet)
    for r, row in enumerate(grid):
        for c, tile in enumerate(row):
            if tile is None:
                continue
            x, y = MARGIN + c * cell_w, MARGIN + r * cell_h
            thumb = _thumbnail(tile.path)
            sheet.paste(thumb, (x + (TILE - thumb.width) // 2, y + (TILE - thumb.height) // 2))
            caption = _fit(pen, tile.caption(with_prompt), font)
            pen.text((x, y + TILE + 2), caption, fill=INK, font=font)
    from PIL import PngImagePlugin

    text = PngImagePlugin.PngInfo()
    text.add_text("Software", SOFTWARE)
    data = io.BytesIO()
    sheet.save(data, format="PNG", pnginfo=text)
    ensure_writable_dir(out.parent)
    return publish_beside(out.parent, out.stem, out.suffix or ".png", data.getvalue())


def _order(value: Any) -> tuple[int, float, str]:
    """Numbers in order, then anything else by its text (steps: 50 before smart27)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (0, float(value), "")
    return (1, 0.0, str(value))


def _thumbnail(path: Path) -> Any:
    """The picture at ``TILE`` px on its long side: shrunk smoothly, or a small one
    enlarged by whole pixels so that it stays crisp."""
    from PIL import Image

    from if_cli.engine.image_input import read_picture

    picture, _ = read_picture(str(path), what="picture")  # bounded, checked, upright RGB
    scale = TILE / max(picture.size)
    if scale < 1:
        picture.thumbnail((TILE, TILE))
        return picture
    factor = int(scale)
    return picture.resize((picture.width * factor, picture.height * factor), Image.NEAREST)


def _fit(pen: Any, text: str, font: Any) -> str:
    while len(text) > 1 and pen.textlength(text, font=font) > TILE:
        text = text[:-2] + "…"
    return text


def _short(key: str) -> str:
    return key.replace("_scale", "").replace("_", " ")
