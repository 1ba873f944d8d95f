"""Asking before large or destructive actions, the same way in every command."""

from __future__ import annotations

import sys

import typer

from if_cli.errors import InvalidRequestError


def confirm_or_stop(question: str, yes: bool) -> bool:
    """True to go on. Without a terminal to ask on, ``--yes`` is required."""
    if yes:
        return True
    if not sys.stdin.isatty():
        raise InvalidRequestError(
            f"{question.rstrip('?')}: no terminal to confirm on", hint="add --yes"
        )
    return typer.confirm(question, default=False, err=True)
