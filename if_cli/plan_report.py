"""``--dry-run``: the plan as plain text on stdout — models, sizes, residency, peak."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

from if_cli.engine.cascade import PreparedRequest
from if_cli.engine.catalog import short_name
from if_cli.engine.memory import Plan, StageFootprint
from if_cli.engine.request import T5_MAX_TOKENS, GenerationRequest
from if_cli.engine.tokens import TokenCount, shorten
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


def _token_lines(tokens: Iterable[TokenCount]) -> list[str]:
    """How much of its prompts T5 reads: the longest prompt's count, and what is cut."""
    counts = [count for count in tokens if count.prompt.strip()]
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


def format_plan(
    prepared: PreparedRequest,
    random_seed: bool = False,
    *,
    seeds: Sequence[int] | None = None,
    tokens: Iterable[TokenCount] | None = None,
) -> str:
    """The plan as text; ``random_seed``: the run draws its seed when it starts.
    ``seeds`` and ``tokens`` stand for those of several chunks that share this plan."""
    plan, request = prepared.plan, prepared.request
    budget = "unknown" if plan.budget_bytes is None else human_bytes(plan.budget_bytes)
    room = "allowed" if plan.capped else "free"
    seeds = request.image_seeds() if seeds is None else list(seeds)
    consecutive = seeds == list(range(seeds[0], seeds[0] + len(seeds)))
    if random_seed:
        seed_text = "random: drawn when the run starts, then kept in its sidecars"
    elif len(seeds) == 1:
        seed_text = str(seeds[0])
    elif consecutive:
        seed_text = f"{seeds[0]}…{seeds[-1]}"
    else:
        seed_text = ", ".join(map(str, seeds[:8])) + ("…" if len(seeds) > 8 else "")
    lines = [
        f"device: {plan.device}   dtype: {plan.dtype}   offload: {plan.offload} ({plan.reason})",
        f"images: {len(seeds)} (seeds {seed_text}), batch size {request.batch_size}, "
        f"{request.flow}, stages {request.first_stage}–{request.last_stage}",
        _size_line(prepared),
        *_token_lines(prepared.tokens if tokens is None else tokens),
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


@dataclass
class _Fold:
    """Consecutive chunks with the same plan: their numbers, seeds and prompts."""

    first: PreparedRequest
    shape: str
    start: int
    end: int
    seeds: list[int]
    tokens: dict[str, TokenCount] = field(default_factory=dict)


class FoldedPlans:
    """A dry run's plans, one per stretch of consecutive chunks that share it.

    A prompt file of 5,000 lines is 313 chunks, nearly all planned alike: they are shown
    as one plan with all their images, seeds and cut prompts, so the plan that differs
    (another size, model or batch) stands out instead of hiding among hundreds.
    """

    def __init__(self, chunks: int, random_seed: bool) -> None:
        self.chunks = chunks
        self.random_seed = random_seed
        self._open: _Fold | None = None

    def add(self, number: int, prepared: PreparedRequest) -> str | None:
        """Take chunk ``number``'s plan; the text of the fold it ended, if it ended one."""
        # The free memory is measured anew for each chunk: a few MiB more or less is the
        # same plan, a different offload choice is not.
        steady = replace(prepared.plan, budget_bytes=None, reason="")
        shape = format_plan(replace(prepared, plan=steady), seeds=[0], tokens=())
        seeds = prepared.request.image_seeds()
        current, ended = self._open, None
        if current is not None and current.shape == shape:
            current.end = number
            current.seeds += seeds
        else:
            ended = current
            current = self._open = _Fold(prepared, shape, number, number, list(seeds))
        for count in prepared.tokens:
            current.tokens.setdefault(count.prompt, count)
        return None if ended is None else self._text(ended)

    def finish(self) -> str | None:
        """The text of the last fold."""
        return None if self._open is None else self._text(self._open)

    def _text(self, fold: _Fold) -> str:
        plan = format_plan(
            fold.first, self.random_seed, seeds=fold.seeds, tokens=fold.tokens.values()
        )
        if self.chunks == 1:
            return plan
        which = (
            f"chunk {fold.start}" if fold.start == fold.end else f"chunks {fold.start}–{fold.end}"
        )
        return f"# {which}/{self.chunks}: {len(fold.seeds):,} image(s)\n{plan}"
