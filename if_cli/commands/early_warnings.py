"""What a run will not do as asked, said on stderr before any model loads.

Prompts longer than T5 reads: the engine can only name a prompt, while a run from a
prompt file knows its file and line, so the commands report long prompts here (and ask
the engine not to repeat them). And the demo asked for a picture that is not square,
or for things it does not know.
"""

from __future__ import annotations

from collections.abc import Iterable

from if_cli.commands.prompt_file import ARGUMENT, PromptItem
from if_cli.engine.request import GenerationRequest
from if_cli.errors import IFCliError

MAX_WORD_WARNINGS = 10
"""Prompts named in the demo's unknown-words warnings; the rest are counted in one line."""


def warn_early(items: list[tuple[PromptItem, GenerationRequest]]) -> None:
    warn_long_prompts(items)
    warn_upscale_no_bigger(request for _, request in items)
    warn_demo_shape(request for _, request in items)
    warn_demo_words(items)


def warn_upscale_no_bigger(requests: Iterable[GenerationRequest]) -> None:
    """An upscale whose last stage makes no more pixels than the picture has: it is shrunk
    to the first stage's input and drawn again (the demo ends at 128 px, IF's stage III
    at 1024), which is worth a run only when that is what the user meant."""
    from if_cli.engine.picture_sizes import plan_sizes
    from if_cli.progress import warn

    for request in requests:
        init = request.init
        if request.flow != "upscale" or init is None:
            continue
        sizes = plan_sizes(request)
        made, start = sizes[request.last_stage], sizes[request.first_stage - 1]
        width, height = init.original_size
        if made.width <= width and made.height <= height:
            warn(
                f"{init.source} is already {width}×{height} px and the last stage makes "
                f"{made.width}×{made.height} px: it is shrunk to {start.width}×{start.height} "
                "px and drawn again, not enlarged"
            )


def warn_demo_shape(requests: Iterable[GenerationRequest]) -> None:
    """Once: the demo learnt square scenes only, and repeats them across a wide picture."""
    from if_cli.engine.picture_sizes import plan_sizes
    from if_cli.progress import warn

    for request in requests:
        if not (request.aspect or request.size or request.init):
            continue  # square: nothing to look up
        if not _runs_the_demo(request):
            continue
        first = plan_sizes(request)[1]
        if first.width != first.height:
            warn(
                "the demo cascade learnt square scenes only: a picture that is not square "
                "often shows its scene twice"
            )
            return


def _runs_the_demo(request: GenerationRequest) -> bool:
    from if_cli.engine.catalog import shipped_model_path

    return any(shipped_model_path(request.stage_options(n).model) for n in request.stages())


def _encodes_with_the_demo(request: GenerationRequest) -> bool:
    """Whether the demo's text encoder reads the prompt: the first stage run is the demo's."""
    from if_cli.engine.catalog import shipped_model_path

    first = request.stages()[0]
    return shipped_model_path(request.stage_options(first).model) is not None


def warn_demo_words(items: Iterable[tuple[PromptItem, GenerationRequest]]) -> None:
    """Once per prompt (and negative prompt): the words the demo cascade will ignore;
    once: what it knows."""
    from if_cli.engine.demo_words import demo_vocabulary, unknown_words
    from if_cli.engine.tokens import shorten
    from if_cli.progress import warn

    told: set[tuple[str, str]] = set()  # every text seen with unknown words, named or counted
    named = untold = 0
    for item, request in items:
        if not (request.uses_text_encoder and _encodes_with_the_demo(request)):
            continue
        where = "" if item.source == ARGUMENT else f"{item.where}: "
        texts = [("", item.prompt), ("the negative prompt", request.negative_prompt or "")]
        for which, text in texts:
            if (which, text) in told or not (unknown := unknown_words(text)):
                continue
            told.add((which, text))
            if named == MAX_WORD_WARNINGS:
                untold += 1
                continue
            vocabulary = demo_vocabulary()
            quoted = "" if where else repr(shorten(text, 60))
            shown = " ".join(part for part in (which, quoted) if part)
            words = ", ".join(vocabulary.named(word) for word in unknown[:8])
            words += f" and {len(unknown) - 8} more" if len(unknown) > 8 else ""
            them = "it" if len(unknown) == 1 else "them"
            message = (
                f"{where}the demo cascade does not know {words}"
                f"{' in ' + shown if shown else ''} and ignores {them}"
            )
            if not named:
                message += f"; {vocabulary.summary()}"
            warn(message)
            named += 1
    if untold:
        warn(f"{untold:,} more prompts have words the demo cascade does not know")


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
