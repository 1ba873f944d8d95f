"""Every kind of bad input, through the installed console script, for every command.

Each case must end the same way: one ``if-cli: error:`` line on stderr that names the
problem, the documented exit code, no traceback, nothing on stdout, no model loaded and
no file written.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.hostile import (
    REMOVE,
    damaged_model,
    edited_json,
    fifo,
    link_to_zero,
    model_with_json,
    nested,
    sidecar_with,
)
from tests.pictures import png_header_only, write_mask, write_picture, write_truncated

Cli = Callable[..., subprocess.CompletedProcess[str]]


class Materials(dict[str, str]):
    """Bad (and good) files, made on first use: ``<name>`` in a case's arguments."""

    def __init__(self, folder: Path, repos: dict[str, Path]) -> None:
        super().__init__()
        self.folder = folder
        self.repos = repos

    def fill(self, text: str) -> str:
        return re.sub(r"<([\w.-]+)>", lambda match: self[match.group(1)], text)

    def __missing__(self, name: str) -> str:
        path = self.folder / name
        if name in LINES:
            path.write_text("".join(json.dumps(line) + "\n" for line in LINES[name]))
        elif name in SIDECARS:
            path.write_text(json.dumps(sidecar_with(SIDECARS[name])))
        elif name in CONFIGS:
            path.write_text(CONFIGS[name])
        elif name in DAMAGED_MODELS:
            damaged_model(self.repos["stage_1"], path, DAMAGED_MODELS[name])
        elif name in JSON_MODELS:
            file, text = JSON_MODELS[name]
            model_with_json(self.repos["stage_1"], path, file, text(self.repos["stage_1"]))
        else:
            getattr(self, "_" + name.replace(".", "_").replace("-", "_"))(path)
        self[name] = str(path)
        return self[name]

    # Pictures
    def _good_png(self, path: Path) -> Path:
        return write_picture(path, (64, 64))

    def _big_png(self, path: Path) -> Path:
        return write_picture(path, (256, 256))

    def _mask_png(self, path: Path) -> Path:
        return write_mask(path, (64, 64))

    def _wide_png(self, path: Path) -> Path:
        return write_mask(path, (128, 64))

    def _black_png(self, path: Path) -> Path:
        return write_mask(path, (64, 64), box=0.0)

    def _white_png(self, path: Path) -> Path:
        return write_mask(path, (64, 64), box=1.0)

    def _empty_png(self, path: Path) -> None:
        path.write_bytes(b"")

    def _text_png(self, path: Path) -> None:
        path.write_text("hello")

    def _binary_jpg(self, path: Path) -> None:
        path.write_bytes(bytes(range(256)) * 4)

    def _folder_png(self, path: Path) -> None:
        path.mkdir()

    def _cut_png(self, path: Path) -> Path:
        return write_truncated(path, Path(self["good.png"]))

    def _bomb_png(self, path: Path) -> Path:
        return png_header_only(path, 50_000, 50_000)

    def _zero_png(self, path: Path) -> Path:
        return png_header_only(path, 0, 0)

    # Prompt files
    def _bad_json_jsonl(self, path: Path) -> None:
        path.write_text('{"prompt": "ok"}\n{"prompt": "broken",\n')

    def _latin1_txt(self, path: Path) -> None:
        path.write_bytes("une chaîne\n".encode("latin-1"))

    def _utf16_txt(self, path: Path) -> None:
        path.write_bytes("a red fox\n".encode("utf-16"))

    def _nul_txt(self, path: Path) -> None:
        path.write_bytes(b"a red\x00 fox\n")

    def _nul_jsonl(self, path: Path) -> None:
        path.write_text('{"prompt": "a red \\u0000 fox"}\n')

    def _control_jsonl(self, path: Path) -> None:
        path.write_text('{"prompt": "a fox", "negative_prompt": "blur\\u001b[31m"}\n')

    def _comments_txt(self, path: Path) -> None:
        path.write_text("# nothing but a comment\n\n")

    def _seed_type_jsonl(self, path: Path) -> None:
        path.write_text('{"prompt": "a fox", "seed": "seven"}\n')

    def _array_jsonl(self, path: Path) -> None:
        path.write_text('["a fox"]\n')

    def _huge_txt(self, path: Path) -> None:
        path.write_text("a fox " * 5000 + "\n")

    def _json_in_text_txt(self, path: Path) -> None:
        path.write_text('a red fox\n# a cat, as JSON\n{"prompt": "a cat", "seed": 3}\n')

    def _text_in_json_txt(self, path: Path) -> None:
        path.write_text('{"prompt": "a red fox"}\n\na cat on a mat\n')

    # Configs and sidecars
    def _broken_toml(self, path: Path) -> None:
        path.write_text("steps = = 3\n")

    def _typed_toml(self, path: Path) -> None:
        path.write_text('[generate]\nbatch_size = "two"\n')

    def _not_json_json(self, path: Path) -> None:
        path.write_text("{ not json")

    def _foreign_json(self, path: Path) -> None:
        path.write_text(json.dumps({"hello": "world"}))

    def _a_file(self, path: Path) -> None:
        path.write_text("not a folder")

    # Model folders that are not models
    def _empty_model(self, path: Path) -> None:
        path.mkdir()

    def _empty_hf_home(self, path: Path) -> None:
        path.mkdir()

    def _broken_index(self, path: Path) -> None:
        path.mkdir()
        (path / "model_index.json").write_text("{ nope")

    def _pickle_model(self, path: Path) -> None:
        shutil.copytree(self.repos["stage_1"], path)
        for weights in (path / "unet").glob("*.safetensors"):
            weights.unlink()
        (path / "unet" / "diffusion_pytorch_model.bin").write_bytes(b"pickle")

    # Files that are not files, and files too big or too deep to read.
    def _fifo_json(self, path: Path) -> None:
        fifo(path)

    def _zero_json(self, path: Path) -> None:
        link_to_zero(path)

    def _deep_json(self, path: Path) -> None:
        path.write_text(nested(100_000))

    def _dangling_toml(self, path: Path) -> None:
        path.symlink_to(self.folder / "no-such.toml")

    def _deep_jsonl(self, path: Path) -> None:
        path.write_text('{"prompt": ' + nested(100_000) + "}\n")

    def _big_json(self, path: Path) -> None:
        path.write_text(json.dumps({"padding": " " * (2 * 1024**2)}))

    # Model folders with a damaged JSON file.
    def _bad_config_model(self, path: Path) -> None:
        shutil.copytree(self.repos["stage_1"], path)
        (path / "unet" / "config.json").write_text("{ not json")

    def _bad_shards_model(self, path: Path) -> None:
        shutil.copytree(self.repos["stage_1"], path)
        (path / "text_encoder" / "model.safetensors.index.json").write_text(
            json.dumps({"weight_map": {"shared.weight": "../../../etc/passwd"}})
        )

    def _short_watermarker_model(self, path: Path) -> None:
        shutil.copytree(self.repos["stage_1"], path)
        weights = path / "watermarker" / "diffusion_pytorch_model.safetensors"
        weights.write_bytes(weights.read_bytes()[:500])

    def _fifo_index_model(self, path: Path) -> None:
        shutil.copytree(self.repos["stage_1"], path)
        (path / "model_index.json").unlink()
        fifo(path / "model_index.json")

    def _code_model(self, path: Path) -> None:
        shutil.copytree(self.repos["stage_1"], path)
        index = json.loads((path / "model_index.json").read_text())
        index["unet"] = ["my_unet", "MyUNet"]
        (path / "model_index.json").write_text(json.dumps(index))
        marker = self.folder / "code-ran"
        (path / "unet" / "my_unet.py").write_text(f"open({str(marker)!r}, 'w').close()\n")


