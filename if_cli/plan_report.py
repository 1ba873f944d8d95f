"""``--dry-run``: the plan as plain text on stdout — models, sizes, residency, peak."""

from __future__ import annotations

from if_cli.engine.cascade import PreparedRequest
from if_cli.engine.memory import Plan, StageFootprint
from if_cli.engine.request import GenerationRequest
from if_cli.units import human_bytes

_RESIDENCY = {
    "unload": "only this stage; freed after use",
    "model": "one model at a time; the rest waits in CPU RAM",
    "sequential": "one layer at a time; the rest waits in CPU RAM",
}


def _model(stage: StageFootprint) -> str:
    source = stage.source
    name = source.repo_id or str(source.path)
    return f"{name}@{source.revision[:10]}" if source.revision else name


def _resident(plan: Plan, position: int) -> str:
    stage = plan.stages[position]
    if plan.offload == "text" and stage.key == "text":
        return "only T5; freed once the prompts are encoded"
    if plan.offload in ("none", "text"):
        so_far = plan.stages[: position + 1]
        return " + ".join(s.label for s in so_far if plan.keeps_loaded(s.key) or s is stage)
    return _RESIDENCY[plan.offload]


def _input_lines(request: GenerationRequest) -> list[str]:
    """What the input picture is and what was done to it, for image flows."""
    init = request.init
    if init is None:
        return []
    width, height = init.original_size
    done = "; ".join(init.notes) or "used as it is"
    lines = [f"input: {init.source} ({width}×{height} px; {done}) → {init.image.width} px square"]
    if init.mask is not None:
        lines.append(f"mask: {init.mask_source}")
    return lines


def format_plan(prepared: PreparedRequest) -> str:
    plan, request = prepared.plan, prepared.request
    budget = "unknown" if plan.budget_bytes is None else human_bytes(plan.budget_bytes)
    room = "allowed" if plan.capped else "free"
    seeds = request.image_seeds()
    consecutive = seeds == list(range(seeds[0], seeds[0] + len(seeds)))
    if consecutive:
        seed_text = f"{seeds[0]}…{seeds[-1]}"
    else:
        seed_text = ", ".join(map(str, seeds[:8])) + ("…" if len(seeds) > 8 else "")
    lines = [
        f"device: {plan.device}   dtype: {plan.dtype}   offload: {plan.offload} ({plan.reason})",
        f"images: {len(seeds)} (seeds {seed_text}), batch size {request.batch_size}, "
        f"{request.flow}, stages {request.first_stage}–{request.last_stage}",
        *_input_lines(request),
        "",
        f"{'phase':<16} {'weights':>10}  {'variant':<7}  {'model':<48}  resident while it runs",
    ]
    for position, stage in enumerate(plan.stages):
        lines.append(
            f"{stage.label:<16} {human_bytes(stage.weight_bytes):>10}  "
            f"{stage.variant or 'fp32':<7}  {_model(stage):<48}  {_resident(plan, position)}"
        )
    lines += [
        "",
        f"peak estimate: {human_bytes(plan.peak_bytes)} of {budget} {room} on {plan.device}",
    ]
    return "\n".join(lines)
