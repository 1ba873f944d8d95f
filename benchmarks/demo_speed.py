"""How long the README's quick start takes: the demo cascade at 128 px on this CPU.

Times, one after the other in this one run:
- the whole quick start command (process start to exit), median of ``--repeat`` runs;
- the engine's own time for that image (model loads and denoising, from the sidecar);
- one run of ``--num-images 8``, per image;
- ``python -c "import diffusers.pipelines"``, the import floor any such command pays.

    python benchmarks/demo_speed.py --repeat 5
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CLI = shutil.which("if-cli") or str(Path(sys.executable).with_name("if-cli"))
QUICK_START = ["generate", "a red circle above a blue square", "--model", "demo"]
GOAL_S = 5.0


def _timed(command: list[str], env: dict[str, str]) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(command, env=env, check=True, capture_output=True, text=True)
    return time.perf_counter() - started, done.stdout


def _engine_seconds(png: str) -> float:
    timings = json.loads(Path(png).with_suffix(".json").read_text())["timings_s"]
    return sum(t["load"] + t["run"] for t in timings.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="if-cli-demo-bench-"))
    env = {**os.environ, "HOME": str(work / "home"), "HF_HUB_OFFLINE": "1"}
    env.pop("IF_CLI_CONFIG", None)
    walls, engines, imports = [], [], []
    for n in range(args.repeat):
        out = ["-o", str(work / f"one-{n}"), "--seed", str(n)]
        wall, stdout = _timed([CLI, *QUICK_START, *out], env)
        walls.append(wall)
        engines.append(_engine_seconds(stdout.strip()))
        imports.append(_timed([sys.executable, "-c", "import diffusers.pipelines"], env)[0])
    batch_wall, stdout = _timed(
        [CLI, *QUICK_START, "--num-images", "8", "--seed", "0", "-o", str(work / "eight")], env
    )
    per_image = batch_wall / len(stdout.split())
    wall, engine, floor = (statistics.median(x) for x in (walls, engines, imports))
    print(f"demo cascade, 128 px, {os.cpu_count()} CPU cores, median of {args.repeat}")
    rows = [
        ("quick start command, process start to exit", wall),
        ("  of which the engine (loads + denoising)", engine),
        ("  import diffusers.pipelines alone", floor),
        ("per image in one --num-images 8 run", per_image),
    ]
    print(f"{'':<46} {'seconds':>8} {'vs 5 s goal':>12}")
    for label, seconds in rows:
        print(f"{label:<46} {seconds:>8.2f} {seconds / GOAL_S:>11.2f}×")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
