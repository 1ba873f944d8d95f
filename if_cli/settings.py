"""Option defaults from the environment and a config file, with their sources.

Precedence: command line > ``IF_CLI_<OPTION>`` environment variable > config file >
built-in default. The first and last are click's own; this module builds click's
``default_map`` from the middle two, so every command gets them without knowing.

The config file is TOML (``if-cli config path`` shows where). Keys are option names
(``steps``, ``stage_1_model``, ``offload``, ``out`` …; ``-`` and ``_`` both work). A key
at the top applies to every command that has that option; a table ``[generate]``,
``[download]`` or ``[models.rm]`` applies to that command only and wins over the top.
A TOML value must have its option's type (``watermark = false``, not ``"no"``); an
environment variable is text and is read as the command line reads it.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from if_cli import fault_points
from if_cli.errors import ConfigError
from if_cli.untrusted import UnreadableFile, read_bytes

if TYPE_CHECKING:
    import click

CONFIG_ENV = "IF_CLI_CONFIG"
ENV_PREFIX = "IF_CLI_"
MAX_CONFIG_BYTES = 1024**2
# IF_CLI_* variables that are not option defaults.
OTHER_VARIABLES = {
    CONFIG_ENV,
    "IF_CLI_DEBUG",
    "IF_CLI_API_KEY",  # a secret: read by serve --api-key and by clients, never stored
    fault_points.FAULT_VARIABLE,
    fault_points.RELEASE_VARIABLE,
}
# Options that make no sense as stored defaults: the CLI's own switches, a dry run that
# would silently do nothing, and the hub token (a secret: HF_TOKEN or `hf auth login`).
NOT_SETTINGS = {
    "help",
    "version",
    "install_completion",
    "show_completion",
    "dry_run",
    "token",
    "api_key",
}
NOT_CONFIGURED_COMMANDS = ("config",)

log = logging.getLogger("if_cli")


LEGACY_KEYS = {"json_output": "json", "as_json": "json", "start": "from"}
"""Names options had in earlier config files and variables, for every command's option."""


@dataclass(frozen=True)
class Setting:
    """The effective default of one option of one command, and where it came from."""

    command: str
    name: str  # the parameter's name, as click's default_map wants it
    value: Any
    source: str
    key: str = ""  # the name users write: the long option's (``json`` for --json)


def setting_keys(option: click.Option) -> list[str]:
    """The config keys that set ``option``, preferred first: each long option name
    (``json``, ``strength``, ``stage_1_strength``), then its internal name
    (``json_output``), kept so older config files still work."""
    keys = [_normal(flag[2:]) for flag in option.opts if flag.startswith("--")]
    legacy = [old for old, new in LEGACY_KEYS.items() if new in keys]
    return list(dict.fromkeys([*keys, option.name or "", *legacy]))


def config_path() -> Path:
    """``IF_CLI_CONFIG`` if set, else ``config.toml`` in the user config folder."""
    override = os.environ.get(CONFIG_ENV)
    if override:
        return Path(override).expanduser()
    from platformdirs import user_config_path

    return user_config_path("if-cli") / "config.toml"


def command_options(root: click.Command) -> dict[str, dict[str, click.Option]]:
    """Every settable option, by command path (``"generate"``, ``"models rm"``)."""
    found: dict[str, dict[str, click.Option]] = {}

    def walk(command: click.Command, path: tuple[str, ...]) -> None:
        if path[:1] and path[0] in NOT_CONFIGURED_COMMANDS:
            return
        if path:
            found[" ".join(path)] = {
                p.name: p  # type: ignore[misc]
                for p in command.params
                if p.param_type_name == "option" and p.name and p.name not in NOT_SETTINGS
            }
        for name, sub in sorted(getattr(command, "commands", {}).items()):
            walk(sub, (*path, name))

    walk(root, ())
    return found


def _header(text: str, table: str) -> re.Match[str] | None:
    return re.search(rf"^\s*\[\s*{re.escape(table)}\s*\]", text, flags=re.MULTILINE)


def _line_of(text: str, key: str, table: str | None) -> int | None:
    """The line where ``key`` is set, or its ``[key]`` table begins (inside ``[table]``
    when given), for messages."""
    start = 0
    if table:
        header = _header(text, table)
        start = header.end() if header else 0
    setting = re.compile(rf"^\s*[\"']?{re.escape(key)}[\"']?\s*=", re.MULTILINE)
    match = setting.search(text, start) or _header(text, f"{table}.{key}" if table else key)
    return text.count("\n", 0, match.start()) + 1 if match else None


