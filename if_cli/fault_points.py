"""Named points in a run where a test can stop or fail the real program.

The reliability tests send real signals to a real ``if-cli`` process and need it to be
at a known place when they do: in the middle of stage II, with a file half written.
``IF_CLI_FAULT`` names what to do where; unset (always, for users) every point is one
dictionary lookup and nothing else.

Spec: ``ACTION@POINT[#N][>B]``

- ACTION ``pause``: print ``if-cli: paused at POINT`` on stderr and wait, until the file
  named by ``IF_CLI_FAULT_RELEASE`` exists (or forever, for a signal to end it; a signal
  that waits for a write in progress ends the pause, and the write goes on).
- ACTION ``oom``: raise PyTorch's out-of-memory error, as a GPU that is too small would.
- ``#N``: only the N-th time the point is reached (default: every time).
- ``>B``: only when the work in hand has more than B images (an OOM that a smaller
  batch avoids).

Points: ``encode`` (T5), ``stage_1`` / ``stage_2`` / ``stage_3`` (after a stage's first
denoising step), ``save`` (a file is written and synced under its temporary name, not
yet given its final one).
"""

from __future__ import annotations

import os
import re
import sys
import time
from collections import Counter
from pathlib import Path

FAULT_VARIABLE = "IF_CLI_FAULT"
RELEASE_VARIABLE = "IF_CLI_FAULT_RELEASE"
_SPEC = re.compile(r"(?P<action>pause|oom)@(?P<point>\w+)(?:#(?P<nth>\d+))?(?:>(?P<above>\d+))?$")
_reached: Counter[str] = Counter()


def reached(point: str, images: int = 1) -> None:
    """Mark that the run is at ``point`` with ``images`` in hand; act if a test asked to."""
    spec = os.environ.get(FAULT_VARIABLE)
    if not spec:
        return
    match = _SPEC.match(spec)
    if match is None or match["point"] != point:
        return
    _reached[point] += 1
    if match["nth"] is not None and _reached[point] != int(match["nth"]):
        return
    if match["above"] is not None and images <= int(match["above"]):
        return
    if match["action"] == "oom":
        import torch

        raise torch.OutOfMemoryError(
            f"CUDA out of memory at {point} with {images} image(s) ({FAULT_VARIABLE})"
        )
    _pause(point)


def _pause(point: str) -> None:
    sys.stderr.write(f"if-cli: paused at {point}\n")
    sys.stderr.flush()
    from if_cli.stops import stop_waiting

    release = os.environ.get(RELEASE_VARIABLE)
    while (release is None or not Path(release).exists()) and not stop_waiting():
        time.sleep(0.02)
