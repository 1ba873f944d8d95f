"""Pictures a flow starts from: read safely, turned upright, made RGB, fitted to a shape.

Every check here runs before any weights load, so a bad file fails in milliseconds with
one line that names it. The header is read first and a picture with more than
``MAX_INPUT_PIXELS`` is refused before a single pixel is decoded (a decompression bomb
never reaches memory). Each picture is fitted once, here, and the fit is recorded:
``keep`` (the default: the picture keeps its own aspect, and the stages' sizes follow
it), or, to the aspect asked for (a square when none is), ``crop`` (centre), ``pad``
(black bars) or ``stretch``.
"""

from __future__ import annotations

import hashlib
import io
import os
import struct
import sys
import warnings
from dataclasses import dataclass
from fractions import Fraction
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from if_cli.errors import InvalidRequestError
from if_cli.untrusted import UnreadableFile, read_bytes

if TYPE_CHECKING:
    from PIL.Image import Image

    from if_cli.engine.sizes import Size

Fit = Literal["keep", "crop", "pad", "stretch"]
FITS: tuple[str, ...] = ("keep", "crop", "pad", "stretch")
DEFAULT_FIT = "keep"
STDIN = "-"
MAX_INPUT_PIXELS = 8192 * 8192
MAX_INPUT_BYTES = 512 * 1024**2
# A mask may differ from its image in size, not in shape: aspect ratios within 1 %.
MASK_ASPECT_TOLERANCE = 0.01
WHITE = (255, 255, 255)
BLACK = (0, 0, 0)
_SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I")


@dataclass(frozen=True, eq=False)
class ImageInput:
    """The picture (and, for inpainting, the mask) a request starts from.

    ``image`` is RGB, fitted to its shape; ``mask`` is the same size, mode ``L``, 255
    where the picture is repainted. Two inputs are equal when their pixels and fit are, so a
    request that carries one can still be grouped and fingerprinted.
    """

    image: Image
    source: str
    fit: str
    original_size: tuple[int, int]
    notes: tuple[str, ...] = ()
    mask: Image | None = None
    mask_source: str | None = None

    @cached_property
    def digest(self) -> str:
        return _digest(self.image, self.mask)

    def identity(self) -> dict[str, Any]:
        """What decides the pixels made from this input (part of each image's fingerprint)."""
        return {"digest": self.digest, "fit": self.fit}

    def describe(self) -> dict[str, Any]:
        """For the sidecar: where the input came from and what was done to it."""
        return {
            "source": self.source,
            "mask": self.mask_source,
            "original_size": list(self.original_size),
            "fit": self.fit,
            "size": list(self.image.size),
            "notes": list(self.notes),
            "sha256": self.digest,
        }

    @property
    def ratio(self) -> Fraction:
        return Fraction(self.image.width, self.image.height)

    def resized(self, size: Size) -> Image:
        """The picture at ``size``, resized as IF's pipelines resize (bicubic)."""
        return _resized(self.image, size)

    def mask_resized(self, size: Size) -> Image | None:
        """The mask at ``size``, resized as IF's inpainting pipelines resize theirs."""
        return None if self.mask is None else _resized(self.mask, size)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ImageInput) and self.identity() == other.identity()

    def __hash__(self) -> int:
        return hash(self.digest)


def _resized(picture: Image, size: Size) -> Image:
    from PIL import Image as PILImage

    if picture.size == (size.width, size.height):
        return picture
    target = (size.width, size.height)
    return picture.resize(target, PILImage.Resampling.BICUBIC, reducing_gap=None)


def _digest(image: Image, mask: Image | None) -> str:
    hasher = hashlib.sha256(f"{image.mode}{image.size}".encode())
    hasher.update(image.tobytes())
    if mask is not None:
        hasher.update(b"mask")
        hasher.update(mask.tobytes())
    return hasher.hexdigest()