def _config_to_read() -> Path | None:
    """The config file to read, or None where there is none yet (``config path`` says
    where to create it); something other than a file there (a folder, a FIFO, a broken
    link) is an error, never silently skipped."""
    path = config_path()
    if str(path) == os.devnull or not os.path.lexists(path):  # /dev/null: "no config"
        return None
    return path


def _read_config(path: Path) -> tuple[dict[str, Any], str]:
    import tomllib

    via = f" ({CONFIG_ENV})" if os.environ.get(CONFIG_ENV) else ""
    try:
        text = read_bytes(path, MAX_CONFIG_BYTES).decode("utf-8")
        return tomllib.loads(text), text
    except UnreadableFile as exc:
        raise ConfigError(f"config{via} {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config {path}: not valid TOML: {exc}") from exc
    except RecursionError as exc:
        raise ConfigError(f"config {path}: not valid TOML: nested too deeply") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config {path} is not UTF-8 text (bad byte at {exc.start})") from exc


def _normal(key: str) -> str:
    return key.replace("-", "_")


def _file_layers(
    path: Path, commands: dict[str, dict[str, click.Option]]
) -> tuple[dict[str, Any], dict[str, dict[str, Any]], dict[tuple[str | None, str], str]]:
    """Top-level values, per-command tables, and a source label for each key."""
    data, text = _read_config(path)
    every_key = _every_key(commands)
    top: dict[str, Any] = {}
    tables: dict[str, dict[str, Any]] = {}
    sources: dict[tuple[str | None, str], str] = {}

    def where(key: str, table: str | None) -> str:
        line = _line_of(text, key, table)
        return f"config {path}:{line}" if line else f"config {path}"

    def take(values: dict[str, Any], table: str | None, allowed: set[str]) -> dict[str, Any]:
        kept = {}
        for key, value in values.items():
            name = _normal(key)
            if isinstance(value, dict):
                if (table is None and key in commands) or f"{table} {key}" in commands:
                    continue  # a command table, read on its own
                raise ConfigError(f"{where(key, table)}: [{key}] is not an if-cli command")
            if name not in allowed:
                scope = f"the {table} command" if table else "any command"
                raise ConfigError(f"{where(key, table)}: {key!r} is not an option of {scope}")
            kept[name] = value
            sources[(table, name)] = where(key, table)
        return kept

    top = take(data, None, every_key)
    for command, options in commands.items():
        table: Any = data
        for part in command.split():
            table = table.get(part, {}) if isinstance(table, dict) else {}
        if table:
            keys = {key for option in options.values() for key in setting_keys(option)}
            tables[command] = take(table, command.replace(" ", "."), keys)
    return top, tables, sources


def _every_key(commands: dict[str, dict[str, click.Option]]) -> set[str]:
    return {
        key for options in commands.values() for o in options.values() for key in setting_keys(o)
    }


def resolve(root: click.Command) -> list[Setting]:
    """Every option's effective default with its source, validated with the option's type."""
    commands = command_options(root)
    path = _config_to_read()
    top: dict[str, Any] = {}
    tables: dict[str, dict[str, Any]] = {}
    sources: dict[tuple[str | None, str], str] = {}
    if path is not None:
        top, tables, sources = _file_layers(path, commands)
    every_key = _every_key(commands)
    strays = [
        v
        for v in sorted(os.environ)
        if v.startswith(ENV_PREFIX)
        and v not in OTHER_VARIABLES
        and v.removeprefix(ENV_PREFIX).lower() not in every_key
    ]
    for variable in strays:
        log.warning("%s matches no if-cli option and is ignored", variable)
    settings = []
    for command, options in commands.items():
        context = _context(root, command)
        table_key = command.replace(" ", ".")
        for name, option in options.items():
            keys = setting_keys(option)
            flag = option.opts[0]
            layers = (
                ({ENV_PREFIX + k.upper(): k for k in keys}, os.environ, None),
                ({k: k for k in keys}, tables.get(command, {}), table_key),
                ({k: k for k in keys}, top, None),
            )
            found = None
            for spelled, layer, table in layers:
                given = [word for word in spelled if word in layer]
                if len(given) > 1:
                    places = [
                        word if layer is os.environ else f"{sources[(table, word)]} ({word})"
                        for word in given
                    ]
                    raise ConfigError(f"{' and '.join(places)} both set {flag}; keep one")
                if given:
                    word = given[0]
                    if layer is os.environ:
                        found = (layer[word], word, True)
                    else:
                        found = (layer[word], sources[(table, word)], False)
                    break
            if found is None:
                settings.append(Setting(command, name, option.default, "default", keys[0]))
                continue
            value, source, from_environment = found
            if not from_environment:
                _check_toml_type(option, value, source)
            checked = _checked(option, value, source, context)
            settings.append(Setting(command, name, checked, source, keys[0]))
    return settings


