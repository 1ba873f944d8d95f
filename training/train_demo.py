"""Train the demo cascade on procedural scenes; write it in IF's diffusers layout.

    python -m training.train_demo --out if_cli/demo

Stage I (32 px) and the T5 encoder are trained together from random weights; stage II
(32 → 128 px) is then trained with that encoder frozen, exactly as the cascade will call
it. Both use IF's recipe in small (a 1000-step cosine schedule, 10 % empty captions for
classifier-free guidance, and for stage II a noise-augmented, upsampled low-resolution
picture with its noise level as the class label), predicting v rather than IF's epsilon.
The saved weights are the exponential moving average, in fp16.

A checkpoint is saved every ``--checkpoint-every`` steps; the same command run again
after a stop (Ctrl-C, a lost machine, ``--stop-after``) goes on from the last one. The
same seed, step counts, thread count, precision and torch version give the same weights,
in one sitting or several, on the same kind of CPU.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import platform
import random
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from training import architecture as arch
from training import checkpoints
from training.cpu_bf16 import bf16_warning, native_bf16
from training.scenes import Scene, random_scene, render, training_scene, vocabulary

STAGE_1_FOLDER = "IF-I-demo"
STAGE_2_FOLDER = "IF-II-demo"
STAGE_1_LABEL = "stage I"
CFG_DROPOUT = 0.1  # IF trained with 10 % empty captions
AUG_MAX = 500  # stage II's noise augmentation levels are drawn from [0, AUG_MAX)
CROP = 64  # stage II trains on 64 px crops of the 128 px scene
MIN_SNR_GAMMA = 5.0


PRECISIONS = ("bf16", "fp32")  # bf16: autocast on the CPU; fp32: none (cpu_bf16.py)


@dataclass(frozen=True)
class Settings:
    seed: int = 0
    stage_1_steps: int = 3600
    stage_2_steps: int = 1500
    stage_1_batch: int = 32
    stage_2_batch: int = 16
    learning_rate: float = 6e-4
    warmup: int = 100
    ema_decay: float = 0.998
    threads: int = 2
    precision: str = "bf16"  # one of PRECISIONS; bf16 autocast: 1.5x fp32 with AVX-512 BF16


def _to_tensor(pictures: list[Image.Image]) -> torch.Tensor:
    array = np.stack([np.asarray(p, dtype=np.float32) for p in pictures])
    return torch.from_numpy(array).permute(0, 3, 1, 2) / 127.5 - 1.0


def _captions(rng: random.Random, scenes: list[Scene]) -> list[str]:
    return ["" if rng.random() < CFG_DROPOUT else s.caption for s in scenes]


def encode(tokenizer: Any, encoder: Any, captions: list[str]) -> torch.Tensor:
    """T5 embeddings exactly as ``IFPipeline.encode_prompt(..., clean_caption=False)``."""
    inputs = tokenizer(
        [c.lower().strip() for c in captions],
        padding="max_length",
        max_length=arch.MAX_TOKENS,
        truncation=True,
        add_special_tokens=True,
        return_tensors="pt",
    )
    return encoder(inputs.input_ids, attention_mask=inputs.attention_mask)[0]


def _scheduler(config: dict[str, Any]) -> Any:
    from diffusers import DDPMScheduler

    return DDPMScheduler.from_config({k: v for k, v in config.items() if k != "_class_name"})


def _noised(x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor, cumprod: torch.Tensor):
    """``x0`` forward-noised to step ``t``, as ``DDPMScheduler.add_noise`` does."""
    return x0 * cumprod[t].sqrt().view(-1, 1, 1, 1) + noise * (1 - cumprod[t]).sqrt().view(
        -1, 1, 1, 1
    )


def _loss(
    out: torch.Tensor,
    x0: torch.Tensor,
    noise: torch.Tensor,
    t: torch.Tensor,
    cumprod: torch.Tensor,
    prediction: str,
) -> torch.Tensor:
    """Min-SNR-weighted loss for the scheduler's ``prediction`` (``epsilon`` or
    ``v_prediction``); the unused variance channels are held near zero."""
    predicted, variance = out[:, :3], out[:, 3:]
    snr = cumprod[t] / (1 - cumprod[t])
    if prediction == "epsilon":
        target, weight = noise, torch.clamp(snr, max=MIN_SNR_GAMMA) / snr
    else:
        root = cumprod[t].sqrt().view(-1, 1, 1, 1)
        target = root * noise - (1 - cumprod[t]).sqrt().view(-1, 1, 1, 1) * x0
        weight = torch.clamp(snr, max=MIN_SNR_GAMMA) / (snr + 1)
    per_image = ((predicted.float() - target) ** 2).mean(dim=(1, 2, 3))
    return (weight * per_image).mean() + 0.01 * variance.float().pow(2).mean()


class Stopped(Exception):
    """The sitting's step budget (``--stop-after``) ran out; a checkpoint holds the rest."""