@dataclass(frozen=True)
class Case:
    args: tuple[str, ...]
    code: int
    words: str  # what the one error line must say
    env: dict[str, str] = field(default_factory=dict)


def case(*args: str, code: int = 2, says: str, env: dict[str, str] | None = None) -> Case:
    return Case(args, code, says, env or {})


# JSON Lines prompt files, by name: each line's object.
LINES: dict[str, list[dict[str, object]]] = {
    "negative-int.jsonl": [{"prompt": "a fox", "negative_prompt": 5}],
    "prompt-int.jsonl": [{"prompt": 5}],
    "watermark-no.jsonl": [{"prompt": "a fox", "watermark": "no"}],
    "seed-float.jsonl": [{"prompt": "a fox", "seed": 1.5}],
    "model-int.jsonl": [{"prompt": "a fox", "stage_1_model": 5}],
    "guidance-text.jsonl": [{"prompt": "a fox", "guidance_scale": "7"}],
    "count-bool.jsonl": [{"prompt": "a fox", "num_images": True}],
    "steps-list.jsonl": [{"prompt": "a fox", "steps": [50]}],
    "name-object.jsonl": [{"prompt": "a fox", "name": {"a": 1}}],
    "no-prompt.jsonl": [{"seed": 3}],
    "billion.jsonl": [{"prompt": "a fox", "num_images": 10**9}],
    "too-many.jsonl": [{"prompt": f"fox {n}", "num_images": 10_000} for n in range(11)],
}
# Sidecars given to replay: a valid one with one field changed.
SIDECARS: dict[str, dict[str, object]] = {
    "valid.json": {},
    "init-text.json": {"request.init": "photo.png"},
    "init-no-fit.json": {
        "request.init": {"source": "a.png", "mask": None, "sha256": "0" * 64},
        "request.flow": "img2img",
    },
    "prompt-int.json": {"image.prompt": 5},
    "seed-text.json": {"image.seed": "abc"},
    "watermark-no.json": {"request.watermark": "no"},
    "steps-float.json": {"request.stage_1.steps": 2.5},
    "no-runtime.json": {"runtime": REMOVE},
    "models-list.json": {"models.stage_1": ["DeepFloyd/IF-I-XL-v1.0"]},
    "other-tool.json": {"tool.name": "comfyui"},
}
CONFIGS: dict[str, str] = {
    "watermark-no.toml": 'watermark = "no"\n',
    "steps-bool.toml": "[generate]\nsteps = true\n",
    "guidance-text.toml": 'guidance_scale = "7"\n',
    "out-number.toml": "out = 5\n",
    "device-list.toml": 'device = ["cpu"]\n',
    "date.toml": "seed = 1979-05-27T07:32:00Z\n",
    "deep.toml": "x = " + nested(100_000) + "\n",
    "name-number.toml": "name = 5\n",
    "negative-number.toml": "negative_prompt = 5\n",
}
DAMAGED_MODELS: dict[str, str] = {
    "truncated-model": "truncated",
    "header-not-json-model": "header-not-json",
    "absurd-shape-model": "absurd-shape",
    "long-header-model": "long-header",
    "tiny-weights-model": "tiny",
    "gap-model": "gap",
    "unknown-dtype-model": "dtype",
    "metadata-model": "metadata",
}
# Model folders with one JSON file replaced: (file, a function of the tiny stage I repo).
JSON_MODELS: dict[str, tuple[str, Callable[[Path], str]]] = {
    "config-list-model": ("unet/config.json", lambda repo: "[1, 2]"),
    "sample-nan-model": (
        "unet/config.json",
        lambda repo: edited_json(repo / "unet" / "config.json", sample_size=float("nan")),
    ),
    "timesteps-negative-model": (
        "scheduler/scheduler_config.json",
        lambda repo: edited_json(
            repo / "scheduler" / "scheduler_config.json", num_train_timesteps=-5
        ),
    ),
}


