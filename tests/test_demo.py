"""The demo cascade shipped in the package: its files, its preset, and that it follows prompts."""

from __future__ import annotations

import hashlib
import json
import random
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from if_cli.engine.catalog import DEMO_FOLDER, PRESETS, SHIPPED_MODELS
from if_cli.engine.models import PICKLE_SUFFIXES
from tests.pictures import write_mask, write_picture
from training.cpu_bf16 import bf16_warning, native_bf16
from training.evaluate import (
    EVALUATION_SEED,
    accuracy,
    generate_arguments,
    judge,
    pictures_by_caption,
    read_picture,
    score,
)
from training.scenes import Scene, Shape, held_out_scenes, is_held_out, render, training_scene

Cli = Callable[..., subprocess.CompletedProcess[str]]
REPOS = [DEMO_FOLDER / folder for folder in SHIPPED_MODELS.values()]
QUICK_START = "a red circle above a blue square"
# What the shipped demo reaches on these prompts (colour 0.80, position 0.55, background
# 1.00, shape 0.28, measured), less a margin: floors that catch a broken cascade or a
# worse retrain. The goals (0.95, 0.85, 0.90, 0.80) are not reached: it often swaps which
# colour goes first (see the model card's known weaknesses).
FLOORS = {"colour": 0.75, "position": 0.5, "background": 0.95, "shape": 0.22}
HELD_OUT_PROMPTS = 60
# The README's prompt at seeds 1–8 (both colours 7, the order 3, the background 8 and all
# right 1, measured), less a margin. The goal is every fact right for 7 of the 8.
QUICK_START_FLOORS = {"colour": 6, "position": 2, "background": 7}


def _sidecar(png: Path) -> dict:
    return json.loads(png.with_suffix(".json").read_text())


def _only_png(stdout: str) -> Path:
    lines = stdout.splitlines()
    assert len(lines) == 1, stdout
    return Path(lines[0])


def test_demo_ships_fp16_safetensors_in_the_if_layout_under_25_mb() -> None:
    total = 0
    for repo, pipeline in zip(REPOS, ("IFPipeline", "IFSuperResolutionPipeline"), strict=True):
        index = json.loads((repo / "model_index.json").read_text())
        assert index["_class_name"] == pipeline
        assert index["text_encoder"] == ["transformers", "T5EncoderModel"]
        assert index["tokenizer"] == ["transformers", "T5Tokenizer"]
        assert index["unet"] == ["diffusers", "UNet2DConditionModel"]
        assert (repo / "tokenizer" / "spiece.model").is_file()
        weights = sorted(p.relative_to(repo).as_posix() for p in repo.rglob("*.safetensors"))
        assert weights == [
            "text_encoder/model.fp16.safetensors",
            "unet/diffusion_pytorch_model.fp16.safetensors",
        ]
        assert not [p for p in repo.rglob("*") if p.suffix in PICKLE_SUFFIXES]
        total += sum(p.stat().st_size for p in repo.rglob("*") if p.is_file())
    assert total < 25 * 10**6
    card = (DEMO_FOLDER / "README.md").read_text()
    assert "python -m training.train_demo" in card


def test_demo_unets_are_built_from_if_blocks() -> None:
    stage_1, stage_2 = (json.loads((r / "unet" / "config.json").read_text()) for r in REPOS)
    for config in (stage_1, stage_2):
        blocks = {*config["down_block_types"], *config["up_block_types"]}
        assert blocks <= {
            "ResnetDownsampleBlock2D",
            "SimpleCrossAttnDownBlock2D",
            "ResnetUpsampleBlock2D",
            "SimpleCrossAttnUpBlock2D",
        }
        assert config["mid_block_type"] == "UNetMidBlock2DSimpleCrossAttn"
        assert (config["encoder_hid_dim_type"], config["addition_embed_type"]) == (
            "text_proj",
            "text",
        )
        assert config["out_channels"] == 6
    assert (stage_1["sample_size"], stage_2["sample_size"]) == (32, 128)
    assert (stage_2["in_channels"], stage_2["class_embed_type"]) == (6, "timestep")