@dataclass
class Sitting:
    """How many more steps this process may take (None: all of them)."""

    steps_left: int | None = None

    def take(self) -> bool:
        """Whether one more step may be taken; counts it if so."""
        if self.steps_left is None:
            return True
        if self.steps_left <= 0:
            return False
        self.steps_left -= 1
        return True


class Trainer:
    """AdamW with warm-up and cosine decay, gradient clipping, and an EMA of the weights,
    saving a checkpoint every ``every`` steps (and resuming from one) in ``checkpoints``."""

    def __init__(
        self,
        modules: list[torch.nn.Module],
        settings: Settings,
        steps: int,
        checkpoints: Path | None = None,
        every: int = 200,
        sitting: Sitting | None = None,
    ) -> None:
        self.modules = modules
        self.ema = [copy.deepcopy(m).eval().requires_grad_(False) for m in modules]
        self.params = [p for m in modules for p in m.parameters()]
        self.optimizer = torch.optim.AdamW(
            self.params, lr=settings.learning_rate, betas=(0.9, 0.99), weight_decay=0.01
        )
        self.settings, self.steps = settings, steps
        self.checkpoints, self.every = checkpoints, every
        self.sitting = sitting or Sitting()

    def step(self, index: int, loss: torch.Tensor) -> None:
        s = self.settings
        warm = min(1.0, (index + 1) / s.warmup)
        cosine = 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * index / max(1, self.steps)))
        for group in self.optimizer.param_groups:
            group["lr"] = s.learning_rate * warm * cosine
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.params, 1.0)
        self.optimizer.step()
        decay = min(s.ema_decay, (1 + index) / (10 + index))
        with torch.no_grad():
            for module, average in zip(self.modules, self.ema, strict=True):
                for p, a in zip(module.parameters(), average.parameters(), strict=True):
                    a.lerp_(p, 1 - decay)

    def run(
        self, label: str, loss_at: Callable[[int], torch.Tensor], rng: random.Random
    ) -> dict[str, float]:
        """Take every step on the loss ``loss_at(step)`` gives (``rng`` draws its scenes);
        the time taken and the final loss. Goes on from a checkpoint where there is one."""
        stage = _checkpoint_name(label)
        settings = asdict(self.settings)
        state = (self.modules, self.ema, self.optimizer, rng)
        done = checkpoints.Progress(0, [], 0.0)
        if self.checkpoints is not None:
            done = checkpoints.load(self.checkpoints, stage, settings, *state) or done
            if done.step:
                print(f"{label}: resuming after step {done.step}", file=sys.stderr, flush=True)
        report = _progress(label, self.steps, done.step)
        started, losses = time.perf_counter() - done.seconds, done.losses
        for index in range(done.step, self.steps):
            if not self.sitting.take():
                raise Stopped(f"{label}: stopped after step {index}")
            with torch.autocast("cpu", torch.bfloat16, enabled=self.settings.precision == "bf16"):
                loss = loss_at(index)
            self.step(index, loss)
            losses.append(loss.item())
            report(index, losses[-1])
            finished = index + 1
            last = finished == self.steps or self.sitting.steps_left == 0
            if self.checkpoints is not None and (finished % self.every == 0 or last):
                elapsed = time.perf_counter() - started
                progress = checkpoints.Progress(finished, losses, elapsed)
                checkpoints.save(self.checkpoints, stage, settings, *state, progress)
        return {"seconds": round(time.perf_counter() - started), "final_loss": _tail(losses)}


