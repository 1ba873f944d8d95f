"""Faults injected into real ``if-cli`` processes: signals, kills, a full disk, OOM, races.

Each test starts the console script on the tiny cascade and stops it at a named point
(``IF_CLI_FAULT``, see ``if_cli.fault_points``), then checks what a user would find:
the exit code, one line on stderr, finished images kept whole, no partial file, and a
re-run that picks up where the first one stopped.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import CLI, FAST_STEPS

Cli = Callable[..., subprocess.CompletedProcess[str]]

PROMPTS = "a red fox\na blue boat\n"


def _environment(hf_home: Path, home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "IF_CLI_"))}
    env.update({"HF_HOME": str(hf_home), "HF_HUB_OFFLINE": "1", "HOME": str(home), **extra})
    return env


def _interruptible(then: Callable[[], None] | None = None) -> Callable[[], None]:
    """In the child: Ctrl-C and hang-up back to their defaults, as in a terminal.

    A shell starts background jobs with SIGINT ignored, ``nohup`` starts its command
    with SIGHUP ignored, and a program started so keeps ignoring them (as it should);
    the tests must not depend on how pytest was started.
    """

    def apply() -> None:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGHUP, signal.SIG_DFL)
        if then is not None:
            then()

    return apply


def _start(
    args: list[str], env: dict[str, str], then: Callable[[], None] | None = None
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(CLI), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env=env,
        preexec_fn=_interruptible(then),
    )


def _wait_for_pause(process: subprocess.Popen[str], point: str) -> list[str]:
    """Read stderr until the process says it is paused at ``point``; the lines so far."""
    assert process.stderr is not None
    lines = []
    for line in process.stderr:
        lines.append(line)
        if line.strip() == f"if-cli: paused at {point}":
            return lines
    raise AssertionError(f"never paused at {point}: {''.join(lines)}")


def _two_image_run(tmp_path: Path, stages: int = 2) -> list[str]:
    """Two prompts, one chunk each: image 1 is finished before image 2 starts."""
    prompts = tmp_path / "prompts.txt"
    prompts.write_text(PROMPTS)
    out = tmp_path / "out"
    return ["generate", "--prompts", str(prompts), "--seed", "3", "--chunk-size", "1",
            "--stages", str(stages), *FAST_STEPS, "-o", str(out)]  # fmt: skip


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def _complete_images(folder: Path) -> list[str]:
    """PNG names that a sidecar in ``folder`` vouches for (the sidecar names its PNG)."""
    names = []
    for sidecar in folder.glob("*.json"):
        if sidecar.is_symlink() or not sidecar.is_file():
            continue  # the obstacles some tests put there (a FIFO would hang a read)
        image = json.loads(sidecar.read_text())["image"]["files"]["image"]
        assert (folder / image).is_file()
        names.append(image)
    return sorted(names)


# The second image's T5, stage I, II, III and its PNG's write (saves 1-2 are image 1's).
STOP_POINTS = ["encode#2", "stage_1#2", "stage_2#2", "stage_3#2", "save#3"]
STOPS = [
    (signal.SIGINT, 130, "if-cli: error: interrupted; finished images were kept"),
    (signal.SIGTERM, 143, "if-cli: error: terminated (SIGTERM); finished images were kept"),
]
# Every point once, the two signals in turn (one handler serves both): each point and
# each signal is stopped at, in half the runs of the full cross product.
STOP_CASES = [(point, *STOPS[n % 2]) for n, point in enumerate(STOP_POINTS)]


@pytest.mark.parametrize(
    ("point", "stop", "code", "line"),
    STOP_CASES,
    ids=[f"{point}-{signal.Signals(stop).name}" for point, stop, _, _ in STOP_CASES],
)
def test_a_signal_at_any_point_keeps_finished_images_and_a_rerun_resumes(
    cli: Cli, hf_home: Path, tmp_path: Path, point: str, stop: int, code: int, line: str
) -> None:
    _stop_and_resume(cli, hf_home, tmp_path, point, stop, code, line)


@pytest.mark.parametrize("point", ["stage_2#2", "save#2"])
def test_a_hangup_stops_like_sigterm_with_exit_129(
    cli: Cli, hf_home: Path, tmp_path: Path, point: str
) -> None:
    line = "if-cli: error: hung up (SIGHUP); finished images were kept"
    _stop_and_resume(cli, hf_home, tmp_path, point, signal.SIGHUP, 129, line)


def _stop_and_resume(
    cli: Cli, hf_home: Path, tmp_path: Path, point: str, stop: int, code: int, line: str
) -> None:
    """Stop the two-image run with ``stop`` at ``point``; check what is left and resume."""
    args = _two_image_run(tmp_path, stages=3 if point.startswith("stage_3") else 2)
    out = tmp_path / "out"
    env = _environment(hf_home, tmp_path / "home", IF_CLI_FAULT=f"pause@{point}")
    process = _start(args, env)
    _wait_for_pause(process, point.split("#")[0])
    process.send_signal(stop)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == code
    assert stderr.strip().splitlines()[-1] == line and "Traceback" not in stderr
    # A stop that arrives while an image is written waits until it is complete.
    kept = 2 if point == "save#3" else 1
    printed = stdout.split()
    assert len(printed) == kept and _complete_images(out) == sorted(Path(p).name for p in printed)
    assert len(_files(out)) == 2 * kept  # PNGs and sidecars; no temp file, nothing partial
    resumed = cli(*args)
    assert resumed.returncode == 0, resumed.stderr
    assert f"skipping {kept} image(s)" in resumed.stderr
    assert len(_complete_images(out)) == 2 and len(_files(out)) == 4


def test_a_stop_while_a_batch_is_written_keeps_every_image_of_the_batch(
    hf_home: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    args = ["generate", "a fox", "--stages", "1", "--steps", "2", "--seed", "1",
            "--num-images", "3", "--batch-size", "3", "-o", str(out)]  # fmt: skip
    env = _environment(hf_home, tmp_path / "home", IF_CLI_FAULT="pause@save#2")
    process = _start(args, env)
    _wait_for_pause(process, "save")  # image 1's sidecar is being written
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 143, stderr
    assert len(stdout.split()) == 3 and len(_complete_images(out)) == 3
    assert len(_files(out)) == 6


def test_a_hangup_the_process_was_started_to_ignore_stays_ignored(
    hf_home: Path, tmp_path: Path
) -> None:
    """``nohup if-cli …`` outlives the terminal, as every Unix tool under nohup does."""
    out = tmp_path / "out"
    release = tmp_path / "go"
    args = ["generate", "a fox", "--stages", "1", "--steps", "2", "--seed", "1", "-o", str(out)]
    env = _environment(
        hf_home, tmp_path / "home", IF_CLI_FAULT="pause@stage_1", IF_CLI_FAULT_RELEASE=str(release)
    )
    process = _start(args, env, then=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN))
    _wait_for_pause(process, "stage_1")
    process.send_signal(signal.SIGHUP)
    release.touch()
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    assert _complete_images(out) == [Path(stdout.strip()).name]


def _killed_while_saving(hf_home: Path, tmp_path: Path, save: int) -> tuple[list[str], Path]:
    """SIGKILL the two-image run during its ``save``-th write; its arguments and folder."""
    args = _two_image_run(tmp_path)
    env = _environment(hf_home, tmp_path / "home", IF_CLI_FAULT=f"pause@save#{save}")
    process = _start(args, env)
    _wait_for_pause(process, "save")
    process.kill()
    process.communicate(timeout=60)
    return args, tmp_path / "out"


def test_sigkill_while_writing_leaves_only_a_temp_file_the_rerun_removes(
    cli: Cli, hf_home: Path, tmp_path: Path
) -> None:
    args, out = _killed_while_saving(hf_home, tmp_path, save=1)
    (left,) = _files(out)
    assert left.startswith(".") and left.endswith(".part")  # hidden, never a finished name
    resumed = cli(*args)
    assert resumed.returncode == 0, resumed.stderr
    assert "skipping" not in resumed.stderr
    assert len(_complete_images(out)) == 2 and len(_files(out)) == 4


def test_sigkill_between_png_and_sidecar_is_not_taken_for_a_finished_image(
    cli: Cli, hf_home: Path, tmp_path: Path
) -> None:
    args, out = _killed_while_saving(hf_home, tmp_path, save=2)
    (lone,) = [name for name in _files(out) if not name.startswith(".")]
    assert lone.endswith(".png") and _complete_images(out) == []
    resumed = cli(*args)
    assert resumed.returncode == 0, resumed.stderr
    assert "skipping" not in resumed.stderr  # the lone PNG is not mistaken for a finished image
    assert len(_complete_images(out)) == 2 and lone not in _complete_images(out)
    assert (out / lone).is_file()  # and it is left alone, never overwritten


def _limit_file_size(limit: int) -> Callable[[], None]:
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def test_a_full_disk_is_one_clear_line_and_earlier_images_stay_intact(
    cli: Cli, hf_home: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    common = ["--stages", "1", "--steps", "2", "--seed", "5", "-o", str(out)]
    earlier = cli("generate", "an earlier image", *common)
    assert earlier.returncode == 0, earlier.stderr
    before = {name: (out / name).read_bytes() for name in _files(out)}
    env = _environment(hf_home, tmp_path / "home")
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    env["TMPDIR"] = str(temporary)
    process = _start(["generate", "a new image", *common], env, then=_limit_file_size(2048))
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 6
    error = stderr.strip().splitlines()[-1]
    assert error.startswith("if-cli: error: cannot write ") and "File too large" in error
    assert "the disk is full or a size limit is set" in error and "Traceback" not in stderr
    # The limit holds for every file the process writes, so no rescue folder can take the
    # image either: the error says exactly which image was lost.
    assert "image 1 (seed 5, prompt 'a new image') is lost" in error
    assert list(temporary.iterdir()) == []  # no empty rescue folder left behind
    rescued = tmp_path / "home" / ".local" / "share" / "if-cli" / "rescued"
    assert not rescued.exists() or list(rescued.iterdir()) == []  # nor half an image
    assert stdout == ""
    assert {name: (out / name).read_bytes() for name in _files(out)} == before


def test_out_of_memory_stops_with_the_placement_to_try(
    cli: Cli, hf_home: Path, tmp_path: Path
) -> None:
    done = cli(
        "generate", "a cat", "--stages", "1", "--steps", "2", "-o", str(tmp_path / "out"),
        env={"IF_CLI_FAULT": "oom@stage_1"},
    )  # fmt: skip
    assert done.returncode == 5
    (error,) = done.stderr.strip().splitlines()[-1:]
    assert error.startswith("if-cli: error: cpu ran out of memory")
    assert "--offload" in error and "--batch-size 1" in error
    assert _files(tmp_path / "out") == []


def test_keep_going_halves_the_batch_after_out_of_memory_and_finishes(
    cli: Cli, tmp_path: Path
) -> None:
    prompts = tmp_path / "p.txt"
    prompts.write_text("".join(f"scene {n}\n" for n in range(5)))
    out = tmp_path / "out"
    done = cli(
        "generate", "--prompts", str(prompts), "--stages", "1", "--steps", "2", "--seed", "1",
        "--batch-size", "4", "--keep-going", "-o", str(out),
        env={"IF_CLI_FAULT": "oom@stage_1>2"},  # only a pass of more than 2 images fails
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "out of memory with --batch-size 4; going on with --batch-size 2" in done.stderr
    assert len(_complete_images(out)) == 5 and len(done.stdout.split()) == 5


def test_keep_going_counts_a_chunk_that_fails_even_one_at_a_time(cli: Cli, tmp_path: Path) -> None:
    done = cli(
        "generate", "a cat", "--stages", "1", "--steps", "2", "--keep-going",
        "-o", str(tmp_path / "out"), env={"IF_CLI_FAULT": "oom@stage_1"},
    )  # fmt: skip
    assert done.returncode == 10
    assert "ran out of memory" in done.stderr and "1 image(s) failed" in done.stderr


def test_two_runs_racing_for_the_same_names_both_finish_and_clobber_nothing(
    hf_home: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    release = tmp_path / "go"
    args = ["generate", "a lighthouse", "--stages", "1", "--steps", "2", "--seed", "8",
            "-o", str(out)]  # fmt: skip
    env = _environment(
        hf_home, tmp_path / "home", IF_CLI_FAULT="pause@save#1", IF_CLI_FAULT_RELEASE=str(release)
    )
    runs = [_start(args, env) for _ in range(2)]
    for process in runs:  # both have picked the same free name and written it aside
        _wait_for_pause(process, "save")
    release.touch()
    outputs = [process.communicate(timeout=60) for process in runs]
    assert [process.returncode for process in runs] == [0, 0], outputs
    printed = sorted(Path(stdout.strip()).name for stdout, _ in outputs)
    assert printed == _complete_images(out) and len(_files(out)) == 4
    second, first = printed  # "name-2.png" sorts before "name.png"
    assert second == first.replace(".png", "-2.png")
