"""``generate --from IMAGE|SIDECAR``: a picture's settings as the defaults of a new run.

Everything the record holds becomes the run's setting unless the command line gives it:
if-cli's sidecar gives every setting (prompt, negative prompt, seed, stages, each stage's
model, steps, guidance and noise, watermark, shape); an A1111 ``parameters`` chunk gives
the prompt, negative prompt, seed, steps and CFG scale (and if-cli's own chunk its later
stages), and the rest of it is named as not applicable to IF.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from if_cli.errors import InvalidRequestError

if TYPE_CHECKING:
    from if_cli.output.read_back import Provenance

# Option names a sidecar's settings give (each stage's model is its reference, such as
# a hub id, not the snapshot folder: a re-run with changes takes the model as it is now).
_FROM_SIDECAR = (
    "prompt", "negative_prompt", "seed", "stages", "watermark", "aspect", "size",
    "steps", "guidance_scale", "stage_2_steps", "stage_2_guidance_scale",
    "stage_2_noise_level", "stage_3_steps", "stage_3_guidance_scale", "stage_3_noise_level",
)  # fmt: skip
# A1111 keys → (option, type); "Stage N …" are if-cli's own additions to the chunk.
_FROM_A1111: dict[str, tuple[str, Callable[[str], Any]]] = {
    "Steps": ("steps", int),
    "CFG scale": ("guidance_scale", float),
    "Stage 2 steps": ("stage_2_steps", int),
    "Stage 2 CFG scale": ("stage_2_guidance_scale", float),
    "Stage 2 noise level": ("stage_2_noise_level", int),
    "Stage 3 steps": ("stage_3_steps", int),
    "Stage 3 CFG scale": ("stage_3_guidance_scale", float),
    "Stage 3 noise level": ("stage_3_noise_level", int),
}
_IGNORED_A1111 = ("Version", "Size", "Model", "Sampler")  # noted when they are IF's own
# Preset-dependent options: with --model typed, the preset's values win over the record's.
_PRESET_KEYS = ("stage_1_model", "stage_2_model", "stage_3_model", "stages", "watermark")


def recorded_options(source: str) -> tuple[dict[str, Any], list[str]]:
    """The option values the picture ``source`` was made with, and what was left out."""
    from if_cli.output.read_back import A1111, SIDECAR, read_back

    record = read_back(Path(source))
    if record.source == SIDECAR:
        return _from_sidecar(source, Path(record.read_from)), []
    if record.source == A1111:
        return _from_a1111(source, record)
    raise InvalidRequestError(
        f"{source} holds a {record.source}: a graph of another tool, not settings if-cli can run"
    )


def _from_sidecar(source: str, sidecar: Path) -> dict[str, Any]:
    from if_cli.commands.replay import options_from_sidecar
    from if_cli.output.metadata import read_sidecar

    values = options_from_sidecar(sidecar, None)
    if values["flow"] != "generate":
        raise InvalidRequestError(
            f"{source} was made by {values['flow']}; --from takes the settings of generate's "
            "pictures",
            hint=f"if-cli replay {source} makes it again",
        )
    taken = {key: values[key] for key in _FROM_SIDECAR if key in values}
    request = read_sidecar(sidecar)["request"]
    for stage in (1, 2, 3):
        taken[f"stage_{stage}_model"] = request[f"stage_{stage}"]["model"]
    return taken


def _from_a1111(source: str, record: Provenance) -> tuple[dict[str, Any], list[str]]:
    settings = record.settings
    taken: dict[str, Any] = {"prompt": record.prompt or ""}
    if record.negative_prompt is not None:
        taken["negative_prompt"] = record.negative_prompt
    if record.seed is not None:
        taken["seed"] = record.seed
    for key, (option, kind) in _FROM_A1111.items():
        if key in settings:
            try:
                taken[option] = kind(settings[key])
            except ValueError as exc:
                raise InvalidRequestError(
                    f"{source}: its {key} is {settings[key]!r}, not a number"
                ) from exc
    made_by_if_cli = str(settings.get("Version", "")).startswith("if-cli")
    left = [
        key
        for key in settings
        if key not in _FROM_A1111
        and not (made_by_if_cli and key in _IGNORED_A1111)
        and not key.startswith("Stage ")
    ]
    notes = [f"not applicable to IF, left out: {', '.join(left)}"] if left else []
    return taken, notes


def merge_recorded(values: dict[str, Any], typed: Callable[[str], bool]) -> dict[str, Any]:
    """``values`` with the ``--from`` picture's settings wherever the command line gave
    none (config and ``IF_CLI_*`` defaults give way to the record)."""
    source = values.get("from_image")
    if source is None:
        return values
    from if_cli.progress import say

    recorded, notes = recorded_options(source)
    model_typed = typed("model")
    merged = dict(values)
    if values.get("prompts") is not None:  # a prompt file's prompts, the rest recorded
        recorded.pop("prompt", None)
    for key, value in recorded.items():
        if key in merged and not typed(key) and not (model_typed and key in _PRESET_KEYS):
            merged[key] = value
    if not values.get("quiet"):
        for note in notes:
            say(f"{source}: {note}")
    return merged
