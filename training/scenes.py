"""Procedural scenes for the demo cascade: 1–3 flat shapes, a caption from the same facts.

Every scene is drawn from a seed, so any sample can be made again, and there is no end
to them. The caption states each shape's colour, its kind and where it is ("a red circle
above a blue square on a white background"); a caption without a background means white.

A tenth of all captions are held out (``is_held_out``): training never draws them, so
the accuracy test can ask for prompts the demo never saw verbatim.
"""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass

from PIL import Image, ImageDraw

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "orange": (245, 140, 20),
    "yellow": (240, 220, 30),
    "green": (30, 160, 50),
    "cyan": (30, 200, 210),
    "blue": (30, 60, 220),
    "purple": (130, 40, 180),
    "pink": (250, 130, 200),
}
BACKGROUNDS: dict[str, tuple[int, int, int]] = {
    "white": (245, 245, 245),
    "black": (15, 15, 15),
    "grey": (128, 128, 128),
}
DEFAULT_BACKGROUND = "white"
SHAPES = ("circle", "square", "triangle", "star")
PLACES = ("on the left", "on the right", "at the top", "at the bottom", "in the centre")
RELATIONS = ("above", "below", "left of", "right of")
ROW = "in a row"
SIDE = 128
"""Scenes are drawn at 128 px (stage II's size); stage I sees them shrunk to 32 px."""
_SUPERSAMPLE = 2


@dataclass(frozen=True)
class Shape:
    kind: str
    colour: str
    x: float  # centre, in pixels of a SIDE × SIDE picture
    y: float
    radius: float


@dataclass(frozen=True)
class Scene:
    shapes: tuple[Shape, ...]
    background: str
    layout: str  # a PLACES entry (one shape), a RELATIONS entry (two) or ROW (three)
    says_background: bool

    @property
    def caption(self) -> str:
        named = [f"{_article(s.colour)} {s.colour} {s.kind}" for s in self.shapes]
        if len(named) == 1:
            text = f"{named[0]} {self.layout}"
        elif len(named) == 2:
            text = f"{named[0]} {self.layout} {named[1]}"
        else:
            text = f"{named[0]}, {named[1]} and {named[2]} {self.layout}"
        if self.says_background:
            text += f" on a {self.background} background"
        return text


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def is_held_out(caption: str) -> bool:
    """A fixed tenth of all captions, never drawn for training."""
    return hashlib.sha256(caption.encode()).digest()[0] % 10 == 0


def _centre(rng: random.Random, layout: str) -> tuple[float, float]:
    """Where a lone shape goes for ``layout`` (one of PLACES)."""
    near, far, mid = rng.uniform(26, 40), rng.uniform(88, 102), rng.uniform(50, 78)
    return {
        "on the left": (near, mid),
        "on the right": (far, mid),
        "at the top": (mid, near),
        "at the bottom": (mid, far),
        "in the centre": (rng.uniform(56, 72), rng.uniform(56, 72)),
    }[layout]


def _pair(rng: random.Random, relation: str) -> list[tuple[float, float]]:
    """Centres of the first and second shape so that the first is ``relation`` the second."""
    first, second = rng.uniform(28, 44), rng.uniform(84, 100)
    across_a, across_b = rng.uniform(40, 88), rng.uniform(40, 88)
    if relation == "above":
        return [(across_a, first), (across_b, second)]
    if relation == "below":
        return [(across_a, second), (across_b, first)]
    if relation == "left of":
        return [(first, across_a), (second, across_b)]
    return [(second, across_a), (first, across_b)]


MIX = (40, 45, 15)
"""How often a scene has one, two and three shapes (the held-out prompts' mix)."""
TRAINING_MIX = (25, 45, 30)
"""Training sees more of the harder scenes: binding colours to an order is what it lacks."""


