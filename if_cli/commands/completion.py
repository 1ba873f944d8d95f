"""``if-cli completion SHELL``: the shell completion script, printed for the user to keep.

The script is a small shim that asks ``if-cli`` itself what to complete, so commands,
options and choices never go stale. It is the same text as the files in
``completions/``. typer's ``--install-completion`` is not offered: it guessed the shell
and could install bash completion into zsh.
"""

from __future__ import annotations

from typing import Annotated, Literal

import typer

from if_cli.streams import emit

PROG = "if-cli"
COMPLETE_VAR = "_IF_CLI_COMPLETE"
Shell = Literal["bash", "zsh", "fish"]


def completion_script(shell: Shell) -> str:
    """The completion script for ``shell``, ending in one newline."""
    from typer._completion_shared import get_completion_script

    script = get_completion_script(prog_name=PROG, complete_var=COMPLETE_VAR, shell=shell)
    return script.rstrip("\n") + "\n"


def completion(
    shell: Annotated[
        Shell,
        typer.Argument(help="The shell: bash, zsh or fish.", metavar="SHELL", show_default=False),
    ],
) -> None:
    """Print the completion script for SHELL on stdout, to save where the shell looks.

    \b
    if-cli completion bash > ~/.local/share/bash-completion/completions/if-cli
    if-cli completion zsh > ~/.zfunc/_if-cli      # a folder on $fpath
    if-cli completion fish > ~/.config/fish/completions/if-cli.fish
    """
    emit(completion_script(shell).rstrip("\n"))
