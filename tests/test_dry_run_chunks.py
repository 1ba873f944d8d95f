"""A dry run of a long prompt file shows each plan once, not once per chunk of 16: the
chunks that share a plan are folded together with all their images and cut prompts."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

Cli = Callable[..., subprocess.CompletedProcess[str]]
LONG = "a red circle above a blue square" + " and a green star" * 20


def test_chunks_that_share_a_plan_are_planned_once_and_one_that_differs_stands_out(
    cli: Cli, tmp_path: Path
) -> None:
    lines = [{"prompt": f"a red circle, {n}"} for n in range(40)]
    lines[20] = {"prompt": LONG}  # in chunk 2: its cut text is listed with the fold
    lines.insert(30, {"prompt": "a blue star", "stages": 1})  # a plan of its own
    queue = tmp_path / "queue.jsonl"
    queue.write_text("".join(json.dumps(line) + "\n" for line in lines))

    planned = cli(
        *("generate", "--prompts", str(queue), "--model", "demo", "--seed", "1", "--dry-run")
    )
    assert planned.returncode == 0, planned.stderr
    headers = [line for line in planned.stdout.splitlines() if line.startswith("# ")]
    assert headers == ["# chunks 1–3/4: 40 image(s)", "# chunk 4/4: 1 image(s)"]
    assert planned.stdout.count("peak estimate:") == 2
    folded, single = planned.stdout.split("# chunk 4/4")
    assert "images: 40 (seeds 1, 2, 3, 4, 5, 6, 7, 8…), batch size 1, generate, stages 1–2" in (
        folded
    )
    assert 'T5 tokens: 135 of 77 (the longest text)\n  cut from "a red circle above' in folded
    assert "images: 1 (seeds 31), batch size 1, generate, stages 1–1" in single