def _checkpoint_name(label: str) -> str:
    return label.replace(" ", "-")


def _progress(stage: str, steps: int, first: int = 0) -> Callable[[int, float], None]:
    start, window = time.perf_counter(), []

    def report(index: int, loss: float) -> None:
        window.append(loss)
        if (index + 1) % 50 == 0 or index + 1 == steps:
            elapsed = time.perf_counter() - start
            left = elapsed / (index + 1 - first) * (steps - index - 1)
            print(
                f"{stage} step {index + 1}/{steps} loss {sum(window) / len(window):.4f} "
                f"{elapsed:.0f}s elapsed, {left:.0f}s left",
                file=sys.stderr,
                flush=True,
            )
            window.clear()

    return report


def train_stage_1(
    settings: Settings,
    tokenizer: Any,
    vocab_size: int,
    checkpoints: Path | None = None,
    every: int = 200,
    sitting: Sitting | None = None,
) -> tuple[Any, Any, dict]:
    """Stage I UNet and T5 encoder, trained together; returns their EMA copies."""
    from diffusers import UNet2DConditionModel
    from transformers import T5Config, T5EncoderModel

    torch.manual_seed(settings.seed)
    rng = random.Random(settings.seed)
    unet = UNet2DConditionModel(**arch.STAGE_1_UNET)
    encoder = T5EncoderModel(T5Config(vocab_size=vocab_size, **arch.T5_CONFIG))
    trainer = Trainer(
        [unet, encoder], settings, settings.stage_1_steps, checkpoints, every, sitting
    )
    cumprod = _scheduler(arch.STAGE_1_SCHEDULER).alphas_cumprod

    def loss_at(_step: int) -> torch.Tensor:
        scenes = [training_scene(rng) for _ in range(settings.stage_1_batch)]
        small = [render(s).resize((arch.STAGE_1_SIDE,) * 2, Image.Resampling.BOX) for s in scenes]
        x0 = _to_tensor(small)
        embeds = encode(tokenizer, encoder, _captions(rng, scenes))
        t = torch.randint(0, len(cumprod), (len(scenes),))
        noise = torch.randn_like(x0)
        out = unet(_noised(x0, noise, t, cumprod), t, encoder_hidden_states=embeds).sample
        return _loss(out, x0, noise, t, cumprod, arch.STAGE_1_SCHEDULER["prediction_type"])

    facts = trainer.run(STAGE_1_LABEL, loss_at, rng)
    return trainer.ema[0], trainer.ema[1], facts


def _crop_origin(rng: random.Random, scene: Scene) -> tuple[int, int]:
    """A crop that holds a shape's centre half of the time, anywhere otherwise."""
    limit = arch.STAGE_2_SIDE - CROP
    if rng.random() < 0.5:
        shape = rng.choice(scene.shapes)
        x, y = shape.x - CROP / 2 + rng.uniform(-16, 16), shape.y - CROP / 2 + rng.uniform(-16, 16)
        return min(max(int(x), 0), limit), min(max(int(y), 0), limit)
    return rng.randint(0, limit), rng.randint(0, limit)


def _crop(pictures: torch.Tensor, origins: list[tuple[int, int]]) -> torch.Tensor:
    return torch.stack(
        [p[:, y : y + CROP, x : x + CROP] for p, (x, y) in zip(pictures, origins, strict=True)]
    )


