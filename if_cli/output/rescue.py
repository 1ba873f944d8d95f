"""Where an image goes when its output folder cannot take it: nothing made is dropped.

On real IF an image is minutes of GPU work. When the output folder fails once the image
is made (the disk is full, the folder was removed or replaced, every name is taken),
all its files are saved together in a rescue folder instead, ``if-cli/rescued`` in the
user data folder (``~/.local/share`` on Linux) or else the system's temporary folder,
and the error names the file. Only when no place takes them does the error say exactly
which image was lost, and why.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from if_cli.errors import OutputError
from if_cli.output.files import publish_beside
from if_cli.output.naming import free_stem

SIDECAR_SUFFIX = ".json"


def rescue_folders() -> list[Path]:
    """Where rescued images go, in order of preference."""
    from platformdirs import user_data_path

    user = getattr(os, "getuid", lambda: "user")()
    return [
        user_data_path("if-cli") / "rescued",
        Path(tempfile.gettempdir()) / f"if-cli-rescued-{user}",
    ]


def rescue(
    failure: OutputError,
    what: str,
    base: str,
    pictures: dict[str, bytes],
    text: Callable[[dict[str, str]], bytes] | None,
    done: dict[str, Path],
) -> OutputError:
    """Save every file of one image in the first rescue folder that takes them all.

    ``done`` holds the files already in the output folder. Returns the error to raise:
    ``failure`` with where the image went, or with exactly what was lost.
    """
    suffixes = (*pictures, SIDECAR_SUFFIX)
    problems = []
    for folder in rescue_folders():
        try:
            folder.mkdir(parents=True, exist_ok=True)
            stem = free_stem(folder, base, suffixes)
            saved = {
                suffix: publish_beside(folder, stem, suffix, data)
                for suffix, data in pictures.items()
            }
            if text is not None:
                names = {suffix: path.name for suffix, path in saved.items()}
                publish_beside(folder, stem, SIDECAR_SUFFIX, text(names))
        except (OSError, OutputError) as exc:
            problems.append(f"{folder}: {getattr(exc, 'strerror', None) or exc}")
            continue
        return OutputError(
            f"{failure.message}; {what} was saved as {saved['.png']} instead", failure.hint
        )
    tried = "; ".join(problems)
    if ".png" in done:
        kept = f"{what} is at {done['.png']}, but not all its files: no rescue folder took them"
    else:
        kept = f"{what} is lost: no rescue folder could take it either"
    return OutputError(f"{failure.message}; {kept} ({tried})", failure.hint)