def _context(root: click.Command, command: str) -> click.Context:
    node = root
    for part in command.split():
        node = node.commands[part]  # type: ignore[attr-defined]
    return node.context_class(node, info_name=command)


def _check_toml_type(option: click.Option, value: Any, source: str) -> None:
    """A TOML value must already have the option's type: nothing is guessed from text.

    Read as command-line text, ``"no"`` would be false and ``1`` true; in a typed file
    that is a mistake, so it stops with the key's file and line.
    """
    import typing
    from pathlib import PurePath

    descriptor = getattr(option, "type_descriptor", None)
    annotation = getattr(descriptor, "annotation", None)
    if annotation is None:
        return
    whole = isinstance(value, int) and not isinstance(value, bool)
    listed = typing.get_origin(annotation) is list
    if listed:
        wanted = "a list of strings"
        fits = isinstance(value, list) and all(isinstance(v, str) for v in value)
    elif annotation is bool:
        wanted, fits = "true or false", isinstance(value, bool)
    elif annotation is int:
        wanted, fits = "a whole number", whole
    elif annotation is float:
        wanted, fits = "a number", whole or isinstance(value, float)
    elif annotation is str and option.name and option.name.endswith("steps"):
        wanted, fits = "a step count or a schedule name", isinstance(value, str) or whole
    elif annotation is str and option.name == "seed":
        wanted, fits = (
            "a whole number (or a list or range as text)",
            isinstance(value, str) or whole,
        )
    elif (
        annotation is str
        or typing.get_origin(annotation) is typing.Literal
        or (isinstance(annotation, type) and issubclass(annotation, PurePath))
    ):
        wanted, fits = "a string", isinstance(value, str)
    else:
        return
    if not fits:
        from if_cli.schema import shown

        flag = option.opts[0]
        raise ConfigError(f"{source}: {flag} must be {wanted}, got {shown(value)}")


def _checked(option: click.Option, value: Any, source: str, context: click.Context) -> Any:
    """Convert as the command line would, so a bad value fails here, naming its source."""
    try:
        converted = option.process_value(context, value)
    except Exception as exc:  # click's BadParameter and friends
        from if_cli.click_words import plain_problem

        message = getattr(exc, "message", None) or str(exc)
        flag = option.opts[0]
        raise ConfigError(
            f"{source}: bad value {value!r} for {flag}: {plain_problem(message)}"
        ) from exc
    return Path(os.path.expanduser(converted)) if isinstance(converted, Path) else converted


SOURCES_KEY = "if_cli.setting_sources"
"""Where ``install_defaults`` leaves each default's source in click's ``Context.meta``."""


def install_defaults(context: click.Context) -> None:
    """Give ``context`` the defaults of the environment and the config file, and remember
    where each came from, so that a bad value can be reported with its source."""
    settings = resolve(context.command)
    context.default_map = default_map(settings)
    context.meta[SOURCES_KEY] = {
        (s.command, s.name): s.source for s in settings if s.source != "default"
    }


def source_of(context: click.Context, name: str) -> str | None:
    """Where the value of parameter ``name`` of the running command came from, when it
    came from an ``IF_CLI_*`` variable or the config file (else None)."""
    source = context.get_parameter_source(name)
    if source is None or source.name != "DEFAULT_MAP":
        return None
    command = " ".join(context.command_path.split()[1:])
    return context.meta.get(SOURCES_KEY, {}).get((command, name))


def default_map(settings: list[Setting]) -> dict[str, Any]:
    """click's ``default_map`` for the whole command tree (nested for ``models rm``)."""
    tree: dict[str, Any] = {}
    for setting in settings:
        if setting.source == "default":
            continue
        node = tree
        for part in setting.command.split():
            node = node.setdefault(part, {})
        node[setting.name] = setting.value
    return tree