def train_stage_2(
    settings: Settings,
    tokenizer: Any,
    encoder: Any,
    checkpoints: Path | None = None,
    every: int = 200,
    sitting: Sitting | None = None,
) -> tuple[Any, dict]:
    """Stage II SR UNet with the stage I encoder frozen; returns its EMA copy."""
    from diffusers import UNet2DConditionModel

    torch.manual_seed(settings.seed + 1)
    rng = random.Random(settings.seed + 1)
    unet = UNet2DConditionModel(**arch.STAGE_2_UNET)
    trainer = Trainer([unet], settings, settings.stage_2_steps, checkpoints, every, sitting)
    cumprod = _scheduler(arch.STAGE_2_SCHEDULER).alphas_cumprod
    noising = _scheduler(arch.IMAGE_NOISING_SCHEDULER)
    side = arch.STAGE_2_SIDE

    def loss_at(_step: int) -> torch.Tensor:
        scenes = [training_scene(rng) for _ in range(settings.stage_2_batch)]
        big = [render(s) for s in scenes]
        small = _to_tensor([b.resize((arch.STAGE_1_SIDE,) * 2, Image.Resampling.BOX) for b in big])
        with torch.no_grad():
            embeds = encode(tokenizer, encoder, _captions(rng, scenes))
        # As IFSuperResolutionPipeline: upsample bilinearly, then noise at the class level.
        upscaled = F.interpolate(small, (side, side), mode="bilinear", align_corners=True)
        levels = torch.randint(0, AUG_MAX, (len(scenes),))
        upscaled = noising.add_noise(upscaled, torch.randn_like(upscaled), levels)
        x0 = _to_tensor(big)
        origins = [_crop_origin(rng, s) for s in scenes]
        x0, low = _crop(x0, origins), _crop(upscaled, origins)
        t = torch.randint(0, len(cumprod), (len(scenes),))
        noise = torch.randn_like(x0)
        noisy = _noised(x0, noise, t, cumprod)
        out = unet(
            torch.cat([noisy, low], dim=1), t, encoder_hidden_states=embeds, class_labels=levels
        ).sample
        return _loss(out, x0, noise, t, cumprod, arch.STAGE_2_SCHEDULER["prediction_type"])

    return trainer.ema[0], trainer.run("stage II", loss_at, rng)


def _tail(losses: list[float]) -> float:
    tail = losses[-100:]
    return round(sum(tail) / len(tail), 5)


def _save_fp16(module: Any, folder: Path) -> None:
    module.to(torch.float16).save_pretrained(folder, safe_serialization=True, variant="fp16")
    module.to(torch.float32)


