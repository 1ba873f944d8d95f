"""What a run will not do as asked, said on stderr before any model loads.

Prompts longer than T5 reads: the engine can only name a prompt, while a run from a
prompt file knows its file and line, so the commands report long prompts here (and ask
the engine not to repeat them). And the demo asked for a picture that is not square.
"""

from __future__ import annotations

from collections.abc import Iterable

from if_cli.commands.prompt_file import ARGUMENT, PromptItem
from if_cli.engine.request import GenerationRequest
from if_cli.errors import IFCliError


def warn_early(items: list[tuple[PromptItem, GenerationRequest]]) -> None:
    warn_long_prompts(items)
    warn_demo_shape(request for _, request in items)


def warn_demo_shape(requests: Iterable[GenerationRequest]) -> None:
    """Once: the demo learnt square scenes only, and repeats them across a wide picture."""
    from if_cli.engine.catalog import shipped_model_path
    from if_cli.engine.picture_sizes import plan_sizes
    from if_cli.progress import warn

    for request in requests:
        if not (request.aspect or request.size or request.init):
            continue  # square: nothing to look up
        demo = any(shipped_model_path(request.stage_options(n).model) for n in request.stages())
        if not demo:
            continue
        first = plan_sizes(request)[1]
        if first.width != first.height:
            warn(
                "the demo cascade learnt square scenes only: a picture that is not square "
                "often shows its scene twice"
            )
            return


def warn_long_prompts(items: Iterable[tuple[PromptItem, GenerationRequest]]) -> None:
    """One warning on stderr for each prompt (and negative prompt) over T5's limit."""
    from if_cli.engine.models import resolve_model
    from if_cli.engine.tokens import PromptTokenizer, shorten
    from if_cli.progress import warn

    tokenizers: dict[str, PromptTokenizer | None] = {}
    for item, request in items:
        if not request.uses_text_encoder:
            continue
        model = request.stage_1.model
        if model not in tokenizers:
            try:
                tokenizers[model] = PromptTokenizer(resolve_model(model))
            except IFCliError:
                tokenizers[model] = None  # not downloaded or damaged: the run says so
        tokenizer = tokenizers[model]
        if tokenizer is None:
            continue
        where = "" if item.source == ARGUMENT else f"{item.where}: "
        texts = {"prompt": item.prompt, "negative prompt": request.negative_prompt or ""}
        for what, text in texts.items():
            count = tokenizer.count(text)
            if count.over:
                shown = "" if where else f" {shorten(text, 60)!r}"
                warn(f"{where}the {what}{shown} is {count.problem()}")
