"""Batch runs: prompt files, --json, skipping finished images, kill-and-resume, keep-going."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

from tests.conftest import CLI, FAST_STEPS

Cli = Callable[..., subprocess.CompletedProcess[str]]
STAGE_1 = ["--stages", "1", *FAST_STEPS]


def _records(completed: subprocess.CompletedProcess[str]) -> list[dict]:
    assert completed.returncode == 0, completed.stderr
    return [json.loads(line) for line in completed.stdout.splitlines()]


def _by_fingerprint(folder: Path) -> dict[str, bytes]:
    images = {}
    for sidecar in folder.glob("*.json"):
        data = json.loads(sidecar.read_text())["image"]
        images[data["fingerprint"]] = (folder / data["files"]["image"]).read_bytes()
    return images


def test_a_text_file_makes_one_image_per_prompt_with_consecutive_seeds(
    cli: Cli, tmp_path: Path
) -> None:
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("# drafts\na red circle\n\n  a blue square  \n# end\na green star\n")
    records = _records(
        cli(
            "generate",
            "--prompts",
            str(prompts),
            "--seed",
            "100",
            "--json",
            "-o",
            str(tmp_path / "o"),
            *STAGE_1,
        )
    )
    assert [(r["prompt"], r["seed"]) for r in records] == [
        ("a red circle", 100),
        ("a blue square", 101),
        ("a green star", 102),
    ]
    assert [r["origin"] for r in records] == [f"{prompts}:2", f"{prompts}:4", f"{prompts}:6"]
    for record in records:
        assert Path(record["path"]).is_file() and Path(record["sidecar"]).is_file()
        assert (record["width"], record["height"], record["stages"]) == (64, 64, 1)


def test_json_lines_overrides_and_name_templates(cli: Cli, tmp_path: Path) -> None:
    lines = [
        {"prompt": "a red circle", "name": "red", "num_images": 2},
        {"prompt": "a blue square", "seed": 7, "steps": 3, "guidance_scale": 5.0},
        {"prompt": "a green star"},
    ]
    prompts = tmp_path / "p.jsonl"
    prompts.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    completed = cli(
        "generate",
        "--prompts",
        str(prompts),
        "--seed",
        "50",
        "--json",
        "--name",
        "{index}-{name}-{seed}",
        "-o",
        str(tmp_path / "o"),
        *STAGE_1,
    )
    records = sorted(_records(completed), key=lambda r: r["index"])
    assert [Path(r["path"]).name for r in records] == [
        "0-red-50.png",
        "1-red-51.png",
        "2-a-blue-square-7.png",
        "3-a-green-star-53.png",
    ]
    side = json.loads(Path(records[2]["sidecar"]).read_text())
    assert side["request"]["stage_1"]["steps"] == 3
    assert side["request"]["stage_1"]["guidance_scale"] == 5.0
    assert side["image"]["origin"] == f"{prompts}:2"


def test_prompts_from_stdin(hf_home: Path, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    env.update({"HF_HOME": str(hf_home), "HF_HUB_OFFLINE": "1", "HOME": str(tmp_path)})
    completed = subprocess.run(
        [
            str(CLI),
            "generate",
            "--prompts",
            "-",
            "--seed",
            "1",
            "-o",
            str(tmp_path / "o"),
            *STAGE_1,
        ],
        input="a cat\na dog\n",
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert len(completed.stdout.splitlines()) == 2


def test_a_bad_line_is_reported_with_its_line_before_any_model_loads(
    cli: Cli, tmp_path: Path
) -> None:
    cases = {
        "bad-json": ('{"prompt": "ok"}\n{"prompt": "broken",\n', "p.jsonl:2: not valid JSON"),
        "unknown": (
            '{"prompt": "ok"}\n\n{"prompt": "x", "stepz": 3}\n',
            "p.jsonl:3: unknown field 'stepz'",
        ),
        "bad-value": (
            '{"prompt": "ok"}\n{"prompt": "x", "steps": 0}\n',
            'p.jsonl:2: "steps" must be from 1 to 1000, got 0',
        ),
        "no-prompt": ('{"seed": 3}\n', 'p.jsonl:1: "prompt" is missing'),
        "empty": ('{"prompt": "ok"}\n{"prompt": " "}\n', "p.jsonl:2: the prompt is empty"),
    }
    for text, message in cases.values():
        prompts = tmp_path / "p.jsonl"
        prompts.write_text(text)
        completed = cli("generate", "--prompts", str(prompts), "-o", str(tmp_path / "o"))
        assert completed.returncode == 2
        assert completed.stderr.strip().startswith("if-cli: error: ")
        assert message in completed.stderr
        assert "loading" not in completed.stderr and not (tmp_path / "o").exists()
    latin = tmp_path / "latin.txt"
    latin.write_bytes("une chaîne\n".encode("latin-1"))
    completed = cli("generate", "--prompts", str(latin))
    assert completed.returncode == 2 and "not UTF-8 text" in completed.stderr


def test_prompt_and_prompt_file_are_exclusive(cli: Cli, tmp_path: Path) -> None:
    both = cli("generate", "a cat", "--prompts", str(tmp_path / "x.txt"))
    neither = cli("generate", "--seed", "1")
    for completed in (both, neither):
        assert completed.returncode == 2
        assert "give either a PROMPT or --prompts FILE" in completed.stderr


def test_each_model_loads_once_per_chunk(cli: Cli, tmp_path: Path) -> None:
    prompts = tmp_path / "p.txt"
    prompts.write_text("".join(f"prompt number {n}\n" for n in range(5)))
    completed = cli(
        "generate",
        "--prompts",
        str(prompts),
        "--seed",
        "1",
        "-o",
        str(tmp_path / "o"),
        "--stages",
        "2",
        *FAST_STEPS,
        "--no-embedding-cache",
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stderr.count("T5 text encoder: loading") == 1
    assert completed.stderr.count("stage I: loading") == 1
    assert completed.stderr.count("stage II: loading") == 1
    assert "stage I: step 10/10" in completed.stderr  # 5 images × 2 steps in one pass


def test_a_second_run_with_the_same_prompts_does_not_load_t5(cli: Cli, tmp_path: Path) -> None:
    args = ("generate", "a lighthouse at dusk", "--seed", "4", "-o", str(tmp_path / "o"), *STAGE_1)
    first = cli(*args)
    assert "T5 text encoder: loading" in first.stderr
    again = cli(*args, "--overwrite")
    assert again.returncode == 0, again.stderr
    assert "T5 text encoder" not in again.stderr
    first_png, second_png = sorted((tmp_path / "o").glob("*.png"))
    assert first_png.read_bytes() == second_png.read_bytes()


def test_a_killed_run_resumes_to_exactly_the_uninterrupted_result(
    cli: Cli, hf_home: Path, tmp_path: Path
) -> None:
    prompts = tmp_path / "p.txt"
    prompts.write_text("".join(f"scene {n}\n" for n in range(4)))
    common = ["generate", "--prompts", str(prompts), "--seed", "9", *STAGE_1, "--chunk-size", "1"]
    reference = tmp_path / "reference"
    assert cli(*common, "-o", str(reference)).returncode == 0
    out = tmp_path / "resumed"
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    env.update({"HF_HOME": str(hf_home), "HF_HUB_OFFLINE": "1", "HOME": str(tmp_path)})
    process = subprocess.Popen(
        [str(CLI), *common, "-o", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    assert process.stdout is not None
    process.stdout.readline()  # the first image is written …
    process.send_signal(signal.SIGKILL)  # … and the run dies without any cleanup
    process.wait(timeout=60)
    finished_before = len(list(out.glob("*.json")))
    assert 1 <= finished_before < 4
    # A kill in the middle of a write leaves the writer's temp file; plant one for sure.
    (out / f".scene-3.png.{process.pid}.k1ll.part").write_bytes(b"half a PNG")
    resumed = cli(*common, "-o", str(out))
    assert resumed.returncode == 0, resumed.stderr
    assert f"skipping {finished_before} image(s)" in resumed.stderr
    assert _by_fingerprint(out) == _by_fingerprint(reference)
    assert sorted(p.suffix for p in out.iterdir()) == [".json"] * 4 + [".png"] * 4


def test_keep_going_finishes_the_rest_and_exits_10(cli: Cli, tmp_path: Path) -> None:
    prompts = tmp_path / "p.jsonl"
    prompts.write_text(
        '{"prompt": "fine one"}\n'
        '{"prompt": "needs a missing model", "stage_1_model": "DeepFloyd/IF-I-M-v1.0"}\n'
        '{"prompt": "fine two"}\n'
    )
    args = ("generate", "--prompts", str(prompts), "--seed", "1", *STAGE_1)
    going = cli(*args, "-o", str(tmp_path / "going"), "--keep-going")
    assert going.returncode == 10
    assert len(going.stdout.splitlines()) == 2
    assert "1 image(s) failed (" in going.stderr and "p.jsonl:2" in going.stderr
    assert going.stderr.strip().splitlines()[-1].startswith("if-cli: error: 1 of 3 image(s)")
    stopped = cli(*args, "-o", str(tmp_path / "stopped"))
    assert stopped.returncode == 3
