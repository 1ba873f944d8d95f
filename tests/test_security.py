"""What if-cli promises about safety: names stay in their folder, secrets stay secret,
and ``--no-metadata`` writes nothing but pixels. (Pickles and model code: see
test_bad_inputs; decompression bombs: test_image_input and test_bad_inputs.)"""

from __future__ import annotations

import json
import re
import subprocess
import unicodedata
from collections.abc import Callable
from pathlib import Path

Cli = Callable[..., subprocess.CompletedProcess[str]]
ONE_STEP = ["--stages", "1", "--steps", "1", "--seed", "4"]
SECRET = "hf_ZZsecretTOKENvalue0123456789"

HOSTILE_NAMES = {
    "parent": "../../escaped",
    "absolute": "/etc/passwd",
    "reserved": "con",
    "nul": "a\u0000b",
    "dots": "..",
    "long": "é" * 300,
    "decomposed": "cafe\u0301",
    "backslash": "..\\..\\windows",
    "bidi override": "evil\u202egnp.exe",
    "delete": "a\x7fb",
    "c1 control": "a\x9b31mb",
    "zero width": "a\u200bb\ufeff",
    "line separator": "a\u2028b\u2029c",
    "private use": "a\ue000b",
}
# Characters no file name keeps: controls, invisible format characters, separators.
NEVER_IN_NAMES = {"Cc", "Cf", "Zl", "Zp", "Cs", "Co"}


