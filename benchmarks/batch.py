"""One batch run of N prompts vs N separate ``if-cli generate`` runs, and a warm cache.

Uses the tests' tiny cascade in the published layout on the CPU (stages I and II), so it
measures what batching saves (start-up, model loads, T5) rather than denoising math.
All three are timed in this one run, one after the other.

    python benchmarks/batch.py --prompts 16
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
CLI = shutil.which("if-cli") or str(Path(sys.executable).with_name("if-cli"))


def _run(args: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(
        [CLI, *args], env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=16)
    args = parser.parse_args()
    from tests.tiny_cascade import write_tiny_cascade

    work = Path(tempfile.mkdtemp(prefix="if-cli-batch-bench-"))
    repos = write_tiny_cascade(work / "repos")
    env = {**os.environ, "HOME": str(work / "home"), "HF_HUB_OFFLINE": "1"}
    env.pop("IF_CLI_CONFIG", None)
    common = [
        "--stages",
        "2",
        "--steps",
        "4",
        "--stage-2-steps",
        "4",
        "--seed",
        "1",
        "--stage-1-model",
        str(repos["stage_1"]),
        "--stage-2-model",
        str(repos["stage_2"]),
        "-q",
    ]
    prompts = [f"a red circle number {n} above a blue square" for n in range(args.prompts)]
    listing = work / "prompts.txt"
    listing.write_text("\n".join(prompts) + "\n")

    separate = sum(
        _run(["generate", p, *common, "--no-embedding-cache", "-o", str(work / "separate")], env)
        for p in prompts
    )
    batch = _run(
        [
            "generate",
            "--prompts",
            str(listing),
            *common,
            "--no-embedding-cache",
            "-o",
            str(work / "batch"),
        ],
        env,
    )
    _run(["generate", "--prompts", str(listing), *common, "-o", str(work / "fill")], env)
    warm = _run(
        ["generate", "--prompts", str(listing), *common, "--overwrite", "-o", str(work / "warm")],
        env,
    )
    print(f"{args.prompts} prompts, tiny cascade to 256 px on {os.cpu_count()} CPU cores")
    print(f"{'run':<44} {'seconds':>8} {'vs separate':>12}")
    print(f"{'separate if-cli generate runs':<44} {separate:>8.1f} {1:>11.1f}×")
    print(f"{'one --prompts run':<44} {batch:>8.1f} {separate / batch:>11.1f}×")
    print(f"{'one --prompts run, warm embedding cache':<44} {warm:>8.1f} {separate / warm:>11.1f}×")
    print(f"warm cache vs cold batch: {batch / warm:.2f}×")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
