"""The cascade benchmark runs both contenders and reports what it measured."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from benchmarks.harness import flops, models

ROOT = Path(__file__).resolve().parent.parent


def _published(key: str) -> dict[str, Any]:
    return getattr(models.architecture("XL"), key)


@pytest.mark.parametrize(
    ("key", "side", "tflop"),
    [("stage_1_unet", 64, 5.758), ("stage_2_unet", 256, 6.068)],
)
def test_flops_per_step_match_the_published_models(key: str, side: int, tflop: float) -> None:
    """IF-I-XL and IF-II-L at a guided batch of one image: 5.76 and 6.07 TFLOP per step."""
    counted = flops.unet_step(_published(key), images=1, side=side, text_width=4096)
    assert counted / 1e12 == pytest.approx(tflop, rel=1e-3)


def test_the_published_architecture_has_the_published_parameter_counts() -> None:
    import torch
    from diffusers import UNet2DConditionModel

    with torch.device("meta"):
        unet = UNet2DConditionModel(**_published("stage_1_unet"))
    assert sum(p.numel() for p in unet.parameters()) == 4_304_695_110


def _benchmark(tmp_path: Path, *args: str) -> dict[str, Any]:
    out = tmp_path / "results"
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "cascade.py"), *args, "--out", str(out)],
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    (page,) = out.glob("*-cascade-*.json")
    assert page.with_suffix(".md").name in (out / "README.md").read_text()
    return {"json": json.loads(page.read_text()), "md": page.with_suffix(".md").read_text()}


@pytest.mark.slow
def test_the_benchmark_times_the_recipe_and_the_engine_stage_by_stage(tmp_path: Path) -> None:
    written = _benchmark(
        tmp_path,
        *("--size", "tiny", "--device", "cpu", "--steps", "2,2,2", "--repeat", "1"),
        *("--runs", "recipe-1,ifcli-1", "--models", str(tmp_path / "models")),
    )
    result = written["json"]
    assert [run["name"] for run in result["runs"]] == ["recipe-1", "ifcli-1"]
    assert [run["plan"] for run in result["runs"]] == ["resident", "--offload none"]
    for run in result["runs"]:
        assert run["peak_rss_bytes"] > 0 and run["s_per_image"] > 0
        for stage in ("stage_1", "stage_2", "stage_3"):
            assert run["per_stage"][stage]["it_s"] > 0
            assert run["per_stage"][stage]["tflop_s"] > 0
    (ratio,) = result["ratios"]
    recipe, engine = (run["s_per_image"] for run in result["runs"])
    assert ratio["value"] == pytest.approx(engine / recipe)
    assert result["machine"]["versions"]["torch"]
    assert "| recipe-1 | resident |" in written["md"]


@pytest.mark.gpu
def test_one_command_runs_every_comparison_on_a_gpu(tmp_path: Path) -> None:
    written = _benchmark(
        tmp_path,
        *("--size", "tiny", "--steps", "2,2,2", "--repeat", "1"),
        *("--models", str(tmp_path / "models")),
    )
    result = written["json"]
    assert len(result["runs"]) == 6 and len(result["ratios"]) == 4
    assert all(run["peak_gpu_bytes"] > 0 for run in result["runs"])
    capped = next(run for run in result["runs"] if run["name"] == "ifcli-1-capped")
    assert capped["peak_gpu_bytes"] <= 24 * 2**30