def named(template: str, says: str) -> Case:
    return case("generate", "x", "--name", template, says=says)


def lines(name: str, says: str) -> Case:
    return case("generate", "--prompts", f"<{name}>", says=f"{name}:{says}")


def replayed(name: str, says: str) -> Case:
    return case("replay", f"<{name}>", says=says)


def configured(name: str, says: str) -> Case:
    return case("generate", "x", says=says, env={"IF_CLI_CONFIG": f"<{name}>"})


def damaged(name: str, says: str, *extra: str) -> Case:
    return case("generate", "x", "--stage-1-model", f"<{name}>", *extra, code=3, says=says)


GOOD = "<good.png>"
CASES: dict[str, Case] = {
    # Numbers out of range or of the wrong type, for each stage.
    "steps 0": case("generate", "x", "--steps", "0", says="--steps must be from 1 to 1000"),
    "steps negative": case("generate", "x", "--steps", "-1", says="steps must be from 1"),
    "steps too many": case("generate", "x", "--steps", "1001", says="got 1001"),
    "steps word": case(
        "generate", "x", "--steps", "abc", says="--steps is not a step count or a schedule: 'abc'"
    ),
    "unknown schedule": case("generate", "x", "--steps", "smart13", says="'smart13'"),
    "stage 2 steps 0": case(
        "generate", "x", "--stage-2-steps", "0", says="--stage-2-steps must be"
    ),
    "stage 3 steps": case("upscale", GOOD, "--stage-3-steps", "-5", says="--stage-3-steps must be"),
    "guidance negative": case(
        "generate", "x", "--guidance-scale", "-1", says="--guidance-scale must be"
    ),
    "guidance nan": case("generate", "x", "--guidance-scale", "nan", says="got nan"),
    "guidance inf": case("generate", "x", "--guidance-scale", "inf", says="got inf"),
    "guidance word": case(
        "generate", "x", "--guidance-scale", "lots", says="--guidance-scale must be a number"
    ),
    "stage 3 guidance": case(
        "generate", "x", "--stage-3-guidance-scale", "-2", says="--stage-3-guidance-scale must be"
    ),
    "seed negative": case("generate", "x", "--seed", "-1", says="--seed must be from 0"),
    "seed too big": case("generate", "x", "--seed", str(2**64), says="--seed must be from 0"),
    "seed word": case("generate", "x", "--seed", "abc", says="--seed must be a whole number"),
    "num images 0": case(
        "generate", "x", "--num-images", "0", says="--num-images must be from 1 to 10000"
    ),
    "num images fraction": case(
        "generate", "x", "--num-images", "1.5", says="--num-images must be a whole number"
    ),
    "batch size 0": case(
        "generate", "x", "--batch-size", "0", says="--batch-size must be from 1 to 10000"
    ),
    "chunk size 0": case(
        "generate", "x", "--chunk-size", "0", says="--chunk-size must be at least"
    ),
    "cache size negative": case(
        "generate", "x", "--embedding-cache-gib", "-1", says="--embedding-cache-gib must be from 0"
    ),
    "noise level high": case(
        "generate", "x", "--stage-2-noise-level", "1000", says="--stage-2-noise-level must"
    ),
    "noise level negative": case(
        "generate", "x", "--stage-3-noise-level", "-1", says="--stage-3-noise-level must"
    ),
    "stages 0": case("generate", "x", "--stages", "0", says="--stages must be from 1 to 3"),
    "stages 4": case("generate", "x", "--stages", "4", says="--stages must be from 1 to 3"),
    "strength 0": case("img2img", GOOD, "x", "--strength", "0", says="more than 0"),
    "strength above 1": case("img2img", GOOD, "x", "--strength", "1.5", says="at most 1"),
    "strength negative": case("style", GOOD, "x", "--strength", "-0.2", says="more than 0"),
    "stage 2 strength": case("img2img", GOOD, "x", "--stage-2-strength", "7", says="at most 1"),
    "strength leaves no step": case(
        "img2img", GOOD, "x", "--strength", "0.01", "--steps", "10", says="leaves no step"
    ),
    # Unknown choices and options.
    "unknown offload": case("generate", "x", "--offload", "bogus", says="'bogus' is not one of"),
    "memory cap without a unit": case(
        "generate", "x", "--max-gpu-memory", "24", says="'24' is not a size"
    ),
    "memory cap of nothing": case(
        "img2img", GOOD, "x", "--max-gpu-memory", "0GiB", says="is no memory at all"
    ),
    "unknown dtype": case("generate", "x", "--dtype", "int8", says="'int8' is not one of"),
    "unknown device": case("generate", "x", "--device", "tpu", says="'tpu' is not one of"),
    "unknown variant": case("generate", "x", "--variant", "q4", says="'q4' is not one of"),
    "unknown cascade preset": case("generate", "x", "--model", "sd", says="'sd' is not one of"),
    "download of a shipped model": case(
        "download", "demo-I", "--yes", code=2, says="ships inside if-cli"
    ),
    "unknown fit": case("img2img", GOOD, "x", "--fit", "zoom", says="'zoom' is not one of"),
    "unknown upscale size": case("upscale", GOOD, "--to", "512", says="'512' is not one of"),
    "unknown upscale source": case("upscale", GOOD, "--from", "128", says="'128' is not one of"),
    "unknown option": case("generate", "x", "--colour", "red", says="No such option: --colour"),
    "unknown command": case("paint", "x", says="No such command 'paint'"),
    "missing argument": case("inpaint", GOOD, says="Missing argument"),
    "unknown model alias": case("download", "I-XXL", says="unknown model 'I-XXL'"),
    "unknown model to remove": case("models", "rm", "nothing", says="unknown model 'nothing'"),
    # Prompts.
    "empty prompt": case("generate", "", says="the prompt is empty"),
    "blank prompt": case("generate", "  \t ", says="the prompt is empty"),
    "empty inpaint prompt": case("inpaint", GOOD, "<mask.png>", " ", says="the prompt is empty"),
    "empty style": case("style", GOOD, "", says="the prompt is empty"),
    "huge prompt": case("generate", "a fox " * 5000, says="the prompt is 30000 characters"),
    "control characters": case("generate", "a \x1b[31mred fox", says="a control character"),
    "negative prompt control": case(
        "generate", "x", "--negative-prompt", "blur\x07", says="the negative prompt contains"
    ),
    "prompt and prompt file": case(
        "generate", "x", "--prompts", "<comments.txt>", says="either a PROMPT or --prompts"
    ),
    "no prompt at all": case("generate", "--seed", "1", says="either a PROMPT or --prompts"),
    # Prompt files.
    "prompt file missing": case("generate", "--prompts", "<folder>/none.txt", says="cannot read"),
    "prompt file is a folder": case("generate", "--prompts", "<folder>", says="cannot read"),
    "prompt file latin-1": case("generate", "--prompts", "<latin1.txt>", says="not UTF-8 text"),
    "prompt file utf-16": case("generate", "--prompts", "<utf16.txt>", says="not UTF-8 text"),
    "prompt file NUL": case("generate", "--prompts", "<nul.txt>", says="a NUL character"),
    "json line NUL": case("generate", "--prompts", "<nul.jsonl>", says="nul.jsonl:1:"),
    "json line control": case("generate", "--prompts", "<control.jsonl>", says="control.jsonl:1:"),
    "json line broken": case("generate", "--prompts", "<bad-json.jsonl>", says="not valid JSON"),
    "json line wrong type": case(
        "generate", "--prompts", "<seed-type.jsonl>", says="seed-type.jsonl:1:"
    ),
    "json line not object": case("generate", "--prompts", "<array.jsonl>", says="a JSON object"),
    "prompt file only comments": case(
        "generate", "--prompts", "<comments.txt>", says="no prompts in the file"
    ),
    "prompt file huge line": case("generate", "--prompts", "<huge.txt>", says="huge.txt:1:"),
    # Pictures.
    "image missing": case("img2img", "<folder>/none.png", "x", says="no such file"),
    "image is a folder": case("img2img", "<folder.png>", "x", says="is a folder"),
    "image empty": case("upscale", "<empty.png>", says="is empty"),
    "image is text": case("style", "<text.png>", "x", says="not an image file"),
    "image is random bytes": case("img2img", "<binary.jpg>", "x", says="not an image file"),
    "image truncated": case("img2img", "<cut.png>", "x", says="truncated or corrupt"),
    "image zero size": case("img2img", "<zero.png>", "x", says="header is broken"),
    "image bomb": case("upscale", "<bomb.png>", says="too large"),
    "mask of another shape": case("inpaint", GOOD, "<wide.png>", "x", says="shapes differ"),
    "mask all black": case("inpaint", GOOD, "<black.png>", "x", says="all black"),
    "mask all white": case("inpaint", GOOD, "<white.png>", "x", says="all white"),
    "two stdins": case("inpaint", "-", "-", "x", says="only one"),
    "upscale to 256 from 256": case(
        "upscale", "<big.png>", "--to", "256", "--from", "256", says="stops after stage II"
    ),
    "style at stage 1": case("style", GOOD, "x", "--stages", "1", says="must be 2 or more"),
    # Output paths and names.
    "out is a file": case("generate", "x", "-o", "<a-file>", code=6, says="is not a directory"),
    "out under a file": case(
        "generate", "x", "-o", "<a-file>/sub", code=6, says="cannot write to output directory"
    ),
    "out on no drive": case(
        "generate", "x", "-o", "/proc/if-cli-test/out", code=6, says="cannot write"
    ),
    "name field unknown": named("{nope}", "unknown field {nope}"),
    "name is a path": named("../{seed}", "not a path"),
    "name empty": named("", "the name template is empty"),
    # Models that are missing or are not models.
    "model not cached": case(
        "generate", "x", "--stage-1-model", "I-M", code=3, says="is not in the Hugging Face cache"
    ),
    "demo to stage III, x4 not cached": case(
        *("generate", "a red circle", "--model", "demo", "--stages", "3"),
        code=3,
        says="the demo's own stages end at stage II (128 px): stop there (--stages 2; "
        "upscale --to 256), or run `if-cli download x4`",
        env={"HF_HOME": "<empty-hf-home>"},
    ),
    "model folder missing": case(
        "generate", "x", "--stage-2-model", "/no/such/folder", code=3, says="no model folder"
    ),
    "model is a file": case(
        "generate", "x", "--stage-1-model", "<a-file>", code=3, says="no model folder"
    ),
    "model folder empty": case(
        "generate", "x", "--stage-1-model", "<empty-model>", code=3, says="no model_index.json"
    ),
    "model index broken": case(
        "generate", "x", "--stage-1-model", "<broken-index>", code=3, says="model_index.json is not"
    ),
    "model of the wrong stage": case(
        "generate", "x", "--stage-1-model", "II-L", code=3, says="not a stage 1 model"
    ),
    "model of pickles only": case(
        "generate", "x", "--stage-1-model", "<pickle-model>", code=3, says="only pickle weights"
    ),
    "model with its own code": case(
        "generate", "x", "--stage-1-model", "<code-model>", code=3, says="wants code of its own"
    ),
    # Configs and the environment.
    "config broken": case(
        "generate", "x", says="not valid TOML", env={"IF_CLI_CONFIG": "<broken.toml>"}
    ),
    "config wrong type": case(
        "generate",
        "x",
        says='--batch-size must be a whole number, got "two"',
        env={"IF_CLI_CONFIG": "<typed.toml>"},
    ),
    "config show broken": case(
        "config", "show", says="not valid TOML", env={"IF_CLI_CONFIG": "<broken.toml>"}
    ),
    "environment wrong type": case(
        "generate", "x", says="IF_CLI_NUM_IMAGES", env={"IF_CLI_NUM_IMAGES": "many"}
    ),
    # Conflicts and impossible placements.
    "offload on cpu": case(
        "generate", "x", "--offload", "model", "--device", "cpu", code=4, says="--offload model"
    ),
    # Other commands.
    "replay missing": case("replay", "<folder>/none.json", says="none.json"),
    "replay not json": case("replay", "<not-json.json>", says="not-json.json"),
    "replay foreign json": case("replay", "<foreign.json>", says="foreign.json"),
    "replay bad stage": case(
        "replay", "<foreign.json>", "--stages", "five", says="--stages must be a whole number"
    ),
    "doctor unknown device": case("doctor", "--device", "tpu", says="'tpu' is not one of"),
    "download offline": case("download", "I-XL", "--yes", code=8, says="HF_HUB_OFFLINE is set"),
    # Name templates that once failed only after the image was made.
    "name format on text": named("{slug:>10}", "take a format"),
    "name positional field": named("{}", "unknown field {}"),
    "name numbered field": named("{0}", "unknown field {0}"),
    "name conversion": named("{seed!r}", "conversions are not"),
    "name hex seed": named("{seed:x}", "take a format"),
    "name attribute": named("{seed.real}", "{seed.real}"),
    "name item": named("{seed[0]}", "{seed[0]}"),
    "name nested spec": named("{seed:{slug}}", "take a format"),
    "name width too wide": named("{seed:0200d}", "up to 99"),
    "name lone brace": case("img2img", GOOD, "x", "--name", "a}b", says="bad name template"),
    "name on replay": case("replay", "<valid.json>", "--name", "{}", says="unknown field {}"),
    # Prompt-file values of the wrong type.
    "line negative prompt number": lines("negative-int.jsonl", '1: "negative_prompt" must be a'),
    "line prompt number": lines("prompt-int.jsonl", '1: "prompt" must be a string, got 5'),
    "line watermark text": lines("watermark-no.jsonl", '1: "watermark" must be true or false'),
    "line seed fraction": lines("seed-float.jsonl", '1: "seed" must be a whole number'),
    "line model number": lines("model-int.jsonl", '1: "stage_1_model" must be a string'),
    "line guidance text": lines("guidance-text.jsonl", '1: "guidance_scale" must be a number'),
    "line count boolean": lines("count-bool.jsonl", '1: "num_images" must be a whole number'),
    "line steps list": lines("steps-list.jsonl", '1: "steps" must be a step count'),
    "line name object": lines("name-object.jsonl", '1: "name" must be a string, got an object'),
    "line without prompt": lines("no-prompt.jsonl", '1: "prompt" is missing'),
    "line nested deep": lines("deep.jsonl", "1: nested more than 64 levels deep"),
    "JSON line in a text file": lines(
        "json-in-text.txt", "3: a JSON Lines object in a plain-text prompt file (line 1 is"
    ),
    "text line in a JSON file": lines("text-in-json.txt", "3: plain text in a JSON Lines"),
    "line of a billion images": lines("billion.jsonl", '1: "num_images" must be from 1 to 10000'),
    "run of too many images": case(
        "generate", "--prompts", "<too-many.jsonl>", says="one run makes at most 100,000"
    ),
    "million images": case(
        "generate", "x", "--num-images", "1000000", says="--num-images must be from 1 to 10000"
    ),
    "prompt file is a device": case("generate", "--prompts", "/dev/zero", says="is a device"),
    "prompt file endless": case("generate", "--prompts", "<zero.json>", says="is a device"),
    # Sidecars handed to replay: wrong types, and files that are not sidecars at all.
    "sidecar init text": replayed("init-text.json", "request.init must be an object"),
    "sidecar init without fit": replayed("init-no-fit.json", "request.init.fit is missing"),
    "sidecar prompt number": replayed("prompt-int.json", "image.prompt must be a string"),
    "sidecar seed text": replayed("seed-text.json", 'image.seed must be a whole number, got "abc"'),
    "sidecar watermark text": replayed("watermark-no.json", "request.watermark must be true"),
    "sidecar steps fraction": replayed("steps-float.json", "request.stage_1.steps must be a"),
    "sidecar without runtime": replayed("no-runtime.json", "runtime is missing"),
    "sidecar model list": replayed("models-list.json", "models.stage_1 must be an object"),
    "sidecar of another tool": replayed("other-tool.json", "written by 'comfyui'"),
    "sidecar FIFO": replayed("fifo.json", "is a FIFO (named pipe), not a regular file"),
    "sidecar endless": replayed("zero.json", "is a device, not a regular file"),
    "sidecar nested deep": replayed("deep.json", "nested more than 64 levels deep"),
    "sidecar huge": replayed("big.json", "is larger than 1,048,576 bytes"),
    # Config files that are not files, and typed values of the wrong type.
    "config is a folder": configured("folder", "is a folder"),
    "config is a FIFO": configured("fifo.json", "is a FIFO (named pipe), not a regular file"),
    "config is a broken link": configured("dangling.toml", "is a broken link"),
    "config watermark text": configured("watermark-no.toml", "--watermark must be true or false"),
    "config steps boolean": configured("steps-bool.toml", "--steps must be a step count"),
    "config guidance text": configured("guidance-text.toml", 'must be a number, got "7"'),
    "config folder number": configured("out-number.toml", "--out must be a string, got 5"),
    "config device list": configured("device-list.toml", "--device must be a string, got a list"),
    # Damaged model files: found from the headers, before any weights load.
    "weights truncated": damaged("truncated-model", "is truncated"),
    "weights truncated, dry run": damaged("truncated-model", "is truncated", "--dry-run"),
    "weights header not JSON": damaged("header-not-json-model", "header that is not valid JSON"),
    "weights absurd shape": damaged("absurd-shape-model", "but its shape and dtype need"),
    "weights header too long": damaged("long-header-model", "-byte header in a"),
    "weights too short": damaged("tiny-weights-model", "too short for a safetensors header"),
    "weights with a gap": damaged("gap-model", "overlap or leave a gap"),
    "model config not JSON": damaged("bad-config-model", "unet/config.json is not valid JSON"),
    "model shard outside": damaged("bad-shards-model", "no valid weight_map of shard file"),
    "model index a FIFO": damaged("fifo-index-model", "model_index.json is a FIFO"),
    "weights unknown dtype": damaged("unknown-dtype-model", "the unknown dtype 'X99'"),
    "weights metadata": damaged("metadata-model", "__metadata__ that is not a map of strings"),
    "watermarker truncated": damaged(
        "short-watermarker-model", "watermarker/diffusion_pytorch_model.safetensors is truncated"
    ),
    "model config a list": damaged("config-list-model", "unet/config.json is not a JSON object"),
    "model sample size NaN": damaged("sample-nan-model", "gives sample_size the value nan"),
    "scheduler without timesteps": damaged(
        "timesteps-negative-model", "gives num_train_timesteps the value -5"
    ),
    # More values out of range, config values of other kinds, pictures that are devices.
    "guidance overflowing": case(
        "generate", "x", "--guidance-scale", "1e308", says="from 0 to 1000, got 1e+308"
    ),
    "image is a device": case("upscale", "/dev/zero", says="image /dev/zero is a device"),
    "config date": configured(
        "date.toml", "--seed must be a whole number (or a list or range as text), got the date"
    ),
    "config nested deep": configured("deep.toml", "not valid TOML: nested too deeply"),
    "config name number": configured("name-number.toml", "--name must be a string, got 5"),
    "config negative prompt number": configured(
        "negative-number.toml", "--negative-prompt must be a string, got 5"
    ),
}


