"""The one writer of if-cli outputs: PNG + text chunk, intermediates, then the sidecar.

An image's files share a stem: ``NAME.png``, ``NAME.json`` and, with intermediates,
``NAME.stage-1.png`` / ``NAME.stage-2.png``. The final PNG is published first and the
sidecar last, so an image with a sidecar is always complete. Without metadata the PNGs
carry no text chunk and no sidecar is written.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from if_cli.output.files import publish
from if_cli.output.metadata import ImageLabel, a1111_parameters, sidecar
from if_cli.output.naming import free_stem, render_stem, slugify

if TYPE_CHECKING:
    from PIL.Image import Image

    from if_cli.engine.result import GeneratedImage, GenerationResult

MAX_NAME_ATTEMPTS = 1000


@dataclass(frozen=True)
class WrittenImage:
    image: Path
    sidecar: Path | None  # None without metadata
    intermediates: tuple[Path, ...]


class OutputWriter:
    """Writes each finished image of a run into ``directory`` under ``template`` names."""

    def __init__(self, directory: Path, template: str, metadata: bool = True) -> None:
        self.directory = directory
        self.template = template
        self.metadata = metadata
        self.started = datetime.now().astimezone()

    def write(
        self, result: GenerationResult, image: GeneratedImage, label: ImageLabel
    ) -> WrittenImage:
        stages = sorted(image.intermediates)
        suffixes = (".png", ".json", *(f".stage-{s}.png" for s in stages))
        base = render_stem(self.template, self._fields(result, image, label))
        for _ in range(MAX_NAME_ATTEMPTS):
            stem = free_stem(self.directory, base, suffixes)
            final = self.directory / f"{stem}.png"
            try:
                _publish_png(final, image.image, self._parameters(result, image, image.image))
            except FileExistsError:
                continue  # another process took the name between the check and the write
            break
        else:
            raise FileExistsError(f"no free file name for {base} in {self.directory}")
        extra = []
        for stage in stages:
            path = self.directory / f"{stem}.stage-{stage}.png"
            picture = image.intermediates[stage]
            _publish_png(path, picture, self._parameters(result, image, picture))
            extra.append(path)
        if not self.metadata:
            return WrittenImage(final, None, tuple(extra))
        files = {
            "image": final.name,
            **{f"stage_{s}": p.name for s, p in zip(stages, extra, strict=True)},
        }
        data = sidecar(result, image, label, files, datetime.now().astimezone())
        side = self.directory / f"{stem}.json"
        text = json.dumps(data, indent=2, default=str) + "\n"
        publish(side, lambda handle: handle.write(text.encode()))
        return WrittenImage(final, side, tuple(extra))

    def _parameters(
        self, result: GenerationResult, image: GeneratedImage, picture: Image
    ) -> str | None:
        return a1111_parameters(result, image, picture.size) if self.metadata else None

    def _fields(
        self, result: GenerationResult, image: GeneratedImage, label: ImageLabel
    ) -> dict[str, object]:
        slug = slugify(image.prompt)
        init = result.request.init
        if init is not None and not image.prompt.strip():  # variations, upscales
            slug = slugify(f"{Path(init.source).stem} {result.request.flow}")
        return {
            "date": self.started.strftime("%Y%m%d"),
            "time": self.started.strftime("%H%M%S"),
            "seed": image.seed,
            "slug": slug,
            "index": label.index,
            "name": label.name or slug,
        }


def _publish_png(path: Path, picture: Image, parameters: str | None) -> None:
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    if parameters is not None:
        info.add_text("parameters", parameters)

    def write(handle: BinaryIO) -> None:
        picture.save(handle, format="PNG", pnginfo=info)

    publish(path, write)
