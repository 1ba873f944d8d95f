"""Closed and broken standard streams, as a real ``if-cli`` process meets them.

stderr is decoration: losing it never stops the work. stdout is data: when nobody can
read it the run stops with exit 141 (as a shell reports SIGPIPE), keeping what is done.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import CLI
from tests.test_faults import _complete_images, _environment, _files

STAGE_1 = ["--stages", "1", "--steps", "2", "--seed", "4"]


def _run_with_closed(
    descriptor: int, args: list[str], env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """Run the CLI with one of its standard descriptors closed, as ``2>&-`` does."""

    def close() -> None:
        os.close(descriptor)

    streams = {0: "stdin", 1: "stdout", 2: "stderr"}
    pipes = {name: subprocess.PIPE for name in ("stdout", "stderr")}
    pipes["stdin"] = subprocess.DEVNULL
    pipes[streams[descriptor]] = None  # inherited, then closed in the child
    result = subprocess.run(
        [str(CLI), *args], env=env, text=True, preexec_fn=close, timeout=120, check=False, **pipes
    )
    return result


def test_a_closed_stderr_does_not_stop_the_work(hf_home: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    env = _environment(hf_home, tmp_path / "home")
    done = _run_with_closed(2, ["generate", "a quiet fox", *STAGE_1, "-o", str(out)], env)
    assert done.returncode == 0
    (printed,) = done.stdout.split()
    assert _complete_images(out) == [Path(printed).name]


def test_a_mistake_with_stderr_closed_still_exits_with_its_code(
    hf_home: Path, tmp_path: Path
) -> None:
    env = _environment(hf_home, tmp_path / "home")
    done = _run_with_closed(2, ["generate", "a fox", "--steps", "0"], env)
    assert done.returncode == 2 and done.stdout == ""


def test_a_closed_stdin_is_no_concern_of_a_run_with_a_prompt(hf_home: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    env = _environment(hf_home, tmp_path / "home")
    done = _run_with_closed(0, ["generate", "a fox", *STAGE_1, "-o", str(out)], env)
    assert done.returncode == 0, done.stderr
    assert len(_complete_images(out)) == 1


def _run_into_a_pipe_nobody_reads(
    stream: str, args: list[str], hf_home: Path, tmp_path: Path
) -> subprocess.CompletedProcess[str]:
    """Run the CLI with ``stream`` ("stdout" or "stderr") a pipe whose reader is gone:
    every write to it fails with EPIPE. The other stream is captured."""
    read, write = os.pipe()
    os.close(read)
    other = "stderr" if stream == "stdout" else "stdout"
    try:
        return subprocess.run(
            [str(CLI), *args],
            env=_environment(hf_home, tmp_path / "home"),
            stdin=subprocess.DEVNULL,
            text=True,
            timeout=120,
            check=False,
            **{stream: write, other: subprocess.PIPE},
        )
    finally:
        os.close(write)


def test_a_stderr_whose_reader_went_away_does_not_stop_the_work(
    hf_home: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    args = ["generate", "a fox", *STAGE_1, "--num-images", "2", "-o", str(out)]
    done = _run_into_a_pipe_nobody_reads("stderr", args, hf_home, tmp_path)
    assert done.returncode == 0
    assert len(done.stdout.split()) == 2 and len(_complete_images(out)) == 2


def test_a_closed_stdout_refuses_before_any_work(hf_home: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    env = _environment(hf_home, tmp_path / "home")
    done = _run_with_closed(1, ["generate", "a fox", *STAGE_1, "-o", str(out)], env)
    assert done.returncode == 141
    (line,) = done.stderr.splitlines()
    assert line.startswith("if-cli: error: stdout is closed") and ">/dev/null" in line
    assert not out.exists()


def test_a_reader_that_goes_away_stops_the_run_and_finished_images_stay(
    hf_home: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    process = subprocess.Popen(
        [str(CLI), "generate", "a fox", *STAGE_1, "--num-images", "3", "--json", "-o", str(out)],
        env=_environment(hf_home, tmp_path / "home"),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None and process.stderr is not None
    assert process.stdout.read(1) == b"{"  # the first image is written: read a byte ...
    process.stdout.close()  # ... and go away, as `| head -c1` does
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=120) == 141
    assert stderr.splitlines()[-1] == (
        "if-cli: error: stdout is broken (its reader went away); stopped, "
        "and finished images were kept"
    )
    # Image 1 was reported, image 2 was written before its line failed; 3 was never made.
    assert len(_complete_images(out)) == 2 and len(_files(out)) == 4


def test_paths_reach_a_redirected_stdout_while_bars_run_on_a_terminal(
    hf_home: Path, tmp_path: Path
) -> None:
    """stderr is a terminal (bars), stdout a pipe: the paths must arrive on stdout."""
    import pty
    import threading

    main, terminal = pty.openpty()
    drawn: list[bytes] = []

    def drain() -> None:  # read the terminal, as a user's screen does, so it never fills
        while True:
            try:
                chunk = os.read(main, 4096)
            except OSError:
                return
            if not chunk:
                return
            drawn.append(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    env = _environment(hf_home, tmp_path / "home", TERM="xterm")
    env.pop("NO_COLOR", None)
    try:
        done = subprocess.run(
            [str(CLI), "generate", "a fox", *STAGE_1, "-o", str(tmp_path / "out")],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=terminal,
            timeout=120,
            check=False,
        )
    finally:
        os.close(terminal)
        reader.join(timeout=10)
        os.close(main)
    assert done.returncode == 0
    (printed,) = done.stdout.decode().split()
    assert Path(printed).is_file() and printed.encode() not in b"".join(drawn)
    assert "━" in b"".join(drawn).decode(errors="replace")  # the bars were drawn there


def test_a_prompt_file_from_a_closed_stdin_is_empty_not_an_internal_error(
    hf_home: Path, tmp_path: Path
) -> None:
    env = _environment(hf_home, tmp_path / "home")
    done = _run_with_closed(0, ["generate", "--prompts", "-", *STAGE_1], env)
    assert done.returncode == 2
    assert done.stderr.splitlines() == ["if-cli: error: <stdin>: no prompts in the file"]


def test_stdout_on_a_full_disk_is_exit_6_and_the_image_is_kept(
    hf_home: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    with open("/dev/full", "w") as full:  # every write: "No space left on device"
        done = subprocess.run(
            [str(CLI), "generate", "a fox", *STAGE_1, "-o", str(out)],
            env=_environment(hf_home, tmp_path / "home"),
            stdin=subprocess.DEVNULL,
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
            check=False,
        )
    assert done.returncode == 6
    assert done.stderr.splitlines()[-1].startswith(
        "if-cli: error: cannot write to stdout: No space left on device; stopped, "
        "and finished images were kept"
    )
    assert len(_complete_images(out)) == 1


@pytest.mark.parametrize(
    "args",
    [["--help"], ["generate", "--help"], ["config", "show", "--json"]],
    ids=["app help", "command help", "listing"],
)
def test_help_or_a_listing_into_a_pipe_nobody_reads_is_one_line_and_exit_141(
    hf_home: Path, tmp_path: Path, args: list[str]
) -> None:
    done = _run_into_a_pipe_nobody_reads("stdout", args, hf_home, tmp_path)
    assert done.returncode == 141
    assert done.stderr.splitlines() == [
        "if-cli: error: stdout is broken (its reader went away); stopped"
    ]


def test_json_lines_stay_valid_unicode_for_a_folder_whose_name_is_not(
    hf_home: Path, tmp_path: Path
) -> None:
    folder = os.fsdecode(bytes(tmp_path) + b"/bad\xffname")  # a byte that is not UTF-8
    done = subprocess.run(
        [str(CLI), "generate", "a fox", *STAGE_1, "--json", "-o", folder],
        env=_environment(hf_home, tmp_path / "home"),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    record = json.loads(done.stdout.decode("utf-8"))  # strict UTF-8, as jq reads it
    assert os.fsencode(record["path"]).startswith(bytes(tmp_path) + b"/bad\xffname/")