def _png_chunks(path: Path) -> list[bytes]:
    """The chunk types of a PNG file, read from its bytes."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, at = [], 8
    while at < len(data):
        length = int.from_bytes(data[at : at + 4], "big")
        chunks.append(data[at + 4 : at + 8])
        at += 12 + length
    return chunks


def test_names_from_lines_and_prompts_never_leave_the_output_folder(
    cli: Cli, tmp_path: Path
) -> None:
    lines = [json.dumps({"prompt": "a cat", "name": name}) for name in HOSTILE_NAMES.values()]
    lines.append(json.dumps({"prompt": "../../../etc/passwd"}))
    prompts = tmp_path / "hostile.jsonl"
    prompts.write_text("\n".join(lines) + "\n")
    work = tmp_path / "work"
    work.mkdir()
    done = cli("generate", "--prompts", str(prompts), "--name", "{name}", *ONE_STEP,
               "-o", "out", cwd=work)  # fmt: skip
    assert done.returncode == 0, done.stderr
    out = work / "out"
    written = sorted(out.iterdir())
    assert len(written) == 2 * len(lines)  # a PNG and a sidecar for each line, all in out/
    home = tmp_path / "home"  # the embedding cache lives there
    everything = {p for p in tmp_path.rglob("*") if p.is_file() and home not in p.parents}
    assert everything - set(written) == {prompts}
    for path in written:
        name = path.name
        assert len(name.encode()) <= 255 and not name.startswith(".")
        assert "/" not in name and "\\" not in name and "\x00" not in name
        assert name == unicodedata.normalize("NFC", name)
        assert path.stem.split(".")[0].lower() not in {"con", "prn", "aux", "nul"}
        assert not {unicodedata.category(c) for c in name} & NEVER_IN_NAMES, repr(name)
    assert any("cafe" in p.name or "café" in p.name for p in written)
    assert any(p.name == "evilgnp.exe.png" for p in written)  # no longer shown as "…exe.png"


def test_a_token_never_reaches_output_files_or_streams(cli: Cli, tmp_path: Path) -> None:
    env = {"HF_TOKEN": SECRET, "IF_CLI_DEBUG": "1"}
    out = tmp_path / "out"
    runs = [
        cli("generate", "a cat", *ONE_STEP, "--json", "-o", str(out), env=env),
        cli("generate", "a cat", "--stage-1-model", "I-M", "-o", str(out), env=env),
        cli("doctor", "--device", "cpu", env=env),
        cli("config", "show", env=env),
    ]
    assert runs[0].returncode == 0, runs[0].stderr
    assert runs[1].returncode == 3 and "hub token" in runs[2].stdout + runs[2].stderr
    for run in runs:
        assert SECRET not in run.stdout + run.stderr
    for path in out.iterdir():
        assert SECRET.encode() not in path.read_bytes()


def test_no_metadata_writes_bare_pngs_and_no_sidecar(cli: Cli, tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = ["generate", "a private prompt", "--stages", "2", "--steps", "1",
            "--stage-2-steps", "1", "--keep-intermediates", "--no-metadata", "--json",
            "-o", str(out)]  # fmt: skip
    done = cli(*args)
    assert done.returncode == 0, done.stderr
    record = json.loads(done.stdout)
    assert record["sidecar"] is None
    pngs = sorted(out.iterdir())
    assert [p.suffix for p in pngs] == [".png", ".png"]  # the image and its 64 px stage
    for png in pngs:
        assert b"private" not in png.read_bytes()
        assert set(_png_chunks(png)) <= {b"IHDR", b"IDAT", b"IEND"}
    again = cli(*args)  # no sidecar, so nothing marks the image as finished
    assert again.returncode == 0 and "skipping" not in again.stderr
    assert len(list(out.iterdir())) == 4


# AUTOMATIC1111's own reader of the ``parameters`` chunk (modules/infotext_utils.py,
# parse_generation_parameters), reduced to what decides which text lands in which field.
_A1111_PARAM = re.compile(r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')


def _a1111_read(text: str) -> dict[str, str]:
    fields = {"Prompt": "", "Negative prompt": ""}
    *lines, last = text.strip().split("\n")
    if len(_A1111_PARAM.findall(last)) < 3:
        lines.append(last)
        last = ""
    negative = False
    for line in lines:
        line = line.strip()
        if line.startswith("Negative prompt:"):
            negative, line = True, line[16:].strip()
        key = "Negative prompt" if negative else "Prompt"
        fields[key] += ("\n" if fields[key] else "") + line
    for key, value in _A1111_PARAM.findall(last):
        fields[key] = json.loads(value) if value.startswith('"') else value
    return fields


def _parameters(path: Path) -> str:
    from PIL import Image

    with Image.open(path) as picture:
        return str(picture.text["parameters"])


def test_a_prompt_cannot_forge_fields_in_the_parameters_chunk(cli: Cli, tmp_path: Path) -> None:
    forged = "a cat\nNegative prompt: a dog\nSteps: 1000, Sampler: Evil, CFG scale: 99, Seed: 1"
    negative = "blur\r\nSteps: 5, Seed: 9, Size: 1x1\u2028Model: evil"
    done = cli("generate", forged, "--negative-prompt", negative, *ONE_STEP, "--json",
               "-o", str(tmp_path / "out"))  # fmt: skip
    assert done.returncode == 0, done.stderr
    read = _a1111_read(_parameters(Path(json.loads(done.stdout)["path"])))
    assert read["Prompt"] == " ".join(forged.split("\n"))
    assert read["Negative prompt"] == "blur Steps: 5, Seed: 9, Size: 1x1 Model: evil"
    assert (read["Steps"], read["Seed"], read["CFG scale"]) == ("1", "4", "7.0")
    assert read["Sampler"] == "DDPM" and read["Model"] == "DeepFloyd/IF-I-XL-v1.0"
    sidecar = json.loads(Path(json.loads(done.stdout)["sidecar"]).read_text())
    assert sidecar["image"]["prompt"] == forged  # the exact text is kept where it is data


def test_a_prompt_that_begins_like_the_negative_label_stays_the_prompt(
    cli: Cli, tmp_path: Path
) -> None:
    prompt = "Negative prompt: evil words"
    done = cli("generate", prompt, *ONE_STEP, "--json", "-o", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    read = _a1111_read(_parameters(Path(json.loads(done.stdout)["path"])))
    assert read["Prompt"] == "\u2060" + prompt and read["Negative prompt"] == ""
