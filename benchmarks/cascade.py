"""The cascade benchmark: the plain diffusers recipe vs the if-cli engine, side by side.

One command builds (or reuses) the models, then runs each contender in a process of its
own, alternating, and writes a Markdown table + JSON under ``benchmarks/results/``:
per-stage seconds, it/s and achieved TFLOP/s, s/image warm and for the first request
(loading included), peak GPU memory and peak RSS, and the ratios the goals are set in.

    python benchmarks/cascade.py --size XL                 # on a GPU: the published sizes
    python benchmarks/cascade.py --size tiny --steps 10,10,10   # anywhere, in a minute
    python benchmarks/cascade.py --size demo               # the shipped demo on this CPU

On a GPU the recipe is the reference one (model CPU offload on every stage); on a CPU
there is no offload to do, so both keep their models resident and the ratios show the
engine's own overhead.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from dataclasses import asdict, replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.harness import flops, models, report, runs

CAP = "24GiB"
# name → (runner, images, --max-gpu-memory, --compile), in the order they run
RUNS = {
    "recipe-1": ("recipe", 1, None, False),
    "ifcli-1": ("if-cli", 1, None, False),
    "ifcli-1-capped": ("if-cli", 1, CAP, False),
    "ifcli-1-compile": ("if-cli", 1, None, True),
    "recipe-4": ("recipe", 4, None, False),
    "ifcli-4": ("if-cli", 4, None, False),
}
CPU_RUNS = ("recipe-1", "ifcli-1", "recipe-4", "ifcli-4")
# (what, run, against, goal): warm s/image of ``run`` over ``against``
GOALS = (
    ("if-cli / recipe, 1 image", "ifcli-1", "recipe-1", 0.45),
    (f"if-cli --max-gpu-memory {CAP} / recipe, 1 image", "ifcli-1-capped", "recipe-1", 0.5),
    ("if-cli --compile (after warm-up) / recipe, 1 image", "ifcli-1-compile", "recipe-1", 0.3),
    ("if-cli / recipe, 4 prompts", "ifcli-4", "recipe-4", 0.5),
)


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=models.SIZES, default="tiny")
    parser.add_argument("--device", choices=("auto", "cuda", "cpu"), default="auto")
    parser.add_argument("--steps", help="I,II,III steps (default: 100,50,75; demo 20,10,0)")
    parser.add_argument("--repeat", type=int, default=2, help="warm requests per run")
    parser.add_argument("--runs", help="comma-separated, from: " + ", ".join(RUNS))
    parser.add_argument(
        "--models",
        type=Path,
        default=Path(tempfile.gettempdir()) / "if-cli-benchmark-models",
        help="where the random-weight models are written (and reused)",
    )
    parser.add_argument("--out", type=Path, default=report.RESULTS)
    parser.add_argument("--run-one", help=argparse.SUPPRESS)
    return parser.parse_args()


def _device(requested: str) -> str:
    import torch

    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return requested


def _run_apart(spec: runs.RunSpec) -> dict:
    """Run one spec in a fresh process; its measurements come back on stdout's last line."""
    done = subprocess.run(
        [sys.executable, __file__, "--run-one", json.dumps(asdict(spec))],
        stdout=subprocess.PIPE,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def _notes(device: str) -> list[str]:
    notes = [
        "load s: importing diffusers and loading the weights (the recipe's "
        "from_pretrained calls; the engine's loads in its first request).",
        "first request s: loading plus the first request; s/image (warm): later requests "
        "with the models loaded, divided by the images in a request.",
    ]
    if device == "cpu":
        notes.append(
            "On a CPU the recipe has no offload to do: both keep every model resident, so "
            "the ratios show the engine's own overhead, not the GPU goals."
        )
    return notes


def main() -> None:
    args = _arguments()
    if args.run_one:
        spec = json.loads(args.run_one)
        print(json.dumps(runs.run(runs.RunSpec(**{**spec, "steps": tuple(spec["steps"])}))))
        return
    device = _device(args.device)
    steps = tuple(int(n) for n in args.steps.split(",")) if args.steps else None
    steps = steps or models.DEFAULT_STEPS[args.size]
    names = args.runs.split(",") if args.runs else RUNS if device == "cuda" else CPU_RUNS
    unknown = [name for name in names if name not in RUNS]
    if unknown:
        raise SystemExit(f"unknown runs {unknown}; choose from {', '.join(RUNS)}")
    print(f"preparing the {args.size} cascade on {device} …", file=sys.stderr)
    cascade = models.prepare(args.size, args.models, device)
    stage_steps = dict(zip(("stage_1", "stage_2", "stage_3"), steps, strict=True))
    base = runs.RunSpec(
        name="",
        runner="",
        images=1,
        repeat=args.repeat,
        device=device,
        steps=steps,  # type: ignore[arg-type]
        repos=cascade.repos,
        last_stage=cascade.last_stage,
        watermark=args.size != "demo",  # the demo ships no watermarker
    )
    results, work = [], {}
    for name in names:
        runner, images, cap, compiled = RUNS[name]
        spec = replace(
            base, name=name, runner=runner, images=images, max_gpu_memory=cap, compile=compiled
        )
        print(f"run {name} …", file=sys.stderr)
        if images not in work:
            work[images] = flops.per_step(cascade.repos, images)
        results.append(report.summarise(_run_apart(spec), images, stage_steps, work[images]))
    by_name = {run["name"]: run for run in results}
    ratios = [
        {
            "what": what,
            "value": by_name[run]["s_per_image"] / by_name[against]["s_per_image"],
            "goal": goal,
        }
        for what, run, against, goal in GOALS
        if run in by_name and against in by_name
    ]
    result = {
        "size": args.size,
        "steps": list(steps),
        "repeat": args.repeat,
        "prompt": runs.PROMPT,
        "machine": report.machine(device),
        "flops_per_step": work.get(1) or next(iter(work.values())),
        "runs": results,
        "ratios": ratios,
        "notes": _notes(device),
    }
    page = report.write(result, report.markdown(result), f"cascade-{args.size}", args.out)
    print(page.read_text())
    print(f"written: {page} and {page.with_suffix('.json')}", file=sys.stderr)


if __name__ == "__main__":
    main()
