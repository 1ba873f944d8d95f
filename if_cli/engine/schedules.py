"""IF's fast timestep schedules, by name.

The names are listed here so that validation needs no diffusers import; the timesteps
themselves come from ``diffusers.pipelines.deepfloyd_if.timesteps`` when a stage runs.
"""

from __future__ import annotations

# Name → number of timesteps (checked against diffusers by a test).
SCHEDULE_LENGTHS: dict[str, int] = {
    "fast27": 27,
    "smart27": 27,
    "smart50": 50,
    "smart100": 100,
    "smart185": 185,
    "super27": 27,
    "super40": 40,
    "super100": 100,
}
SCHEDULE_NAMES: tuple[str, ...] = tuple(SCHEDULE_LENGTHS)


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


def step_count(steps: int | str) -> int:
    """How many steps a count or a named schedule runs, without importing diffusers."""
    return SCHEDULE_LENGTHS[steps] if isinstance(steps, str) else steps
