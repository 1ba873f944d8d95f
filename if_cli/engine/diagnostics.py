"""Why if-cli would or would not run on this machine: one check at a time, with the fix.

Used by ``if-cli doctor``; plain data, so it can be called from Python too.
"""

from __future__ import annotations

import dataclasses
import importlib
import platform
import shutil
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Literal

from if_cli.engine.catalog import DEFAULT_CASCADE, MODEL_ALIASES, shipped_model_path, short_name
from if_cli.errors import IFCliError
from if_cli.units import human_bytes

Status = Literal["ok", "warn", "fail"]
LOW_DISK_BYTES = 25 * 1024**3  # the fp16 default cascade is about 23 GB


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str
    fix: str | None = None


@dataclass(frozen=True)
class Setup:
    """The defaults ``generate`` would use (after config and environment)."""

    models: tuple[str, str, str] = tuple(MODEL_ALIASES[a] for a in DEFAULT_CASCADE)  # type: ignore[assignment]
    last_stage: int = 3  # stages after it need no model
    device: str = "auto"
    dtype: str = "auto"
    offload: str = "auto"
    variant: str = "auto"
    out: Path = field(default_factory=lambda: Path("."))
    cache_dir: Path | None = None


def _package(name: str, module: str, fix: str) -> Check:
    try:
        importlib.import_module(module)
        return Check(name, "ok", version(name))
    except (ImportError, PackageNotFoundError) as exc:
        return Check(name, "fail", f"cannot be imported: {exc}", fix)


def software() -> list[Check]:
    """Python and the libraries generation needs, imported for real."""
    checks = [Check("python", "ok", platform.python_version())]
    install = "pip install --upgrade if-cli"
    for name, module in (
        ("torch", "torch"),
        ("diffusers", "diffusers.pipelines.deepfloyd_if"),
        ("transformers", "transformers"),
        ("accelerate", "accelerate"),
        ("huggingface_hub", "huggingface_hub"),
        ("safetensors", "safetensors"),
    ):
        checks.append(_package(name, module, install))
    # T5's tokenizer folder holds only spiece.model: without both of these it cannot load.
    checks.append(_package("sentencepiece", "sentencepiece", "pip install sentencepiece"))
    checks.append(_package("protobuf", "google.protobuf", "pip install protobuf"))
    return checks


def device() -> Check:
    import torch

    if torch.cuda.is_available():
        free, total = torch.cuda.mem_get_info()
        name = torch.cuda.get_device_name()
        return Check(
            "device", "ok", f"CUDA {name}: {human_bytes(free)} free of {human_bytes(total)}"
        )
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return Check("device", "ok", "Apple MPS")
    build = "a CPU-only build" if torch.version.cuda is None else "built with CUDA"
    return Check(
        "device",
        "warn",
        f"no CUDA or MPS device (torch {torch.__version__} is "
        f"{build}): generation runs on the CPU, minutes per image",
        "use a machine with a GPU and a CUDA build of torch",
    )


def token() -> Check:
    from huggingface_hub import get_token

    if get_token():
        return Check("hub token", "ok", "present (its value is never shown)")
    return Check(
        "hub token",
        "warn",
        "none: gated DeepFloyd models cannot be downloaded",
        "accept the licence on the model card, then `hf auth login` or set HF_TOKEN",
    )


def disk(name: str, where: Path) -> Check:
    place = where
    while not place.exists() and place != place.parent:
        place = place.parent
    free = shutil.disk_usage(place).free
    status: Status = "ok" if free >= LOW_DISK_BYTES else "warn"
    return Check(
        name,
        status,
        f"{human_bytes(free)} free at {place}",
        None if status == "ok" else "free some space or use another folder",
    )


def models(setup: Setup) -> list[Check]:
    from huggingface_hub import constants

    from if_cli.engine.cache import list_cached

    cached = {m.repo_id: m for m in list_cached(setup.cache_dir)}
    checks = [disk("cache disk", Path(setup.cache_dir or constants.HF_HUB_CACHE))]
    wanted: list[tuple[str, str | None]] = []  # (label, hub id to download)
    for stage, ref in enumerate(setup.models[: setup.last_stage], start=1):
        label = f"stage {stage} model"
        if shipped_model_path(ref) is not None:
            checks.append(Check(label, "ok", f"{ref}, shipped with if-cli"))
        elif Path(ref).expanduser().is_dir():
            checks.append(Check(label, "ok", f"local folder {ref}"))
        else:
            wanted.append((label, MODEL_ALIASES.get(ref, ref)))
    missing = [repo for _, repo in wanted if repo not in cached or not cached[repo].complete]
    names = " ".join(dict.fromkeys(short_name(repo) for repo in missing))
    fix = f"if-cli download {names} (or --model demo: the demo that ships with if-cli)"
    for label, repo_id in wanted:
        found = cached.get(repo_id)
        if found is None:
            checks.append(Check(label, "fail", f"{repo_id} is not in the cache", fix))
        elif not found.complete:
            checks.append(Check(label, "fail", f"{repo_id} is incomplete: {found.problem}", fix))
        else:
            checks.append(
                Check(
                    label,
                    "ok",
                    f"{repo_id}@{found.revision[:10]} "
                    f"({', '.join(found.variants)}, {human_bytes(found.size_bytes)})",
                )
            )
    return sorted(checks, key=lambda c: c.name)


def placement(setup: Setup) -> Check:
    """What ``--offload auto`` would choose for a default request, read from headers."""
    from if_cli.engine.cascade import Engine
    from if_cli.engine.request import (
        GenerationRequest,
        Placement,
        default_stage_1,
        default_stage_2,
        default_stage_3,
    )

    stages = [default_stage_1(), default_stage_2(), default_stage_3()]
    options = [dataclasses.replace(s, model=m) for s, m in zip(stages, setup.models, strict=True)]
    request = GenerationRequest(
        prompts=("doctor",),
        seed=0,
        last_stage=setup.last_stage,
        stage_1=options[0],
        stage_2=options[1],
        stage_3=options[2],
        placement=Placement(
            device=setup.device,
            dtype=setup.dtype,  # type: ignore[arg-type]
            offload=setup.offload,
            variant=setup.variant,
        ),  # type: ignore[arg-type]
    )
    try:
        plan = Engine().prepare(request).plan
    except IFCliError as error:
        return Check("plan", "fail", error.message, error.hint)
    return Check(
        "plan",
        "ok",
        f"{plan.device} {plan.dtype}, --offload {plan.offload} "
        f"({plan.reason}); peak ≈ {human_bytes(plan.peak_bytes)}",
    )


def run_all(setup: Setup) -> list[Check]:
    """Every check, in the order a person would fix them."""
    checks = software()
    if any(c.status == "fail" for c in checks):
        return checks
    checks += [device(), token(), *models(setup), disk("output disk", setup.out)]
    if not any(c.status == "fail" for c in checks):
        checks.append(placement(setup))
    return checks
