"""The typer app and the one error boundary.

Start-up stays cheap: this module and the command modules import no torch, diffusers
or transformers, so ``--help``, ``--version`` and argument errors answer at once.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from typer import core as typer_core

from if_cli.click_words import plain_words
from if_cli.commands.completion import COMPLETE_VAR, completion
from if_cli.commands.config import config_app
from if_cli.commands.doctor import doctor
from if_cli.commands.download import download
from if_cli.commands.generate import generate
from if_cli.commands.img2img import img2img
from if_cli.commands.info import info
from if_cli.commands.inpaint import inpaint
from if_cli.commands.models import models_app
from if_cli.commands.replay import replay
from if_cli.commands.serve import serve
from if_cli.commands.sheet import sheet
from if_cli.commands.style import style
from if_cli.commands.tokens import tokens
from if_cli.commands.upscale import upscale
from if_cli.errors import IFCliError, interruption
from if_cli.help_format import GroupedTyper
from if_cli.stops import install_stop_handlers
from if_cli.streams import (
    broken_stdout,
    guard_standard_streams,
    stdout_failure,
    stdout_silenced_by_a_library,
)


class _Commands(typer_core.TyperGroup):
    """The command group; an interrupt or a broken stdout in any command becomes an
    if-cli error.

    typer would turn them into a silent exit 130 or 1; translating them here gives
    SIGTERM, SIGHUP and a broken pipe their own exit codes (143, 129, 141) and the same
    one line as every other stop.
    """

    def make_context(self, *args: Any, **kwargs: Any) -> Any:
        with _stdout_errors():  # --help is printed here
            return super().make_context(*args, **kwargs)

    def invoke(self, ctx: Any) -> Any:
        with _stdout_errors():
            try:
                return super().invoke(ctx)
            except KeyboardInterrupt as stop:
                raise interruption(stop, ctx.invoked_subcommand) from stop


@contextmanager
def _stdout_errors() -> Iterator[None]:
    """A failed write to stdout as an if-cli error: click would end a broken pipe with a
    silent exit 1, and a full disk would be an internal error."""
    try:
        yield
    except OSError as error:
        failure = stdout_failure(error)
        if failure is None:
            raise
        raise failure from error


app = GroupedTyper(
    cls=_Commands,
    name="if-cli",
    no_args_is_help=True,
    add_completion=False,  # `if-cli completion SHELL` prints the script instead
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
        from if_cli.settings import install_defaults

        install_defaults(context)


app.command(no_args_is_help=True)(generate)
app.command(no_args_is_help=True)(img2img)
app.command(no_args_is_help=True)(inpaint)
app.command(no_args_is_help=True)(style)
app.command(no_args_is_help=True)(upscale)
app.command()(download)
app.command()(replay)
app.command(no_args_is_help=True)(info)
app.command(no_args_is_help=True)(sheet)
app.command()(doctor)
app.command()(tokens)
app.command()(serve)
app.add_typer(models_app, name="models")
app.add_typer(config_app, name="config")
app.command()(completion)


def _quiet_third_party() -> None:
    """Library notices are not the user's business; if-cli reports what matters itself."""
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)


def _fail(message: str, code: int) -> None:
    from if_cli.progress import error_line

    error_line(message)
    sys.exit(code)


def _usage_error(error: Any) -> None:
    """A command-line mistake as one line, with where to read the usage."""
    context = getattr(error, "ctx", None)
    where = f" (see '{context.command_path} --help')" if context is not None else ""
    _fail(f"{plain_words(error.format_message())}{where}", error.exit_code)


def _nothing_asked(context: Any) -> None:
    """A command run with nothing to do: its usage line and one error line, exit 2.

    200 lines of help are not an answer to a forgotten argument; ``--help`` gives them.
    """
    command = context.command
    if isinstance(command, typer_core.TyperGroup):
        what = "a command is missing"
    else:
        what = _missing_arguments(command)
    sys.stderr.write(context.get_usage() + "\n")
    _fail(f"{what} (see '{context.command_path} --help')", 2)


def _missing_arguments(command: Any) -> str:
    arguments = [p for p in command.params if p.param_type_name == "argument"]
    names = [p.metavar or p.name.upper() for p in arguments if p.required]
    if not names:  # generate: PROMPT, or --prompts instead
        alternatives = [max(p.opts, key=len) for p in command.params if p.name == "prompts"]
        names = [" or ".join([a.metavar or a.name.upper() for a in arguments] + alternatives)]
    listed = ", ".join(names[:-1]) + (" and " if len(names) > 1 else "") + names[-1]
    return f"{listed} {'are' if len(names) > 1 else 'is'} missing"


def run() -> None:
    """Console-script entry point: the boundary where errors become one line and a code.

    Every way a run can end passes here: usage mistakes and if-cli errors print one
    ``if-cli: error:`` line; an unexpected exception (a bug) prints one line too, and
    its traceback only when IF_CLI_DEBUG is set. A stdout that fails (closed, or a
    reader that went away) ends any command with exit 141.
    """
    from typer import _click

    from if_cli.progress import install_log_handler

    guard_standard_streams()
    if COMPLETE_VAR in os.environ:  # a shell asking what to complete
        from typer._completion_classes import completion_init

        completion_init()
    _quiet_third_party()
    install_log_handler()
    install_stop_handlers()
    try:
        code = app(prog_name="if-cli", standalone_mode=False)
        sys.stdout.flush()
    except _click.exceptions.NoArgsIsHelpError as error:
        _nothing_asked(error.ctx)
    except _click.ClickException as error:
        _usage_error(error)
    except SystemExit as exit:
        if exit.code == 1 and stdout_silenced_by_a_library():
            broken = broken_stdout()
            _fail(str(broken), broken.exit_code)
        raise
    except typer.Abort:  # end of input at a question
        _fail("no answer (end of input); nothing was changed", 1)
    except IFCliError as error:
        _fail(str(error), error.exit_code)
    except KeyboardInterrupt as stop:  # before or after any command ran
        error = interruption(stop)
        _fail(str(error), error.exit_code)
    except Exception as bug:
        failure = stdout_failure(bug)
        if failure is not None:
            _fail(str(failure), failure.exit_code)
        if os.environ.get("IF_CLI_DEBUG"):
            raise
        _fail(f"internal error: {type(bug).__name__}: {bug}", 1)
    sys.exit(code if isinstance(code, int) else 0)
