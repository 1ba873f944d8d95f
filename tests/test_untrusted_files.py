"""Files if-cli did not write, met in the folders it works in, and names already taken.

A FIFO, a link to /dev/zero or a JSON bomb in the output folder must not hang or exhaust
a run; anything at all at a name makes that name taken; and when the output folder
fails after an image is made, the image is saved elsewhere and the error says where.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.hostile import damaged_model, fifo, link_to_zero, nested, sidecar_with
from tests.pictures import write_picture
from tests.test_faults import _complete_images, _environment, _files, _start, _wait_for_pause

Cli = Callable[..., subprocess.CompletedProcess[str]]
STAGE_1 = ["--stages", "1", "--steps", "2", "--seed", "5"]


def _warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("if-cli: warning:")]


@pytest.mark.parametrize("dry_run", [False, True], ids=["run", "dry-run"])
def test_a_fifo_in_the_output_folder_hangs_nothing_and_is_named_once(
    cli: Cli, tmp_path: Path, dry_run: bool
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    fifo(out / "x.json")
    done = cli("generate", "a fox", *STAGE_1, "-o", str(out), *(["--dry-run"] * dry_run))
    assert done.returncode == 0, done.stderr
    (warning,) = _warnings(done.stderr)
    assert "x.json is a FIFO (named pipe), not a regular file" in warning
    assert len(_complete_images(out)) == (0 if dry_run else 1)


def test_endless_huge_and_deep_json_in_the_output_folder_are_skipped_with_one_warning(
    cli: Cli, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    link_to_zero(out / "zero.json")
    (out / "deep.json").write_text(nested(100_000))
    (out / "huge.json").write_text(json.dumps({"image": "x" * (2 * 1024**2)}))
    (out / "other-tool.json").write_text(json.dumps({"prompt": "not ours"}))
    done = cli("generate", "a fox", *STAGE_1, "-o", str(out))
    assert done.returncode == 0, done.stderr
    (warning,) = _warnings(done.stderr)
    assert "skipped 3 unreadable file(s)" in warning
    assert "deep.json is nested more than 64 levels deep" in warning
    assert "huge.json is larger than 1,048,576 bytes" in warning
    assert "zero.json is a device, not a regular file" in warning
    assert "other-tool.json" not in warning  # another tool's JSON is simply not a sidecar
    (printed,) = done.stdout.split()
    assert Path(printed).is_file() and Path(printed).with_suffix(".json").is_file()


def _one_fox(cli: Cli, out: Path) -> tuple[Path, dict]:
    """A 64 px image made in ``out``: its sidecar's path and content."""
    first = cli("generate", "a fox", *STAGE_1, "-o", str(out), "--json")
    assert first.returncode == 0, first.stderr
    sidecar = Path(json.loads(first.stdout)["sidecar"])
    return sidecar, json.loads(sidecar.read_text())