def _read_bytes(source: str, what: str) -> bytes:
    if source == STDIN:
        data = sys.stdin.buffer.read(MAX_INPUT_BYTES + 1)
        if not data:
            raise InvalidRequestError(f"{what} on stdin is empty", hint="pipe an image into if-cli")
    else:
        path = Path(source).expanduser()
        if not os.path.lexists(path):
            raise InvalidRequestError(f"{what} {source}: no such file")
        if path.is_dir():
            raise InvalidRequestError(f"{what} {source} is a folder, not an image file")
        try:  # a regular file, or a pipe such as <(curl …); never a device
            data = read_bytes(path, MAX_INPUT_BYTES, streams=True)
        except UnreadableFile as exc:
            if exc.reason.startswith("is larger"):
                raise _too_many_bytes(source, what) from exc
            raise InvalidRequestError(f"{what} {source} {exc.reason}") from exc
        if not data:
            raise InvalidRequestError(f"{what} {source} is empty (0 bytes)")
    if len(data) > MAX_INPUT_BYTES:
        raise _too_many_bytes(source, what)
    return data


def _too_many_bytes(source: str, what: str) -> InvalidRequestError:
    return InvalidRequestError(
        f"{what} {source} is larger than {MAX_INPUT_BYTES // 1024**2} MiB; refused"
    )


def _decode(data: bytes, source: str, what: str) -> tuple[Image, list[str]]:
    """Open, check the size from the header, then decode the first frame."""
    from PIL import Image as PILImage
    from PIL import UnidentifiedImageError

    notes: list[str] = []
    with warnings.catch_warnings():
        warnings.simplefilter("error", PILImage.DecompressionBombWarning)
        try:
            picture = PILImage.open(io.BytesIO(data))
        except UnidentifiedImageError as exc:
            kind = _signature(data)
            if kind:
                raise InvalidRequestError(
                    f"{what} {source} starts like a {kind} file but its header is broken "
                    "(no pixels, or corrupt)"
                ) from exc
            raise InvalidRequestError(
                f"{what} {source} is not an image file Pillow can read",
                hint="use PNG, JPEG, WebP, BMP, TIFF or GIF",
            ) from exc
        except (PILImage.DecompressionBombError, PILImage.DecompressionBombWarning) as exc:
            raise _too_large(source, what) from exc
        except DECODER_ERRORS as exc:
            raise InvalidRequestError(f"{what} {source} is corrupt: {_said(exc)}") from exc
    width, height = picture.size
    if width < 1 or height < 1:
        raise InvalidRequestError(f"{what} {source} has no pixels ({width}×{height})")
    if width * height > MAX_INPUT_PIXELS:
        raise _too_large(source, what, (width, height))
    try:
        frames = getattr(picture, "n_frames", 1)  # reads every frame's header
        picture.seek(0)
        picture.load()
    except DECODER_ERRORS as exc:
        raise InvalidRequestError(f"{what} {source} is truncated or corrupt: {_said(exc)}") from exc
    if frames > 1:
        notes.append(f"first of {frames} frames")
    return picture, notes


DECODER_ERRORS = (
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    KeyError,
    IndexError,
    TypeError,
    ZeroDivisionError,
    struct.error,
)
"""What Pillow's decoders raise on a malformed file (a TIFF without its width tag is a
KeyError deep inside Pillow): all of them mean the same to the user."""


def _said(error: BaseException) -> str:
    return str(error) or type(error).__name__


_SIGNATURES = {
    b"\x89PNG\r\n\x1a\n": "PNG",
    b"\xff\xd8\xff": "JPEG",
    b"GIF8": "GIF",
    b"BM": "BMP",
    b"II*\x00": "TIFF",
    b"MM\x00*": "TIFF",
}


