"""Wildcards in prompts: ``a {red|green|blue} {circle|star}`` is every combination (six
prompts here), or ``--sample N`` of them drawn at random; ``{_colours_}`` is the list of
lines of ``wildcards/colours.txt`` in the user's config folder. Braces without ``|`` or
``_name_`` are left as they are. Expansion comes before any check, so an error still
names the prompt file's line.
"""

from __future__ import annotations

import itertools
import math
import random
import re
from dataclasses import replace
from pathlib import Path

from if_cli.commands.prompt_file import ARGUMENT, PromptItem
from if_cli.errors import InvalidRequestError
from if_cli.untrusted import UnreadableFile, read_bytes

GROUP = re.compile(r"\{([^{}]*)\}")
LIST_NAME = re.compile(r"_([A-Za-z0-9][\w-]{0,63})_")
MAX_EXPANSION = 100_000
MAX_LIST_BYTES = 1024**2


def wildcard_folder() -> Path:
    from if_cli.settings import config_path

    return config_path().parent / "wildcards"


def expand_items(
    items: list[PromptItem], sample: int | None = None, sample_seed: int | None = None
) -> list[PromptItem]:
    """Each item once per expansion of its prompt (or ``sample`` random expansions)."""
    rng = random.Random(sample_seed)
    expanded: list[PromptItem] = []
    if sample is not None and not any(_has_wildcards(item.prompt) for item in items):
        raise InvalidRequestError(
            "--sample draws from wildcards, and no prompt has any",
            hint="write choices as {red|green|blue}",
        )
    for item in items:
        try:
            choices = _choices(item.prompt)
        except InvalidRequestError as error:
            if item.source == ARGUMENT:
                raise
            raise InvalidRequestError(f"{item.where}: {error.message}", error.hint) from error
        if not choices:
            expanded.append(item)
            continue
        pieces = GROUP.split(item.prompt)  # text, group, text, group, … text
        count = math.prod(len(options) for options in choices)
        if sample is None:
            if count > MAX_EXPANSION:
                raise InvalidRequestError(
                    f"the wildcards make {count:,} prompts", hint="draw some with --sample N"
                )
            combos = list(itertools.product(*choices))
        elif sample > count:
            raise InvalidRequestError(
                f"--sample {sample}, but the wildcards make only {count} prompt(s)",
                hint="drop --sample to make them all",
            )
        else:  # distinct combinations, drawn without materialising them all
            combos = [_combination(choices, index) for index in rng.sample(range(count), sample)]
        for combo in combos:
            text = "".join(piece if i % 2 == 0 else combo[i // 2] for i, piece in enumerate(pieces))
            expanded.append(replace(item, prompt=text))
    return expanded


def _combination(choices: list[list[str]], index: int) -> tuple[str, ...]:
    """Combination number ``index`` of ``itertools.product(*choices)``."""
    picked = []
    for options in reversed(choices):
        index, place = divmod(index, len(options))
        picked.append(options[place])
    return tuple(reversed(picked))


def _has_wildcards(prompt: str) -> bool:
    return any(_is_wildcard(group) for group in GROUP.findall(prompt))


def _choices(prompt: str) -> list[list[str]]:
    """The options of each wildcard group in ``prompt`` (none without groups)."""
    depth = 0
    for character in prompt:
        depth += {"{": 1, "}": -1}.get(character, 0)
        if depth > 1 and "|" in prompt:
            raise InvalidRequestError(
                "wildcards cannot be nested ({a|{b|c}}): write {a|b|c}",
            )
    groups = GROUP.findall(prompt)
    if not any(_is_wildcard(group) for group in groups):
        return []
    choices = []
    for group in groups:
        if not _is_wildcard(group):
            choices.append(["{" + group + "}"])  # braces as written
            continue
        listed = LIST_NAME.fullmatch(group.strip())
        options = _read_list(listed.group(1)) if listed else group.split("|")
        if not any(option.strip() for option in options):
            raise InvalidRequestError(f"the wildcard {{{group}}} is empty: it has no choice")
        choices.append(options)
    return choices


def _is_wildcard(group: str) -> bool:
    return "|" in group or bool(LIST_NAME.fullmatch(group.strip())) or not group.strip()


def _read_list(name: str) -> list[str]:
    path = wildcard_folder() / f"{name}.txt"
    try:
        text = read_bytes(path, MAX_LIST_BYTES).decode("utf-8-sig")
    except UnreadableFile as exc:
        raise InvalidRequestError(
            f"the wildcard {{_{name}_}}: {exc}",
            hint=f"write one choice a line in {path}",
        ) from exc
    except UnicodeDecodeError as exc:
        raise InvalidRequestError(f"{path} is not UTF-8 text") from exc
    lines = [line.strip() for line in text.splitlines()]
    return [line for line in lines if line and not line.startswith("#")]
