"""The demo names the words of a prompt it does not know, and says what it knows."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

from if_cli.engine.demo_words import VOCABULARY_FILE, unknown_words
from training.evaluate import EVALUATION_SEED
from training.scenes import held_out_scenes, training_scene, vocabulary

Cli = Callable[..., subprocess.CompletedProcess[str]]


def _warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "demo cascade does not know '" in line]


def test_shipped_vocabulary_is_the_training_captions_words() -> None:
    import random

    assert json.loads(VOCABULARY_FILE.read_text()) == vocabulary()
    rng = random.Random(4)
    captions = [training_scene(rng).caption for _ in range(500)]
    captions += [s.caption for s in held_out_scenes(EVALUATION_SEED, 60)]
    assert [c for c in captions if unknown_words(c)] == []


def test_unknown_words_are_named_once_in_order_whatever_their_case_or_width() -> None:
    assert unknown_words("a red Fox in snow, Van Gogh, a fox") == ["fox", "snow", "van", "gogh"]
    assert unknown_words("A purple triangle in the center") == ["center"]
    assert unknown_words("a grey circle on a gray background") == ["grey", "gray"]
    assert unknown_words("ａ ｒｅｄ ｃｉｒｃｌｅ") == []  # the tokenizer folds full width too
    assert unknown_words("a red word17 and a circle's edge") == ["word17", "circle's", "edge"]


def test_a_background_colour_counts_only_as_the_background() -> None:
    assert unknown_words("a white star") == ["white"]
    assert unknown_words("a pink star on a WHITE  background") == []
    assert unknown_words("a black square on a white background") == ["black"]


def test_demo_run_warns_once_per_prompt_and_says_what_it_knows(cli: Cli, tmp_path: Path) -> None:
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a red fox in snow\na blue circle\na white star\na red fox in snow\n")
    done = cli("generate", "--prompts", str(prompts), "--model", "demo", "--dry-run")
    assert done.returncode == 0, done.stderr
    warned = _warnings(done.stderr)
    assert len(warned) == 2, done.stderr
    assert (
        f"{prompts}:1: the demo cascade does not know 'fox', 'snow' and ignores them" in (warned[0])
    )
    assert "it knows circles, squares, triangles and stars" in warned[0]
    assert "'white' (only as a background)" in warned[1] and "it knows" not in warned[1]


def test_known_prompts_and_other_models_get_no_word_warning(cli: Cli) -> None:
    quiet = cli("generate", "a red circle above a blue square", "--model", "demo", "--dry-run")
    assert quiet.returncode == 0 and not _warnings(quiet.stderr), quiet.stderr
    other = cli("generate", "a red fox in snow", "--dry-run")
    assert other.returncode == 0 and not _warnings(other.stderr), other.stderr
    named = cli("generate", "a red fox", "--model", "demo", "--dry-run")
    assert _warnings(named.stderr) == [
        line for line in named.stderr.splitlines() if "'fox' in 'a red fox'" in line
    ]


def test_readme_quick_start_lists_every_word_the_demo_knows() -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    quick_start = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    words = json.loads(VOCABULARY_FILE.read_text())
    for group in ("shapes", "colours", "positions", "backgrounds"):
        missing = [word for word in words[group] if word not in quick_start]
        assert not missing, (group, missing)


def test_a_close_known_word_is_suggested(cli: Cli) -> None:
    done = cli("generate", "a purple triangle in the center", "--model", "demo", "--dry-run")
    assert "'center' (did you mean 'centre'?)" in done.stderr, done.stderr


def test_many_prompts_with_unknown_words_are_named_ten_then_counted(
    cli: Cli, tmp_path: Path
) -> None:
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("".join(f"a red star and a word{n}\n" for n in range(13)))
    done = cli("generate", "--prompts", str(prompts), "--model", "demo", "--dry-run")
    assert done.returncode == 0, done.stderr
    assert len(_warnings(done.stderr)) == 10
    assert "3 more prompts have words the demo cascade does not know" in done.stderr


def test_no_word_warning_when_another_model_reads_the_prompt(cli: Cli) -> None:
    mixed = cli(
        *("generate", "a red fox", "--model", "demo", "--stage-1-model", "I-XL", "--dry-run")
    )
    assert mixed.returncode == 0 and not _warnings(mixed.stderr), mixed.stderr


def test_a_negative_prompt_is_checked_like_the_prompt(cli: Cli, tmp_path: Path) -> None:
    """The demo's encoder reads the negative prompt too: "blurry, low quality" does
    nothing there, and the user hears so, once per text, as for the prompt."""
    done = cli(
        *("generate", "a red circle", "--negative-prompt", "blurry, low quality, blue"),
        *("--model", "demo", "--dry-run"),
    )
    assert done.returncode == 0, done.stderr
    (warned,) = _warnings(done.stderr)
    assert warned.startswith(
        "if-cli: warning: the demo cascade does not know 'blurry', 'low', 'quality' in the "
        "negative prompt 'blurry, low quality, blue' and ignores them; it knows circles"
    )
    queue = tmp_path / "queue.jsonl"
    line = {"prompt": "a red circle", "negative_prompt": "ugly"}
    queue.write_text(json.dumps(line) + "\n" + json.dumps(line | {"prompt": "a fox"}) + "\n")
    lines = cli("generate", "--prompts", str(queue), "--model", "demo", "--dry-run")
    assert _warnings(lines.stderr)[0].startswith(
        f"if-cli: warning: {queue}:1: the demo cascade does not know 'ugly' in the negative "
        "prompt and ignores it; it knows"
    )
    assert _warnings(lines.stderr)[1:] == [
        f"if-cli: warning: {queue}:2: the demo cascade does not know 'fox' and ignores it"
    ]
