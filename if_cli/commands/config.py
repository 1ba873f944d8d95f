"""``if-cli config path`` and ``if-cli config show``: where defaults come from."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from if_cli.help_format import GroupedTyper
from if_cli.progress import say

config_app = GroupedTyper(
    help="Show the config file's path and the effective option defaults.",
    no_args_is_help=True,
)


@config_app.command("path")
def show_path() -> None:
    """Print the config file's path (IF_CLI_CONFIG overrides it)."""
    from if_cli.settings import config_path

    path = config_path()
    print(path)
    if not path.is_file():
        say("no config file there yet; create it to set defaults (see `if-cli config show`)")


def _toml_value(value: object) -> str:
    return json.dumps(value if isinstance(value, (bool, int, float)) else str(value))


@config_app.command("show")
def show(
    context: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON array on stdout.")] = False,
) -> None:
    """Print every option's effective default and where it comes from, as TOML."""
    from if_cli.settings import resolve

    settings = resolve(context.find_root().command)
    if as_json:
        print(
            json.dumps(
                [
                    {"command": s.command, "option": s.key, "value": s.value, "source": s.source}
                    for s in settings
                ],
                indent=2,
                default=str,
            )
        )
        return
    current = None
    for setting in settings:
        if setting.command != current:
            current = setting.command
            blank = "\n" if current != settings[0].command else ""
            print(f"{blank}[{current.replace(' ', '.')}]")
        if setting.value is None:
            print(f"# {setting.key} = (not set)  # {setting.source}")
        else:
            print(f"{setting.key} = {_toml_value(setting.value)}  # {setting.source}")
