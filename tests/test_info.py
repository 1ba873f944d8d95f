"""``if-cli info``: what made a picture, from if-cli's sidecar or another tool's PNG
chunks, loading no model; every unreadable file is one error line and exit 2."""

from __future__ import annotations

import json
import subprocess
import time
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest

from if_cli.errors import InvalidRequestError
from if_cli.output.read_back import A1111, COMFYUI, SIDECAR, parse_a1111, read_back
from tests.pictures import write_picture

Cli = Callable[..., subprocess.CompletedProcess[str]]
FORGE = (
    'a castle, "at dusk"\nwith fog\nNegative prompt: blurry, low quality\n'
    "Steps: 28, Sampler: DPM++ 2M, CFG scale: 6.5, Seed: 1234, Size: 832x1216, "
    'Model: sdxl, Lora hashes: "a: 1, b: 2"'
)


def _png_with(path: Path, **chunks: str) -> Path:
    from PIL import Image, PngImagePlugin

    info = PngImagePlugin.PngInfo()
    for key, value in chunks.items():
        info.add_text(key, value)
    Image.new("RGB", (8, 8)).save(path, pnginfo=info)
    return path


def test_an_a1111_chunk_gives_prompt_negative_prompt_seed_and_every_setting() -> None:
    record = parse_a1111("x.png", FORGE)
    assert record.source == A1111
    assert record.prompt == 'a castle, "at dusk"\nwith fog'
    assert record.negative_prompt == "blurry, low quality"
    assert record.seed == 1234
    assert record.settings["CFG scale"] == "6.5" and record.settings["Size"] == "832x1216"
    assert record.settings["Lora hashes"] == "a: 1, b: 2"
    bare = parse_a1111("y.png", "just a prompt, with a comma")
    assert bare.prompt == "just a prompt, with a comma" and bare.settings == {}


def test_pictures_of_other_tools_and_broken_files_are_read_or_refused_in_one_line(
    tmp_path: Path,
) -> None:
    forge = read_back(_png_with(tmp_path / "forge.png", parameters=FORGE))
    assert (forge.source, forge.seed, forge.read_from) == (A1111, 1234, str(tmp_path / "forge.png"))
    graph = '{"3": {"class_type": "KSampler", "inputs": {"seed": 5}}}'
    comfy = read_back(_png_with(tmp_path / "comfy.png", prompt=graph))
    assert comfy.source == COMFYUI and comfy.raw == graph and comfy.prompt is None

    bare = write_picture(tmp_path / "bare.png", (8, 8))
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"GIF89a not really")
    damaged = bytearray((tmp_path / "forge.png").read_bytes())
    damaged[damaged.find(b"tEXt") + 10] ^= 0x55  # the parameters chunk fails its CRC
    (tmp_path / "damaged.png").write_bytes(bytes(damaged))
    bomb = bytearray((tmp_path / "forge.png").read_bytes())
    bomb[16:24] = (100_000).to_bytes(4, "big") * 2  # the header claims 100000² px
    bomb[29:33] = zlib.crc32(bytes(bomb[12:29])).to_bytes(4, "big")
    (tmp_path / "bomb.png").write_bytes(bytes(bomb))
    foreign = tmp_path / "other.json"
    foreign.write_text('{"prompt": "x"}')
    newer = tmp_path / "newer.json"
    newer.write_text(json.dumps({"schema": 99, "tool": {"name": "if-cli"}}))
    expected = {
        bare: "has no generation record",
        broken: "neither a picture nor a sidecar",
        tmp_path / "damaged.png": "is a damaged PNG",
        tmp_path / "bomb.png": "too large a picture; refused before decoding",
        foreign: "not a sidecar if-cli knows",
        newer: "not a sidecar this if-cli reads",
        tmp_path / "missing.png": "no such file",
    }
    for path, words in expected.items():
        with pytest.raises(InvalidRequestError, match=words):
            read_back(path)


def test_info_reads_if_clis_own_pictures_fast_and_exits_2_for_the_unreadable(
    cli: Cli, tmp_path: Path
) -> None:
    made = cli("generate", "a red circle", "--model", "demo", "--stages", "1", "--steps", "2",
               "--seed", "9", "-n", "blurry", "--aspect", "2:1", "-o", "out")  # fmt: skip
    assert made.returncode == 0, made.stderr
    png = tmp_path / made.stdout.strip()
    record = read_back(png)
    assert (record.source, record.prompt, record.negative_prompt, record.seed) == (
        SIDECAR, "a red circle", "blurry", 9,
    )  # fmt: skip
    assert record.read_from == str(png.with_suffix(".json"))
    assert record.settings["stage_sizes"] == {"stage_1": [64, 32]}

    started = time.perf_counter()
    shown = cli("info", str(png), str(tmp_path / "nope.png"))
    assert time.perf_counter() - started < 3  # no torch, no model (0.3 s on an idle CPU)
    assert shown.returncode == 2
    assert "  prompt: a red circle\n  negative prompt: blurry\n  seed: 9\n" in shown.stdout
    assert "  stage 1: demo-I, 2 steps, guidance 7.0\n" in shown.stdout
    assert shown.stderr.splitlines() == [
        f"if-cli: error: {tmp_path / 'nope.png'}: no such file",
        "if-cli: error: 1 of 2 file(s) have no record if-cli reads",
    ]
    as_json = cli("info", "--json", str(png.with_suffix(".json")))
    assert json.loads(as_json.stdout)["settings"]["aspect"] == "2:1"


def test_text_from_a_picture_cannot_write_to_the_terminal(tmp_path: Path) -> None:
    from if_cli.commands.info import _text

    hostile = _png_with(tmp_path / "h.png", parameters="evil \x1b[31mRED\x07\r\nfake: line")
    shown = _text(read_back(hostile))
    assert "\x1b" not in shown and "\x07" not in shown and "\\x1b[31mRED\\x07" in shown
    assert "  prompt: evil \\x1b[31mRED\\x07 fake: line" in shown.splitlines()


def test_a_sheet_of_something_that_is_not_a_picture_is_refused_in_one_line(
    tmp_path: Path,
) -> None:
    from if_cli.output.sheet import draw_sheet, tiles_of

    text = tmp_path / "notes.png"
    text.write_text("not a picture")
    with pytest.raises(InvalidRequestError, match="not an image file Pillow can read"):
        draw_sheet(tiles_of([text]), tmp_path / "sheet.png")
    assert not (tmp_path / "sheet.png").exists()
