"""Input pictures for the image-flow tests, drawn here in every format users hand us."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def pattern(size: tuple[int, int]) -> np.ndarray:
    """A deterministic RGB picture with gradients and a bright block: no two rows alike."""
    width, height = size
    y, x = np.mgrid[0:height, 0:width]
    red = (x * 255 // max(width - 1, 1)).astype(np.uint8)
    green = (y * 255 // max(height - 1, 1)).astype(np.uint8)
    blue = ((x + y) * 7 % 256).astype(np.uint8)
    pixels = np.stack([red, green, blue], axis=-1)
    pixels[height // 4 : height // 2, width // 4 : width // 2] = (250, 240, 30)
    return pixels


def write_picture(path: Path, size: tuple[int, int], mode: str = "RGB", **save: Any) -> Path:
    """Save the pattern at ``path`` (format from the suffix) in a Pillow ``mode``."""
    from PIL import Image

    picture = Image.fromarray(pattern(size), mode="RGB")
    if mode != "RGB":
        picture = picture.convert(mode)
    picture.save(path, **save)
    return path


def write_mask(path: Path, size: tuple[int, int], box: float = 0.5) -> Path:
    """A black mask with a white centre square covering ``box`` of each side."""
    from PIL import Image

    width, height = size
    mask = np.zeros((height, width), dtype=np.uint8)
    top, left = int(height * (1 - box) / 2), int(width * (1 - box) / 2)
    mask[top : height - top, left : width - left] = 255
    Image.fromarray(mask, mode="L").save(path)
    return path


def write_animated_gif(path: Path, size: tuple[int, int]) -> Path:
    """Two frames: red, then blue. Only the first may be used."""
    from PIL import Image

    frames = [Image.new("RGB", size, colour) for colour in ((255, 0, 0), (0, 0, 255))]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)
    return path


def write_transparent_png(path: Path, size: tuple[int, int]) -> Path:
    """Opaque pattern on the left half, fully transparent on the right half."""
    from PIL import Image

    rgba = Image.fromarray(pattern(size), mode="RGB").convert("RGBA")
    alpha = np.full((size[1], size[0]), 255, dtype=np.uint8)
    alpha[:, size[0] // 2 :] = 0
    rgba.putalpha(Image.fromarray(alpha, mode="L"))
    rgba.save(path)
    return path


def write_16bit_png(path: Path, size: tuple[int, int]) -> Path:
    """A 16-bit greyscale ramp from 0 to 65535."""
    from PIL import Image

    width, height = size
    ramp = np.linspace(0, 65535, width * height).reshape(height, width).astype(np.uint16)
    Image.fromarray(ramp).save(path)
    return path


def write_rotated_jpeg(path: Path, size: tuple[int, int], orientation: int = 6) -> Path:
    """A JPEG stored sideways with an EXIF orientation tag, as phone cameras write them."""
    from PIL import Image

    picture = Image.fromarray(pattern(size), mode="RGB")
    exif = Image.Exif()
    exif[0x0112] = orientation
    picture.save(path, exif=exif.tobytes())
    return path


def png_header_only(path: Path, width: int, height: int) -> Path:
    """A PNG that claims ``width`` × ``height`` pixels: IHDR, an empty IDAT, IEND."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b""))
    path.write_bytes(data + chunk(b"IEND", b""))
    return path


def write_truncated(path: Path, source: Path, keep: float = 0.5) -> Path:
    """The first ``keep`` share of ``source``'s bytes, as a download cut short leaves it."""
    data = source.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path
