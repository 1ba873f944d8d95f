"""IF's watermark where a picture can hold it, and a clear note where it cannot."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from if_cli.engine.watermark import mark_side

Cli = Callable[..., subprocess.CompletedProcess[str]]


@pytest.mark.parametrize(("side", "mark"), [(16, 0), (17, 1), (64, 3), (256, 15), (1024, 62)])
def test_the_mark_scales_with_the_picture_as_diffusers_scales_it(side: int, mark: int) -> None:
    assert mark_side(side, side, side) == mark


def test_diffusers_cannot_mark_a_picture_our_rule_calls_too_small() -> None:
    from diffusers.pipelines.deepfloyd_if.watermark import IFWatermarker
    from PIL import Image

    with pytest.raises(ValueError):
        IFWatermarker().apply_watermark([Image.new("RGB", (16, 16))], 16)
    IFWatermarker().apply_watermark([Image.new("RGB", (17, 17))], 17)


def test_a_picture_too_small_for_the_watermark_is_made_and_left_unmarked(
    cli: Cli, tiny_repos: dict[str, Path], tmp_path: Path
) -> None:
    small = shutil.copytree(tiny_repos["stage_1"], tmp_path / "small")
    config = json.loads((small / "unet" / "config.json").read_text())
    (small / "unet" / "config.json").write_text(json.dumps({**config, "sample_size": 16}))
    done = cli("generate", "a fox", "--stages", "1", "--steps", "2", "--seed", "1",
               "--stage-1-model", str(small), "--json", "-o", str(tmp_path / "out"))  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert (json.loads(done.stdout)["width"], json.loads(done.stdout)["height"]) == (16, 16)
    warnings = [line for line in done.stderr.splitlines() if "warning" in line]
    assert warnings == [
        "if-cli: warning: pictures of 16×16 px are too small to carry IF's watermark; left unmarked"
    ]