def random_scene(rng: random.Random, mix: tuple[int, int, int] = MIX) -> Scene:
    """One scene with one, two or three shapes as often as ``mix`` says; colours differ."""
    count = rng.choices((1, 2, 3), weights=mix)[0]
    colours = rng.sample(list(COLOURS), count)
    background = rng.choice(list(BACKGROUNDS))
    says_background = background != DEFAULT_BACKGROUND or rng.random() < 0.5
    if count == 1:
        layout = rng.choice(PLACES)
        centres = [_centre(rng, layout)]
        radii = [rng.uniform(15, 21)]
    elif count == 2:
        layout = rng.choice(RELATIONS)
        centres = _pair(rng, layout)
        radii = [rng.uniform(13, 18) for _ in range(2)]
    else:
        layout = ROW
        y = rng.uniform(52, 76)
        centres = [(x + rng.uniform(-4, 4), y + rng.uniform(-5, 5)) for x in (24, 64, 104)]
        radii = [rng.uniform(11, 15) for _ in range(3)]
    shapes = tuple(
        Shape(rng.choice(SHAPES), colour, x, y, r)
        for colour, (x, y), r in zip(colours, centres, radii, strict=True)
    )
    return Scene(shapes, background, layout, says_background)


def training_scene(rng: random.Random) -> Scene:
    """A random scene whose caption is not held out."""
    while True:
        scene = random_scene(rng, TRAINING_MIX)
        if not is_held_out(scene.caption):
            return scene


def held_out_scenes(seed: int, count: int) -> list[Scene]:
    """``count`` scenes with distinct held-out captions, the same for the same seed."""
    rng = random.Random(seed)
    found: dict[str, Scene] = {}
    while len(found) < count:
        scene = random_scene(rng)
        if is_held_out(scene.caption):
            found.setdefault(scene.caption, scene)
    return list(found.values())


def _outline(shape: Shape, scale: float) -> list[tuple[float, float]]:
    x, y, r = shape.x * scale, shape.y * scale, shape.radius * scale
    if shape.kind == "square":
        h = r * 0.85
        return [(x - h, y - h), (x + h, y - h), (x + h, y + h), (x - h, y + h)]
    if shape.kind == "triangle":
        return [
            (x + r * 1.1 * math.cos(math.radians(a)), y + r * 1.1 * math.sin(math.radians(a)))
            for a in (-90, 30, 150)
        ]
    points = []  # a five-pointed star
    for i in range(10):
        reach = r * 1.15 if i % 2 == 0 else r * 0.5
        angle = math.radians(-90 + 36 * i)
        points.append((x + reach * math.cos(angle), y + reach * math.sin(angle)))
    return points


def render(scene: Scene, side: int = SIDE) -> Image.Image:
    """The scene as an RGB picture ``side`` px wide, anti-aliased by supersampling."""
    big = side * _SUPERSAMPLE
    scale = big / SIDE
    picture = Image.new("RGB", (big, big), BACKGROUNDS[scene.background])
    draw = ImageDraw.Draw(picture)
    for shape in scene.shapes:
        fill = COLOURS[shape.colour]
        if shape.kind == "circle":
            x, y, r = shape.x * scale, shape.y * scale, shape.radius * scale
            draw.ellipse((x - r, y - r, x + r, y + r), fill=fill)
        else:
            draw.polygon(_outline(shape, scale), fill=fill)
    return picture.resize((side, side), Image.Resampling.BOX)


def vocabulary() -> dict[str, list[str]]:
    """Every word a caption can hold, by what it names: what the demo can know.

    ``backgrounds`` are colours the demo knows only in "on a … background"; ``words``
    are the captions' other words (articles, "and", and the words of the positions).
    """
    positions = [*PLACES, *RELATIONS, ROW]
    phrase_words = {word for phrase in positions for word in phrase.split()}
    return {
        "shapes": list(SHAPES),
        "colours": list(COLOURS),
        "positions": positions,
        "backgrounds": list(BACKGROUNDS),
        "words": sorted(phrase_words | {"a", "an", "and", "on", "background"}),
    }
