"""Does a picture show what its caption says? Simple image analysis, no learned judge.

For each picture: the background is the colour of its border; the blobs are the
connected regions of one named colour that differ from the background. A caption is
followed when

- colour: each named colour's largest blob is there (at least ``MIN_AREA`` pixels), and
  for one shape the largest blob of all is that colour;
- position: that blob sits where the caption says (left, top …), or the blobs are in
  the order it says ("above", "left of", "in a row");
- background: the border is the named background colour (white when unnamed);
- shape (reported, no goal): how much of its bounding box the blob fills.

    python -m training.evaluate --count 60 --out /tmp/demo-eval

runs ``if-cli generate --model demo`` on held-out captions and prints the accuracy.
"""

from __future__ import annotations

import argparse
import itertools
import json
import shutil
import subprocess
import sys
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from training.scenes import BACKGROUNDS, COLOURS, ROW, Scene, held_out_scenes

EVALUATION_SEED = 2024  # which held-out captions are drawn
MIN_AREA = 60  # pixels of a 128 px picture: a shape covers 380 to 1400
_FOREGROUND_DISTANCE = 60.0  # RGB distance from the background that counts as a shape
# Fill of the bounding box by each kind, drawn exactly: star 0.37, triangle 0.5,
# circle 0.79, square 1.0; the thresholds lie halfway between.
_FILL_BOUNDS = (("star", 0.44), ("triangle", 0.64), ("circle", 0.89), ("square", 9.0))


@dataclass(frozen=True)
class Blob:
    colour: str
    area: int
    x: float  # centroid, as a fraction of the width
    y: float
    fill: float  # area / bounding-box area

    @property
    def kind(self) -> str:
        return next(kind for kind, bound in _FILL_BOUNDS if self.fill < bound)


@dataclass(frozen=True)
class Reading:
    """What a picture shows, as far as colours, blobs and borders tell."""

    background: str
    blobs: dict[str, Blob]  # each colour's largest blob

    @property
    def largest(self) -> Blob | None:
        return max(self.blobs.values(), key=lambda b: b.area, default=None)


@dataclass(frozen=True)
class Verdict:
    colour: bool
    position: bool
    background: bool
    shape: bool


def _nearest(colour: np.ndarray, palette: dict[str, tuple[int, int, int]]) -> str:
    names = list(palette)
    distances = [np.linalg.norm(colour - np.array(palette[n], dtype=np.float64)) for n in names]
    return names[int(np.argmin(distances))]


def _components(mask: np.ndarray) -> list[np.ndarray]:
    """The 4-connected regions of ``mask``, each as an array of (row, column) pairs."""
    seen = np.zeros_like(mask, dtype=bool)
    height, width = mask.shape
    regions = []
    for start in zip(*np.nonzero(mask), strict=True):
        if seen[start]:
            continue
        seen[start] = True
        queue, members = deque([start]), []
        while queue:
            row, column = queue.popleft()
            members.append((row, column))
            for r, c in (
                (row - 1, column),
                (row + 1, column),
                (row, column - 1),
                (row, column + 1),
            ):
                if 0 <= r < height and 0 <= c < width and mask[r, c] and not seen[r, c]:
                    seen[r, c] = True
                    queue.append((r, c))
        regions.append(np.array(members))
    return regions


def read_picture(picture: Image.Image) -> Reading:
    pixels = np.asarray(picture.convert("RGB"), dtype=np.float64)
    height, width, _ = pixels.shape
    edges = (pixels[:3], pixels[-3:], pixels[:, :3], pixels[:, -3:])
    border = np.concatenate([edge.reshape(-1, 3) for edge in edges])
    ground = np.median(border, axis=0)
    foreground = np.linalg.norm(pixels - ground, axis=2) > _FOREGROUND_DISTANCE
    palette = np.array(list(COLOURS.values()), dtype=np.float64)
    nearest = np.argmin(np.linalg.norm(pixels[:, :, None, :] - palette, axis=3), axis=2)
    blobs: dict[str, Blob] = {}
    for index, name in enumerate(COLOURS):
        regions = _components(foreground & (nearest == index))
        if not regions:
            continue
        region = max(regions, key=len)
        rows, columns = region[:, 0], region[:, 1]
        box = (np.ptp(rows) + 1) * (np.ptp(columns) + 1)
        blobs[name] = Blob(
            name, len(region), columns.mean() / width, rows.mean() / height, len(region) / box
        )
    return Reading(_nearest(ground, BACKGROUNDS), blobs)


