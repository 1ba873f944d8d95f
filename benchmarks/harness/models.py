"""The cascades a benchmark runs: random weights in the published layout, or the demo.

Speed and memory do not depend on the values of the weights, so ``XL`` writes IF-I-XL,
IF-II-L and the x4 upscaler at their published widths with random weights (fp16 files,
made on the GPU), and both contenders load them from disk as they would the real ones.
``tiny`` is the test suite's cascade (same layout and resolutions, tiny widths): it runs
anywhere in seconds. ``demo`` is the cascade if-cli ships (stages I and II, 128 px).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from if_cli.engine.catalog import shipped_model_path
from tests.tiny_cascade import TINY, Architecture, write_tiny_cascade

SIZES = ("tiny", "demo", "XL")
PUBLISHED = Path(__file__).with_name("published_architecture.json")
DEFAULT_STEPS = {"tiny": (100, 50, 75), "demo": (20, 10, 0), "XL": (100, 50, 75)}
_DONE = "written.ok"  # marks a folder whose writing finished


@dataclass(frozen=True)
class Cascade:
    """Model folders by stage key, and the stage the cascade ends at."""

    size: str
    repos: dict[str, str]
    last_stage: int


def architecture(size: str) -> Architecture:
    if size == "tiny":
        return TINY
    kwargs = json.loads(PUBLISHED.read_text())
    kwargs.pop("about")
    return Architecture(**kwargs)


def prepare(size: str, root: Path, device: str) -> Cascade:
    """The cascade of ``size``, written under ``root`` the first time (kept for later runs)."""
    if size == "demo":
        repos = {"stage_1": shipped_model_path("demo-I"), "stage_2": shipped_model_path("demo-II")}
        return Cascade(size, {k: str(v) for k, v in repos.items()}, last_stage=2)
    if size == "XL" and device == "cpu":
        raise SystemExit("--size XL needs a GPU: its random weights are 22 GB in fp16")
    folder = root / size
    if not (folder / _DONE).is_file():
        import torch

        shutil.rmtree(folder, ignore_errors=True)
        with torch.device("cuda" if device == "cuda" else "cpu"):
            write_tiny_cascade(folder, architecture(size), full_size=size != "tiny")
        (folder / _DONE).write_text("")
    repos = {
        "stage_1": folder / "IF-I-XL-v1.0",
        "stage_2": folder / "IF-II-L-v1.0",
        "stage_3": folder / "stable-diffusion-x4-upscaler",
    }
    return Cascade(size, {k: str(v) for k, v in repos.items()}, last_stage=3)
