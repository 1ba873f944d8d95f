"""Picture sizes at each stage, from an aspect ratio or a final size.

IF's stage I was trained at 64 px; DeepFloyd's own package makes other aspect ratios by
keeping the short side at the UNet's size and rounding the long side to a multiple of 8
(its ``_get_image_sizes``). Stages II and III each make a picture exactly four times as
wide and high. The same rule gives the size diffusers' image-to-image pipelines resize an
input picture to, so a picture fitted here and the pipelines never disagree.

Nothing here imports anything heavy: sizes are checked before any weights load.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

from if_cli.errors import BadFieldError

SR_FACTOR = 4  # IF-II and the x4 upscaler both make pictures four times as wide
LONG_SIDE_MULTIPLE = 8  # of stage I's long side, as in DeepFloyd's package
MAX_ASPECT = 4  # the long side at most four times the short one
_ASPECT = re.compile(r"\s*([0-9]{1,9})\s*:\s*([0-9]{1,9})\s*")
_SIZE = re.compile(r"\s*([0-9]{1,9})\s*[x×X]\s*([0-9]{1,9})\s*")


@dataclass(frozen=True, order=True)
class Size:
    width: int
    height: int

    def __str__(self) -> str:
        return f"{self.width}x{self.height}"

    def times(self, factor: int) -> Size:
        return Size(self.width * factor, self.height * factor)

    @property
    def ratio(self) -> Fraction:
        return Fraction(self.width, self.height)

    def as_list(self) -> list[int]:
        return [self.width, self.height]


def parse_aspect(text: str, field: str = "aspect") -> Fraction:
    """``"16:9"`` → 16/9; refused unless both numbers are positive and within range."""
    match = _ASPECT.fullmatch(str(text))
    if not match or 0 in (int(match[1]), int(match[2])):
        raise BadFieldError(
            field, f"must be W:H with two positive whole numbers, such as 16:9, got {text!r}"
        )
    ratio = Fraction(int(match[1]), int(match[2]))
    _check_ratio(ratio, field, text)
    return ratio


def parse_size(text: str, field: str = "size") -> Size:
    """``"1792x1024"`` → Size(1792, 1024)."""
    match = _SIZE.fullmatch(str(text))
    if not match or 0 in (int(match[1]), int(match[2])):
        raise BadFieldError(
            field, f"must be WIDTHxHEIGHT in pixels, such as 1792x1024, got {text!r}"
        )
    size = Size(int(match[1]), int(match[2]))
    _check_ratio(size.ratio, field, text)
    return size


def aspect_text(ratio: Fraction) -> str:
    """16/9 → ``"16:9"``: one spelling for each aspect (32:18 is 16:9)."""
    return f"{ratio.numerator}:{ratio.denominator}"


def _check_ratio(ratio: Fraction, field: str, text: str) -> None:
    if not Fraction(1, MAX_ASPECT) <= ratio <= MAX_ASPECT:
        raise BadFieldError(
            field,
            f"{text} is wider or taller than {MAX_ASPECT}:1; "
            f"aspects from 1:{MAX_ASPECT} to {MAX_ASPECT}:1 work",
        )


def first_stage_size(ratio: Fraction, short_side: int) -> Size:
    """Stage I's size for ``ratio`` (width / height): DeepFloyd's rule, which diffusers'
    image-to-image pipelines also follow when they resize a picture."""
    coef = float(min(max(ratio, Fraction(1, MAX_ASPECT)), Fraction(MAX_ASPECT)))
    step = LONG_SIDE_MULTIPLE
    # The same float arithmetic as diffusers' resize(), so both land on the same size.
    if coef >= 1:
        return Size(int(round(short_side / step * coef) * step), short_side)
    return Size(short_side, int(round(short_side / step / coef) * step))


def stage_sizes(first: Size) -> dict[int, Size]:
    """The size each stage makes, from stage I's."""
    return {1: first, 2: first.times(SR_FACTOR), 3: first.times(SR_FACTOR**2)}


def sizes_for(
    short_side: int,
    last_stage: int,
    *,
    aspect: Fraction | None = None,
    size: Size | None = None,
    picture: Size | None = None,
) -> dict[int, Size]:
    """Each stage's size: from ``size`` (the final picture's), ``aspect``, the input
    ``picture``'s own aspect, or square; a final size the stages cannot make exactly is
    refused with the nearest ones that work."""
    ratio = size.ratio if size else aspect if aspect else picture.ratio if picture else None
    sizes = stage_sizes(first_stage_size(ratio or Fraction(1), short_side))
    if size is not None and aspect is not None:
        from_aspect = stage_sizes(first_stage_size(aspect, short_side))[last_stage]
        if from_aspect != size:
            raise BadFieldError(
                "aspect",
                f"{aspect.numerator}:{aspect.denominator} makes {from_aspect} at stage "
                f"{last_stage}, not the {size} --size asks for",
                hint="give one of --aspect and --size",
            )
    if size is not None and sizes[last_stage] != size:
        raise BadFieldError(
            "size",
            f"{size} cannot be made at stage {last_stage}; the nearest sizes that work are "
            + " and ".join(str(s) for s in nearest_sizes(size, short_side, last_stage)),
            hint=_rule(short_side, last_stage),
        )
    return sizes


def nearest_sizes(size: Size, short_side: int, last_stage: int) -> list[Size]:
    """The final sizes of ``size``'s orientation closest to its aspect (one where the
    aspect is right and only the scale is wrong)."""
    scale = SR_FACTOR ** (last_stage - 1)
    step, short = LONG_SIDE_MULTIPLE * scale, short_side * scale
    wide = size.width >= size.height
    long_exact = Fraction(max(size.width, size.height) * short, min(size.width, size.height))
    lower = max(short, int(long_exact // step) * step)
    upper = min(short * MAX_ASPECT, -int(-long_exact // step) * step)
    found = []
    for long in dict.fromkeys((lower, max(lower, upper))):
        found.append(Size(long, short) if wide else Size(short, long))
    return found


def _rule(short_side: int, last_stage: int) -> str:
    scale = SR_FACTOR ** (last_stage - 1)
    return (
        f"stage {last_stage} pictures are {short_side * scale} px on the short side and a "
        f"multiple of {LONG_SIDE_MULTIPLE * scale} px on the long one; --aspect W:H picks "
        "the nearest by itself"
    )


def check_unet_multiple(stage: int, size: Size, multiple: int, model: str) -> None:
    """A UNet halves the picture at each level: its sides must divide evenly."""
    if size.width % multiple or size.height % multiple:
        raise BadFieldError(
            "size",
            f"stage {stage}'s model {model} needs sides that are multiples of {multiple} px; "
            f"this picture is {size} there",
            hint="pick another --aspect or --size",
        )
