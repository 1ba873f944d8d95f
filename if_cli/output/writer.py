"""The one writer of if-cli outputs: PNG + text chunk, intermediates, then the sidecar.

An image's files share a stem: ``NAME.png``, ``NAME.json`` and, with intermediates,
``NAME.stage-1.png`` / ``NAME.stage-2.png``. The final PNG is published first and the
sidecar last, so an image with a sidecar is always complete. Without metadata the PNGs
carry no text chunk and no sidecar is written.

Every file is encoded in memory before the first is written, and a name counts as taken
when anything at all has it (a dangling symlink, a FIFO, a folder). When the output
folder still cannot take a file (full, gone, read-only), the files are not dropped: they
are saved in the rescue folder and the error says where (see ``rescue``).
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from if_cli.errors import OutputError
from if_cli.output.files import publish_beside, publish_bytes, write_failure
from if_cli.output.metadata import ImageLabel, a1111_parameters, sidecar
from if_cli.output.naming import free_stem, render_stem, slugify
from if_cli.output.rescue import SIDECAR_SUFFIX, rescue

if TYPE_CHECKING:
    from PIL.Image import Image

    from if_cli.engine.result import GeneratedImage, GenerationResult

MAX_NAME_ATTEMPTS = 1000

# The sidecar's text, given the name each picture file got: suffix → file name.
SidecarText = Callable[[dict[str, str]], bytes]


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
        """Publish the image's files; on failure save them elsewhere and raise OutputError."""
        stages = sorted(image.intermediates)
        pictures = {".png": self._png(result, image, image.image)}
        for stage in stages:
            pictures[f".stage-{stage}.png"] = self._png(result, image, image.intermediates[stage])
        text = self._sidecar_text(result, image, label, stages) if self.metadata else None
        base = render_stem(self.template, self._fields(result, image, label))
        for attempt in (1, 2):
            done: dict[str, Path] = {}
            try:
                self._recreate_folder()
                self._publish(base, pictures, text, done)
                break
            except OutputError as failure:
                if attempt == 1 and not os.path.lexists(self.directory):
                    continue  # the folder was removed while the image was written: again
                what = f"image {label.index + 1} (seed {image.seed}, prompt {image.prompt[:60]!r})"
                raise rescue(failure, what, base, pictures, text, done) from failure
        return WrittenImage(
            done[".png"],
            done.get(SIDECAR_SUFFIX),
            tuple(done[f".stage-{stage}.png"] for stage in stages),
        )

    def _recreate_folder(self) -> None:
        """The output folder again, should it have been removed since the run began."""
        if os.path.lexists(self.directory) and not self.directory.is_dir():
            raise OutputError(f"the output folder {self.directory} was replaced by a file")
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:  # replaced by a file, say
            raise write_failure(f"to output directory {self.directory}", exc) from exc

    def _publish(
        self,
        base: str,
        pictures: dict[str, bytes],
        text: SidecarText | None,
        done: dict[str, Path],
    ) -> None:
        """Claim a free stem with the final PNG, then add its other files beside it.

        ``done`` collects what is published, so a failure part-way knows what is safe.
        """
        suffixes = (*pictures, SIDECAR_SUFFIX)
        for _ in range(MAX_NAME_ATTEMPTS):
            stem = free_stem(self.directory, base, suffixes)
            try:
                done[".png"] = publish_bytes(self.directory / f"{stem}.png", pictures[".png"])
                break
            except FileExistsError:
                continue  # another process took the name between the check and the write
        else:
            raise OutputError(
                f"no free file name for {base} in {self.directory} after {MAX_NAME_ATTEMPTS} tries"
            )
        for suffix, data in pictures.items():
            if suffix not in done:
                done[suffix] = publish_beside(self.directory, stem, suffix, data)
        if text is not None:
            names = {suffix: path.name for suffix, path in done.items()}
            done[SIDECAR_SUFFIX] = publish_beside(self.directory, stem, SIDECAR_SUFFIX, text(names))

    def _png(self, result: GenerationResult, image: GeneratedImage, picture: Image) -> bytes:
        parameters = a1111_parameters(result, image, picture.size) if self.metadata else None
        return png_bytes(picture, parameters)

    def _sidecar_text(
        self,
        result: GenerationResult,
        image: GeneratedImage,
        label: ImageLabel,
        stages: list[int],
    ) -> SidecarText:
        def text(names: dict[str, str]) -> bytes:
            files = {"image": names[".png"]}
            files.update({f"stage_{s}": names[f".stage-{s}.png"] for s in stages})
            data = sidecar(result, image, label, files, datetime.now().astimezone())
            return (json.dumps(data, indent=2, default=str) + "\n").encode()

        return text

    def _fields(
        self, result: GenerationResult, image: GeneratedImage, label: ImageLabel
    ) -> dict[str, object]:
        slug = slugify(image.prompt)
        init, flow = result.request.init, result.request.flow
        if flow == "upscale":  # never the name of the picture it came from
            subject = image.prompt if image.prompt.strip() else Path(init.source).stem
            slug = slugify(f"{subject} upscaled {min(image.image.size)}")  # as --to says
        elif init is not None and not image.prompt.strip():  # variations
            slug = slugify(f"{Path(init.source).stem} {flow}")
        return {
            "date": self.started.strftime("%Y%m%d"),
            "time": self.started.strftime("%H%M%S"),
            "seed": image.seed,
            "slug": slug,
            "index": label.index,
            "name": label.name or slug,
        }


def png_bytes(picture: Image, parameters: str | None) -> bytes:
    """The PNG file of ``picture``, with an A1111 ``parameters`` text chunk when given."""
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    if parameters is not None:
        info.add_text("parameters", parameters)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()
