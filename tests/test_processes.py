"""``accelerate launch -m if_cli generate``: the images split across processes."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from tests.conftest import CLI, FAST_STEPS

ACCELERATE = CLI.with_name("accelerate")


def test_two_cpu_processes_share_a_prompt_file_without_clashing(
    hf_home: Path, tmp_path: Path
) -> None:
    prompts = tmp_path / "p.txt"
    prompts.write_text("".join(f"scene {n}\n" for n in range(5)))
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    env.update({"HF_HOME": str(hf_home), "HF_HUB_OFFLINE": "1", "HOME": str(tmp_path)})
    out = tmp_path / "o"
    completed = subprocess.run(
        [
            str(ACCELERATE),
            "launch",
            "--multi_gpu",
            "--num_processes",
            "2",
            "--num_machines",
            "1",
            "--mixed_precision",
            "no",
            "--dynamo_backend",
            "no",
            "-m",
            "if_cli",
            "generate",
            "--prompts",
            str(prompts),
            "--device",
            "cpu",
            "--stages",
            "1",
            *FAST_STEPS,
            "-o",
            str(out),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    paths = [Path(line) for line in completed.stdout.splitlines()]
    assert len(paths) == 5 and len(set(paths)) == 5
    seeds = sorted(json.loads(p.with_suffix(".json").read_text())["image"]["seed"] for p in paths)
    # No --seed: the processes share the main process's random draw, image i gets seed + i.
    assert seeds == list(range(seeds[0], seeds[0] + 5))
    summaries = [line for line in completed.stderr.splitlines() if "image(s) written" in line]
    assert summaries == [summaries[0]] and "5 image(s) written by 2 processes" in summaries[0]
    assert sorted(p.suffix for p in out.iterdir()) == [".json"] * 5 + [".png"] * 5
