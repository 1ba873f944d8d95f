"""What other libraries print on their own never reaches stdout, and --quiet silences it.

The tokenizers library prints a notice straight to the process's stdout for each
special token in the older ``{"__type": "AddedToken"}`` form, which tokenizer files of
published repos still use. It must not corrupt the paths and JSON on stdout.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

Cli = Callable[..., subprocess.CompletedProcess[str]]
NOTICE = "Ignored unknown kwarg option __type"


def _old_style_tokens(source: Path, target: Path) -> Path:
    """A copy of stage I whose special tokens are written in the older AddedToken form."""
    shutil.copytree(source, target)
    path = target / "tokenizer" / "special_tokens_map.json"
    tokens = json.loads(path.read_text())
    for key, value in tokens.items():
        if isinstance(value, str):
            tokens[key] = {"__type": "AddedToken", "content": value, "lstrip": False,
                           "normalized": True, "rstrip": False, "single_word": False}  # fmt: skip
    path.write_text(json.dumps(tokens))
    return target


@pytest.fixture
def old_style_model(tiny_repos: dict[str, Path], tmp_path: Path) -> Path:
    return _old_style_tokens(tiny_repos["stage_1"], tmp_path / "old-style")


def _run(cli: Cli, model: Path, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return cli("generate", "a fox", "--stages", "1", "--steps", "2", "--seed", "2",
               "--stage-1-model", str(model), "--no-embedding-cache", "--json",
               "-o", str(out), *extra)  # fmt: skip


def test_a_notice_printed_by_a_library_becomes_one_warning_on_stderr(
    cli: Cli, old_style_model: Path, tmp_path: Path
) -> None:
    done = _run(cli, old_style_model, tmp_path / "out")
    assert done.returncode == 0, done.stderr
    json.loads(done.stdout)  # stdout is exactly one JSON object
    assert done.stderr.count(NOTICE) == 1
    assert f"if-cli: warning: {NOTICE}" in done.stderr.splitlines()


def test_quiet_silences_library_notices(cli: Cli, old_style_model: Path, tmp_path: Path) -> None:
    done = _run(cli, old_style_model, tmp_path / "out", "--quiet")
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    json.loads(done.stdout)