def write_repo(
    folder: Path,
    index: dict[str, Any],
    unet: Any,
    encoder: Any,
    tokenizer_folder: Path,
    schedulers: dict[str, dict[str, Any]],
) -> None:
    """One model folder in IF's layout: model_index, scheduler(s), tokenizer, T5, UNet."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    arch.write_json(folder / "model_index.json", index)
    for name, config in schedulers.items():
        arch.write_json(folder / name / "scheduler_config.json", config)
    if tokenizer_folder != folder / "tokenizer":
        shutil.copytree(tokenizer_folder, folder / "tokenizer")
    _save_fp16(encoder, folder / "text_encoder")
    _save_fp16(unet, folder / "unet")


def _tokenizer_sentences(seed: int) -> list[str]:
    rng = random.Random(seed)
    return [random_scene(rng).caption for _ in range(5000)]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("if_cli/demo"))
    defaults = Settings()
    for name, value in asdict(defaults).items():
        flag = "--" + name.replace("_", "-")
        choices = PRECISIONS if name == "precision" else None  # a typo must not mean fp32
        parser.add_argument(flag, type=type(value), default=value, choices=choices)
    parser.add_argument(
        "--only-stage-2",
        action="store_true",
        help="train stage II alone, on the tokenizer and encoder of OUT/IF-I-demo",
    )
    parser.add_argument(
        "--checkpoints",
        type=Path,
        help="where checkpoints go (default OUT/.checkpoints; removed once the run is done); "
        "the same command run again goes on from the last one",
    )
    parser.add_argument("--checkpoint-every", type=int, default=200, metavar="STEPS")
    parser.add_argument(
        "--stop-after",
        type=int,
        metavar="STEPS",
        help="take at most this many steps now, then save a checkpoint and stop (exit 3)",
    )
    args = parser.parse_args(argv)
    try:
        _train(args, _command(argv or sys.argv[1:]))
    except Stopped as stopped:
        print(f"{stopped}; the same command goes on from there", file=sys.stderr)
        raise SystemExit(3) from None


def _command(argv: list[str]) -> str:
    """The command to record: the one given, less how much of it this sitting did."""
    kept: list[str] = []
    for word in argv:
        if kept[-1:] == ["--stop-after"]:
            kept.pop()
        elif not word.startswith("--stop-after="):
            kept.append(word)
    return " ".join(["python -m training.train_demo", *kept])


def _train(args: argparse.Namespace, command: str) -> None:
    defaults = Settings()
    settings = Settings(**{k: getattr(args, k) for k in asdict(defaults)})
    sitting = Sitting(args.stop_after)
    torch.set_num_threads(settings.threads)
    if warning := bf16_warning(settings.precision, native_bf16()):
        print(warning, file=sys.stderr, flush=True)
    from transformers import T5Tokenizer

    out: Path = args.out
    saves: Path = args.checkpoints or out / ".checkpoints"
    every = args.checkpoint_every
    scratch = out / ".tokenizer"
    if args.only_stage_2 or _stage_1_finished(out, saves, settings):
        tokenizer, encoder, record = _saved_stage_1(out)
        scratch = out / STAGE_1_FOLDER / "tokenizer"
    else:
        vocab_size = arch.write_t5_tokenizer(scratch, _tokenizer_sentences(settings.seed), 96)
        tokenizer = T5Tokenizer.from_pretrained(scratch)
        unet_1, encoder, facts_1 = train_stage_1(
            settings, tokenizer, vocab_size, saves, every, sitting
        )
        write_repo(
            out / STAGE_1_FOLDER,
            arch.model_index("IFPipeline", arch.STAGE_1_SAMPLER),
            unet_1,
            encoder,
            scratch,
            {"scheduler": arch.STAGE_1_SAMPLER},
        )
        record = {"settings": asdict(settings), "stage_1": facts_1, "commands": []}
        arch.write_json(out / "training.json", record)  # what a resumed stage II reads
        shutil.rmtree(scratch)
        scratch = out / STAGE_1_FOLDER / "tokenizer"
    unet_2, facts_2 = train_stage_2(settings, tokenizer, encoder, saves, every, sitting)
    write_repo(
        out / STAGE_2_FOLDER,
        arch.model_index(
            "IFSuperResolutionPipeline",
            arch.STAGE_2_SCHEDULER,
            {"image_noising_scheduler": ["diffusers", "DDPMScheduler"]},
        ),
        unet_2,
        encoder,
        scratch,
        {
            "scheduler": arch.STAGE_2_SCHEDULER,
            "image_noising_scheduler": arch.IMAGE_NOISING_SCHEDULER,
        },
    )
    commands = record["commands"]
    record.update(
        stage_2=facts_2,
        torch=torch.__version__,
        machine=platform.machine(),
        commands=commands if commands[-1:] == [command] else [*commands, command],
    )
    arch.write_json(out / "training.json", record)
    arch.write_json(out / "vocabulary.json", vocabulary())  # for the unknown-words warning
    shutil.rmtree(saves, ignore_errors=True)
    print(json.dumps(record, indent=2))


def _stage_1_finished(out: Path, saves: Path, settings: Settings) -> bool:
    """Whether an interrupted run with these settings already wrote its stage I."""
    record = checkpoints.record_path(saves, _checkpoint_name(STAGE_1_LABEL))
    written = out / "training.json"
    if not (record.is_file() and written.is_file()):
        return False
    facts, wrote = json.loads(record.read_text()), json.loads(written.read_text())
    same = facts["settings"] == wrote["settings"] == asdict(settings)
    return same and facts["step"] == settings.stage_1_steps and "stage_2" not in wrote


def _saved_stage_1(out: Path) -> tuple[Any, Any, dict[str, Any]]:
    """Tokenizer, frozen encoder and training record of the stage I saved in ``out``.

    They are the very values a full run hands stage II (the encoder went through fp16
    on saving in both cases), so stage II trains to the same bytes either way.
    """
    from transformers import T5EncoderModel, T5Tokenizer

    folder = out / STAGE_1_FOLDER
    tokenizer = T5Tokenizer.from_pretrained(folder / "tokenizer")
    encoder = T5EncoderModel.from_pretrained(
        folder / "text_encoder", variant="fp16", dtype=torch.float32
    ).eval()
    record = json.loads((out / "training.json").read_text())
    record.setdefault("commands", [record.pop("command")] if "command" in record else [])
    return tokenizer, encoder, record


if __name__ == "__main__":
    main()
