"""The typer app and the one error boundary.

Start-up stays cheap: this module and the command modules import no torch, diffusers
or transformers, so ``--help``, ``--version`` and argument errors answer at once.
"""

from __future__ import annotations

import os
import sys
import warnings
from typing import Annotated

import typer

from if_cli.commands.config import config_app
from if_cli.commands.doctor import doctor
from if_cli.commands.download import download
from if_cli.commands.generate import generate
from if_cli.commands.img2img import img2img
from if_cli.commands.inpaint import inpaint
from if_cli.commands.models import models_app
from if_cli.commands.replay import replay
from if_cli.commands.style import style
from if_cli.commands.upscale import upscale
from if_cli.errors import IFCliError

app = typer.Typer(
    name="if-cli",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _print_version(value: bool) -> None:
    if value:
        import if_cli

        print(f"if-cli {if_cli.__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    context: typer.Context,
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            "-V",
            callback=_print_version,
            is_eager=True,
            help="Print the version and exit.",
        ),
    ] = False,
) -> None:
    """Run the DeepFloyd IF text-to-image cascade from the command line.

    Images and sidecars go to files, their paths to stdout; progress goes to stderr.
    Option defaults come from IF_CLI_<OPTION> variables and the config file
    (`if-cli config path`), below what the command line says.
    """
    if context.invoked_subcommand not in (None, "config"):
        from if_cli.settings import default_map

        context.default_map = default_map(context.command)


app.command(no_args_is_help=True)(generate)
app.command(no_args_is_help=True)(img2img)
app.command(no_args_is_help=True)(inpaint)
app.command(no_args_is_help=True)(style)
app.command(no_args_is_help=True)(upscale)
app.command()(download)
app.command()(replay)
app.command()(doctor)
app.add_typer(models_app, name="models")
app.add_typer(config_app, name="config")


def _quiet_third_party() -> None:
    """Library notices are not the user's business; if-cli reports what matters itself."""
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)


def run() -> None:
    """Console-script entry point: the boundary where errors become one line and a code."""
    from if_cli.progress import install_log_handler

    _quiet_third_party()
    install_log_handler()
    try:
        app(prog_name="if-cli")
    except IFCliError as error:
        sys.stderr.write(f"if-cli: error: {error}\n")
        sys.exit(error.exit_code)
