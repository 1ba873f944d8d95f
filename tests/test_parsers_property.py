"""Every parser of text if-cli did not write, fed random and structured garbage.

Prompt files, sidecars, the config file, name templates, input pictures, safetensors
headers and the PNG ``parameters`` chunk: the only allowed outcomes are success or an
``IFCliError`` with a documented exit code (one line at the boundary), never another
exception. ``IF_CLI_FUZZ_EXAMPLES`` sets the examples per property (CI: 60; a longer
local run: 5000).
"""

from __future__ import annotations

import json
import os
import re
import string
import subprocess
import tempfile
import unicodedata
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from if_cli.errors import EXIT_CODES, IFCliError
from tests.hostile import VALID_SIDECAR
from tests.pictures import write_picture

EXAMPLES = int(os.environ.get("IF_CLI_FUZZ_EXAMPLES", "60"))
fuzz = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-3, max_value=40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.sampled_from(["", "smart27", "fp16", "cpu", "auto", "crop", "DeepFloyd/IF-I-XL-v1.0"]),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)


def _only_documented_errors(call: Callable[[], Any]) -> Any:
    """Run ``call``; an error must be an IFCliError with a documented exit code."""
    try:
        return call()
    except IFCliError as error:
        assert error.exit_code in EXIT_CODES and str(error).strip(), repr(error)
        return None


@contextmanager
def _file(data: bytes | str, suffix: str = "") -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"input{suffix}"
        path.write_bytes(data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data)
        yield path


def _generate_options() -> dict[str, Any]:
    """``generate``'s option values as the command line gives them by default."""
    from if_cli.commands.cascade_options import cascade_parameters

    return {p.name: p.default for p in cascade_parameters("generate", (1, 2, 3))}


# Prompt files ------------------------------------------------------------------------

from if_cli.commands.prompt_file import ITEM_FIELDS  # noqa: E402

item_objects = st.dictionaries(
    st.one_of(st.sampled_from(sorted(ITEM_FIELDS)), st.text(max_size=8)),
    json_values,
    max_size=5,
)
prompt_lines = st.one_of(
    st.text(max_size=60),
    item_objects.map(json.dumps),
    st.builds(lambda d: json.dumps({"prompt": "a fox", **d}), item_objects),
)


@fuzz
@given(lines=st.lists(prompt_lines, min_size=1, max_size=4), json_lines=st.booleans())
def test_a_prompt_file_is_planned_or_refused_in_one_line(
    lines: list[str], json_lines: bool
) -> None:
    from if_cli.commands.batch import plan_jobs
    from if_cli.commands.cascade_options import request_from_options
    from if_cli.commands.prompt_file import read_prompt_file

    with _file("\n".join(lines), ".jsonl" if json_lines else ".txt") as path:
        items = _only_documented_errors(lambda: read_prompt_file(str(path)))
    if items is not None:
        _only_documented_errors(lambda: plan_jobs(items, _generate_options(), request_from_options))


# Sidecars ------------------------------------------------------------------------------


