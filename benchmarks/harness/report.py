"""Benchmark results as JSON and a Markdown table under ``benchmarks/results/``.

Each benchmark run writes ``DATE-KIND-DEVICE.{json,md}`` (``cascade-tiny``, ``startup`` …)
and rewrites ``benchmarks/results/README.md``, the index (newest first) the README links.
"""

from __future__ import annotations

import json
import platform
import re
import statistics
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from if_cli.units import human_bytes

RESULTS = Path(__file__).resolve().parent.parent / "results"
LIBRARIES = ("if-cli", "torch", "diffusers", "transformers", "accelerate")
STAGES = ("text", "stage_1", "stage_2", "stage_3")
LABELS = {
    "text": "T5",
    "stage_1": "I",
    "stage_2": "II",
    "stage_3": "III",
    "stage_3_decode": "III VAE decode",
}
COLUMNS = ("run", "plan", "load s", "first request s", "s/image (warm)")


def machine(device: str) -> dict[str, Any]:
    """The device's name and the software, so results from two runs can be told apart."""
    import os

    import torch

    name = torch.cuda.get_device_name() if device == "cuda" else platform.processor() or "CPU"
    versions = {}
    for library in LIBRARIES:
        try:
            versions[library] = version(library)
        except PackageNotFoundError:
            versions[library] = None
    return {
        "device": device,
        "device_name": name,
        "cpu_cores": os.cpu_count(),
        "python": platform.python_version(),
        "versions": versions,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def summarise(run: dict[str, Any], images: int, steps: dict[str, int], flops: dict[str, int]):
    """Medians, it/s and achieved TFLOP/s of one run's warm requests."""
    stages = {key: statistics.median(times) for key, times in run["stages_s"].items()}
    per_stage = {}
    for key, seconds in stages.items():
        entry: dict[str, float] = {"s": seconds}
        if steps.get(key):
            entry["it_s"] = steps[key] / seconds
            work = flops.get(key, 0) * steps[key] + (
                flops.get("stage_3_decode", 0) if key == "stage_3" else 0
            )
            entry["tflop_s"] = work / seconds / 1e12
        per_stage[key] = entry
    warm = statistics.median(run["warm_s"])
    return {
        **run,
        "images": images,
        "warm_median_s": warm,
        "s_per_image": warm / images,
        "per_stage": per_stage,
    }


def _cell(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def markdown(result: dict[str, Any]) -> str:
    head = result["machine"]
    lines = [
        f"# Cascade benchmark: {result['size']} on {head['device_name']} ({head['device']})",
        "",
        f"{head['date']} · "
        + ", ".join(f"{k} {v}" for k, v in head["versions"].items())
        + f" · Python {head['python']} · {head['cpu_cores']} CPU cores",
        "",
        f"Steps I/II/III: {'/'.join(map(str, result['steps']))} · warm requests per run: "
        f"{result['repeat']} (medians) · prompt: `{result['prompt']}`",
        "",
        *[f"- {note}" for note in result["notes"]],
        "",
        "| "
        + " | ".join(
            [*COLUMNS, *(f"{LABELS[k]} s (it/s, TFLOP/s)" for k in STAGES), "peak GPU", "peak RSS"]
        )
        + " |",
        "|---" * (len(COLUMNS) + len(STAGES) + 2) + "|",
    ]
    for run in result["runs"]:
        cells = []
        for key in STAGES:
            stage = run["per_stage"].get(key)
            if stage is None:
                cells.append("—")
            elif "it_s" in stage:
                cells.append(f"{stage['s']:.2f} ({stage['it_s']:.1f}, {stage['tflop_s']:.2f})")
            else:
                cells.append(f"{stage['s']:.2f}")
        gpu = run["peak_gpu_bytes"]
        memory = (
            f"{human_bytes(gpu) if gpu is not None else '—'} | {human_bytes(run['peak_rss_bytes'])}"
        )
        lines.append(
            f"| {run['name']} | {run['plan']} | {_cell(run['load_s'])} | {_cell(run['first_s'])} "
            f"| {_cell(run['s_per_image'], 3)} | " + " | ".join(cells) + f" | {memory} |"
        )
    if result["ratios"]:
        lines += [
            "",
            "| ratio (warm s/image, same run) | measured | goal | met |",
            "|---|---|---|---|",
        ]
        for ratio in result["ratios"]:
            met = "yes" if ratio["value"] <= ratio["goal"] else "no"
            lines.append(
                f"| {ratio['what']} | {ratio['value']:.3f}× | ≤ {ratio['goal']}× | {met} |"
            )
    lines += [
        "",
        "TFLOP per step (guided batch): "
        + ", ".join(
            f"{LABELS.get(k, k)} {v / 1e12:.4g}" for k, v in result["flops_per_step"].items()
        ),
    ]
    return "\n".join(lines) + "\n"


def write(result: dict[str, Any], page_text: str, kind: str, folder: Path = RESULTS) -> Path:
    """Write ``DATE-KIND-DEVICE.{json,md}`` and refresh the index; return the Markdown path."""
    folder.mkdir(parents=True, exist_ok=True)
    head = result["machine"]
    device = re.sub(r"[^a-z0-9]+", "-", head["device_name"].lower()).strip("-") or head["device"]
    stem = f"{head['date'][:10]}-{kind}-{device}"
    (folder / f"{stem}.json").write_text(json.dumps(result, indent=1) + "\n")
    page = folder / f"{stem}.md"
    page.write_text(page_text)
    _index(folder)
    return page


def _index(folder: Path) -> None:
    pages = sorted((p for p in folder.glob("*.md") if p.name != "README.md"), reverse=True)
    lines = [
        "# Benchmark results",
        "",
        "Newest first; each page has a `.json` twin with every figure.",
        "",
    ]
    lines += [f"- [{p.stem}]({p.name})" for p in pages]
    (folder / "README.md").write_text("\n".join(lines) + "\n")
