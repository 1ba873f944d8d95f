"""One timed run, in a process of its own: the diffusers recipe or the if-cli engine.

Each run gets a fresh process so that its peak GPU memory and peak RSS are its own and
a memory cap or compiled graphs cannot leak into the next. A run makes one request cold
(loading included), then ``repeat`` warm ones, and reports per-stage times measured
between CUDA synchronisations.
"""

from __future__ import annotations

import resource
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

PROMPT = "a photo of a corgi wearing a top hat, with the sign 'IF'"
RECIPE_STAGE_3_NOISE = 100  # the reference recipe's noise_level


@dataclass(frozen=True)
class RunSpec:
    """What one run does. ``runner`` is ``recipe`` or ``if-cli``."""

    name: str
    runner: str
    images: int
    repeat: int
    device: str
    steps: tuple[int, int, int]
    repos: dict[str, str]
    last_stage: int
    watermark: bool = True
    max_gpu_memory: str | None = None
    compile: bool = False


@dataclass
class Measured:
    """What a run measured; seconds unless named otherwise."""

    name: str
    load_s: float = 0.0
    first_s: float = 0.0  # the first request, loading included
    warm_s: list[float] = field(default_factory=list)  # each later request
    stages_s: dict[str, list[float]] = field(default_factory=dict)  # warm, per stage
    plan: str = ""
    peak_gpu_bytes: int | None = None
    peak_rss_bytes: int = 0


class _Clock:
    """Per-stage wall times, synchronised with the device so queued GPU work is counted."""

    def __init__(self, device: str) -> None:
        self.device = device
        self.times: dict[str, float] = {}
        self._started: dict[str, float] = {}

    def sync(self) -> float:
        if self.device == "cuda":
            import torch

            torch.cuda.synchronize()
        return time.perf_counter()

    def start(self, key: str) -> None:
        self._started[key] = self.sync()

    def stop(self, key: str) -> None:
        self.times[key] = self.times.get(key, 0.0) + self.sync() - self._started.pop(key)

    @contextmanager
    def stage(self, key: str) -> Iterator[None]:
        self.start(key)
        yield
        self.stop(key)


def prompts(count: int) -> list[str]:
    return [PROMPT if n == 0 else f"{PROMPT}, number {n + 1}" for n in range(count)]


def run(spec: RunSpec) -> dict[str, Any]:
    """Do the run; its measurements as JSON-ready data."""
    measured = Measured(spec.name)
    request = _recipe(spec, measured) if spec.runner == "recipe" else _engine(spec, measured)
    clock = _Clock(spec.device)
    started = clock.sync()
    request(clock)
    measured.first_s += clock.sync() - started
    for _ in range(spec.repeat):
        clock = _Clock(spec.device)
        started = clock.sync()
        request(clock)
        measured.warm_s.append(clock.sync() - started)
        for key, seconds in clock.times.items():
            measured.stages_s.setdefault(key, []).append(seconds)
    measured.peak_rss_bytes = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    if spec.device == "cuda":
        import torch

        measured.peak_gpu_bytes = torch.cuda.max_memory_allocated()
    return asdict(measured)


def _recipe(spec: RunSpec, measured: Measured) -> Callable[[_Clock], None]:
    """The reference recipe: three pipelines, model CPU offload on a GPU (as published)."""
    started = time.perf_counter()  # the engine's loads include its imports too
    import torch
    from diffusers import IFPipeline, IFSuperResolutionPipeline, StableDiffusionUpscalePipeline

    from if_cli.engine.loading import quiet_libraries

    quiet_libraries()
    dtype = torch.float16 if spec.device == "cuda" else torch.float32
    # transformers 5 cannot load IFSafetyChecker: the recipe runs without it, as if-cli does.
    common = {"variant": "fp16", "dtype": dtype, "safety_checker": None}
    stage_1 = IFPipeline.from_pretrained(spec.repos["stage_1"], **common)
    stage_2 = IFSuperResolutionPipeline.from_pretrained(
        spec.repos["stage_2"], text_encoder=None, **common
    )
    pipes: list[Any] = [stage_1, stage_2]
    if spec.last_stage == 3:
        pipes.append(
            StableDiffusionUpscalePipeline.from_pretrained(
                spec.repos["stage_3"],
                watermarker=stage_1.watermarker if spec.watermark else None,
                feature_extractor=None,
                **common,
            )
        )
    for pipe in pipes:
        pipe.set_progress_bar_config(disable=True)
        if spec.device == "cuda":
            pipe.enable_model_cpu_offload()
        else:
            pipe.to(spec.device)
    measured.load_s = measured.first_s = time.perf_counter() - started
    measured.plan = "model CPU offload" if spec.device == "cuda" else "resident"
    texts = prompts(spec.images)
    steps_1, steps_2, steps_3 = spec.steps

    def request(clock: _Clock) -> None:
        with clock.stage("text"):
            embeds, negative = stage_1.encode_prompt(texts)
        generator = torch.manual_seed(0)
        guidance = {"prompt_embeds": embeds, "negative_prompt_embeds": negative}
        with clock.stage("stage_1"):
            image = stage_1(
                **guidance, generator=generator, num_inference_steps=steps_1, output_type="pt"
            ).images
        last = spec.last_stage == 2
        with clock.stage("stage_2"):
            image = stage_2(
                image=image,
                **guidance,
                generator=generator,
                num_inference_steps=steps_2,
                output_type="pil" if last else "pt",
            ).images
        if last:
            return
        with clock.stage("stage_3"):
            pipes[2](
                prompt=texts,
                image=image,
                noise_level=RECIPE_STAGE_3_NOISE,
                generator=generator,
                num_inference_steps=steps_3,
            )

    return request


def _engine(spec: RunSpec, measured: Measured) -> Callable[[_Clock], None]:
    """if-cli's engine with its defaults (``--offload auto``) and the run's options."""
    from if_cli.engine import Engine, GenerationRequest, Placement, ProgressEvent, StageOptions
    from if_cli.units import parse_bytes

    clocks: list[_Clock] = []

    def on_progress(event: ProgressEvent) -> None:
        clock = clocks[-1]
        if event.phase == "run" and event.step == 0:
            clock.start(event.stage)
        elif event.phase == "done":
            clock.stop(event.stage)

    engine = Engine(on_progress=on_progress)
    steps_1, steps_2, steps_3 = spec.steps
    repos = spec.repos
    request = GenerationRequest(
        prompts=tuple(prompts(spec.images)),
        seed=0,
        last_stage=spec.last_stage,
        batch_size=spec.images,
        watermark=spec.watermark,
        stage_1=StageOptions(repos["stage_1"], steps_1, 7.0),
        stage_2=StageOptions(repos["stage_2"], steps_2, 4.0, 250),
        stage_3=StageOptions(repos.get("stage_3", repos["stage_2"]), steps_3 or 1, 9.0, 100),
        placement=Placement(
            device=spec.device,  # type: ignore[arg-type]
            max_memory=parse_bytes(spec.max_gpu_memory) if spec.max_gpu_memory else None,
            compile=spec.compile,
        ),
    )

    def generate(clock: _Clock) -> None:
        clocks.append(clock)
        result = engine.generate(request)
        measured.plan = f"--offload {result.plan.offload}"
        if not measured.load_s:
            measured.load_s = sum(t.load_s for t in result.timings.values())

    return generate
