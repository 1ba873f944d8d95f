"""Start-up cost: ``if-cli --help`` / ``--version`` / an argument error vs importing diffusers.

Each command runs alternately (to share the machine's noise) ``--repeat`` times; the
script prints the median wall time of each and its ratio to the diffusers import.

    python benchmarks/startup.py --repeat 10
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

CLI = shutil.which("if-cli") or str(Path(sys.executable).with_name("if-cli"))
COMMANDS = {
    "if-cli --help": [CLI, "--help"],
    "if-cli --version": [CLI, "--version"],
    "if-cli generate (argument error)": [CLI, "generate", "a cat", "--steps", "0"],
    'python -c "import diffusers.pipelines"': [sys.executable, "-c", "import diffusers.pipelines"],
    'python -c "import diffusers.pipelines.deepfloyd_if"': [
        sys.executable,
        "-c",
        "import diffusers.pipelines.deepfloyd_if",
    ],
}
BASELINE = 'python -c "import diffusers.pipelines.deepfloyd_if"'


def _time(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    for command in COMMANDS.values():  # warm the file cache once
        _time(command)
    samples: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(args.repeat):
        for name, command in COMMANDS.items():
            samples[name].append(_time(command))
    medians = {name: statistics.median(values) for name, values in samples.items()}
    base = medians[BASELINE]
    print(f"{'command':<56} {'median s':>9} {'vs ' + 'deepfloyd_if import':>24}")
    for name, median in medians.items():
        print(f"{name:<56} {median:>9.3f} {base / median:>23.1f}×")


if __name__ == "__main__":
    main()
