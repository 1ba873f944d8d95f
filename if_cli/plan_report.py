"""``--dry-run``: the plan as plain text on stdout — models, sizes, residency, peak."""

from __future__ import annotations

from if_cli.engine.cascade import PreparedRequest
from if_cli.engine.catalog import short_name
from if_cli.engine.memory import Plan, StageFootprint
from if_cli.engine.request import T5_MAX_TOKENS, GenerationRequest
from if_cli.engine.tokens import shorten
from if_cli.units import human_bytes

_RESIDENCY = {
    "unload": "only this stage; freed after use",
    "model": "one model at a time; the rest waits in CPU RAM",
    "sequential": "one layer at a time; the rest waits in CPU RAM",
}


def _model(stage: StageFootprint, missing: tuple[str, ...]) -> str:
    source = stage.source
    name = source.repo_id or str(source.path)
    if source.repo_id in missing:
        return f"{name} (not downloaded)"
    return f"{name}@{source.revision[:10]}" if source.revision else name


def _resident(plan: Plan, position: int) -> str:
    stage = plan.stages[position]
    if plan.offload == "text" and stage.key == "text":
        return "only T5; freed once the prompts are encoded"
    if plan.offload in ("none", "text"):
        so_far = plan.stages[: position + 1]
        return " + ".join(s.label for s in so_far if plan.keeps_loaded(s.key) or s is stage)
    return _RESIDENCY[plan.offload]


def _size_line(prepared: PreparedRequest) -> str:
    """Each stage's size: ``sizes: 112×64 → 448×256 → 1792×1024``."""
    request = prepared.request
    first = prepared.sizes.get(request.first_stage - 1)  # the picture an upscale starts at
    shown = [f"{s.width}×{s.height}" for n, s in prepared.sizes.items() if n in request.stages()]
    start = f"input at {first.width}×{first.height} → " if first else ""
    return f"sizes: {start}{' → '.join(shown)} px"


def _token_lines(prepared: PreparedRequest) -> list[str]:
    """How much of its prompts T5 reads: the longest prompt's count, and what is cut."""
    counts = [count for count in prepared.tokens if count.prompt.strip()]
    if not counts:
        return []
    longest = max(counts, key=lambda count: count.tokens)
    which = " (the longest text)" if len(counts) > 1 else ""
    lines = [f"T5 tokens: {longest.tokens} of {T5_MAX_TOKENS}{which}"]
    for count in counts:
        if count.over:
            lines.append(f'  cut from "{shorten(count.prompt, 40)}": "{shorten(count.cut, 60)}"')
    return lines


def _input_lines(request: GenerationRequest) -> list[str]:
    """What the input picture is and what was done to it, for image flows."""
    init = request.init
    if init is None:
        return []
    width, height = init.original_size
    done = "; ".join(init.notes) or "used as it is"
    fitted = f"{init.image.width}×{init.image.height}"
    lines = [f"input: {init.source} ({width}×{height} px; {done}) → {fitted} px, fit {init.fit}"]
    if init.mask is not None:
        lines.append(f"mask: {init.mask_source}")
    return lines


def format_plan(prepared: PreparedRequest, random_seed: bool = False) -> str:
    """The plan as text; ``random_seed``: the run draws its seed when it starts."""
    plan, request = prepared.plan, prepared.request
    budget = "unknown" if plan.budget_bytes is None else human_bytes(plan.budget_bytes)
    room = "allowed" if plan.capped else "free"
    seeds = request.image_seeds()
    consecutive = seeds == list(range(seeds[0], seeds[0] + len(seeds)))
    if random_seed:
        seed_text = "random: drawn when the run starts, then kept in its sidecars"
    elif consecutive:
        seed_text = f"{seeds[0]}…{seeds[-1]}"
    else:
        seed_text = ", ".join(map(str, seeds[:8])) + ("…" if len(seeds) > 8 else "")
    lines = [
        f"device: {plan.device}   dtype: {plan.dtype}   offload: {plan.offload} ({plan.reason})",
        f"images: {len(seeds)} (seeds {seed_text}), batch size {request.batch_size}, "
        f"{request.flow}, stages {request.first_stage}–{request.last_stage}",
        _size_line(prepared),
        *_token_lines(prepared),
        *_input_lines(request),
    ]
    models = [_model(stage, prepared.missing) for stage in plan.stages]
    width = max(len("model"), *map(len, models))
    lines += [
        "",
        f"{'phase':<16} {'weights':>10}  {'variant':<7}  {'model':<{width}}  "
        "resident while it runs",
    ]
    for position, (stage, model) in enumerate(zip(plan.stages, models, strict=True)):
        lines.append(
            f"{stage.label:<16} {human_bytes(stage.weight_bytes):>10}  "
            f"{stage.variant or 'fp32':<7}  {model:<{width}}  {_resident(plan, position)}"
        )
    lines += [
        "",
        f"peak estimate: {human_bytes(plan.peak_bytes)} of {budget} {room} on {plan.device}",
    ]
    if prepared.missing:
        names = " ".join(short_name(repo) for repo in prepared.missing)
        lines.append(
            "not downloaded: weights sized from the published parameter counts; "
            f"`if-cli download {names}` fetches them"
        )
    return "\n".join(lines)
