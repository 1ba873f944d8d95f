"""The size each stage of a request makes, read from its models' configs (no weights).

Stage I's short side is its UNet's ``sample_size`` (64 px for IF, 32 for the demo), and
every UNet that runs must divide its picture evenly at each level: a size that breaks
either is refused here, before any weights load, with the sizes that work.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any

from if_cli.engine.flows import LOW_RES_SIDE
from if_cli.engine.models import ModelSource, find_models, model_json
from if_cli.engine.sizes import (
    SR_FACTOR,
    Size,
    check_unet_multiple,
    parse_aspect,
    parse_size,
    sizes_for,
)

if TYPE_CHECKING:
    from if_cli.engine.request import GenerationRequest


def plan_sizes(
    request: GenerationRequest,
    sources: dict[int, ModelSource] | None = None,
    missing: dict[int, str] | None = None,
) -> dict[int, Size]:
    """Every stage's size, checked against each UNet that will run at it.

    Without ``sources`` the models are looked up here; one not downloaded yet counts as
    IF's published model (its own error comes when the run needs its files).
    """
    if sources is None:
        refs = {n: request.stage_options(n).model for n in request.stages() if n < 3}
        sources, missing = find_models(refs)
    missing = missing or {}
    init = request.init
    sizes = sizes_for(
        _short_side(request, sources, missing),
        request.last_stage,
        aspect=None if request.aspect is None else parse_aspect(request.aspect),
        size=None if request.size is None else parse_size(request.size),
        picture=None if init is None else Size(*init.image.size),
    )
    for stage in request.stages():
        if stage in missing or stage == 3:
            continue  # the x4 upscaler takes any multiple of 8, which every size is
        multiple = _unet_multiple(sources[stage])
        if multiple:
            check_unet_multiple(stage, sizes[stage], multiple, sources[stage].describe())
    return sizes


def _short_side(
    request: GenerationRequest, sources: dict[int, ModelSource], missing: dict[int, str]
) -> int:
    """Stage I's short side: its UNet's size, or a quarter of stage II's where the flow
    starts at stage II, or IF's 64 px where it starts at stage III."""
    for stage in (1, 2):
        if stage in request.stages() and stage not in missing:
            side = _unet_config(sources[stage]).get("sample_size")
            if isinstance(side, int) and side >= SR_FACTOR:
                return side if stage == 1 else side // SR_FACTOR
    return LOW_RES_SIDE[2]


def _unet_multiple(source: ModelSource) -> int | None:
    """What the UNet's sides must be a multiple of: it halves them below each level."""
    levels = _unet_config(source).get("down_block_types")
    return 2 ** (len(levels) - 1) if isinstance(levels, list) and levels else None


def _unet_config(source: ModelSource) -> dict[str, Any]:
    return _read_config(source, source.path / "unet" / "config.json")


@lru_cache(maxsize=32)
def _read_config(source: ModelSource, path: Any) -> dict[str, Any]:
    """A run asks once per prompt-file line; the file is read once."""
    config = model_json(source, path)
    return config if isinstance(config, dict) else {}
