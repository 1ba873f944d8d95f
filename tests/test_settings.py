"""Defaults: command line > IF_CLI_* environment > config file > built-in, and clear errors."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

Cli = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def configured(cli: Cli, tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """The CLI with IF_CLI_CONFIG pointing at a config file the test writes."""
    config = tmp_path / "config.toml"

    def run(
        text: str | None, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        if text is not None:
            config.write_text(text)
        return cli(*args, env={"IF_CLI_CONFIG": str(config), **(env or {})})

    run.config = config  # type: ignore[attr-defined]
    return run


def _setting(
    completed: subprocess.CompletedProcess[str], command: str, name: str
) -> tuple[object, str]:
    assert completed.returncode == 0, completed.stderr
    found = [
        s for s in json.loads(completed.stdout) if s["command"] == command and s["option"] == name
    ]
    assert len(found) == 1
    return found[0]["value"], found[0]["source"]


def test_each_layer_overrides_the_one_below(
    configured: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    show = ("config", "show", "--json")
    assert _setting(configured(None, *show), "generate", "num_images") == (1, "default")
    top = "num_images = 2\n"
    value, source = _setting(configured(top, *show), "generate", "num_images")
    assert value == 2 and source.endswith("config.toml:1")
    table = "num_images = 2\n[generate]\nnum_images = 3\n"
    value, source = _setting(configured(table, *show), "generate", "num_images")
    assert value == 3 and source.endswith("config.toml:3")
    from_env = configured(table, *show, env={"IF_CLI_NUM_IMAGES": "4"})
    assert _setting(from_env, "generate", "num_images") == (4, "IF_CLI_NUM_IMAGES")


def test_a_real_run_uses_the_layers_and_the_command_line_wins(
    configured: Callable[..., subprocess.CompletedProcess[str]], tiny_repos: dict[str, Path]
) -> None:
    models = (
        f'stage_1_model = "{tiny_repos["stage_1"]}"\n'
        f'stage_2_model = "{tiny_repos["stage_2"]}"\n'
        f'stage_3_model = "{tiny_repos["stage_3"]}"\n'
    )
    text = models + 'offload = "unload"\n[generate]\nnum_images = 3\nseed = 10\n'
    planned = configured(text, "generate", "a cat", "--dry-run")
    assert planned.returncode == 0, planned.stderr
    assert "offload: unload (asked for)" in planned.stdout
    assert "images: 3 (seeds 10…12)" in planned.stdout
    env = {"IF_CLI_NUM_IMAGES": "2", "IF_CLI_OFFLOAD": "none"}
    overridden = configured(None, "generate", "a cat", "--dry-run", "--num-images", "5", env=env)
    assert overridden.returncode == 0, overridden.stderr
    assert "offload: none (asked for)" in overridden.stdout  # env over config
    assert "images: 5 (seeds 10…14)" in overridden.stdout  # command line over env


def test_a_top_level_key_applies_to_every_command_that_has_the_option(
    configured: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    shown = configured('cache_dir = "~/hf-elsewhere"\n', "config", "show", "--json")
    for command in ("download", "models", "models rm", "doctor"):
        value, _ = _setting(shown, command, "cache_dir")
        assert str(value).endswith("hf-elsewhere") and not str(value).startswith("~")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("steps = = 3\n", "not valid TOML: Invalid value (at line 1, column 9)"),
        ("\n[generate]\nnum_imagez = 3\n", ":3: 'num_imagez' is not an option of the generate"),
        ('offload = "everything"\n', ":1: bad value 'everything' for --offload"),
        (
            '[generate]\nnum_images = "many"\n',
            ':2: --num-images must be a whole number, got "many"',
        ),
        ("[paint]\nsteps = 3\n", ":1: [paint] is not an if-cli command"),
        ('token = "hf_secret"\n', ":1: 'token' is not an option of any command"),
    ],
    ids=["syntax", "unknown-key", "bad-choice", "bad-type", "unknown-table", "token"],
)
def test_a_broken_config_names_file_line_and_key_in_one_line(
    configured: Callable[..., subprocess.CompletedProcess[str]], text: str, message: str
) -> None:
    completed = configured(text, "generate", "a cat")
    assert completed.returncode == 2
    lines = completed.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("if-cli: error: config ")
    assert str(configured.config) in lines[0] and message in lines[0]  # type: ignore[attr-defined]
    assert "Traceback" not in completed.stderr
    path = configured(None, "config", "path")
    assert path.returncode == 0 and path.stdout.strip() == str(configured.config)  # type: ignore[attr-defined]


def test_a_bad_environment_value_names_the_variable(
    configured: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    completed = configured(None, "generate", "a cat", env={"IF_CLI_STAGES": "four"})
    assert completed.returncode == 2
    assert completed.stderr.startswith("if-cli: error: IF_CLI_STAGES: bad value 'four' for")


def test_an_unknown_if_cli_variable_is_warned_about(
    configured: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    completed = configured(None, "config", "show", env={"IF_CLI_OFLOAD": "none"})
    assert completed.returncode == 0
    completed = configured(None, "models", "--json", env={"IF_CLI_OFLOAD": "none"})
    assert "if-cli: warning: IF_CLI_OFLOAD matches no if-cli option" in completed.stderr


def test_documented_if_cli_variables_are_not_taken_for_options(
    configured: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    completed = configured(None, "models", "--json", env={"IF_CLI_DEBUG": "1"})
    assert completed.returncode == 0 and "warning" not in completed.stderr


def test_config_path_defaults_to_the_user_config_folder(cli: Cli, tmp_path: Path) -> None:
    completed = cli("config", "path", env={"XDG_CONFIG_HOME": str(tmp_path / "xdg")})
    assert completed.stdout.strip() == str(tmp_path / "xdg" / "if-cli" / "config.toml")
    assert "no config file there yet" in completed.stderr
