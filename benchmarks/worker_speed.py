"""One-liners with and without a warm worker (``if-cli serve``), side by side in one run.

Starts a worker in a private runtime folder, lets it load the models with one job, then
runs ``--runs`` one-liners of each kind, alternating (``--worker off``, then through the
worker), each with its own seed, and times each from process start to exit. Prints:

- the total wall time of each kind and their ratio (the goal: at least 4× less);
- what a one-liner through the worker costs beyond the engine's own time, measured as the
  same request sent straight to the warm worker's API (goal: at most 0.5 s).

    python benchmarks/worker_speed.py              # the demo, on this machine
    python benchmarks/worker_speed.py --size XL    # IF's full-size cascade, on a GPU

``--size XL`` runs the published architectures with random weights, written once in the
published layout by the benchmark harness (``benchmarks/harness``, 22 GB in fp16);
``tiny`` is the test suite's cascade. Arguments after ``--`` go to every ``if-cli
generate`` as well (``-- --dtype fp16 --compile``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CLI = shutil.which("if-cli") or str(Path(sys.executable).with_name("if-cli"))
PROMPT = "a red circle above a blue square"
RATIO_GOAL = 4.0
OVERHEAD_GOAL_S = 0.5


def _one_liner(args: list[str], env: dict[str, str], out: Path) -> tuple[float, Path]:
    started = time.perf_counter()
    done = subprocess.run(
        [CLI, "generate", PROMPT, *args, "-o", str(out), "-q"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return time.perf_counter() - started, out / done.stdout.split()[-1]


def _engine_seconds(request: dict, socket: Path, seed: int) -> float:
    """The request of a one-liner's sidecar, run straight on the warm worker: from
    sending it to its last event (no process start, no planning, no writing)."""
    import httpx

    body = {"protocol": 1, "request": {**request, "seed": seed}, "settings": {}}
    transport = httpx.HTTPTransport(uds=str(socket))
    with httpx.Client(transport=transport, base_url="http://worker", timeout=None) as client:
        started = time.perf_counter()
        with client.stream("POST", "/api/v1/jobs", json=body) as response:
            lines = [json.loads(line) for line in response.iter_lines()]
        seconds = time.perf_counter() - started
    if lines[-1]["event"] != "done":
        raise SystemExit(f"the job failed: {lines[-1]}")
    return seconds


def _start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    worker = subprocess.Popen(
        [CLI, "serve", "--idle-timeout", "0"],
        env=env,
        stderr=log.open("w"),
        stdout=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while "worker ready" not in log.read_text():
        if worker.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"the worker did not start:\n{log.read_text()}")
        time.sleep(0.05)
    return worker


def _cascade_args(size: str, root: Path) -> list[str]:
    if size == "demo":
        return ["--model", "demo"]
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from benchmarks.harness import models

    device = "cuda" if size == "XL" else "cpu"
    cascade = models.prepare(size, root, device)
    return [f"--{key.replace('_', '-')}-model={path}" for key, path in cascade.repos.items()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--size", choices=("demo", "tiny", "XL"), default="demo")
    parser.add_argument(
        "--models",
        type=Path,
        default=Path(tempfile.gettempdir()) / "if-cli-benchmark-models",
        help="where --size tiny or XL writes its random-weight models (kept for later runs)",
    )
    parser.add_argument("generate_args", nargs="*", default=[])
    options = parser.parse_args()
    options.generate_args = [*_cascade_args(options.size, options.models), *options.generate_args]
    folder = Path(tempfile.mkdtemp(prefix="ifbench-"))
    env = {**os.environ, "XDG_RUNTIME_DIR": str(folder / "run")}
    (folder / "run").mkdir(mode=0o700)
    worker = _start_worker(env, folder / "serve.log")
    try:
        first, _ = _one_liner([*options.generate_args, "--seed", "0"], env, folder / "warm-up")
        cold: list[float] = []
        warm: list[float] = []
        engine: list[float] = []
        for run in range(1, options.runs + 1):
            seconds, _ = _one_liner(
                [*options.generate_args, "--seed", str(run), "--worker", "off"],
                env,
                folder / "cold",
            )
            cold.append(seconds)
            seconds, png = _one_liner(
                [*options.generate_args, "--seed", str(run)], env, folder / "warm"
            )
            sidecar = json.loads(png.with_suffix(".json").read_text())
            assert "worker" in sidecar["runtime"], "the one-liner did not use the worker"
            warm.append(seconds)
            socket = folder / "run" / "if-cli" / "worker.sock"
            engine.append(_engine_seconds(sidecar["request"], socket, 1000 + run))
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(60)
        shutil.rmtree(folder, ignore_errors=True)

    overheads = [w - e for w, e in zip(warm, engine, strict=True)]
    figures = {
        "runs": options.runs,
        "generate_args": options.generate_args,
        "first_job_s": round(first, 2),
        "cold_total_s": round(sum(cold), 2),
        "warm_total_s": round(sum(warm), 2),
        "ratio": round(sum(cold) / sum(warm), 2),
        "cold_median_s": round(statistics.median(cold), 2),
        "warm_median_s": round(statistics.median(warm), 2),
        "engine_median_s": round(statistics.median(engine), 2),
        "overhead_median_s": round(statistics.median(overheads), 2),
    }
    print(f"{options.runs} one-liners ({' '.join(options.generate_args)}), alternating:")
    print(
        f"  without a worker:    {figures['cold_total_s']:7.2f} s "
        f"(median {figures['cold_median_s']:.2f} s each)"
    )
    print(
        f"  through the worker:  {figures['warm_total_s']:7.2f} s "
        f"(median {figures['warm_median_s']:.2f} s each)"
    )
    print(f"  ratio: {figures['ratio']:.2f}× less wall time (goal ≥ {RATIO_GOAL}×)")
    print(
        f"  a warm one-liner: engine {figures['engine_median_s']:.2f} s, "
        f"{figures['overhead_median_s']:.2f} s beyond it (goal ≤ {OVERHEAD_GOAL_S} s)"
    )
    print(f"  the worker's first job (loads the models): {figures['first_job_s']:.2f} s")
    if options.json:
        options.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
