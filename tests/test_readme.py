"""The README's commands that need no download run as written, from a fresh folder."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import CLI

ROOT = Path(__file__).resolve().parent.parent
OFFLINE = re.compile(r"--model demo|^if-cli (config|models(?! rm)\b|completion|\S+ --help)")


def _commands(text: str) -> list[str]:
    """Every ``if-cli`` line of the ``sh`` blocks that runs without the IF models."""
    blocks = re.findall(r"```sh\n(.*?)```", text, flags=re.DOTALL)
    lines = [line.strip() for block in blocks for line in block.splitlines()]
    return [
        line
        for line in lines
        if line.startswith("if-cli ") and OFFLINE.search(line) and not _starts_a_server(line)
    ]


def _starts_a_server(line: str) -> bool:
    """``if-cli serve … &`` runs until stopped: tests/test_worker_apis.py runs its examples."""
    return line.startswith("if-cli serve") and line.endswith("&")


README_COMMANDS = _commands((ROOT / "README.md").read_text())


def test_the_readme_has_offline_commands_to_run() -> None:
    assert 'if-cli generate "a red circle above a blue square" --model demo' in README_COMMANDS
    assert "if-cli doctor --model demo" in " ".join(README_COMMANDS)


@pytest.mark.parametrize("command", README_COMMANDS)
def test_a_readme_command_runs_as_written(command: str, tmp_path: Path) -> None:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("IF_CLI_")}
    environment.update(
        {
            "PATH": f"{CLI.parent}:{os.environ['PATH']}",
            "HOME": str(tmp_path / "home"),
            "HF_HOME": str(tmp_path / "hf"),
            "HF_HUB_OFFLINE": "1",
        }
    )
    done = subprocess.run(
        ["bash", "-c", f"set -o pipefail; {command}"],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, f"{command}\n{done.stderr}"
    if command.startswith("if-cli generate") and "--help" not in command:
        (path,) = done.stdout.split()
        with Image.open(tmp_path / path) as picture:
            assert picture.size == (128, 128)
