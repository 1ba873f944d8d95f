"""IF's watermark, applied as the reference pipelines apply it, where a picture can hold it.

diffusers' ``IFWatermarker`` scales its 62 px mark with the picture and pastes it in
the bottom-right corner. For a picture of about 16 px or less the mark scales to 0 px
and Pillow refuses it (``ValueError``), which would end a run after all its work. Such a
picture (only small test or custom models make one) is left unmarked, with one warning.
"""

from __future__ import annotations

import logging
import math
from typing import Any

log = logging.getLogger("if_cli")
MARK_SIDE = 62  # the published watermark image, at 1024 px


def mark_side(width: int, height: int, sample_size: int | None) -> int:
    """The side of the mark on a ``width`` × ``height`` picture, as diffusers computes it."""
    sample_size = sample_size or height
    scale = min(height / sample_size, width / sample_size)
    if scale < 1:
        width, height = int(width / scale), int(height / scale)
    return int(math.sqrt(width * height) / 1024 * MARK_SIDE)


class FittingWatermarker:
    """``IFWatermarker`` that skips, with one warning, pictures too small for the mark."""

    def __init__(self, watermarker: Any) -> None:
        self.watermarker = watermarker
        self._warned = False

    def apply_watermark(self, images: list[Any], sample_size: int | None = None) -> list[Any]:
        first = images[0]
        if mark_side(first.width, first.height, sample_size) >= 1:
            return list(self.watermarker.apply_watermark(images, sample_size))
        if not self._warned:
            log.warning(
                "pictures of %d×%d px are too small to carry IF's watermark; left unmarked",
                first.width,
                first.height,
            )
            self._warned = True
        return images
