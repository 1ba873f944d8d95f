"""``if-cli generate`` through the installed console script, with models in the HF cache."""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import FAKE_COMMIT, FAST_STEPS, HUB_IDS

Cli = Callable[..., subprocess.CompletedProcess[str]]
PROMPT = "a photo of a corgi wearing a top hat, with the sign 'IF'"


def _pngs(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.png")) if folder.exists() else []


def _ok(completed: subprocess.CompletedProcess[str]) -> list[Path]:
    assert completed.returncode == 0, completed.stderr
    return [Path(line) for line in completed.stdout.splitlines()]


@pytest.mark.slow
def test_generate_makes_a_1024_png_with_sidecar_and_text_chunk(cli: Cli, tmp_path: Path) -> None:
    out = tmp_path / "out"
    paths = _ok(cli("generate", PROMPT, "--seed", "7", "-o", str(out), *FAST_STEPS))
    assert len(paths) == 1
    png = paths[0]
    assert png.parent == out and png.name.endswith(
        "-7-a-photo-of-a-corgi-wearing-a-top-hat-with-the-sign-if.png"
    )
    with Image.open(png) as image:
        assert image.size == (1024, 1024)
        parameters = image.text["parameters"]
    lines = parameters.splitlines()
    assert lines[0] == PROMPT
    assert (
        "Steps: 2, Sampler: DDPM, CFG scale: 7.0, Seed: 7, Size: 1024x1024, "
        "Model: DeepFloyd/IF-I-XL-v1.0" in lines[-1]
    )
    side = json.loads(png.with_suffix(".json").read_text())
    assert side["schema"] == 1
    assert side["image"]["seed"] == 7 and side["image"]["prompt"] == PROMPT
    assert side["request"]["stage_3"]["noise_level"] == 100
    assert side["request"]["stage_2"]["guidance_scale"] == 4.0
    for stage, repo_id in HUB_IDS.items():
        assert side["models"][stage]["repo_id"] == repo_id
        assert side["models"][stage]["revision"] == FAKE_COMMIT
    assert side["runtime"]["device"] == "cpu" and side["runtime"]["dtype"] == "fp32"
    assert side["runtime"]["versions"]["diffusers"]
    assert set(side["timings_s"]) == {"text", "stage_1", "stage_2", "stage_3"}
    assert side["tool"]["name"] == "if-cli" and side["tool"]["version"]


def test_stdout_has_only_paths_and_progress_goes_to_stderr(cli: Cli, tmp_path: Path) -> None:
    completed = cli(
        "generate",
        "a cat",
        "--seed",
        "1",
        "--stages",
        "1",
        "--num-images",
        "2",
        "-o",
        str(tmp_path / "o"),
        *FAST_STEPS,
    )
    paths = _ok(completed)
    assert [p.exists() for p in paths] == [True, True]
    assert "stage I: step 2/4" in completed.stderr
    assert "2 image(s)" in completed.stderr
    seeds = [json.loads(p.with_suffix(".json").read_text())["image"]["seed"] for p in paths]
    assert seeds == [1, 2]


def test_quiet_prints_nothing_on_stderr(cli: Cli, tmp_path: Path) -> None:
    completed = cli("generate", "a cat", "--stages", "1", "-q", "-o", str(tmp_path), *FAST_STEPS)
    _ok(completed)
    assert completed.stderr == ""


def _cat_at_64px(out: Path) -> tuple[str, ...]:
    """The same small command, run twice by the tests below."""
    return ("generate", "a cat", "--seed", "3", "--stages", "1", "-o", str(out), *FAST_STEPS)


def test_an_existing_image_is_never_overwritten(cli: Cli, tmp_path: Path) -> None:
    args = _cat_at_64px(tmp_path / "o")
    (first,) = _ok(cli(*args))
    digest = hashlib.sha256(first.read_bytes()).hexdigest()
    (second,) = _ok(cli(*args, "--overwrite"))  # make it again: beside, never over
    assert second != first and second.name == first.name.replace(".png", "-2.png")
    assert hashlib.sha256(first.read_bytes()).hexdigest() == digest
    assert second.read_bytes() == first.read_bytes()  # same seed, same pixels
    assert second.with_suffix(".json").exists()


def test_rerunning_the_same_command_skips_the_finished_image(cli: Cli, tmp_path: Path) -> None:
    args = _cat_at_64px(tmp_path / "o")
    first = _ok(cli(*args))
    again = cli(*args)
    assert _ok(again) == first  # the image is still reported, though not made again
    assert "skipping 1 image(s) already in" in again.stderr
    assert "loading" not in again.stderr
    assert len(list((tmp_path / "o").glob("*.png"))) == 1


def test_keep_intermediates_saves_the_64_and_256_px_images(cli: Cli, tmp_path: Path) -> None:
    paths = _ok(
        cli(
            "generate",
            "a cat",
            "--stages",
            "2",
            "--keep-intermediates",
            "--name",
            "{seed}-{slug}",
            "--seed",
            "9",
            "-o",
            str(tmp_path),
            *FAST_STEPS,
        )
    )
    assert [p.name for p in paths] == ["9-a-cat.stage-1.png", "9-a-cat.png"]
    with Image.open(paths[0]) as small, Image.open(paths[1]) as final:
        assert (small.size, final.size) == ((64, 64), (256, 256))
    files = json.loads((tmp_path / "9-a-cat.json").read_text())["image"]["files"]
    assert files == {"image": "9-a-cat.png", "stage_1": "9-a-cat.stage-1.png"}


def test_dry_run_prints_the_plan_and_loads_nothing(cli: Cli, tmp_path: Path) -> None:
    out = tmp_path / "never"
    completed = cli("generate", "a cat", "--dry-run", "-o", str(out))
    assert completed.returncode == 0, completed.stderr
    for text in (
        "offload:",
        "T5 text encoder",
        "stage I ",
        "stage II ",
        "stage III",
        "DeepFloyd/IF-I-XL-v1.0@0123456789",
        "peak estimate:",
    ):
        assert text in completed.stdout
    assert not out.exists()
    assert "loading" not in completed.stderr


def test_long_prompts_warn_on_stderr(cli: Cli, tmp_path: Path) -> None:
    completed = cli(
        "generate",
        "a red circle above a blue square " * 20,
        "--stages",
        "1",
        "-q",
        "-o",
        str(tmp_path),
        *FAST_STEPS,
    )
    _ok(completed)
    assert "if-cli: warning: the prompt 'a red circle" in completed.stderr
    assert 'T5 tokens; T5 reads the first 77, so "' in completed.stderr


def test_offline_cache_miss_names_hf_hub_offline(cli: Cli, tmp_path: Path) -> None:
    completed = cli("generate", "a cat", "-o", str(tmp_path), env={"HF_HOME": str(tmp_path)})
    assert completed.returncode == 3
    assert "DeepFloyd/IF-I-XL-v1.0, DeepFloyd/IF-II-L-v1.0 and" in completed.stderr
    assert "are not in the Hugging Face cache" in completed.stderr
    assert "(HF_HUB_OFFLINE is set)" in completed.stderr
    assert "run `if-cli download I-XL II-L x4`" in completed.stderr
