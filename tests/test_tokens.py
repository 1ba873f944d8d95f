"""T5's 77 tokens: counted without the encoder, exactly as IF's pipelines tokenize, and
reported before any model loads (with prompt-file lines), in a dry run and by
``if-cli tokens``."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from if_cli.engine.catalog import shipped_model_path
from if_cli.engine.models import resolve_model
from if_cli.engine.tokens import PromptTokenizer

Cli = Callable[..., subprocess.CompletedProcess[str]]
LONG = "a red circle above a blue square" + " and a green star" * 20
PROMPTS = ["a red circle", "  A Photo of a CORGI, with the sign 'IF'  ", "héllo wörld", "", LONG]


@pytest.mark.parametrize("model", ["demo", "tiny"])
def test_counts_and_cut_text_equal_the_t5_tokenizer_of_if_pipelines(
    model: str, tiny_repos: dict[str, Path]
) -> None:
    from transformers import AutoTokenizer

    folder = shipped_model_path("demo-I") if model == "demo" else tiny_repos["stage_1"]
    assert folder is not None
    counter = PromptTokenizer(resolve_model(str(folder)))
    reference = AutoTokenizer.from_pretrained(folder / "tokenizer")
    for prompt in PROMPTS:
        text = prompt.lower().strip()  # IFPipeline.encode_prompt(clean_caption=False)
        ids = reference(text, add_special_tokens=True).input_ids
        count = counter.count(prompt)
        assert count.tokens == len(ids)
        assert count.over == (len(ids) > 77)
        kept = reference(text, max_length=77, truncation=True, add_special_tokens=True).input_ids
        tail = reference.decode(ids[len(kept) - 1 : -1])  # what T5 never reads
        assert bool(count.cut) == count.over and text.endswith(count.cut.lower())
        assert reference.decode(reference(count.cut.lower()).input_ids[:-1]) == tail


def test_tokens_command_counts_prompts_and_file_lines_without_loading_t5(
    cli: Cli, tmp_path: Path
) -> None:
    said = cli("tokens", "a red circle", LONG, "--model", "demo")
    assert said.returncode == 0, said.stderr
    first, second, cut = said.stdout.splitlines()
    assert first == "  6/77  a red circle"
    assert second.startswith("135/77  a red circle above")
    assert cut.startswith("        cut: a green star and a green star")

    queue = tmp_path / "queue.txt"
    queue.write_text(f"# comment\na red circle\n{LONG}\n")
    listed = cli("tokens", "--prompts", str(queue), "--model", "demo", "--json")
    records = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [(r["line"], r["tokens"], r["over"]) for r in records] == [(2, 6, False), (3, 135, True)]

    control = cli("tokens", "a\x1b[2Jb", "--model", "demo")
    assert control.returncode == 2 and "control character" in control.stderr

    missing = cli("tokens", "x", "--stage-1-model", "someone/not-downloaded")
    assert missing.returncode == 3 and "--model demo" in missing.stderr


def test_a_prompt_file_reports_each_long_line_before_any_model_loads(
    cli: Cli, tmp_path: Path
) -> None:
    queue = tmp_path / "queue.txt"
    queue.write_text(f"a red circle\n{LONG}\n")
    planned = cli("generate", "--prompts", str(queue), "--model", "demo", "--dry-run")
    assert planned.returncode == 0, planned.stderr
    warning = f"if-cli: warning: {queue}:2: the prompt is 135 T5 tokens; T5 reads the first 77"
    assert warning in planned.stderr
    assert planned.stderr.count("T5 tokens") == 1
    assert (
        'T5 tokens: 135 of 77 (the longest text)\n  cut from "a red circle above a blue '
        'square and a …": "a green star and a green star'
    ) in planned.stdout
