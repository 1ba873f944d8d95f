"""The planner keeps what fits resident and falls back step by step; sizes come from headers."""

from __future__ import annotations

from pathlib import Path

import pytest

from if_cli.engine.memory import (
    GIB,
    OFFLOAD_ORDER,
    StageFootprint,
    choose_offload,
    measure_stage,
    peak_for,
    preferred_variant,
    resolve_device,
    resolve_dtype,
)
from if_cli.engine.models import ModelSource, weight_files
from if_cli.engine.safetensors_header import read_tensor_infos
from if_cli.errors import DeviceUnavailableError

SOURCE = ModelSource(ref="x", path=Path("/nowhere"))


def _stage(key: str, gib: float, parts: int = 1) -> StageFootprint:
    size = int(gib * GIB)
    return StageFootprint(
        key, key, SOURCE, tuple(f"c{i}" for i in range(parts)), "fp16", size, size // 20
    )


# Published sizes in fp16 (IF.md): T5 10.7, I-XL 8.0, II-L 2.2, x4 1.6 GiB.
CASCADE = (
    _stage("text", 10.7),
    _stage("stage_1", 8.0),
    _stage("stage_2", 2.2),
    _stage("stage_3", 1.6, parts=3),
)
WORKSPACE = 2 * GIB


@pytest.mark.parametrize(
    ("free_gib", "expected"),
    [(80, "none"), (24, "text"), (13, "unload"), (4, "sequential"), (1, "sequential")],
)
def test_auto_picks_the_fastest_plan_that_fits(free_gib: float, expected: str) -> None:
    mode, _reason = choose_offload(
        "auto", CASCADE, WORKSPACE, int(free_gib * GIB), accelerator=True
    )
    assert mode == expected


def test_model_offload_is_chosen_when_only_one_model_at_a_time_fits() -> None:
    # Each IF phase is one model except stage III (UNet + VAE + CLIP), so model offload
    # only beats freeing each stage when stage III's models do not fit together.
    stages = (_stage("text", 2.0), _stage("stage_3", 6.0, parts=3))
    assert choose_offload("auto", stages, WORKSPACE, 5 * GIB, accelerator=True)[0] == "model"


def test_peaks_shrink_from_resident_to_sequential() -> None:
    peaks = [peak_for(mode, CASCADE, WORKSPACE) for mode in OFFLOAD_ORDER]
    assert peaks == sorted(peaks, reverse=True)
    assert peaks[0] == sum(s.weight_bytes for s in CASCADE) + WORKSPACE
    assert peaks[1] == sum(s.weight_bytes for s in CASCADE[1:]) + WORKSPACE
    assert peaks[2] == CASCADE[0].weight_bytes + WORKSPACE


def test_cpu_never_uses_accelerate_offload() -> None:
    mode, _ = choose_offload("auto", CASCADE, WORKSPACE, 1 * GIB, accelerator=False)
    assert mode == "unload"
    with pytest.raises(DeviceUnavailableError, match="--offload model"):
        choose_offload("model", CASCADE, WORKSPACE, None, accelerator=False)


def test_an_explicit_offload_is_kept() -> None:
    assert choose_offload("none", CASCADE, WORKSPACE, 1, accelerator=True)[0] == "none"


def test_dtype_and_variant_follow_the_device() -> None:
    assert resolve_dtype("auto", "cuda") == "fp16"
    assert resolve_dtype("auto", "cpu") == "fp32"
    assert resolve_dtype("bf16", "cpu") == "bf16"
    assert preferred_variant("auto", "fp16") == "fp16"
    assert preferred_variant("auto", "fp32") is None
    assert preferred_variant("fp16", "fp32") == "fp16"


def test_cuda_requested_without_cuda_is_a_device_error() -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(DeviceUnavailableError, match="no CUDA device") as raised:
        resolve_device("cuda")
    assert raised.value.exit_code == 4
    assert resolve_device("auto") in ("cpu", "mps")


def test_t5_fp16_size_counts_its_wo_layers_in_fp32(tiny_repos: dict[str, Path]) -> None:
    source = ModelSource(ref="r", path=tiny_repos["stage_1"])
    files = weight_files(source, "text_encoder", "fp16")
    assert files is not None and len(files) > 1  # sharded, like the real encoder
    infos = [info for path in files for info in read_tensor_infos(path)]
    wo = sum(i.numel for i in infos if "wo" in i.name)
    rest = sum(i.numel for i in infos) - wo
    measured = measure_stage("text", "T5", source, ("text_encoder",), "fp16", "fp16")
    assert wo > 0
    assert measured.weight_bytes == wo * 4 + rest * 2
