"""On a CUDA device: fp16 by default, every offload mode, same pixels for the same seed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from if_cli.engine import Engine, GenerationRequest, Placement, StageOptions

pytestmark = pytest.mark.gpu


def _request(repos: dict[str, Path], offload: str) -> GenerationRequest:
    return GenerationRequest(
        prompts=("a red circle above a blue square",),
        seed=11,
        last_stage=3,
        stage_1=StageOptions(str(repos["stage_1"]), 3, 7.0),
        stage_2=StageOptions(str(repos["stage_2"]), 3, 4.0, 250),
        stage_3=StageOptions(str(repos["stage_3"]), 3, 9.0, 100),
        placement=Placement(device="cuda", offload=offload),  # type: ignore[arg-type]
    )


def test_auto_placement_on_cuda_is_fp16_with_the_fp16_files(tiny_repos: dict[str, Path]) -> None:
    prepared = Engine().prepare(_request(tiny_repos, "auto"))
    assert prepared.plan.dtype == "fp16"
    assert {stage.variant for stage in prepared.plan.stages} == {"fp16"}


@pytest.mark.parametrize("offload", ["none", "unload", "model", "sequential"])
def test_every_offload_mode_makes_the_same_1024_image(
    tiny_repos: dict[str, Path], offload: str
) -> None:
    with Engine() as engine:
        reference = engine.generate(_request(tiny_repos, "none")).images[0].image
    with Engine() as engine:
        image = engine.generate(_request(tiny_repos, offload)).images[0].image
    assert image.size == (1024, 1024)
    difference = np.abs(np.asarray(image, dtype=int) - np.asarray(reference, dtype=int))
    assert difference.max() <= 1
