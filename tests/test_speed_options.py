"""What makes runs fast: the ``text`` plan, ``--max-gpu-memory`` and ``--compile``."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from if_cli.engine import Engine, GenerationRequest, Placement, ProgressEvent, StageOptions
from if_cli.engine.memory import GIB, make_plan
from if_cli.units import parse_bytes
from tests.test_memory_plan import CASCADE

Cli = Callable[..., subprocess.CompletedProcess[str]]


def _request(repos: dict[str, Path], prompt: str, offload: str) -> GenerationRequest:
    return GenerationRequest(
        prompts=(prompt,),
        seed=3,
        last_stage=2,
        stage_1=StageOptions(str(repos["stage_1"]), 2, 7.0),
        stage_2=StageOptions(str(repos["stage_2"]), 2, 4.0, 250),
        placement=Placement(device="cpu", offload=offload),  # type: ignore[arg-type]
    )


def _loaded(events: list[ProgressEvent]) -> list[str]:
    return [e.stage for e in events if e.phase == "load"]


def test_the_text_plan_reloads_only_t5_for_the_next_request(tiny_repos: dict[str, Path]) -> None:
    events: list[ProgressEvent] = []
    with Engine(on_progress=events.append) as engine:
        engine.generate(_request(tiny_repos, "a red circle", "text"))
        assert _loaded(events) == ["text", "stage_1", "stage_2"]
        events.clear()
        engine.generate(_request(tiny_repos, "a blue square", "text"))
    assert _loaded(events) == ["text"]


def test_a_memory_cap_below_free_memory_steers_the_plan() -> None:
    placement = Placement(device="cuda", max_memory=24 * GIB)
    plan = make_plan(placement, "cuda", "fp16", CASCADE, 1, 3, free=80 * GIB)
    assert plan.offload == "text"  # T5 (10.7 GiB) and stages I–III (11.8) never meet
    assert plan.peak_bytes <= 24 * GIB
    assert plan.capped and "24.00 GiB allowed" in plan.reason
    uncapped = make_plan(Placement(device="cuda"), "cuda", "fp16", CASCADE, 1, 3, free=80 * GIB)
    assert uncapped.offload == "none" and not uncapped.capped


def test_a_cap_above_free_memory_changes_nothing() -> None:
    placement = Placement(device="cuda", max_memory=200 * GIB)
    plan = make_plan(placement, "cuda", "fp16", CASCADE, 1, 3, free=13 * GIB)
    assert plan.offload == "unload"
    assert not plan.capped and "free" in plan.reason


@pytest.mark.parametrize(
    ("text", "count"),
    [
        ("24GiB", 24 * 2**30),
        ("24G", 24 * 2**30),
        ("24gb", 24 * 10**9),
        ("1.5 GiB", 3 * 2**29),
        ("512MiB", 2**29),
        ("100B", 100),
    ],
)
def test_sizes_read_binary_and_decimal_units(text: str, count: int) -> None:
    assert parse_bytes(text) == count


@pytest.mark.parametrize("text", ["24", "GiB", "-1GiB", "0MB", "24 parsecs", ""])
def test_sizes_without_a_unit_or_amount_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_bytes(text)


def test_the_cap_from_the_environment_shows_in_the_dry_run(cli: Cli) -> None:
    done = cli("generate", "a cat", "--dry-run", env={"IF_CLI_MAX_GPU_MEMORY": "64MiB"})
    assert done.returncode == 0, done.stderr
    assert "of 64.00 MiB allowed" in done.stdout


@pytest.mark.slow
def test_compile_makes_the_same_picture_and_caches_its_kernels(cli: Cli, tmp_path: Path) -> None:
    """The compiled UNet's kernels round differently in the last bits, nothing more."""
    common = ["generate", "a red circle", "--stages", "1", "--steps", "2", "--device", "cpu"]
    pictures = []
    for name, extra in (("eager", []), ("compiled", ["--compile"])):
        done = cli(*common, *extra, "--seed", "4", "-o", str(tmp_path / name))
        assert done.returncode == 0, done.stderr
        png = Path(done.stdout.strip())
        pictures.append(np.asarray(Image.open(png), dtype=int))
    sidecar = json.loads(png.with_suffix(".json").read_text())
    assert sidecar["request"]["placement"]["compile"] is True
    assert np.abs(pictures[0] - pictures[1]).max() <= 2
    kernels = tmp_path / "home" / ".cache" / "if-cli" / "compiled"
    assert any(kernels.rglob("*")), "compiled kernels were not cached in if-cli's folder"