@pytest.fixture
def materials(tmp_path: Path, tiny_repos: dict[str, Path]) -> Materials:
    folder = tmp_path / "materials"
    folder.mkdir()
    found = Materials(folder, tiny_repos)
    found["folder"] = str(folder)
    return found


@pytest.mark.parametrize("name", list(CASES))
def test_a_bad_input_is_one_line_a_documented_code_and_nothing_written(
    cli: Cli, tmp_path: Path, materials: Materials, name: str
) -> None:
    from if_cli.errors import EXIT_CODES

    bad = CASES[name]
    args = [materials.fill(arg) for arg in bad.args]
    env = {key: materials.fill(value) for key, value in bad.env.items()}
    out = tmp_path / "out"
    if "-o" not in args:
        args += ["-o", str(out)] if args[0] in {"generate", "img2img", "inpaint", "style",
                                                "upscale", "replay"} else []  # fmt: skip
    before = sorted(Path(materials.folder).rglob("*"))
    done = cli(*args, env=env)
    assert done.returncode == bad.code and bad.code in EXIT_CODES, (done.returncode, done.stderr)
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("if-cli: error: ") and bad.words in lines[0], lines[0]
    assert done.stdout == ""
    assert not out.exists()  # not even an empty folder
    assert sorted(Path(materials.folder).rglob("*")) == before
    assert not (Path(materials.folder) / "code-ran").exists()


def test_the_matrix_covers_every_command_and_a_hundred_and_fifty_cases() -> None:
    commands = {case.args[0] for case in CASES.values()}
    assert len(CASES) >= 150
    assert commands >= {
        "generate", "img2img", "inpaint", "style", "upscale", "download", "replay", "models",
        "config", "doctor",
    }  # fmt: skip
