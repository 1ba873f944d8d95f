"""``if-cli doctor`` says whether generation can work here, and the fix when it cannot."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

Cli = Callable[..., subprocess.CompletedProcess[str]]


def test_doctor_passes_with_the_models_cached_and_shows_the_plan(cli: Cli) -> None:
    completed = cli("doctor")
    assert completed.returncode == 0, completed.stdout + completed.stderr
    lines = completed.stdout.splitlines()
    assert any(line.startswith("ok    torch") for line in lines)
    assert any(line.startswith("ok    sentencepiece") for line in lines)
    assert any(
        line.startswith("ok    stage 1 model") and "DeepFloyd/IF-I-XL-v1.0@" in line
        for line in lines
    )
    plan = next(line for line in lines if line.startswith("ok    plan"))
    assert "--offload " in plan and "peak" in plan


def test_doctor_fails_with_the_download_to_run_when_models_are_missing(
    cli: Cli, tmp_path: Path
) -> None:
    completed = cli("doctor", env={"HF_HOME": str(tmp_path / "empty")})
    assert completed.returncode == 9
    fix = "if-cli download I-XL II-L x4 (or --model demo: the demo that ships with if-cli)"
    assert (
        f"FAIL  stage 1 model    DeepFloyd/IF-I-XL-v1.0 is not in the cache  → {fix}"
        in completed.stdout
    )
    assert completed.stderr.strip() == (
        "if-cli: error: 3 problem(s) stop generation; first: stage 1 model: "
        f"DeepFloyd/IF-I-XL-v1.0 is not in the cache; fix: {fix}"
    )


def test_doctor_reports_a_token_without_showing_it(cli: Cli) -> None:
    secret = "hf_doctor_secret_value"
    completed = cli("doctor", "--json", env={"HF_TOKEN": secret})
    checks = {c["name"]: c for c in json.loads(completed.stdout)}
    assert checks["hub token"]["status"] == "ok"
    assert secret not in completed.stdout + completed.stderr
    assert cli("doctor", "--json").returncode == 0
    no_token = {c["name"]: c for c in json.loads(cli("doctor", "--json").stdout)}
    assert no_token["hub token"]["status"] == "warn"
    assert "hf auth login" in no_token["hub token"]["fix"]
