"""Exploring through the real CLI on the demo: seed lists and ranges, wildcards, sweeps,
contact sheets and ``generate --from``; and the wrong inputs of each, refused in one
line before any model loads."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from if_cli.commands.prompt_file import ARGUMENT, PromptItem
from if_cli.commands.seeds import parse_seeds
from if_cli.commands.sweeps import grid, parse_sweeps
from if_cli.commands.wildcards import expand_items
from if_cli.errors import BadFieldError, InvalidRequestError
from if_cli.output.sheet import Tile, layout

Cli = Callable[..., subprocess.CompletedProcess[str]]
DRAFT = ["--model", "demo", "--stages", "1", "--steps", "2"]


def test_seeds_are_a_first_seed_a_list_or_a_range() -> None:
    assert parse_seeds("7") == 7
    assert parse_seeds("1,5,9") == (1, 5, 9)
    assert parse_seeds("10-13") == (10, 11, 12, 13)
    assert parse_seeds(" 1, 4-5 ") == (1, 4, 5)
    refused = {
        "17-10": "runs backwards; write 10-17",
        "1,,2": "or a range",
        "-3": "must be from 0",
        "0-99999": "more than 10000 seeds",
        "٣": "must be a whole number",
        "1,2,1": "seed 1 more than once",
    }
    for bad, words in refused.items():
        with pytest.raises(BadFieldError, match=words):
            parse_seeds(bad)


def test_sweeps_make_a_grid_of_typed_values_and_refuse_what_they_cannot_sweep() -> None:
    sweeps = parse_sweeps(["guidance=4,7", "steps=smart27,50", "aspect=1:1,16:9"])
    assert sweeps[0] == ("guidance_scale", [4.0, 7.0])
    assert sweeps[1] == ("steps", ["smart27", 50])
    cells = grid(sweeps)
    assert len(cells) == 8 and cells[0] == {
        "guidance_scale": 4.0, "steps": "smart27", "aspect": "1:1",
    }  # fmt: skip
    for bad, words in {
        "colour=red": "unknown key 'colour'",
        "guidance": "must be KEY=VALUE",
        "guidance=4,": "a value is empty",
        "guidance=four": "must be a number",
        "seed=1,2": "unknown key 'seed'",
    }.items():
        with pytest.raises(InvalidRequestError, match=words):
            parse_sweeps([bad])
    with pytest.raises(InvalidRequestError, match="given twice"):
        parse_sweeps(["guidance=4", "guidance_scale=7"])


def test_wildcards_expand_to_every_combination_or_a_seeded_sample(tmp_path: Path) -> None:
    line = PromptItem("queue.txt", 3, "a {red|green} {circle|star} {as written}")
    assert [i.prompt for i in expand_items([line])] == [
        "a red circle {as written}", "a red star {as written}",
        "a green circle {as written}", "a green star {as written}",
    ]  # fmt: skip
    assert {i.where for i in expand_items([line])} == {"queue.txt:3"}
    drawn = [i.prompt for i in expand_items([line], sample=3, sample_seed=5)]
    assert drawn == [i.prompt for i in expand_items([line], sample=3, sample_seed=5)]
    with pytest.raises(InvalidRequestError, match=r"queue.txt:4: the wildcard \{\|\} is empty"):
        expand_items([PromptItem("queue.txt", 4, "a {|} star")])
    with pytest.raises(InvalidRequestError, match="make 1,048,576 prompts"):
        expand_items([PromptItem(ARGUMENT, 0, "{a|b|c|d}" * 10)])
    with pytest.raises(InvalidRequestError, match="cannot be nested"):
        expand_items([PromptItem(ARGUMENT, 0, "a {red|{green|blue}} x")])
    with pytest.raises(InvalidRequestError, match="make only 4 prompt"):
        expand_items([line], sample=5, sample_seed=1)
    with pytest.raises(InvalidRequestError, match="no prompt has any"):
        expand_items([PromptItem(ARGUMENT, 0, "a star")], sample=2, sample_seed=1)


def test_a_prompt_file_that_starts_with_a_wildcard_is_plain_text(tmp_path: Path) -> None:
    from if_cli.commands.prompt_file import read_prompt_file

    queue = tmp_path / "queue.txt"
    queue.write_text('{red|blue} circle\n  { "prompt": "a star"} is text here too\n')
    assert [i.prompt for i in read_prompt_file(str(queue))] == [
        "{red|blue} circle",
        '{ "prompt": "a star"} is text here too',
    ]
    queue.write_text(' { "prompt": "a star"}\n{red|blue} circle\n')
    with pytest.raises(InvalidRequestError, match=r"queue\.txt:2: plain text in a JSON Lines"):
        read_prompt_file(str(queue))


def test_a_sheet_follows_the_sweep_rows_per_prompt_and_seed_columns_per_value() -> None:
    def tile(prompt: str, seed: int, guidance: float) -> Tile:
        return Tile(
            Path(f"{prompt}{seed}{guidance}.png"), prompt, seed, {"guidance_scale": guidance}
        )

    tiles = [tile(p, s, g) for g in (9.0, 3.0) for p in ("a", "b") for s in (1, 2)]
    rows = layout(tiles)
    assert len(rows) == 4 and all(len(row) == 2 for row in rows)
    assert [[t.cell["guidance_scale"] for t in row if t] for row in rows] == [[3.0, 9.0]] * 4
    assert {(row[0].prompt, row[0].seed) for row in rows if row[0]} == {
        ("a", 1), ("a", 2), ("b", 1), ("b", 2),
    }  # fmt: skip


def test_wildcards_seeds_and_a_sweep_make_a_grid_with_its_sheet_and_resume(
    cli: Cli, tmp_path: Path
) -> None:
    args = ["generate", "a {red|blue} circle", *DRAFT, "--seed", "3-4",
            "--sweep", "guidance=3,9", "--sheet", "--json", "-o", "grid"]  # fmt: skip
    made = cli(*args)
    assert made.returncode == 0, made.stderr
    records = [json.loads(line) for line in made.stdout.splitlines()]
    assert len(records) == 8 and not any(r["skipped"] for r in records)
    made_as = {(r["prompt"], r["seed"], r["cell"]["guidance_scale"]) for r in records}
    assert made_as == {(f"a {c} circle", s, g) for c in ("red", "blue") for s in (3, 4)
                       for g in (3.0, 9.0)}  # fmt: skip
    sidecar = json.loads((tmp_path / records[0]["sidecar"]).read_text())
    assert sidecar["image"]["cell"] == records[0]["cell"]
    assert sidecar["request"]["stage_1"]["guidance_scale"] == records[0]["cell"]["guidance_scale"]
    assert "contact sheet: grid/sheet.png" in made.stderr
    from PIL import Image

    with Image.open(tmp_path / "grid" / "sheet.png") as sheet:
        assert sheet.size == (2 * 264 + 8, 4 * 282 + 8)  # columns: guidance; rows: prompt, seed

    again = cli(*args)
    assert again.returncode == 0, again.stderr
    assert all(json.loads(line)["skipped"] for line in again.stdout.splitlines())

    idle = cli("generate", "a circle", *DRAFT, "--sweep", "stage_2_steps=1,2", "--dry-run")
    assert idle.returncode == 2
    assert "--sweep stage_2_steps=2: makes the same images as another cell" in idle.stderr


def test_generate_from_a_picture_makes_it_again_and_takes_changes(cli: Cli, tmp_path: Path) -> None:
    first = cli("generate", "a green star", *DRAFT, "--seed", "5", "-n", "blurry", "-o", "a")
    assert first.returncode == 0, first.stderr
    picture = tmp_path / first.stdout.strip()
    again = cli("generate", "--from", str(picture), "-o", "b")
    assert again.returncode == 0, again.stderr
    from PIL import Image

    with Image.open(picture) as a, Image.open(tmp_path / again.stdout.strip()) as b:
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    changed = cli("generate", "--from", str(picture), "--seed", "6", "--dry-run")
    assert "images: 1 (seeds 6)" in changed.stdout and "stages 1–1" in changed.stdout

    from PIL import PngImagePlugin

    text = PngImagePlugin.PngInfo()
    text.add_text("parameters", "a red circle\nNegative prompt: blurry\n"
                  "Steps: 12, Sampler: Euler a, CFG scale: 6, Seed: 77, Model: sd15")  # fmt: skip
    Image.new("RGB", (8, 8)).save(tmp_path / "a1111.png", pnginfo=text)
    foreign = cli("generate", "--from", "a1111.png", "--model", "demo", "--dry-run")
    assert foreign.returncode == 0, foreign.stderr
    assert "a1111.png: not applicable to IF, left out: Sampler, Model" in foreign.stderr
    assert "images: 1 (seeds 77)" in foreign.stdout