def _signature(data: bytes) -> str | None:
    """The format a file's first bytes announce, to tell broken from foreign files."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WebP"
    return next((kind for magic, kind in _SIGNATURES.items() if data.startswith(magic)), None)


def _too_large(source: str, what: str, size: tuple[int, int] | None = None) -> InvalidRequestError:
    shown = f" ({size[0]}×{size[1]} px)" if size else ""
    limit = _side_limit()
    return InvalidRequestError(
        f"{what} {source} is too large{shown}; refused before decoding",
        hint=f"the limit is {limit}×{limit} pixels; make it smaller first",
    )


def _upright(picture: Image, notes: list[str]) -> Image:
    """Apply the EXIF orientation, as every photo viewer does."""
    from PIL import ImageOps

    orientation = picture.getexif().get(0x0112, 1)
    if orientation in (None, 1):
        return picture
    try:
        turned = ImageOps.exif_transpose(picture)
    except (OSError, ValueError, TypeError, KeyError):
        notes.append("EXIF orientation unreadable; ignored")
        return picture
    notes.append(f"EXIF orientation {orientation} applied")
    return turned if turned is not None else picture


def _has_alpha(picture: Image) -> bool:
    return picture.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        picture.mode == "P" and "transparency" in picture.info
    )


def _to_rgb(picture: Image, background: tuple[int, int, int], notes: list[str]) -> Image:
    """8-bit RGB: 16-bit and float scaled, transparency composited on ``background``."""
    import numpy as np
    from PIL import Image as PILImage

    if picture.mode in _SIXTEEN_BIT_MODES or picture.mode == "F":
        values = np.asarray(picture, dtype=np.float64)
        top = values.max(initial=0)
        if picture.mode == "F" and top <= 1.0:
            scaled = values * 255.0
            notes.append("float image scaled from 0–1 to 8 bits")
        elif picture.mode != "F" and top > 255:
            scaled = values / 257.0
            notes.append("16-bit image reduced to 8 bits")
        else:
            scaled = values
        grey = PILImage.fromarray(np.clip(np.rint(scaled), 0, 255).astype(np.uint8), mode="L")
        return grey.convert("RGB")
    if _has_alpha(picture):
        rgba = picture.convert("RGBA")
        if rgba.getextrema()[3][0] < 255:
            colour = "white" if background == WHITE else "black"
            notes.append(f"transparency composited on {colour}")
        canvas = PILImage.new("RGBA", rgba.size, (*background, 255))
        return PILImage.alpha_composite(canvas, rgba).convert("RGB")
    return picture.convert("RGB")


def read_picture(
    source: str,
    what: str = "image",
    background: tuple[int, int, int] = WHITE,
    data: bytes | None = None,
) -> tuple[Image, list[str]]:
    """A file (or ``-`` for stdin) as upright 8-bit RGB, with notes on what was changed;
    ``data``, where given, is the file's bytes (sent to the worker's APIs) and ``source``
    only its name in messages."""
    if data is None:
        data = _read_bytes(source, what)
    elif len(data) > MAX_INPUT_BYTES:
        raise _too_many_bytes(source, what)
    picture, notes = _decode(data, source, what)
    picture = _upright(picture, notes)
    return _to_rgb(picture, background, notes), notes


def _check_fit(fit: str) -> None:
    if fit not in FITS:
        raise InvalidRequestError(f"unknown fit {fit!r}", hint="choose one of " + ", ".join(FITS))


def fit_to(
    picture: Image, fit: str, ratio: Fraction | None, fill: tuple[int, int, int] = BLACK
) -> Image:
    """``picture`` in the shape ``ratio`` (width / height; a square when None): centre
    crop, pad with ``fill``, or stretch; ``keep`` leaves it as it is."""
    from PIL import Image as PILImage

    _check_fit(fit)
    width, height = picture.size
    ratio = Fraction(1) if ratio is None else ratio
    if fit == "keep" or Fraction(width, height) == ratio:
        return picture
    # The largest box of ``ratio`` inside the picture (crop), or around it (pad, stretch).
    inner = (width, max(1, round(width / ratio)))
    if inner[1] > height:
        inner = (max(1, round(height * ratio)), height)
    outer = (width, max(height, round(width / ratio)))
    if outer[1] == height:
        outer = (max(width, round(height * ratio)), height)
    if fit == "crop":
        left, top = (width - inner[0]) // 2, (height - inner[1]) // 2
        return picture.crop((left, top, left + inner[0], top + inner[1]))
    if fit == "pad":
        canvas = PILImage.new(picture.mode, outer, fill if picture.mode == "RGB" else 0)
        canvas.paste(picture, ((outer[0] - width) // 2, (outer[1] - height) // 2))
        return canvas
    return picture.resize(outer, PILImage.Resampling.BICUBIC)  # stretch


def _read_mask(
    source: str,
    image_size: tuple[int, int],
    fit: str,
    ratio: Fraction | None,
    data: bytes | None = None,
    invert: bool = False,
) -> Image:
    """The mask as a binary ``L`` picture, fitted exactly as its image was (``invert``:
    its black part is repainted)."""
    from PIL import Image as PILImage
    from PIL import ImageOps

    picture, _ = read_picture(source, what="mask", background=BLACK, data=data)
    (width, height), (image_width, image_height) = picture.size, image_size
    ratio, image_ratio = width / height, image_width / image_height
    if abs(ratio / image_ratio - 1) > MASK_ASPECT_TOLERANCE:
        raise InvalidRequestError(
            f"the mask is {width}×{height} but the image is {image_width}×{image_height}: "
            "their shapes differ, so one cannot be laid over the other",
            hint="make the mask with the same aspect ratio as the image",
        )
    grey = picture.convert("L")
    if grey.size != image_size:
        grey = grey.resize(image_size, PILImage.Resampling.BILINEAR)
    if invert:
        grey = ImageOps.invert(grey)
    binary = fit_to(grey, fit, ratio).point(lambda value: 255 if value >= 128 else 0)
    low, high = binary.getextrema()
    if high == 0:
        raise InvalidRequestError(
            f"the mask {source} is all black: nothing would be repainted",
            hint="paint the part to repaint white",
        )
    if low == 255:
        raise InvalidRequestError(
            f"the mask {source} is all white: everything would be repainted",
            hint="use `if-cli generate` to make a new picture, or paint what to keep black",
        )
    return binary


def _check_kept_shape(source: str, size: tuple[int, int]) -> None:
    from if_cli.engine.sizes import MAX_ASPECT

    width, height = size
    if max(width, height) > MAX_ASPECT * min(width, height):
        raise InvalidRequestError(
            f"the image {source} is {width}×{height}, wider or taller than {MAX_ASPECT}:1",
            hint=f"pass --fit crop (or pad) with --aspect {MAX_ASPECT}:1 or narrower",
        )


def load_input(
    source: str,
    fit: str = DEFAULT_FIT,
    mask: str | None = None,
    ratio: Fraction | None = None,
    data: bytes | None = None,
    mask_data: bytes | None = None,
    invert_mask: bool = False,
) -> ImageInput:
    """Read, check and fit an input picture (and its mask) for a request.

    ``ratio`` is the aspect asked for (width / height); ``crop``, ``pad`` and ``stretch``
    fit the picture to it, or to a square when it is None. ``data`` and ``mask_data``
    are the files' bytes where they did not come from files (the worker's APIs); then
    ``source`` and ``mask`` only name them.
    """
    _check_fit(fit)
    if mask is not None and mask == source == STDIN and data is None:
        raise InvalidRequestError("only one of the image and the mask can come from stdin (-)")
    picture, notes = read_picture(source, data=data)
    if fit == "keep":
        _check_kept_shape(source, picture.size)
    fitted = fit_to(picture, fit, ratio)
    if fitted.size != picture.size:
        shape = "a square" if ratio in (None, 1) else f"{ratio.numerator}:{ratio.denominator}"
        notes.append(f"{fit} to {shape}")
    if fitted.width * fitted.height > MAX_INPUT_PIXELS:
        raise InvalidRequestError(
            f"the image {source} would be {fitted.width}×{fitted.height} px once fitted "
            f"with --fit {fit}, more than the {_side_limit()}×{_side_limit()} px limit",
            hint="use --fit crop, or make the picture smaller first",
        )
    mask_picture = None
    if mask is not None:
        mask_picture = _read_mask(mask, picture.size, fit, ratio, mask_data, invert_mask)
    return ImageInput(
        image=fitted,
        source=source if data is not None else _absolute(source),
        fit=fit,
        original_size=picture.size,
        notes=tuple(notes),
        mask=mask_picture,
        mask_source=mask if mask is None or mask_data is not None else _absolute(mask),
    )


def transparent_area(data: bytes, source: str, what: str) -> Image | None:
    """Where a picture is fully transparent, as a mask (``L``, 255 there), or None when it
    has no transparency: how OpenAI's image edits mark the area to repaint."""
    picture, _ = _decode(data, source, what)
    picture = _upright(picture, [])
    if not _has_alpha(picture):
        return None
    alpha = picture.convert("RGBA").getchannel("A")
    return alpha.point(lambda value: 255 if value == 0 else 0)


def _absolute(source: str) -> str:
    """Where a file is, from anywhere: a sidecar that records it can be replayed elsewhere."""
    return source if source == STDIN else str(Path(source).expanduser().absolute())


def _side_limit() -> int:
    return int(MAX_INPUT_PIXELS**0.5)
