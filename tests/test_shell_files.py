"""Completions and the man page are generated from the app, current, and work."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import CLI

ROOT = Path(__file__).resolve().parent.parent
MAN = ROOT / "man" / "if-cli.1"


def test_checked_in_completions_and_man_page_are_up_to_date() -> None:
    completed = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "build_shell_files.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr


def test_man_page_is_ascii_and_renders_without_warnings() -> None:
    MAN.read_text().encode("ascii")  # every non-ASCII character is a groff escape
    groff = shutil.which("groff")
    if groff is None:
        pytest.skip("groff is not installed (CI installs groff-base)")
    rendered = subprocess.run(
        [groff, "-man", "-Tutf8", "-ww", "-z", str(MAN)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert rendered.returncode == 0 and rendered.stderr == ""
    if shutil.which("man"):
        shown = subprocess.run(
            ["man", "-l", str(MAN)],
            capture_output=True,
            text=True,
            env={**os.environ, "MANPAGER": "cat", "MANWIDTH": "100"},
            check=False,
        )
        assert shown.returncode == 0 and shown.stderr == ""
        assert "if-cli generate" in shown.stdout and "→" in shown.stdout


def test_man_page_has_every_section_command_and_option() -> None:
    import typer

    from if_cli.main import app

    text = MAN.read_text().replace("\\-", "-")
    for section in (
        "NAME",
        "SYNOPSIS",
        "DESCRIPTION",
        "COMMANDS",
        "EXIT STATUS",
        "ENVIRONMENT",
        "FILES",
        "EXAMPLES",
    ):
        assert f".SH {section}" in text
    root = typer.main.get_command(app)
    stack = [((name,), command) for name, command in root.commands.items()]
    while stack:
        path, command = stack.pop()
        subcommands = getattr(command, "commands", {})
        if command.params or not subcommands:  # a bare group is documented by its commands
            assert f'.SS "if-cli {" ".join(path)}"' in text
        for param in command.params:
            for flag in param.opts if param.param_type_name == "option" else []:
                assert re.search(rf"{re.escape(flag)}\b", text), f"{path}: {flag}"
        stack += [((*path, n), c) for n, c in subcommands.items()]


def _complete(words: str) -> list[str]:
    cword = len(words.split()) - (0 if words.endswith(" ") else 1)
    env = {
        **os.environ,
        "_IF_CLI_COMPLETE": "complete_bash",
        "COMP_WORDS": words,
        "COMP_CWORD": str(cword),
    }
    return subprocess.run(
        [str(CLI)], env=env, capture_output=True, text=True, check=True
    ).stdout.split()


def test_completion_offers_commands_options_and_choices() -> None:
    assert _complete("if-cli ") == [
        "generate",
        "img2img",
        "inpaint",
        "style",
        "upscale",
        "download",
        "replay",
        "info",
        "sheet",
        "doctor",
        "tokens",
        "serve",
        "completion",
        "models",
        "config",
    ]
    assert "--offload" in _complete("if-cli generate x --off")
    assert _complete("if-cli generate x --offload ") == [
        "auto",
        "none",
        "text",
        "unload",
        "model",
        "sequential",
    ]
    assert _complete("if-cli generate x --stages ") == ["1", "2", "3"]
    assert _complete("if-cli generate x --steps sm") == [
        "smart27",
        "smart50",
        "smart100",
        "smart185",
    ]
    assert _complete("if-cli generate x --stage-2-model II") == ["II-L", "II-M"]
    assert _complete("if-cli img2img a.png x --fit ") == ["keep", "crop", "pad", "stretch"]
    assert _complete("if-cli upscale a.png --stage-2-steps sm")[0] == "smart27"
    assert _complete("if-cli download ") == ["I-XL", "I-L", "I-M", "II-L", "II-M", "x4"]
    assert _complete("if-cli models rm x") == ["x4"]


def test_the_bash_script_completes_in_a_real_bash(tmp_path: Path) -> None:
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("bash is not installed")
    script = (
        f"source {ROOT / 'completions' / 'if-cli.bash'}\n"
        "COMP_WORDS=(if-cli generate x --offload m); COMP_CWORD=4\n"
        "_if_cli_completion if-cli\n"
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    env = {**os.environ, "PATH": f"{CLI.parent}{os.pathsep}{os.environ['PATH']}"}
    completed = subprocess.run(
        [bash, "-c", script], capture_output=True, text=True, env=env, check=True
    )
    assert completed.stdout.split() == ["model"]
