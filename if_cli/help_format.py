"""Help pages that read well at 80 columns, with options grouped by topic.

typer's rich help boxes every option into a table: at 80 columns it cuts option names
(``--no-embedding-cac…``), splits choices across lines and labels every flag ``<bool>``.
Plain click help wraps cleanly instead, and needs no rich at start-up; this module adds
back the one thing the boxes gave, the topic groups, in a fixed order of importance.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import typer
from typer.core import TyperCommand

if TYPE_CHECKING:
    import click

# Topics in the order a reader needs them; options without one come last.
PANEL_ORDER = (
    "Prompt and seed",
    "Picture",
    "Stages",
    "Models",
    "Device and memory",
    "Output",
    "Exploring",
    "Batch and scripting",
)
OTHER = "Other options"


def _panel_rank(panel: str) -> int:
    return PANEL_ORDER.index(panel) if panel in PANEL_ORDER else len(PANEL_ORDER)


def write_grouped_options(
    command: click.Command, ctx: click.Context, formatter: click.HelpFormatter
) -> None:
    """Arguments, then one section a topic (``rich_help_panel``), then the rest."""
    arguments: list[tuple[str, str]] = []
    panels: dict[str, list[tuple[str, str]]] = {}
    for param in command.get_params(ctx):
        record = param.get_help_record(ctx)
        if record is None:
            continue
        if param.param_type_name == "argument":
            arguments.append(record)
            continue
        panel = getattr(param, "rich_help_panel", None) or OTHER
        panels.setdefault(panel, []).append(record)
    if arguments:
        with formatter.section("Arguments"):
            formatter.write_dl(arguments)
    for panel in sorted(panels, key=_panel_rank):
        with formatter.section(panel):
            formatter.write_dl(panels[panel])


class GroupedHelpCommand(TyperCommand):
    """A command whose ``--help`` groups its options by topic, in plain click style."""

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        write_grouped_options(self, ctx, formatter)

    def collect_usage_pieces(self, ctx: click.Context) -> list[str]:
        """A required argument plain (``IMAGE``), as in every man page, not ``{IMAGE}``."""
        return [re.sub(r"^\{(.+)\}", r"\1", piece) for piece in super().collect_usage_pieces(ctx)]


class GroupedTyper(typer.Typer):
    """A typer app with plain, grouped help for every command it registers."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(rich_markup_mode=None, **kwargs)

    def command(self, *args: Any, cls: type[TyperCommand] | None = None, **kwargs: Any) -> Any:
        return super().command(*args, cls=cls or GroupedHelpCommand, **kwargs)