def test_training_encodes_prompts_exactly_as_the_pipeline_does() -> None:
    """Stage I and II learned from the embeddings the cascade will hand them."""
    import torch
    from diffusers import IFPipeline

    from training.train_demo import encode

    pipe = IFPipeline.from_pretrained(
        REPOS[0],
        variant="fp16",
        unet=None,
        safety_checker=None,
        feature_extractor=None,
        watermarker=None,
        requires_safety_checker=False,
    )
    captions = [QUICK_START, "", "  A Pink STAR on the left  "]
    with torch.no_grad():
        ours = encode(pipe.tokenizer, pipe.text_encoder, captions)
        theirs = torch.cat(
            [
                pipe.encode_prompt(c, do_classifier_free_guidance=False, clean_caption=False)[0]
                for c in captions
            ]
        )
    assert torch.equal(ours, theirs)


def test_quick_start_makes_a_128_px_picture_offline(cli: Cli, tmp_path: Path) -> None:
    done = cli("generate", QUICK_START, "--model", "demo", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    png = tmp_path / _only_png(done.stdout)  # printed relative to the current folder
    assert Image.open(png).size == (128, 128)
    side = _sidecar(png)
    assert [side["models"][k]["ref"] for k in ("stage_1", "stage_2")] == ["demo-I", "demo-II"]
    assert side["request"]["last_stage"] == 2
    assert side["request"]["watermark"] is False
    assert "watermark" not in done.stderr  # no "images are not watermarked" warning


def test_demo_preset_yields_to_what_the_user_set(cli: Cli, tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("stage_2_guidance_scale = 3.0\n")
    done = cli(
        *("generate", "a green star", "--model", "demo", "--stages", "2", "--steps", "4"),
        *("--stage-2-steps", "3", "--seed", "5", "-o", str(tmp_path)),
        env={"IF_CLI_CONFIG": str(config), "IF_CLI_GUIDANCE_SCALE": "5.5"},
    )
    assert done.returncode == 0, done.stderr
    request = _sidecar(_only_png(done.stdout))["request"]
    demo = PRESETS["demo"]
    assert request["stage_1"]["steps"] == 4  # command line
    assert request["stage_1"]["guidance_scale"] == 5.5  # environment
    assert request["stage_2"]["guidance_scale"] == 3.0  # config file
    assert request["stage_2"]["model"] == demo.models[1]  # the preset, where nothing was set
    one_stage = cli(
        *("generate", "a green star", "--model", "demo", "--stages", "1", "--steps", "3"),
        *("-o", str(tmp_path / "one")),
    )
    assert one_stage.returncode == 0, one_stage.stderr
    assert Image.open(_only_png(one_stage.stdout)).size == (32, 32)


@pytest.mark.parametrize("command", ["img2img", "inpaint", "style", "upscale"])
def test_every_image_command_runs_the_demo(cli: Cli, tmp_path: Path, command: str) -> None:
    picture = write_picture(tmp_path / "in.png", (96, 96))
    arguments = {
        "img2img": ["img2img", str(picture), "a blue square on a black background"],
        "inpaint": [
            "inpaint",
            str(picture),
            str(write_mask(tmp_path / "m.png", (96, 96))),
            "a yellow circle",
        ],
        "style": ["style", str(picture), "a purple star"],
        "upscale": ["upscale", str(picture), "a red triangle"],
    }[command]
    done = cli(*arguments, "--model", "demo", "--seed", "1", "-o", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    assert Image.open(_only_png(done.stdout)).size == (128, 128)


def test_scenes_are_made_again_from_their_seed() -> None:
    first = [training_scene(random.Random(9)) for _ in range(3)]
    again = [training_scene(random.Random(9)) for _ in range(3)]
    assert first == again
    assert render(first[0]).tobytes() == render(again[0]).tobytes()


def test_training_never_draws_a_held_out_caption() -> None:
    rng = random.Random(3)
    drawn = {training_scene(rng).caption for _ in range(3000)}
    assert not [c for c in drawn if is_held_out(c)]
    assert all(is_held_out(s.caption) for s in held_out_scenes(EVALUATION_SEED, 60))


def test_analysis_reads_drawn_scenes_and_rejects_wrong_ones() -> None:
    scenes = held_out_scenes(11, 200)
    right = accuracy([judge(s, read_picture(render(s))) for s in scenes])
    assert right == {"colour": 1.0, "position": 1.0, "background": 1.0, "shape": 1.0}
    # The same pictures judged against captions with the order of the shapes swapped.
    pairs = [s for s in scenes if len(s.shapes) == 2]
    swapped = [Scene(s.shapes[::-1], s.background, s.layout, s.says_background) for s in pairs]
    wrong = accuracy(
        [judge(w, read_picture(render(s))) for s, w in zip(pairs, swapped, strict=True)]
    )
    assert wrong["colour"] == 1.0 and wrong["position"] == 0.0


def test_quick_start_prompt_keeps_its_colours_and_background(cli: Cli, tmp_path: Path) -> None:
    """The README's first command is every new user's first picture: judged as the
    held-out prompts are, over seeds 1 to 8, it stays at what the shipped demo reaches."""
    scene = Scene(
        (Shape("circle", "red", 0, 0, 0), Shape("square", "blue", 0, 0, 0)),
        "white",
        "above",
        says_background=False,
    )
    assert scene.caption == QUICK_START
    done = cli(
        *("generate", QUICK_START, "--model", "demo", "--seed", "1-8", "--batch-size", "8"),
        *("-o", str(tmp_path), "-q"),
    )
    assert done.returncode == 0, done.stderr
    verdicts = [judge(scene, read_picture(Image.open(p))) for p in done.stdout.split()]
    assert len(verdicts) == 8
    counts = {name: sum(getattr(v, name) for v in verdicts) for name in QUICK_START_FLOORS}
    assert all(counts[name] >= floor for name, floor in QUICK_START_FLOORS.items()), counts


@pytest.mark.slow
def test_demo_follows_prompts_it_never_saw(cli: Cli, tmp_path: Path) -> None:
    scenes = held_out_scenes(EVALUATION_SEED, HELD_OUT_PROMPTS)
    done = cli(*generate_arguments(scenes, tmp_path, seed=0), "--batch-size", "4")
    assert done.returncode == 0, done.stderr
    measured = accuracy(score(scenes, pictures_by_caption(done.stdout)))
    print(f"demo accuracy on {len(scenes)} held-out prompts: {measured}")
    assert all(measured[name] >= floor for name, floor in FLOORS.items()), measured


def _weights_digest(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*.safetensors"))
    }


def _train(out: Path, *options: str) -> subprocess.CompletedProcess[str]:
    """A few steps of the real training; fp32 unless ``options`` say otherwise, since a CPU
    without native bf16 runs the default bf16 twice as slowly even at this size."""
    short = ["--stage-1-steps", "3", "--stage-2-steps", "2", "--checkpoint-every", "1"]
    short += ["--stage-1-batch", "2", "--stage-2-batch", "2", "--threads", "1"]
    short += ["--precision", "fp32"]
    return subprocess.run(
        [sys.executable, "-m", "training.train_demo", "--out", str(out), *short, *options],
        capture_output=True,
        text=True,
        cwd=Path(__file__).parent.parent,
    )


def test_training_is_reproducible_resumable_and_its_output_runs(cli: Cli, tmp_path: Path) -> None:
    runs = [tmp_path / "straight", tmp_path / "in-sittings"]
    straight = _train(runs[0])
    assert straight.returncode == 0, straight.stderr
    assert "bf16 autocast is emulated" not in straight.stderr
    # The default precision, for one step: warned before it exactly where bf16 is emulated.
    default = _train(tmp_path / "bf16", "--precision", "bf16", "--stop-after", "1")
    assert default.returncode == 3, default.stderr
    warned = bf16_warning("bf16", native_bf16()) is not None
    assert ("bf16 autocast is emulated" in default.stderr) == warned
    # Stopped in stage I, then in stage II, then finished: the same bytes as one go.
    sittings = [_train(runs[1], "--stop-after", "2") for _ in range(2)] + [_train(runs[1])]
    assert [done.returncode for done in sittings] == [3, 3, 0], sittings[-1].stderr
    assert "stage I: stopped after step 2; the same command goes on" in sittings[0].stderr
    assert "stage II: stopped after step 1; the same command goes on" in sittings[1].stderr
    assert _weights_digest(runs[0]) == _weights_digest(runs[1])
    assert len(_weights_digest(runs[0])) == 4
    assert not (runs[1] / ".checkpoints").exists()
    record = json.loads((runs[1] / "training.json").read_text())
    assert len(record["commands"]) == 1 and "--stop-after" not in record["commands"][0]
    assert (runs[1] / "vocabulary.json").read_text() == (
        DEMO_FOLDER / "vocabulary.json"
    ).read_text()
    done = cli(
        *("generate", QUICK_START, "--stage-1-model", str(runs[0] / "IF-I-demo")),
        *("--stage-2-model", str(runs[0] / "IF-II-demo"), "--stages", "2"),
        *("--steps", "2", "--stage-2-steps", "2", "--no-watermark", "-o", str(tmp_path / "o")),
    )
    assert done.returncode == 0, done.stderr
    assert Image.open(_only_png(done.stdout)).size == (128, 128)
