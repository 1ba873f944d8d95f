"""Progress events the engine reports through a callback instead of printing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

StageKey = Literal["text", "stage_1", "stage_2", "stage_3"]
Phase = Literal["load", "run", "done"]

STAGE_LABELS: dict[str, str] = {
    "text": "T5 text encoder",
    "stage_1": "stage I",
    "stage_2": "stage II",
    "stage_3": "stage III",
}


@dataclass(frozen=True)
class ProgressEvent:
    """``step`` of ``total`` in ``stage``; ``phase`` says whether it is loading or running."""

    stage: StageKey
    phase: Phase
    step: int
    total: int
    detail: str = ""
    images: tuple[int, int, int] | None = None  # (first, last, of): images being made now

    @property
    def label(self) -> str:
        return STAGE_LABELS[self.stage]

    @property
    def which_images(self) -> str:
        """``image 3 of 8``, ``images 3–4 of 8``, or "" when not known."""
        if self.images is None:
            return ""
        first, last, count = self.images
        noun = "prompt" if self.stage == "text" else "image"
        if first == last:
            return f"{noun} {first} of {count}"
        return f"{noun}s {first}–{last} of {count}"


ProgressCallback = Callable[[ProgressEvent], None]


def ignore_progress(_event: ProgressEvent) -> None:
    """The default callback: API users who pass none get no reports."""
