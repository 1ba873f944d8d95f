"""Regenerate ``completions/`` and ``man/if-cli.1`` from the typer app.

    python scripts/build_shell_files.py           # write the files
    python scripts/build_shell_files.py --check   # exit 1 if a checked-in file is stale

The completion scripts are typer's: small shims that ask ``if-cli`` itself what to
complete, so subcommands, options and choices never go out of date. The man page is
rendered from the same command tree as ``--help``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROG = "if-cli"
COMPLETE_VAR = "_IF_CLI_COMPLETE"
COMPLETION_FILES = {"bash": "if-cli.bash", "zsh": "_if-cli", "fish": "if-cli.fish"}

ENVIRONMENT = [
    (
        "IF_CLI_\\fIOPTION\\fR",
        "Default for an option of any command, named like its long option "
        "(IF_CLI_STEPS, IF_CLI_OFFLOAD, IF_CLI_STAGE_1_MODEL, IF_CLI_OUT, IF_CLI_JSON ...). "
        "Below the command line, above the config file.",
    ),
    ("IF_CLI_CONFIG", "Path of the config file, instead of the default in FILES."),
    (
        "HF_HOME, HF_HUB_CACHE",
        "Where the Hugging Face cache is (models are read from and downloaded to it).",
    ),
    ("HF_TOKEN", "Hub token for gated models (else the stored `hf auth login`). Never printed."),
    ("HF_HUB_OFFLINE", "When 1, no network access: download fails, generate reads the cache."),
    ("HF_ENDPOINT", "Hub address (a mirror)."),
    ("NO_COLOR", "No colours and no progress bars; plain progress lines on stderr."),
]
FILES = [
    (
        "~/.config/if-cli/config.toml",
        "Config file on Linux (the platform's user config folder "
        "elsewhere; `if-cli config path` prints it). TOML: top-level keys are option defaults for "
        "every command, tables such as [generate] for one command.",
    ),
    ("~/.cache/huggingface/hub", "Default Hugging Face cache holding the models."),
]
EXAMPLES = [
    (
        "Make a first picture offline, in seconds on a CPU, with the demo cascade that ships "
        "with if-cli:",
        ['if-cli generate "a red circle above a blue square" --model demo'],
    ),
    (
        "Get the models, then make one 1024 px image:",
        ["if-cli download", 'if-cli generate "a photo of a corgi wearing a top hat" --seed 7'],
    ),
    (
        "Eight 64 px drafts, fast:",
        ['if-cli generate "a red fox in snow" --stages 1 --num-images 8 -o drafts/'],
    ),
    ("Show the memory plan without loading anything:", ['if-cli generate "a red fox" --dry-run']),
    ("Check the machine and the cache:", ["if-cli doctor", "if-cli models"]),
]


def _roff(text: str) -> str:
    """Escape text for roff: backslashes, hyphens, non-ASCII characters (as ``\\[uXXXX]``,
    so the page is pure ASCII) and control characters at line starts."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    text = "".join(c if ord(c) < 128 else f"\\[u{ord(c):04X}]" for c in text)
    lines = [f"\\&{line}" if line[:1] in (".", "'") else line for line in text.splitlines()]
    return "\n".join(lines)


def _commands(command, path=()):  # type: ignore[no-untyped-def]
    """Each command to document: leaves, and groups that take options themselves."""
    subcommands = getattr(command, "commands", {})
    if path and (not subcommands or command.params):
        yield path, command
    for name in subcommands:
        yield from _commands(subcommands[name], (*path, name))


def _options(command, context) -> list[str]:  # type: ignore[no-untyped-def]
    lines = []
    for param in command.params:
        record = param.get_help_record(context)
        if record is None:
            continue
        names, help_text = record
        lines += [".TP", f".B {_roff(names)}", _roff(help_text or "")]
    return lines


def _synopsis(path: tuple[str, ...], command) -> str:  # type: ignore[no-untyped-def]
    arguments = [p for p in command.params if p.param_type_name == "argument"]
    words = [f"\\fB{_roff(' '.join((PROG, *path)))}\\fR", "[\\fIOPTIONS\\fR]"]
    for argument in arguments:
        name = _roff(argument.metavar or argument.name.upper())
        words.append(f"\\fI{name}\\fR" if argument.required else f"[\\fI{name}\\fR]")
    return " ".join(words)


def render_man_page() -> str:
    import typer

    from if_cli import __version__
    from if_cli.errors import EXIT_CODES
    from if_cli.main import app

    root = typer.main.get_command(app)
    context = root.context_class(root, info_name=PROG)
    lines = [
        f'.TH IF\\-CLI 1 "" "if\\-cli {_roff(__version__)}" "User Commands"',
        ".SH NAME",
        "if\\-cli \\- run the DeepFloyd IF text\\-to\\-image cascade",
        ".SH SYNOPSIS",
        f"\\fB{PROG}\\fR [\\fIOPTIONS\\fR] \\fICOMMAND\\fR [\\fIARGS\\fR]...",
        ".SH DESCRIPTION",
        _roff(root.help or ""),
        ".SH OPTIONS",
        *_options(root, context),
        ".SH COMMANDS",
    ]
    for path, command in _commands(root):
        sub_context = command.context_class(command, info_name=" ".join(path), parent=context)
        lines += [f'.SS "{_roff(" ".join((PROG, *path)))}"', _synopsis(path, command), ".PP"]
        lines += [_roff(paragraph) + "\n.PP" for paragraph in (command.help or "").split("\n\n")]
        lines += _options(command, sub_context)
    lines.append(".SH EXIT STATUS")
    for code, meaning in EXIT_CODES.items():
        lines += [".TP", f".B {code}", _roff(meaning)]
    lines.append(".SH ENVIRONMENT")
    for name, meaning in ENVIRONMENT:
        lines += [".TP", f".B {name}", _roff(meaning)]
    lines.append(".SH FILES")
    for name, meaning in FILES:
        lines += [".TP", f".I {_roff(name)}", _roff(meaning)]
    lines.append(".SH EXAMPLES")
    for title, commands in EXAMPLES:
        lines += [".PP", _roff(title), ".PP", ".RS", ".nf"]
        lines += [_roff(c) for c in commands]
        lines += [".fi", ".RE"]
    lines += [".SH SEE ALSO", "\\fBhf\\fR(1)", ""]
    return "\n".join(lines)


def render_completions() -> dict[str, str]:
    from if_cli.commands.completion import completion_script

    return {name: completion_script(shell) for shell, name in COMPLETION_FILES.items()}


def render_all() -> dict[Path, str]:
    files = {ROOT / "completions" / name: text for name, text in render_completions().items()}
    files[ROOT / "man" / "if-cli.1"] = render_man_page()
    return files


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if a file is out of date")
    args = parser.parse_args()
    os.environ.pop("IF_CLI_CONFIG", None)  # the files must not depend on this machine
    stale = []
    for path, text in render_all().items():
        current = path.read_text() if path.is_file() else None
        if current == text:
            continue
        stale.append(path.relative_to(ROOT))
        if not args.check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    if args.check and stale:
        print(
            "out of date (run python scripts/build_shell_files.py): " + ", ".join(map(str, stale)),
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
