"""``if-cli tokens PROMPT...``: how much of each prompt T5 reads, without loading T5.

T5 reads 77 tokens and IF drops the rest silently. This counts them with the stage I
model's own tokenizer file (milliseconds, no weights), so a script can check its prompts
before a run, and says which words would be cut.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

from if_cli.commands import options as opt
from if_cli.engine.catalog import DEFAULT_PRESET
from if_cli.errors import InvalidRequestError


def tokens(
    context: typer.Context,
    prompt: Annotated[
        list[str] | None,
        typer.Argument(help="One or more prompts (or use --prompts).", show_default=False),
    ] = None,
    prompts: Annotated[
        str | None,
        typer.Option(
            "--prompts",
            help="A prompt file, as generate reads it; lines are reported with their numbers.",
            show_default=False,
        ),
    ] = None,
    model: opt.ModelPreset = DEFAULT_PRESET,
    stage_1_model: opt.Stage1Model = opt.DEFAULT_MODELS[0],
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object per prompt on stdout.")
    ] = False,
) -> None:
    """Count each prompt's T5 tokens (the limit is 77) and show what would be cut.

    Reads only the stage I model's tokenizer: no weights load, so it answers at once.
    Prints `TOKENS/77  PROMPT` per prompt, and what T5 never reads below a prompt over
    the limit.
    """
    from if_cli.commands.cascade_options import preset_filled, set_by_user
    from if_cli.commands.prompt_file import ARGUMENT, PromptItem, read_prompt_file
    from if_cli.engine.models import resolve_model
    from if_cli.engine.request import T5_MAX_TOKENS, check_text
    from if_cli.engine.tokens import PromptTokenizer
    from if_cli.output.metadata import one_line

    if bool(prompt) == (prompts is not None):
        raise InvalidRequestError("give either one or more PROMPTs or --prompts FILE")
    chosen = preset_filled({"model": model, "stage_1_model": stage_1_model}, set_by_user(context))
    tokenizer = PromptTokenizer(resolve_model(chosen["stage_1_model"]))
    items = (
        [PromptItem(ARGUMENT, 0, text) for text in prompt or ()]
        if prompts is None
        else read_prompt_file(prompts)
    )
    for item in items:
        where = "" if item.source == ARGUMENT else f"{item.where}: "
        try:  # the checks generate makes: UTF-8, no control characters, a sane length
            check_text("the prompt", item.prompt)
        except InvalidRequestError as error:
            raise InvalidRequestError(where + error.message, error.hint) from error
    for item in items:
        count = tokenizer.count(item.prompt)
        if as_json:
            where = {} if item.source == ARGUMENT else {"line": item.line}
            print(json.dumps({**where, **count.as_json()}, ensure_ascii=False))
            continue
        where = "" if item.source == ARGUMENT else f"{item.where}  "
        print(f"{count.tokens:>3}/{T5_MAX_TOKENS}  {where}{one_line(item.prompt)}")
        if count.over:
            print(f"        cut: {one_line(count.cut)}")
