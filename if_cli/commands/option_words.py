"""Request errors in the words of the command line: ``--num-images``, not ``num_images``.

The engine names a bad value by its request field, which is right for a Python caller;
a command-line user typed an option (or a prompt file's key), so the message names that.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from if_cli.errors import BadFieldError, InvalidRequestError

# Request fields whose option is not simply the field's name with dashes.
_PARAMETERS = {"last_stage": "stages", "placement.max_memory": "max_gpu_memory"}


def _current_context() -> Any | None:
    from typer._click.globals import get_current_context  # typer's own click

    return get_current_context(silent=True)


def _parameter_for(field: str) -> Any | None:
    """The option of the running command that sets ``field`` (``stage_2.steps`` →
    ``--stage-2-steps``), if any."""
    context = _current_context()
    if context is None:
        return None
    name = _PARAMETERS.get(field, field.removeprefix("placement.").replace(".", "_"))
    # Stage I's options (and the first strength) go by their short names: --steps.
    for wanted in (name, name.removeprefix("stage_1_"), name.split("_", 2)[-1]):
        for parameter in context.command.params:
            if parameter.name == wanted and parameter.param_type_name == "option":
                return parameter
    return None


def in_option_words(
    error: InvalidRequestError, line_keys: Collection[str] = ()
) -> InvalidRequestError:
    """``error`` naming what the user wrote: a prompt-file line's key (``"steps"``) when
    the line set it (``line_keys``), else the option (``--steps``)."""
    if not isinstance(error, BadFieldError):
        return error
    parameter = _parameter_for(error.field)
    if parameter is None:
        return error
    if parameter.name in line_keys:
        return InvalidRequestError(f'"{parameter.name}" {error.problem}', error.hint)
    from if_cli.settings import source_of

    source = source_of(_current_context(), parameter.name)  # an IF_CLI_* or config value
    where = f"{source}: " if source else ""
    return InvalidRequestError(f"{where}{parameter.opts[0]} {error.problem}", error.hint)
