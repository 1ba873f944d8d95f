"""Start-up cost: ``if-cli --help`` / ``--version`` / an argument error vs importing diffusers.

Each command runs alternately (to share the machine's noise) ``--repeat`` times; the
script prints the median wall time of each and its ratio to the diffusers import, and
writes them under ``benchmarks/results/`` (``DATE-startup-DEVICE.{md,json}``).

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

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.harness import report

GOAL = 20.0  # --help at least this many times faster than the import
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
    parser.add_argument("--out", type=Path, default=report.RESULTS)
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
    result = {
        "machine": report.machine("cpu"),
        "repeat": args.repeat,
        "median_s": medians,
        "help_speedup": base / medians["if-cli --help"],
        "goal": GOAL,
    }
    lines = [
        "# Start-up benchmark",
        "",
        f"{result['machine']['date']} · {result['machine']['cpu_cores']} CPU cores · "
        f"median of {args.repeat}",
        "",
        "| command | median s | import ÷ this |",
        "|---|---|---|",
        *(f"| `{name}` | {m:.3f} | {base / m:.1f}× |" for name, m in medians.items()),
        "",
        f"`if-cli --help` is {result['help_speedup']:.1f}× faster than importing "
        f"diffusers' IF pipelines (goal ≥ {GOAL:.0f}×).",
    ]
    page = report.write(result, "\n".join(lines) + "\n", "startup", args.out)
    print(f"written: {page}", file=sys.stderr)


if __name__ == "__main__":
    main()