def _leaves(data: Any, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    if isinstance(data, dict) and data:
        return [p for key, value in data.items() for p in _leaves(value, (*path, key))] + [path]
    return [path]


SIDECAR_PATHS = [p for p in _leaves(VALID_SIDECAR) if p]


@st.composite
def mutated_sidecars(draw: st.DrawFn) -> Any:
    data = json.loads(json.dumps(VALID_SIDECAR))
    for _ in range(draw(st.integers(1, 3))):
        *parents, last = draw(st.sampled_from(SIDECAR_PATHS))
        node = data
        for part in parents:
            node = node.get(part) if isinstance(node, dict) else None
        if not isinstance(node, dict):
            continue
        if draw(st.booleans()):
            node[last] = draw(json_values)
        else:
            node.pop(last, None)
    return data


@fuzz
@given(sidecar=st.one_of(mutated_sidecars(), json_values))
def test_a_sidecar_is_replayed_or_refused_in_one_line(sidecar: Any) -> None:
    from if_cli.commands.replay import replay_jobs

    with _file(json.dumps(sidecar), ".json") as path:
        _only_documented_errors(lambda: replay_jobs(path, None))


# The config file -----------------------------------------------------------------------


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "nan" if value != value else repr(value)  # repr gives inf and -inf, as TOML
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return json.dumps(str(value))


toml_scalars = st.one_of(
    st.booleans(), st.integers(-(2**63), 2**63 - 1), st.floats(), st.text(max_size=20)
)
toml_keys = st.one_of(
    st.sampled_from(["steps", "watermark", "device", "out", "guidance_scale", "num_images",
                     "offload", "max_gpu_memory", "name", "batch_size", "compile", "json"]),
    st.text(alphabet=string.ascii_lowercase + "_-", min_size=1, max_size=10),
)  # fmt: skip
toml_tables = st.dictionaries(
    toml_keys, st.one_of(toml_scalars, st.lists(toml_scalars, max_size=2)), max_size=3
)


def _toml_document(top: dict[str, Any], tables: dict[str, dict[str, Any]]) -> str:
    lines = [f"{json.dumps(k)} = {_toml(v)}" for k, v in top.items()]
    for name, table in tables.items():
        lines.append(f"[{json.dumps(name)}]")
        lines += [f"{json.dumps(k)} = {_toml(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


@fuzz
@given(
    document=st.one_of(
        st.builds(
            _toml_document,
            toml_tables,
            st.dictionaries(
                st.sampled_from(["generate", "upscale", "download", "nope"]),
                toml_tables,
                max_size=2,
            ),
        ),
        st.text(max_size=80),
    )
)
def test_a_config_file_is_read_or_refused_in_one_line(
    document: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import typer

    from if_cli.main import app
    from if_cli.settings import CONFIG_ENV, resolve

    with _file(document, ".toml") as path:
        monkeypatch.setenv(CONFIG_ENV, str(path))
        _only_documented_errors(lambda: resolve(typer.main.get_command(app)))


# Name templates ------------------------------------------------------------------------

template_text = st.one_of(
    st.text(max_size=30),
    st.lists(
        st.one_of(
            st.sampled_from(["{seed}", "{index:04d}", "{slug}", "{name}", "{date}", "{time}",
                             "{}", "{seed:d}", "{seed!r}", "{slug:>5}", "{{", "}}", "{", "}",
                             "{seed:099d}", "{index:x}", "-", "."]),
            st.text(max_size=5),
        ),
        max_size=6,
    ).map("".join),
)  # fmt: skip
NEVER_IN_NAMES = {"Cc", "Cf", "Zl", "Zp", "Cs", "Co"}


@fuzz
@given(
    template=template_text,
    seed=st.integers(0, 2**63 - 1),
    index=st.integers(0, 100_000),
    text=st.text(max_size=300),
)
def test_a_name_template_either_fails_at_once_or_always_names_a_safe_file(
    template: str, seed: int, index: int, text: str
) -> None:
    from if_cli.output.naming import render_stem, validate_template

    if _only_documented_errors(lambda: validate_template(template) or True) is None:
        return
    values = {"date": "20261127", "time": "120000", "seed": seed, "index": index,
              "slug": text, "name": text}  # fmt: skip
    stem = render_stem(template, values)
    assert stem and stem not in (".", "..") and len(stem.encode()) <= 200
    assert not set(stem) & {"/", "\\", "\x00"}
    assert not {unicodedata.category(c) for c in stem} & NEVER_IN_NAMES


# Input pictures ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def valid_pictures(tmp_path_factory: pytest.TempPathFactory) -> list[bytes]:
    folder = tmp_path_factory.mktemp("pictures")
    return [
        write_picture(folder / name, (40, 24)).read_bytes()
        for name in ("a.png", "b.jpg", "c.gif", "d.webp", "e.bmp", "f.tiff")
    ]


@fuzz
@given(data=st.data())
def test_a_picture_is_read_or_refused_in_one_line(
    valid_pictures: list[bytes], data: st.DataObject
) -> None:
    from if_cli.engine.image_input import load_input

    picture = bytearray(data.draw(st.sampled_from(valid_pictures)))
    for _ in range(data.draw(st.integers(0, 6))):
        at = data.draw(st.integers(0, len(picture) - 1))
        picture[at] = data.draw(st.integers(0, 255))
    cut = data.draw(st.one_of(st.none(), st.integers(0, len(picture))))
    raw = data.draw(st.one_of(st.just(bytes(picture[:cut])), st.binary(max_size=200)))
    with _file(raw, ".png") as path:
        _only_documented_errors(lambda: load_input(str(path), "crop"))


# Safetensors headers ---------------------------------------------------------------------


@fuzz
@given(data=st.data())
def test_a_safetensors_header_is_read_or_called_damaged(
    tiny_repos: dict[str, Path], data: st.DataObject
) -> None:
    from if_cli.engine.safetensors_header import DamagedFile, read_tensor_infos
    from if_cli.untrusted import UnreadableFile

    weights = bytearray(
        (tiny_repos["stage_1"] / "watermarker" / "diffusion_pytorch_model.safetensors").read_bytes()
    )
    for _ in range(data.draw(st.integers(0, 4))):
        at = data.draw(st.integers(0, min(len(weights) - 1, 400)))
        weights[at] = data.draw(st.integers(0, 255))
    raw = data.draw(st.one_of(st.just(bytes(weights)), st.binary(max_size=64)))
    with _file(raw, ".safetensors") as path:
        try:
            infos = read_tensor_infos(path)
        except (DamagedFile, UnreadableFile):
            return
    assert all(info.numel >= 0 for info in infos)


# The PNG parameters chunk, read back as AUTOMATIC1111 reads it -------------------------

prompt_text = st.text(
    alphabet=st.characters(exclude_categories=("Cs",), exclude_characters="\x00"),
    max_size=120,
).filter(lambda t: not re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", t) and t.strip())


@fuzz
@given(prompt=prompt_text, negative=st.one_of(st.none(), prompt_text), seed=st.integers(0, 2**32))
def test_the_parameters_chunk_keeps_each_text_in_its_own_field(
    prompt: str, negative: str | None, seed: int
) -> None:
    from if_cli.engine.request import GenerationRequest
    from if_cli.output.metadata import a1111_parameters
    from tests.test_security import _a1111_read

    request = GenerationRequest(prompts=(prompt,), negative_prompt=negative, seed=seed)
    text = a1111_parameters(_Result(request), _Image(prompt, seed), (64, 64))
    read = _a1111_read(text)
    assert read["Seed"] == str(seed) and read["Steps"] == "100" and read["Size"] == "64x64"
    assert " ".join(read["Prompt"].removeprefix("\u2060").split()) == " ".join(prompt.split())
    assert " ".join(read["Negative prompt"].split()) == " ".join((negative or "").split())


class _Source:
    repo_id = "DeepFloyd/IF-I-XL-v1.0"


class _Result:
    def __init__(self, request: Any) -> None:
        self.request = request
        self.models = {"stage_1": _Source(), "stage_2": _Source(), "stage_3": _Source()}


class _Image:
    def __init__(self, prompt: str, seed: int) -> None:
        self.prompt, self.seed = prompt, seed


# Through the real CLI: random prompt files, end to end -----------------------------------


@settings(fuzz, max_examples=max(4, EXAMPLES // 15))
@given(lines=st.lists(prompt_lines, min_size=1, max_size=3))
def test_the_cli_answers_any_prompt_file_with_a_documented_exit(
    cli: Callable[..., subprocess.CompletedProcess[str]], lines: list[str]
) -> None:
    with _file("\n".join(lines), ".jsonl") as path:
        done = cli("generate", "--prompts", str(path), "--dry-run", "--stages", "1")
    assert done.returncode in EXIT_CODES, done.stderr
    assert "internal error" not in done.stderr and "Traceback" not in done.stderr
    assert all(line.startswith("if-cli: ") for line in done.stderr.splitlines())
