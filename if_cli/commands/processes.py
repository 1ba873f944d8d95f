"""Sharing a run between processes started by ``accelerate launch`` (or torchrun).

Each process takes every N-th image, so no two ever make, or write, the same file; on
CUDA each pins its own GPU, so ``cuda`` means that process's device. The counts are
gathered and the main process prints the one summary. A run started normally is a
single share, and accelerate is not even imported.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Share:
    index: int = 0
    count: int = 1
    state: Any = None

    @property
    def is_main(self) -> bool:
        return self.index == 0

    def take(self, items: list[T]) -> list[T]:
        return items[self.index :: self.count]

    def total(self, counts: dict[str, int]) -> dict[str, int]:
        """The sum of every process's counts (on every process)."""
        if self.state is None:
            return counts
        from accelerate.utils import gather_object

        gathered = gather_object([counts])
        return {key: sum(c[key] for c in gathered) for key in counts}

    def agree(self, value: T) -> T:
        """The main process's ``value``, on every process (a random seed, say)."""
        if self.state is None:
            return value
        from accelerate.utils import broadcast_object_list

        return broadcast_object_list([value])[0]

    def close(self) -> None:
        """Leave the process group: its threads left to the interpreter's exit can abort
        a process that has finished its work ("terminate called without an active
        exception")."""
        if self.state is not None:
            self.state.destroy_process_group()


def current_share(device: str) -> Share:
    """This process's share of the run; the whole run unless launched distributed."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return Share()
    import torch
    from accelerate import PartialState

    on_cpu = device == "cpu" or not torch.cuda.is_available()
    state = PartialState(cpu=on_cpu)
    if not on_cpu:
        torch.cuda.set_device(state.local_process_index)
    return Share(state.process_index, state.num_processes, state)