_PLACE_TEST = {
    "on the left": lambda b: b.x < 0.44,
    "on the right": lambda b: b.x > 0.56,
    "at the top": lambda b: b.y < 0.44,
    "at the bottom": lambda b: b.y > 0.56,
    "in the centre": lambda b: abs(b.x - 0.5) < 0.14 and abs(b.y - 0.5) < 0.14,
}
_GAP = 0.06
_RELATION_TEST = {
    "above": lambda a, b: a.y < b.y - _GAP,
    "below": lambda a, b: a.y > b.y + _GAP,
    "left of": lambda a, b: a.x < b.x - _GAP,
    "right of": lambda a, b: a.x > b.x + _GAP,
}


def judge(scene: Scene, reading: Reading) -> Verdict:
    """Whether ``reading`` matches the scene the caption describes."""
    found = [reading.blobs.get(s.colour) for s in scene.shapes]
    blobs = [b for b in found if b is not None and b.area >= MIN_AREA]
    every_colour = len(blobs) == len(scene.shapes)
    if len(scene.shapes) == 1:
        largest = reading.largest
        colour = every_colour and largest is not None and largest.colour == scene.shapes[0].colour
        position = colour and _PLACE_TEST[scene.layout](blobs[0])
    elif scene.layout == ROW:
        colour = every_colour
        position = colour and all(
            _RELATION_TEST["left of"](a, b) for a, b in itertools.pairwise(blobs)
        )
    else:
        colour = every_colour
        position = colour and _RELATION_TEST[scene.layout](blobs[0], blobs[1])
    shape = every_colour and all(b.kind == s.kind for b, s in zip(blobs, scene.shapes, strict=True))
    return Verdict(
        bool(colour), bool(position), reading.background == scene.background, bool(shape)
    )


def accuracy(verdicts: list[Verdict]) -> dict[str, float]:
    count = len(verdicts)
    return {
        name: round(sum(getattr(v, name) for v in verdicts) / count, 3)
        for name in ("colour", "position", "background", "shape")
    }


def accuracy_by_kind(scenes: list[Scene], verdicts: list[Verdict]) -> dict[str, dict]:
    """``accuracy`` over all prompts, and over those with one, two and three shapes."""
    table: dict[str, dict] = {"all": {"prompts": len(scenes), **accuracy(verdicts)}}
    for count, kind in ((1, "one shape"), (2, "two shapes"), (3, "three in a row")):
        chosen = [v for s, v in zip(scenes, verdicts, strict=True) if len(s.shapes) == count]
        if chosen:
            table[kind] = {"prompts": len(chosen), **accuracy(chosen)}
    return table


def generate_arguments(scenes: list[Scene], out: Path, seed: int) -> list[str]:
    """``if-cli`` arguments that make one picture per scene caption under ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    prompts = out / "prompts.txt"
    prompts.write_text("".join(s.caption + "\n" for s in scenes))
    return [
        *("generate", "--prompts", str(prompts), "--model", "demo"),
        *("--seed", str(seed), "-o", str(out), "--json", "-q"),
    ]


def pictures_by_caption(json_lines: str) -> dict[str, Path]:
    """Each caption's PNG, from the ``--json`` lines ``if-cli generate`` printed."""
    records = [json.loads(line) for line in json_lines.splitlines()]
    return {record["prompt"]: Path(record["path"]) for record in records}


def score(scenes: list[Scene], pictures: dict[str, Path]) -> list[Verdict]:
    return [judge(s, read_picture(Image.open(pictures[s.caption]))) for s in scenes]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Accuracy of the demo on held-out captions.")
    parser.add_argument("--count", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0, help="the first picture's seed")
    parser.add_argument(
        "--scenes-seed",
        type=int,
        default=EVALUATION_SEED,
        help="which held-out captions; tune settings on another set than the one you report",
    )
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("extra", nargs="*", help="more if-cli options, after --")
    args = parser.parse_args(argv)
    scenes = held_out_scenes(args.scenes_seed, args.count)
    cli = shutil.which("if-cli") or str(Path(sys.executable).with_name("if-cli"))
    command = [cli, *generate_arguments(scenes, args.out, args.seed), *args.extra]
    listing = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    verdicts = score(scenes, pictures_by_caption(listing))
    for scene, verdict in zip(scenes, verdicts, strict=True):
        marks = "".join("+" if ok else "-" for ok in vars(verdict).values())
        print(f"{marks}  {scene.caption}", file=sys.stderr)
    table = accuracy_by_kind(scenes, verdicts)
    for kind, row in table.items():
        figures = " ".join(
            f"{name} {value:.2f}" for name, value in row.items() if name != "prompts"
        )
        print(f"{kind:>15} ({row['prompts']:>2}): {figures}", file=sys.stderr)
    print(json.dumps(table["all"]))


if __name__ == "__main__":
    main()
