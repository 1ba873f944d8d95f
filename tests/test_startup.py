"""Start-up stays cheap: help, version and argument errors never import the model stack."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import version

import pytest

from tests.conftest import CLI

HEAVY = (
    "torch",
    "diffusers",
    "transformers",
    "accelerate",
    "huggingface_hub",
)

_PROBE = """
import json, sys
from if_cli.main import run
sys.argv = ["if-cli", *{args!r}]
try:
    run()
except SystemExit as done:
    code = done.code
heavy = sorted(m for m in {heavy!r} if m in sys.modules)
sys.__stderr__.write("PROBE " + json.dumps({{"code": code, "heavy": heavy}}) + "\\n")
"""


def _probe(*args: str) -> dict[str, object]:
    completed = subprocess.run(
        [sys.executable, "-c", _PROBE.format(args=list(args), heavy=HEAVY)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    line = next(x for x in completed.stderr.splitlines() if x.startswith("PROBE "))
    return json.loads(line.removeprefix("PROBE "))


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["--version"],
        ["generate", "--help"],
        ["generate", "a cat", "--steps", "0"],
        ["generate", "a cat", "--stages", "4"],
        ["generate", "a cat", "--device", "tpu"],
    ],
    ids=["help", "version", "generate-help", "bad-steps", "bad-stage", "bad-choice"],
)
def test_help_version_and_argument_errors_do_not_import_the_model_stack(args: list[str]) -> None:
    result = _probe(*args)
    assert result["heavy"] == []
    assert result["code"] in (0, 2, None)


def test_version_prints_the_package_version() -> None:
    completed = subprocess.run([str(CLI), "--version"], capture_output=True, text=True, check=True)
    assert completed.stdout.strip() == f"if-cli {version('if-cli')}"


def test_python_dash_m_runs_the_same_cli() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "if_cli", "--help"], capture_output=True, text=True, check=True
    )
    assert "generate" in completed.stdout


def test_importing_the_engine_does_not_import_torch() -> None:
    code = f"import sys, if_cli.engine; print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert completed.stdout.strip() == "[]"


def test_the_engine_exports_every_name_it_lists() -> None:
    import if_cli.engine as engine

    assert all(getattr(engine, name) is not None for name in engine.__all__)
