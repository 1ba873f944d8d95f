"""``img2img``, ``inpaint``, ``style`` and ``upscale`` through the installed console script."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from tests.pictures import (
    write_16bit_png,
    write_animated_gif,
    write_mask,
    write_picture,
    write_rotated_jpeg,
    write_transparent_png,
)

Cli = Callable[..., subprocess.CompletedProcess[str]]
FEW = ["--steps", "4", "--stage-2-steps", "2", "--stage-3-steps", "1"]
FEW_SR = ["--stage-2-steps", "2", "--stage-3-steps", "1"]


def _sidecar(png: str) -> dict:
    return json.loads(Path(png).with_suffix(".json").read_text())


def _size(png: str) -> tuple[int, int]:
    from PIL import Image

    with Image.open(png) as picture:
        return picture.size


@pytest.mark.slow
def test_img2img_makes_a_1024_image_whose_sidecar_records_the_input(
    cli: Cli, tmp_path: Path
) -> None:
    photo = write_picture(tmp_path / "photo.webp", (160, 120), lossless=True)
    done = cli(
        "img2img", str(photo), "a lighthouse", *FEW, "--seed", "8", "-o", str(tmp_path / "out")
    )
    assert done.returncode == 0, done.stderr
    (png,) = done.stdout.split()
    assert _size(png) == (1408, 1024)  # 4:3 kept: 88×64 at stage I, then ×4, ×4
    side = _sidecar(png)
    init = side["request"]["init"]
    assert side["request"]["flow"] == "img2img" and init["source"] == str(photo)
    assert init["original_size"] == [160, 120] and init["fit"] == "keep"
    assert init["size"] == [160, 120]
    assert side["image"]["stage_sizes"]["stage_1"] == [88, 64]
    assert side["request"]["stage_1"]["strength"] == 0.7
    assert side["request"]["stage_2"]["strength"] == 0.8
    from PIL import Image

    with Image.open(png) as picture:
        assert "Denoising strength: 0.7" in picture.text["parameters"]
        assert "Mode: img2img" in picture.text["parameters"]


def test_img2img_without_a_prompt_makes_variations_named_after_the_input(
    cli: Cli, tmp_path: Path
) -> None:
    photo = write_picture(tmp_path / "holiday.png", (64, 64))
    done = cli(
        "img2img", str(photo), "--stages", "1", "--num-images", "2", "--steps", "4",
        "--strength", "0.5", "--seed", "1", "-o", str(tmp_path / "out"),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    first, second = done.stdout.split()
    assert "holiday-img2img" in first
    from PIL import Image

    with Image.open(first) as a, Image.open(second) as b:
        assert a.size == (64, 64) and not np.array_equal(np.asarray(a), np.asarray(b))
    assert _sidecar(first)["image"]["prompt"] == ""


def test_inpaint_takes_a_mask_of_another_size_and_repaints_at_256_keeping_the_aspect(
    cli: Cli, tmp_path: Path
) -> None:
    photo = write_picture(tmp_path / "room.png", (128, 96))
    mask = write_mask(tmp_path / "mask.png", (64, 48))
    done = cli(
        "inpaint", str(photo), str(mask), "a cat on the sofa", "--stages", "2",
        *FEW, "-o", str(tmp_path / "out"),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    (png,) = done.stdout.split()
    assert _size(png) == (352, 256)  # the room's 4:3, kept
    init = _sidecar(png)["request"]["init"]
    assert init["mask"] == str(mask) and _sidecar(png)["request"]["flow"] == "inpaint"


def test_style_repaints_at_stage_two_only(cli: Cli, tmp_path: Path) -> None:
    photo = write_picture(tmp_path / "street.png", (100, 100))
    done = cli(
        "style", str(photo), "a woodcut print", "--stages", "2", *FEW_SR, "--strength", "0.6",
        "-o", str(tmp_path / "out"),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    (png,) = done.stdout.split()
    side = _sidecar(png)
    assert _size(png) == (256, 256)
    assert side["request"]["first_stage"] == 2 and side["request"]["stage_2"]["strength"] == 0.6
    assert "stage_1" not in side["timings_s"]


@pytest.mark.slow
def test_generate_small_pick_one_then_upscale_it_carries_the_sidecar_over(
    cli: Cli, tmp_path: Path
) -> None:
    made = cli(
        "generate", "a red kite over a beach", "--stages", "1", "--num-images", "3",
        "--seed", "40", "--steps", "3", "-n", "blurry", "-o", str(tmp_path / "candidates"),
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    picked = made.stdout.split()[1]
    up = cli("upscale", picked, *FEW_SR, "-o", str(tmp_path / "final"))
    assert up.returncode == 0, up.stderr
    assert f"using the prompt, negative prompt, seed of {Path(picked).with_suffix('.json')}" in (
        up.stderr
    )
    (png,) = up.stdout.split()
    assert _size(png) == (1024, 1024)
    image = _sidecar(png)["image"]
    assert image["prompt"] == "a red kite over a beach"
    assert image["seed"] == 41 and image["negative_prompt"] == "blurry"
    assert _sidecar(png)["request"]["first_stage"] == 2

    given = cli(
        "upscale",
        picked,
        "a green kite",
        "--seed",
        "5",
        "--to",
        "256",
        *FEW_SR,
        "-o",
        str(tmp_path / "x"),
    )
    assert given.returncode == 0, given.stderr
    (png,) = given.stdout.split()
    assert _size(png) == (256, 256)
    assert _sidecar(png)["image"]["prompt"] == "a green kite"
    assert _sidecar(png)["image"]["seed"] == 5
    assert "using the negative prompt of" in given.stderr


def test_upscale_of_a_256_picture_runs_stage_three_alone(cli: Cli, tmp_path: Path) -> None:
    photo = write_picture(tmp_path / "big.png", (300, 300))
    done = cli(
        "upscale", str(photo), "a harbour", "--stage-3-steps", "1", "-o", str(tmp_path / "out")
    )
    assert done.returncode == 0, done.stderr
    (png,) = done.stdout.split()
    side = _sidecar(png)
    assert _size(png) == (1024, 1024) and side["request"]["first_stage"] == 3
    assert set(side["timings_s"]) == {"stage_3"}  # no T5, no stage II
    redrawn = cli("upscale", str(photo), "--to", "256", "--dry-run")
    assert redrawn.returncode == 0, redrawn.stderr
    assert "stages 2–2" in redrawn.stdout and "300×300 px and the last stage" in redrawn.stderr
    refused = cli("upscale", str(photo), "--to", "256", "--from", "256", "--dry-run")
    assert refused.returncode == 2 and "but this run stops after stage II" in refused.stderr


def test_an_upscale_that_makes_no_more_pixels_says_so_before_it_runs(
    cli: Cli, tmp_path: Path
) -> None:
    """The demo ends at 128 px and IF at 1024: a picture that big is shrunk and drawn
    again, which the user hears before anything loads; a smaller one is enlarged quietly."""
    cases = [
        (128, ["--model", "demo"], "128×128 px and the last stage makes 128×128 px: it is "
         "shrunk to 32×32 px and drawn again, not enlarged"),
        (1024, [], "1024×1024 px and the last stage makes 1024×1024 px: it is shrunk to "
         "256×256 px and drawn again"),
        (96, ["--model", "demo"], None),
        (300, ["--model", "demo"], "300×300 px and the last stage makes 128×128 px: it is "
         "shrunk to 32×32 px and drawn again"),  # the demo has no stage III to start at
    ]  # fmt: skip
    for side, model, says in cases:
        photo = write_picture(tmp_path / f"{side}.png", (side, side))
        planned = cli("upscale", str(photo), "a harbour", *model, "--dry-run")
        assert planned.returncode == 0, planned.stderr
        if says is None:
            assert "not enlarged" not in planned.stderr
        else:
            assert f"warning: {photo} is already {says}" in planned.stderr


def test_a_picture_on_stdin_is_upscaled(cli: Cli, tmp_path: Path) -> None:
    photo = write_picture(tmp_path / "piped.png", (64, 64))
    out = str(tmp_path / "out")
    done = cli("upscale", "-", "--to", "256", "--stage-2-steps", "1", "-o", out, stdin=photo)
    assert done.returncode == 0, done.stderr
    (png,) = done.stdout.split()
    assert _size(png) == (256, 256) and _sidecar(png)["request"]["init"]["source"] == "-"


def _kinds(folder: Path) -> dict[str, tuple[Path, str]]:
    """Input kind → (file, what the dry run's input line must say)."""
    return {
        "png": (write_picture(folder / "a.png", (80, 60)), "80×60 px, fit keep"),
        "jpeg": (write_picture(folder / "a.jpg", (60, 60)), "60×60 px; used as it is"),
        "webp": (write_picture(folder / "a.webp", (60, 60)), "60×60 px"),
        "bmp": (write_picture(folder / "a.bmp", (60, 60)), "60×60 px"),
        "tiff": (write_picture(folder / "a.tiff", (60, 60)), "60×60 px"),
        "gif": (write_animated_gif(folder / "a.gif", (60, 60)), "first of 2 frames"),
        "rgba": (write_transparent_png(folder / "t.png", (60, 60)), "composited on white"),
        "grey": (write_picture(folder / "g.png", (60, 60), mode="L"), "60×60 px"),
        "palette": (write_picture(folder / "p.png", (60, 60), mode="P"), "60×60 px"),
        "16-bit": (write_16bit_png(folder / "s.png", (60, 60)), "16-bit image reduced"),
        "exif": (write_rotated_jpeg(folder / "r.jpg", (80, 40)), "EXIF orientation 6 applied"),
    }


@pytest.mark.parametrize(
    "kind",
    ["png", "jpeg", "webp", "bmp", "tiff", "gif", "rgba", "grey", "palette", "16-bit", "exif"],
)
def test_every_input_kind_is_read_through_the_cli(cli: Cli, tmp_path: Path, kind: str) -> None:
    path, expected = _kinds(tmp_path)[kind]
    done = cli("img2img", str(path), "a boat", "--dry-run", "--seed", "1")
    assert done.returncode == 0, done.stderr
    (line,) = [row for row in done.stdout.splitlines() if row.startswith("input: ")]
    assert str(path) in line and expected in line


def test_replay_makes_an_img2img_image_again_and_refuses_a_changed_input(
    cli: Cli, tmp_path: Path
) -> None:
    photo = write_picture(tmp_path / "photo.png", (64, 64))
    made = cli(
        "img2img", str(photo), "a boat", "--stages", "1", "--steps", "4", "-o", str(tmp_path / "a")
    )
    assert made.returncode == 0, made.stderr
    (png,) = made.stdout.split()
    again = cli("replay", str(Path(png).with_suffix(".json")), "-o", str(tmp_path / "b"))
    assert again.returncode == 0, again.stderr
    assert Path(again.stdout.split()[0]).read_bytes() == Path(png).read_bytes()
    write_picture(photo, (64, 65))
    refused = cli("replay", str(Path(png).with_suffix(".json")), "-o", str(tmp_path / "c"))
    assert refused.returncode == 2 and "has changed" in refused.stderr
