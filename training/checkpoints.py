"""Training checkpoints, so that a run cut short goes on where it stopped.

A stage's checkpoint holds everything its next step depends on: the weights, their
moving average, the optimizer's moments, both random generators (the scene drawer's and
torch's) and the losses so far. A run resumed from it therefore takes exactly the steps
an uninterrupted run takes and writes the same bytes.

Tensors go to a safetensors file and the rest to JSON beside it (no pickles), written
to temporary names first and renamed, so a run killed while saving leaves the previous
checkpoint whole.
"""

from __future__ import annotations

import json
import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file


@dataclass
class Progress:
    """Where a stage's training stands: the next step's index and the losses so far."""

    step: int
    losses: list[float]
    seconds: float


class CheckpointMismatch(Exception):
    """The checkpoint was made with other settings: resuming would not give their run."""


def _paths(folder: Path, stage: str) -> tuple[Path, Path]:
    return folder / f"{stage}.safetensors", folder / f"{stage}.json"


def record_path(folder: Path, stage: str) -> Path:
    """Where ``stage``'s checkpoint record (its step, settings and losses) is kept."""
    return _paths(folder, stage)[1]


def save(
    folder: Path,
    stage: str,
    settings: dict[str, Any],
    modules: list[torch.nn.Module],
    averages: list[torch.nn.Module],
    optimizer: torch.optim.Optimizer,
    rng: random.Random,
    progress: Progress,
) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    tensors: dict[str, torch.Tensor] = {"torch_rng": torch.get_rng_state()}
    for group, members in (("model", modules), ("average", averages)):
        for index, module in enumerate(members):
            for name, value in module.state_dict().items():
                tensors[f"{group}.{index}.{name}"] = value.detach().clone().contiguous()
    for index, state in optimizer.state_dict()["state"].items():
        for name, value in state.items():
            tensors[f"optimizer.{index}.{name}"] = torch.as_tensor(value).clone().contiguous()
    version, internal, gauss = rng.getstate()
    facts = {
        "settings": settings,
        "step": progress.step,
        "losses": progress.losses,
        "seconds": progress.seconds,
        "rng": [version, list(internal), gauss],
    }
    weights, record = _paths(folder, stage)
    save_file(tensors, str(weights) + ".partial")
    Path(str(record) + ".partial").write_text(json.dumps(facts))
    os.replace(str(weights) + ".partial", weights)
    os.replace(str(record) + ".partial", record)


def load(
    folder: Path,
    stage: str,
    settings: dict[str, Any],
    modules: list[torch.nn.Module],
    averages: list[torch.nn.Module],
    optimizer: torch.optim.Optimizer,
    rng: random.Random,
) -> Progress | None:
    """Restore a stage from its checkpoint in place; None when there is none."""
    weights, record = _paths(folder, stage)
    if not (weights.is_file() and record.is_file()):
        return None
    facts = json.loads(record.read_text())
    if facts["settings"] != settings:
        raise CheckpointMismatch(
            f"{record} was made with other settings ({facts['settings']}); "
            "give the same ones, or remove the folder to start afresh"
        )
    tensors = load_file(weights)
    torch.set_rng_state(tensors["torch_rng"])
    for group, members in (("model", modules), ("average", averages)):
        for index, module in enumerate(members):
            prefix = f"{group}.{index}."
            module.load_state_dict(
                {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
            )
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        if key.startswith("optimizer."):
            _, index, name = key.split(".", 2)
            state.setdefault(int(index), {})[name] = value
    optimizer.load_state_dict(
        {"state": state, "param_groups": optimizer.state_dict()["param_groups"]}
    )
    version, internal, gauss = facts["rng"]
    rng.setstate((version, tuple(internal), gauss))
    return Progress(facts["step"], facts["losses"], facts["seconds"])
