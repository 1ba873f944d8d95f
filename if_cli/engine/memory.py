"""Device, dtype and offload planning, from file headers and free memory, before loading.

The plan decides what stays resident. ``auto`` picks the fastest plan whose estimated
peak fits the budget (free memory, capped by ``Placement.max_memory``): everything
resident (``none``), else T5 freed once the prompts are encoded and stages I–III kept
(``text``), else each stage freed after use (``unload``), else accelerate's model offload
(``model``), else sequential offload.
Estimates are weights (read from safetensors headers in the compute dtype) plus a coarse
activation allowance; they are meant for choosing a plan, not as exact figures.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from if_cli.engine.models import ModelSource, component_bytes, component_files
from if_cli.engine.request import Placement
from if_cli.errors import DeviceUnavailableError
from if_cli.units import human_bytes

GIB = 1024**3
BYTES_PER_PARAM = {"fp16": 2, "bf16": 2, "fp32": 4}
OFFLOAD_ORDER = ("none", "text", "unload", "model", "sequential")
ON_DEVICE = ("none", "text", "unload")  # plans that keep weights on the device while used
# Coarse activation allowance per square image in a batch: the 1024 px VAE decode
# dominates. A wider picture needs more in proportion to its area (``SQUARE_AREA``).
WORKSPACE_PER_IMAGE = {1: 1 * GIB, 2: 1 * GIB, 3: 2 * GIB}
SQUARE_AREA = 64 * 64  # stage I's pixels in IF's square pictures


@dataclass(frozen=True)
class StageFootprint:
    """One phase of the cascade and the weights it needs resident."""

    key: str  # "text", "stage_1", "stage_2", "stage_3"
    label: str
    source: ModelSource
    components: tuple[str, ...]
    variant: str | None
    weight_bytes: int
    largest_tensor_bytes: int


@dataclass(frozen=True)
class Plan:
    """The resolved placement for a request."""

    device: str
    dtype: str
    offload: str
    stages: tuple[StageFootprint, ...]
    budget_bytes: int | None
    peak_bytes: int
    reason: str
    capped: bool = False  # the budget is the user's cap, not the free memory

    def keeps_loaded(self, key: str) -> bool:
        """Whether phase ``key`` stays resident after use (for later requests too)."""
        return self.offload == "none" or (self.offload == "text" and key != "text")


def resolve_device(requested: str) -> str:
    """``auto`` → cuda, then mps, then cpu; a named device must exist."""
    import torch

    has_cuda = torch.cuda.is_available()
    has_mps = bool(getattr(torch.backends, "mps", None)) and torch.backends.mps.is_available()
    if requested == "auto":
        return "cuda" if has_cuda else "mps" if has_mps else "cpu"
    if requested == "cuda" and not has_cuda:
        raise DeviceUnavailableError(
            "--device cuda was asked for but PyTorch sees no CUDA device",
            hint=f"torch {torch.__version__} is "
            + ("a CPU-only build" if torch.version.cuda is None else "installed with CUDA")
            + "; use --device cpu or install a CUDA build of torch",
        )
    if requested == "mps" and not has_mps:
        raise DeviceUnavailableError("--device mps was asked for but MPS is not available")
    return requested


def resolve_dtype(requested: str, device: str) -> str:
    """``auto`` → fp16 on CUDA (as the published weights), fp32 on CPU and MPS."""
    if requested != "auto":
        return requested
    return "fp16" if device == "cuda" else "fp32"


def preferred_variant(requested: str, dtype: str) -> str | None:
    """The weight files to prefer: fp16 files for half-precision compute, else full."""
    if requested == "fp16":
        return "fp16"
    if requested == "fp32":
        return None
    return "fp16" if dtype in ("fp16", "bf16") else None


def free_memory_bytes(device: str) -> int | None:
    """Free memory on ``device`` now (RAM for the CPU); None when it cannot be told."""
    import torch

    if device.startswith("cuda"):
        free, _total = torch.cuda.mem_get_info()
        return int(free)
    if device == "mps":
        return int(torch.mps.recommended_max_memory() - torch.mps.driver_allocated_memory())
    return _available_ram()


def _available_ram() -> int | None:
    meminfo = Path("/proc/meminfo")
    if meminfo.is_file():
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def measure_stage(
    key: str,
    label: str,
    source: ModelSource,
    components: tuple[str, ...],
    variant: str | None,
    dtype: str,
) -> StageFootprint:
    """Size a stage from its safetensors headers (no weights are read)."""
    total = largest = 0
    for component in components:
        files = component_files(source, component, variant) or []
        # transformers keeps T5's feed-forward output layers in fp32 when loading fp16.
        keep = ("wo",) if component == "text_encoder" and dtype == "fp16" else ()
        size, big = component_bytes(source, files, BYTES_PER_PARAM[dtype], keep)
        total += size
        largest = max(largest, big)
    return StageFootprint(key, label, source, components, variant, total, largest)


def published_stage(
    key: str, label: str, source: ModelSource, components: tuple[str, ...], dtype: str
) -> StageFootprint:
    """Size a stage of a published model that is not downloaded, from its parameter count.

    The largest single tensor is not published; a 32nd of the weights stands in for it
    (it only matters to the ``sequential`` plan).
    """
    from if_cli.engine.catalog import PUBLISHED_PARAMETERS, T5_FP32_PARAMETERS

    assert source.repo_id is not None
    parameters = PUBLISHED_PARAMETERS[source.repo_id][key]
    total = parameters * BYTES_PER_PARAM[dtype]
    if key == "text" and dtype == "fp16":
        total += T5_FP32_PARAMETERS * 2  # transformers keeps ``wo`` in fp32
    variant = None if dtype == "fp32" else "fp16"
    return StageFootprint(key, label, source, components, variant, total, total // 32)


def peak_for(offload: str, stages: tuple[StageFootprint, ...], workspace: int) -> int:
    """Estimated peak device memory of one offload mode."""
    if not stages:
        return workspace
    if offload == "none":
        return sum(s.weight_bytes for s in stages) + workspace
    if offload == "text":
        kept = sum(s.weight_bytes for s in stages if s.key != "text")
        text = sum(s.weight_bytes for s in stages if s.key == "text")
        return max(kept, text) + workspace
    if offload == "unload":
        return max(s.weight_bytes for s in stages) + workspace
    if offload == "model":
        # accelerate keeps one model of a pipeline on the device at a time.
        return max(s.weight_bytes // max(len(s.components), 1) for s in stages) + workspace
    return max(s.largest_tensor_bytes for s in stages) + workspace


def choose_offload(
    requested: str,
    stages: tuple[StageFootprint, ...],
    workspace: int,
    budget: int | None,
    accelerator: bool,
    capped: bool = False,
) -> tuple[str, str]:
    """Pick the offload mode and say why. Pure: testable with any numbers."""
    if requested != "auto":
        if requested in ("model", "sequential") and not accelerator:
            raise DeviceUnavailableError(
                f"--offload {requested} moves weights between the CPU and an accelerator",
                hint="on the CPU use --offload auto, none or unload",
            )
        return requested, "asked for"
    candidates = OFFLOAD_ORDER if accelerator else ON_DEVICE
    if budget is None:
        return "unload", "free memory unknown: each stage is freed after use"
    room = human_bytes(budget) + (" allowed" if capped else " free")
    for mode in candidates:
        if peak_for(mode, stages, workspace) <= budget:
            return mode, f"fastest plan that fits {room}"
    last = candidates[-1]
    return last, f"nothing fits {room}; using the leanest plan"


def memory_budget(free: int | None, cap: int | None) -> int | None:
    """What the plan may use: the free memory, or less where the user set a cap."""
    if cap is None:
        return free
    return cap if free is None else min(free, cap)


def apply_memory_cap(device: str, cap: int | None) -> None:
    """Hold this process to ``cap`` bytes on a CUDA device, so the cap is real, not a hope.

    PyTorch's caching allocator then raises out-of-memory past the cap, as a smaller
    card would; on other devices the cap only steers the plan.
    """
    if cap is None or not device.startswith("cuda"):
        return
    import torch

    index = torch.device(device).index or 0
    total = torch.cuda.get_device_properties(index).total_memory
    torch.cuda.set_per_process_memory_fraction(min(1.0, cap / total), index)


def make_plan(
    placement: Placement,
    device: str,
    dtype: str,
    stages: tuple[StageFootprint, ...],
    batch_size: int,
    last_stage: int,
    free: int | None,
    area: int = SQUARE_AREA,
) -> Plan:
    """Choose the offload mode for ``stages`` in the free memory (None: unknown) or the cap.

    ``area`` is stage I's pixels per image: the workspace grows with it (a 16:9 picture
    needs 1.75 times a square's), never shrinks below a square's.
    """
    scale = max(1.0, area / SQUARE_AREA)
    workspace = int(WORKSPACE_PER_IMAGE[last_stage] * batch_size * scale)
    budget = memory_budget(free, placement.max_memory)
    capped = budget is not None and budget == placement.max_memory
    offload, reason = choose_offload(
        placement.offload, stages, workspace, budget, accelerator=device != "cpu", capped=capped
    )
    peak = peak_for(offload, stages, workspace)
    return Plan(device, dtype, offload, stages, budget, peak, reason, capped)
