"""Where an image goes when its output folder cannot take it: nothing made is dropped.

On real IF an image is minutes of GPU work. When the output folder fails once the image
is made (the disk is full, the folder was replaced by a file, every name is taken), all
its files are saved together in a rescue folder instead: ``if-cli/rescued`` in the user
data folder (``~/.local/share`` on Linux), or else a new private folder in the system's
temporary folder (made by ``mkdtemp``: no other user can have planted it). The error
names each saved file; only when no place takes an image does it say exactly which image
was lost, and why.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from if_cli.errors import OutputError
from if_cli.output.files import ensure_writable_dir, publish_beside, remove_empty_dirs
from if_cli.output.naming import free_stem

SIDECAR_SUFFIX = ".json"


class ImageNotWritten(OutputError):
    """An image its output folder could not take: saved elsewhere, or lost."""

    def __init__(self, failure: OutputError, what: str, saved: Path | None, detail: str) -> None:
        outcome = f"{what} was saved as {saved} instead" if saved else f"{what} {detail}"
        super().__init__(f"{failure.message}; {outcome}", failure.hint)
        self.cause = failure
        self.what = what
        self.saved = saved
        self.detail = detail


def summary(failures: list[ImageNotWritten]) -> OutputError:
    """One error for every image of a batch that its folder could not take."""
    if len(failures) == 1:
        return failures[0]
    first = failures[0]
    saved = [f.saved for f in failures if f.saved is not None]
    lost = [f for f in failures if f.saved is None]
    parts = []
    if saved:
        parts.append(f"{len(saved)} images were saved instead: " + ", ".join(map(str, saved)))
    if lost:
        parts.append(f"{', '.join(f.what for f in lost)} {lost[0].detail}")
    return OutputError(f"{first.cause.message}; " + "; ".join(parts), first.hint)


def _rescue_folders() -> Iterator[tuple[Path, bool]]:
    """Folders to try, in order, each with whether it is made for this one image.

    The temporary one is only made when it is reached.
    """
    from platformdirs import user_data_path

    yield user_data_path("if-cli") / "rescued", False
    yield Path(tempfile.mkdtemp(prefix="if-cli-rescued-")), True


def _save_all(
    folder: Path,
    base: str,
    pictures: dict[str, bytes],
    text: Callable[[dict[str, str]], bytes] | None,
) -> Path:
    """Save every file of one image in ``folder``, or none: returns the PNG's path.

    A failure part way takes back the files already saved, so a rescue folder never
    holds half an image.
    """
    created = ensure_writable_dir(folder)
    stem = free_stem(folder, base, (*pictures, SIDECAR_SUFFIX))
    saved: dict[str, Path] = {}
    try:
        for suffix, data in pictures.items():
            saved[suffix] = publish_beside(folder, stem, suffix, data)
        if text is not None:
            names = {suffix: path.name for suffix, path in saved.items()}
            publish_beside(folder, stem, SIDECAR_SUFFIX, text(names))
    except (OSError, OutputError):
        for path in saved.values():
            with contextlib.suppress(OSError):
                path.unlink()
        remove_empty_dirs(created)
        raise
    return saved[".png"]


def rescue(
    failure: OutputError,
    what: str,
    base: str,
    pictures: dict[str, bytes],
    text: Callable[[dict[str, str]], bytes] | None,
    done: dict[str, Path],
) -> ImageNotWritten:
    """Save every file of one image in the first rescue folder that takes them all.

    ``done`` holds the files already in the output folder. Returns the error to raise.
    """
    problems = []
    for folder, made_for_it in _rescue_folders():
        try:
            return ImageNotWritten(failure, what, _save_all(folder, base, pictures, text), "")
        except (OSError, OutputError) as exc:
            problems.append(f"{getattr(exc, 'strerror', None) or exc}")
            if made_for_it:
                with contextlib.suppress(OSError):
                    folder.rmdir()  # only when empty: never a file some image is in
    tried = "; ".join(problems)
    if ".png" in done:
        detail = f"is at {done['.png']} but not all its files: no rescue folder took them"
    else:
        detail = "is lost: no rescue folder could take it either"
    return ImageNotWritten(failure, what, None, f"{detail} ({tried})")
