"""click's and typer's messages in plain words, for the one-line errors users read.

``Invalid value for '--model': Value error, 'dmeo' is not one of 'if', 'demo'.`` becomes
``--model: 'dmeo' is not one of if, demo (did you mean demo?)``; ``Input should be a valid
integer, unable to parse …`` becomes ``must be a whole number``.
"""

from __future__ import annotations

import re

_INVALID = re.compile(r"^Invalid value for '([^']+)'[^:]*: (.*)$", re.DOTALL)
_NOT_ONE_OF = re.compile(r"^'(.*)' is not one of (.*?)\.?$", re.DOTALL)
_TYPE_WORDS = {"integer": "a whole number", "number": "a number", "boolean": "true or false"}


def plain_problem(problem: str) -> str:
    """One value's problem, as typer's validators word it, in plain words."""
    problem = problem.removeprefix("Value error, ")
    choice = _NOT_ONE_OF.match(problem)
    if choice is not None:
        import difflib

        given, listed = choice.groups()
        choices = [c.strip().strip("'") for c in listed.split(",")]
        said = f"{given!r} is not one of {', '.join(choices)}"
        close = difflib.get_close_matches(given, choices, n=1, cutoff=0.6)
        return f"{said} (did you mean {close[0]}?)" if close else said
    for kind, words in _TYPE_WORDS.items():
        if problem.startswith(f"Input should be a valid {kind}"):
            return f"must be {words}"
    return problem


def plain_words(message: str) -> str:
    """A click usage error in plain words (other messages are kept as they are)."""
    invalid = _INVALID.match(message)
    if invalid is None:
        return message
    option, problem = invalid.groups()
    said = plain_problem(problem)
    return f"{option} {said}" if said.startswith("must be") else f"{option}: {said}"
