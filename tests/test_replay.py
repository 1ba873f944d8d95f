"""``if-cli replay``: the same pixels from a sidecar, or the image carried further."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import FAST_STEPS

Cli = Callable[..., subprocess.CompletedProcess[str]]


def _one(completed: subprocess.CompletedProcess[str]) -> Path:
    assert completed.returncode == 0, completed.stderr
    (line,) = completed.stdout.splitlines()
    return Path(line)


def _lighthouse(cli: Cli, stages: str, out: Path) -> Path:
    return _one(
        cli(
            "generate",
            "a lighthouse",
            "--seed",
            "21",
            "--stages",
            stages,
            "--negative-prompt",
            "fog",
            "-o",
            str(out),
            *FAST_STEPS,
        )
    )


def test_replay_makes_the_same_pixels_and_continues_to_a_later_stage(
    cli: Cli, tmp_path: Path
) -> None:
    out = tmp_path / "o"
    first = _lighthouse(cli, "1", out)
    sidecar = str(first.with_suffix(".json"))
    again = _one(cli("replay", sidecar, "-o", str(out)))
    assert again != first and again.read_bytes() == first.read_bytes()
    further = _one(cli("replay", sidecar, "--stages", "2", "-o", str(tmp_path / "later")))
    with Image.open(further) as image:
        assert image.size == (256, 256)
    assert further.read_bytes() == _lighthouse(cli, "2", tmp_path / "direct").read_bytes()
    side = json.loads(further.with_suffix(".json").read_text())
    assert side["image"]["seed"] == 21 and side["request"]["negative_prompt"] == "fog"


def test_replay_of_something_that_is_not_a_sidecar_is_one_clear_line(
    cli: Cli, tmp_path: Path
) -> None:
    bogus = tmp_path / "x.json"
    bogus.write_text('{"hello": 1}')
    completed = cli("replay", str(bogus))
    assert completed.returncode == 2
    assert completed.stderr.startswith(f"if-cli: error: {bogus} is not an if-cli sidecar")
    missing = cli("replay", str(tmp_path / "nope.json"))
    assert missing.returncode == 2 and "does not exist" in missing.stderr


def test_a_sidecar_without_the_optional_fields_is_read(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Fields the schema lets a sidecar leave out are not looked up as if required
    (a missing request.negative_prompt was an internal KeyError; found by the property
    test)."""
    from if_cli.commands.replay import options_from_sidecar

    stage = {"steps": 2, "guidance_scale": 7.0, "noise_level": None, "strength": None}
    sidecar = tmp_path / "fox.json"
    sidecar.write_text(
        json.dumps(
            {
                "schema": 1,
                "tool": {"name": "if-cli", "version": "0.1.0"},
                "image": {"prompt": "a red fox", "seed": 3, "files": {"image": "fox.png"}},
                "request": {
                    "last_stage": 1,
                    "watermark": True,
                    "keep_intermediates": False,
                    "placement": {"variant": "auto"},
                    **{f"stage_{n}": {**stage, "model": f"m{n}"} for n in (1, 2, 3)},
                },
                "models": {},
                "runtime": {"device": "cpu", "dtype": "fp32"},
            }
        )
    )
    values = options_from_sidecar(sidecar, None)
    assert values["negative_prompt"] is None and values["seed"] == 3
    assert values["flow"] == "generate" and values["stage_1_model"] == "m1"
    assert values["aspect"] is None and values["size"] is None  # older sidecars: square
    assert not caplog.records

    # Made in a batch: made alone again, the pixels may differ slightly, and replay says so.
    data = json.loads(sidecar.read_text())
    data["request"]["batch_size"] = 4
    sidecar.write_text(json.dumps(data))
    options_from_sidecar(sidecar, None)
    assert "fox.json was made in a batch of 4" in caplog.text
