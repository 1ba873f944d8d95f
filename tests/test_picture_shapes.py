"""Pictures that are not square, end to end: sizes per stage, fitting, refusals, the CLI.

The pixels of every flow at such sizes equal the diffusers pipelines' (test_parity.py
and test_image_flows_parity.py); here: the size rule, what is refused (before any
weights load, with the sizes that work), the aspect kept through the commands, the
sidecar's record, a replay that makes the same bytes, and the memory plan.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import pytest

from if_cli.engine import GenerationRequest, StageOptions
from if_cli.engine.image_input import fit_to, load_input
from if_cli.engine.memory import WORKSPACE_PER_IMAGE, make_plan
from if_cli.engine.picture_sizes import plan_sizes
from if_cli.engine.request import Placement
from if_cli.engine.sizes import (
    Size,
    first_stage_size,
    nearest_sizes,
    parse_aspect,
    parse_size,
    sizes_for,
)
from if_cli.errors import BadFieldError, InvalidRequestError
from tests.pictures import write_mask, write_picture

Cli = Callable[..., subprocess.CompletedProcess[str]]
DEMO = ["--model", "demo", "--steps", "2", "--stage-2-steps", "2"]


@pytest.mark.parametrize(
    ("aspect", "first", "final"),
    [
        ("1:1", (64, 64), (1024, 1024)),
        ("16:9", (112, 64), (1792, 1024)),
        ("9:16", (64, 112), (1024, 1792)),
        ("3:2", (96, 64), (1536, 1024)),
        ("2:3", (64, 96), (1024, 1536)),
        ("4:1", (256, 64), (4096, 1024)),
    ],
)
def test_stage_one_keeps_64_px_on_the_short_side_and_each_stage_is_four_times_wider(
    aspect: str, first: tuple[int, int], final: tuple[int, int]
) -> None:
    sizes = sizes_for(64, 3, aspect=parse_aspect(aspect))
    assert sizes[1] == Size(*first)
    assert sizes[2] == Size(first[0] * 4, first[1] * 4)
    assert sizes[3] == Size(*final)


def test_stage_one_size_is_the_one_diffusers_resizes_an_input_picture_to() -> None:
    from diffusers.pipelines.deepfloyd_if.pipeline_if_img2img import resize
    from PIL import Image

    for width in range(17, 400, 7):
        for height in (40, 90, 101, 256):
            if max(width, height) > 4 * min(width, height):
                continue
            picture = Image.new("RGB", (width, height))
            for short in (32, 64, 256):
                expected = resize(picture, short).size
                assert first_stage_size(Fraction(width, height), short).as_list() == list(expected)


def test_a_final_size_the_stages_cannot_make_is_refused_with_the_nearest_that_do() -> None:
    with pytest.raises(BadFieldError) as refused:
        sizes_for(64, 3, size=parse_size("1920x1080"))
    assert "1792x1024 and 1920x1024" in refused.value.problem
    assert "1024 px on the short side" in (refused.value.hint or "")
    assert sizes_for(64, 3, size=parse_size("1920x1024"))[1] == Size(120, 64)
    assert nearest_sizes(Size(1, 1), 64, 2) == [Size(256, 256)]  # right shape, wrong scale


@pytest.mark.parametrize(
    ("field", "text"),
    [
        ("aspect", "16x9"),
        ("aspect", "0:1"),
        ("aspect", "5:1"),
        ("aspect", "1:5"),
        ("aspect", "-1:2"),
        ("aspect", "wide"),
        ("size", "1024"),
        ("size", "0x1024"),
        ("size", "1024x5000"),
        ("size", "1e3x1024"),
    ],
)
def test_a_malformed_or_extreme_shape_is_refused_naming_what_works(field: str, text: str) -> None:
    parse = parse_aspect if field == "aspect" else parse_size
    with pytest.raises(BadFieldError) as refused:
        parse(text)
    assert refused.value.field == field
    assert (
        "16:9" in refused.value.problem
        or "1:4 to 4:1" in refused.value.problem
        or ("1792x1024" in refused.value.problem)
    )


def test_crop_pad_and_stretch_fit_the_aspect_asked_for_and_keep_leaves_the_picture() -> None:
    from PIL import Image

    picture = Image.new("RGB", (300, 200), (200, 10, 10))
    assert fit_to(picture, "keep", Fraction(16, 9)).size == (300, 200)
    assert fit_to(picture, "crop", None).size == (200, 200)  # no aspect: a square, as before
    assert fit_to(picture, "crop", Fraction(2, 1)).size == (300, 150)
    assert fit_to(picture, "pad", Fraction(2, 1)).size == (400, 200)
    assert fit_to(picture, "stretch", Fraction(1, 2)).size == (300, 600)
    padded = fit_to(picture, "pad", Fraction(1, 1))
    assert padded.size == (300, 300) and padded.getpixel((150, 10)) == (0, 0, 0)


def test_a_panorama_kept_whole_is_refused_with_a_fit_that_works(tmp_path: Path) -> None:
    wide = write_picture(tmp_path / "pano.png", (500, 100))
    with pytest.raises(InvalidRequestError) as refused:
        load_input(str(wide))
    assert "wider or taller than 4:1" in refused.value.message
    assert "--fit crop" in (refused.value.hint or "")
    assert load_input(str(wide), "crop", ratio=Fraction(4, 1)).image.size == (400, 100)


def test_an_aspect_with_the_picture_kept_whole_is_refused(tmp_path: Path) -> None:
    init = load_input(str(write_picture(tmp_path / "p.png", (120, 90))))
    request = GenerationRequest(prompts=("x",), seed=1, flow="img2img", init=init, aspect="1:1")
    with pytest.raises(InvalidRequestError, match="needs --fit crop, pad or stretch"):
        request.validate()


def test_a_unet_that_cannot_halve_the_picture_evenly_is_refused_before_loading(
    tiny_repos: dict[str, Path], tmp_path: Path
) -> None:
    deep = shutil.copytree(tiny_repos["stage_1"], tmp_path / "deep")
    config_path = deep / "unet" / "config.json"
    config = json.loads(config_path.read_text())
    config["down_block_types"] = [config["down_block_types"][0]] * 5  # halves 4 times
    config_path.write_text(json.dumps(config))
    request = GenerationRequest(
        prompts=("x",),
        seed=1,
        last_stage=1,
        aspect="4:3",  # stage I 88×64: 88 is no multiple of 16
        stage_1=StageOptions(str(deep), 2, 7.0),
    )
    with pytest.raises(BadFieldError, match="multiples of 16 px; this picture is 88x64"):
        plan_sizes(request)
    square = GenerationRequest(prompts=("x",), seed=1, last_stage=1, stage_1=request.stage_1)
    assert plan_sizes(square)[1] == Size(64, 64)


def test_the_memory_plan_grows_the_workspace_with_the_pictures_area() -> None:
    square = make_plan(Placement(device="cpu"), "cpu", "fp32", (), 1, 3, None)
    wide = make_plan(Placement(device="cpu"), "cpu", "fp32", (), 1, 3, None, area=112 * 64)
    assert square.peak_bytes == WORKSPACE_PER_IMAGE[3]
    assert wide.peak_bytes == int(WORKSPACE_PER_IMAGE[3] * 1.75)


def test_generate_makes_each_prompt_file_lines_own_aspect_and_records_every_stage_size(
    cli: Cli, tmp_path: Path
) -> None:
    lines = [{"prompt": "a red circle"}, {"prompt": "a blue star", "aspect": "9:16"}]
    queue = tmp_path / "queue.jsonl"
    queue.write_text("".join(json.dumps(line) + "\n" for line in lines))
    made = cli("generate", "--prompts", str(queue), *DEMO, "--seed", "4", "--json", "-o", "out")
    assert made.returncode == 0, made.stderr
    assert "learnt square scenes only" in made.stderr
    records = [json.loads(line) for line in made.stdout.splitlines()]
    sides = {}
    for record in records:
        sidecar = json.loads((tmp_path / record["path"]).with_suffix(".json").read_text())
        sides[record["prompt"]] = sidecar["image"]["stage_sizes"], sidecar["request"]["aspect"]
    assert sides["a red circle"] == ({"stage_1": [32, 32], "stage_2": [128, 128]}, None)
    assert sides["a blue star"] == ({"stage_1": [32, 56], "stage_2": [128, 224]}, "9:16")

    refused = cli("generate", "a red circle", *DEMO, "--size", "1920x1080")
    assert refused.returncode == 2
    assert refused.stderr.strip().splitlines()[-1] == (
        "if-cli: error: --size 1920x1080 cannot be made at stage 2; the nearest sizes that "
        "work are 224x128 and 256x128; stage 2 pictures are 128 px on the short side and a "
        "multiple of 32 px on the long one; --aspect W:H picks the nearest by itself"
    )
    assert "loading" not in refused.stderr


def test_img2img_keeps_the_pictures_aspect_and_a_crop_to_an_aspect_replays_to_the_same_bytes(
    cli: Cli, tmp_path: Path
) -> None:
    photo = write_picture(tmp_path / "photo.png", (300, 200))
    kept = cli("img2img", str(photo), "a red circle", *DEMO, "--seed", "2", "-o", "kept")
    assert kept.returncode == 0, kept.stderr
    assert _size(tmp_path / kept.stdout.strip()) == (192, 128)  # 3:2 → 48×32 → 192×128

    args = ["--fit", "crop", "--aspect", "2:1", "--seed", "2", "-o", "crop"]
    cropped = cli("inpaint", str(photo), str(write_mask(tmp_path / "m.png", (60, 40))),
                  "a blue square", *DEMO, *args)  # fmt: skip
    assert cropped.returncode == 0, cropped.stderr
    first = tmp_path / cropped.stdout.strip()
    assert _size(first) == (256, 128)
    sidecar = json.loads(first.with_suffix(".json").read_text())
    assert sidecar["request"]["init"]["size"] == [300, 150]
    again = cli("replay", str(first.with_suffix(".json")), "-o", "again")
    assert again.returncode == 0, again.stderr
    from PIL import Image

    with Image.open(tmp_path / again.stdout.strip()) as remade, Image.open(first) as made:
        assert remade.size == made.size and remade.tobytes() == made.tobytes()


def _size(path: Path) -> tuple[int, int]:
    from PIL import Image

    with Image.open(path) as picture:
        return picture.size


def test_a_typed_shape_overrides_a_default_one_and_a_kept_picture_ignores_a_default() -> None:
    from if_cli.commands.cascade_options import line_shape, shape_settings

    def typed(*names: str) -> Callable[[str], bool]:
        return lambda name: name in names

    both = {"aspect": "16:9", "size": "128x512"}
    assert shape_settings(both, typed("size")) == {"aspect": None, "size": "128x512"}
    assert shape_settings(both, typed("aspect")) == {"aspect": "16:9", "size": None}
    assert shape_settings(both, typed("aspect", "size")) == both  # the engine checks them
    kept = {"aspect": "16:9", "size": None, "fit": "keep"}
    assert shape_settings(kept, typed())["aspect"] is None
    assert shape_settings(kept, typed("aspect"))["aspect"] == "16:9"  # refused later
    run = {"aspect": "16:9", "size": None}
    assert line_shape({**run, "size": "128x128"}, {"size": "128x128"})["aspect"] is None
    assert line_shape(run, {"prompt": "x"}) == run


def test_shapes_from_the_environment_give_way_on_the_command_line(cli: Cli, tmp_path: Path) -> None:
    env = {"IF_CLI_ASPECT": "16:9"}
    planned = cli("generate", "x", *DEMO, "--size", "128x512", "--dry-run", env=env)
    assert planned.returncode == 0, planned.stderr
    assert "sizes: 32×128 → 128×512 px" in planned.stdout
    photo = write_picture(tmp_path / "photo.png", (300, 200))
    kept = cli("img2img", str(photo), "x", *DEMO, "--dry-run", env=env)
    assert kept.returncode == 0, kept.stderr
    assert "sizes: 48×32 → 192×128 px" in kept.stdout
    clash = cli("generate", "x", *DEMO, "--aspect", "16:9", "--size", "128x128", "--dry-run")
    assert clash.returncode == 2
    assert "--aspect 16:9 makes 224x128 at stage 2, not the 128x128 --size asks for" in (
        clash.stderr
    )