def test_a_sidecar_that_names_a_png_outside_the_folder_does_not_skip_an_image(
    cli: Cli, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    sidecar, record = _one_fox(cli, out)
    (out / Path(record["image"]["files"]["image"])).rename(tmp_path / "moved.png")
    record["image"]["files"]["image"] = "../moved.png"
    sidecar.write_text(json.dumps(record))
    again = cli("generate", "a fox", *STAGE_1, "-o", str(out))
    assert again.returncode == 0 and "skipping" not in again.stderr


def _upscale_input(folder: Path, beside: Callable[[Path], object]) -> Path:
    picture = write_picture(folder / "small.png", (64, 64))
    beside(folder / "small.json")
    return picture


@pytest.mark.parametrize(
    ("beside", "warned"),
    [
        (fifo, "is a FIFO (named pipe), not a regular file"),
        (link_to_zero, "is a device, not a regular file"),
        (lambda p: p.write_text(nested(5000)), "nested more than 64 levels deep"),
        (
            lambda p: p.write_text(json.dumps(sidecar_with({"image.seed": "abc"}))),
            'image.seed must be a whole number, got "abc"',
        ),
        (
            lambda p: p.write_text(json.dumps(sidecar_with({"image.seed": 2**70}))),
            "image.seed must be from 0 to",
        ),
        (lambda p: p.write_text(json.dumps({"tool": "another"})), None),
    ],
    ids=["fifo", "endless", "deep", "wrong-type", "seed-out-of-range", "other-tool"],
)
def test_a_bad_sidecar_beside_an_upscale_input_is_ignored(
    cli: Cli, tmp_path: Path, beside: Callable[[Path], object], warned: str | None
) -> None:
    picture = _upscale_input(tmp_path, beside)
    done = cli("upscale", str(picture), "--to", "256", "--dry-run", "-o", str(tmp_path / "o"))
    assert done.returncode == 0, done.stderr
    warnings = _warnings(done.stderr)
    if warned is None:
        assert warnings == []
    else:
        (warning,) = warnings
        assert warning.startswith("if-cli: warning: ignoring the sidecar") and warned in warning


OBSTACLES: dict[str, Callable[[Path], object]] = {
    "dangling link at the PNG": lambda out: (out / "fixed.png").symlink_to(out / "gone"),
    "dangling link at the sidecar": lambda out: (out / "fixed.json").symlink_to("/no/such"),
    "FIFO at the sidecar": lambda out: fifo(out / "fixed.json"),
    "folder at the PNG": lambda out: (out / "fixed.png").mkdir(),
    "link to a folder at the sidecar": lambda out: (out / "fixed.json").symlink_to(out.parent),
}


@pytest.mark.parametrize("obstacle", list(OBSTACLES))
def test_anything_at_a_name_makes_it_taken_and_is_left_alone(
    cli: Cli, tmp_path: Path, obstacle: str
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    OBSTACLES[obstacle](out)
    before = {p.name: p.lstat() for p in out.iterdir()}
    done = cli("generate", "a fox", *STAGE_1, "--name", "fixed", "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert Path(done.stdout.strip()).name == "fixed-2.png"
    assert _complete_images(out) == ["fixed-2.png"]
    after = {p.name: p.lstat() for p in out.iterdir() if p.name in before}
    assert {k: (v.st_mode, v.st_ino) for k, v in after.items()} == {
        k: (v.st_mode, v.st_ino) for k, v in before.items()
    }


def test_numbers_in_a_name_template_take_a_width(cli: Cli, tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = cli("generate", "a fox", *STAGE_1, "--num-images", "2", "--name",
               "{index:04d}-{seed:d}-{slug}", "-o", str(out))  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert [Path(line).name for line in done.stdout.split()] == [
        "0000-5-a-fox.png",
        "0001-6-a-fox.png",
    ]


def _pause_then(
    hf_home: Path,
    tmp_path: Path,
    args: list[str],
    meanwhile: Callable[[], None],
    point: str = "stage_1",
    **env: str,
) -> tuple[int, str, str]:
    """Run until ``point``, do ``meanwhile``, let it finish; code, stdout, stderr."""
    release = tmp_path / "go"
    release.unlink(missing_ok=True)  # a file left by an earlier call would not pause at all
    environment = _environment(
        hf_home,
        tmp_path / "home",
        IF_CLI_FAULT=f"pause@{point}",
        IF_CLI_FAULT_RELEASE=str(release),
        **env,
    )
    process = _start(args, environment)
    _wait_for_pause(process, point.split("#")[0])
    meanwhile()
    release.touch()
    stdout, stderr = process.communicate(timeout=120)
    return process.returncode, stdout, stderr


def _saved_instead(error: str) -> list[Path]:
    """The files an error line says were saved instead of the output folder."""
    return [Path(p) for p in re.findall(r"(/\S+?\.png)", error.split(";", 1)[1])]


@pytest.mark.parametrize(
    "point", ["stage_1", "save#1", "save#2"], ids=["before", "png-write", "sidecar-write"]
)
def test_an_output_folder_replaced_by_a_file_mid_run_keeps_the_image_elsewhere(
    cli: Cli, hf_home: Path, tmp_path: Path, point: str
) -> None:
    out = tmp_path / "out"
    args = ["generate", "a rescued fox", *STAGE_1, "-o", str(out)]

    def replace_folder() -> None:
        shutil.rmtree(out)
        out.write_text("a file now")

    code, stdout, stderr = _pause_then(hf_home, tmp_path, args, replace_folder, point)
    assert code == 6 and stdout == "" and "Traceback" not in stderr
    error = stderr.splitlines()[-1]
    assert error.startswith("if-cli: error: ") and " was saved as " in error
    (rescued,) = _saved_instead(error)
    assert rescued.parent.name == "rescued" and rescued.parent.parent.name == "if-cli"
    assert _complete_images(rescued.parent) == [rescued.name]
    reference = tmp_path / "reference"
    made = cli("generate", "a rescued fox", *STAGE_1, "-o", str(reference), "--json")
    assert made.returncode == 0, made.stderr
    assert rescued.read_bytes() == Path(json.loads(made.stdout)["path"]).read_bytes()


def test_every_image_of_a_batch_is_rescued_and_named(hf_home: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = ["generate", "a fox", *STAGE_1, "--num-images", "3", "--batch-size", "3",
            "-o", str(out)]  # fmt: skip

    def replace_folder() -> None:
        out.rmdir()
        out.write_text("a file now")

    code, _, stderr = _pause_then(hf_home, tmp_path, args, replace_folder)
    assert code == 6
    error = stderr.splitlines()[-1]
    assert "3 images were saved instead: " in error
    rescued = _saved_instead(error)
    assert len(rescued) == 3 and sorted(_complete_images(rescued[0].parent)) == sorted(
        p.name for p in rescued
    )


def test_the_temporary_rescue_folder_is_new_and_private(hf_home: Path, tmp_path: Path) -> None:
    """Where the user's own rescue folder fails, the temporary one is made fresh: a
    folder or link planted in /tmp under a predictable name is never used."""
    home = tmp_path / "home"
    (home / ".local" / "share" / "if-cli").mkdir(parents=True)
    (home / ".local" / "share" / "if-cli" / "rescued").write_text("not a folder")
    temp = tmp_path / "tmp"
    temp.mkdir()
    planted = tmp_path / "planted"
    planted.mkdir()
    for uid in {os.getuid(), 0, 1000}:
        (temp / f"if-cli-rescued-{uid}").symlink_to(planted)
    out = tmp_path / "out"

    def replace_folder() -> None:
        out.rmdir()
        out.write_text("a file now")

    args = ["generate", "a fox", *STAGE_1, "-o", str(out)]
    code, _, stderr = _pause_then(hf_home, tmp_path, args, replace_folder, TMPDIR=str(temp))
    assert code == 6
    (rescued,) = _saved_instead(stderr.splitlines()[-1])
    assert rescued.parent.parent == temp and not rescued.parent.is_symlink()
    assert rescued.parent.stat().st_mode & 0o777 == 0o700 and list(planted.iterdir()) == []


def test_an_output_folder_removed_mid_run_is_made_again(hf_home: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = ["generate", "a fox", *STAGE_1, "-o", str(out)]
    for point in ("stage_1", "save#1"):
        code, stdout, stderr = _pause_then(
            hf_home, tmp_path, args + ["--seed", "6"] * (point != "stage_1"),
            lambda: shutil.rmtree(out), point,
        )  # fmt: skip
        assert code == 0, stderr
        assert _complete_images(out) == [Path(stdout.strip()).name] and len(_files(out)) == 2


def test_leftovers_that_cannot_be_removed_do_not_stop_a_run(cli: Cli, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / ".old.png.999999999.abcd1234.part").mkdir()  # a folder by a temp file's name
    (out / ".old.png.99999999999999999999.abcd1234.part").write_text("no process has it")
    done = cli("generate", "a fox", *STAGE_1, "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert (out / ".old.png.999999999.abcd1234.part").is_dir()
    assert not (out / ".old.png.99999999999999999999.abcd1234.part").exists()


def test_a_sidecar_naming_anything_but_its_png_marks_nothing_finished(
    cli: Cli, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    sidecar, record = _one_fox(cli, out)
    record["image"]["files"]["image"] = sidecar.name  # a regular file, but not a PNG
    sidecar.write_text(json.dumps(record))
    again = cli("generate", "a fox", *STAGE_1, "-o", str(out))
    assert again.returncode == 0 and "skipping" not in again.stderr


def test_a_model_missing_a_tensor_is_a_model_error_naming_it(
    cli: Cli, tiny_repos: dict[str, Path], tmp_path: Path
) -> None:
    model = damaged_model(tiny_repos["stage_1"], tmp_path / "model", "missing-tensor")
    done = cli("generate", "a fox", *STAGE_1, "--stage-1-model", str(model), "-q",
               "-o", str(tmp_path / "out"))  # fmt: skip
    assert done.returncode == 3
    (line,) = done.stderr.splitlines()
    assert line.startswith(f"if-cli: error: {model} is damaged: its unet weights have no tensor")
    assert line.endswith("copy or download the model folder again")
