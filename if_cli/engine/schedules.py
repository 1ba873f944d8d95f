"""IF's fast timestep schedules, by name.

The names are listed here so that validation needs no diffusers import; the timesteps
themselves come from ``diffusers.pipelines.deepfloyd_if.timesteps`` when a stage runs.
"""

from __future__ import annotations

SCHEDULE_NAMES: tuple[str, ...] = (
    "fast27",
    "smart27",
    "smart50",
    "smart100",
    "smart185",
    "super27",
    "super40",
    "super100",
)


def timesteps_for(name: str) -> list[int]:
    """The timestep list diffusers publishes for ``name`` (e.g. ``smart27``)."""
    from diffusers.pipelines.deepfloyd_if import timesteps

    return list(getattr(timesteps, f"{name}_timesteps"))


def steps_and_timesteps(steps: int | str) -> tuple[int, list[int] | None]:
    """Turn a stage's ``steps`` (count or schedule name) into pipeline arguments."""
    if isinstance(steps, str):
        schedule = timesteps_for(steps)
        return len(schedule), schedule
    return steps, None
