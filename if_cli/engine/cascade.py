"""The IF cascade, step by step: text → 64 px → 256 px → 1024 px.

1. Check the request and find every model's files (no weights loaded).
2. Plan device, dtype and what stays resident.
3. Encode each prompt once with T5; free the encoder unless everything stays resident.
4. Stage I for all images (batch by batch), then stage II, then stage III: each model is
   loaded once and each image keeps its own generator, so image ``i`` gets the same
   pixels whether it is made alone or with others (at ``batch_size=1``).

The math is diffusers': IFPipeline, IFSuperResolutionPipeline and
StableDiffusionUpscalePipeline are called exactly as in the reference recipe.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from if_cli import fault_points
from if_cli.engine import loading
from if_cli.engine.catalog import PUBLISHED_PARAMETERS, SHIPPED_MODELS
from if_cli.engine.embedding_cache import EmbeddingCache, encoder_identity
from if_cli.engine.events import (
    STAGE_LABELS,
    ProgressCallback,
    ProgressEvent,
    StageKey,
    ignore_progress,
)
from if_cli.engine.flows import picture_arguments, pipeline_name
from if_cli.engine.memory import (
    ON_DEVICE,
    Plan,
    StageFootprint,
    apply_memory_cap,
    free_memory_bytes,
    make_plan,
    measure_stage,
    preferred_variant,
    published_stage,
    resolve_device,
    resolve_dtype,
)
from if_cli.engine.models import (
    STAGE_SPECS,
    ModelSource,
    StageSpec,
    check_folders,
    check_watermarker,
    choose_variant,
    find_models,
    not_downloaded,
    pipeline_class,
)
from if_cli.engine.picture_sizes import plan_sizes
from if_cli.engine.request import GenerationRequest
from if_cli.engine.result import GeneratedImage, GenerationResult, StageTiming
from if_cli.engine.schedules import steps_and_timesteps
from if_cli.engine.sizes import Size
from if_cli.engine.tokens import PromptTokenizer, TokenCount, shorten
from if_cli.errors import IFCliError, ModelNotFoundError, OutOfMemoryError, interruption

if TYPE_CHECKING:
    import torch
    from PIL.Image import Image

log = logging.getLogger("if_cli")

ImageCallback = Callable[[GenerationResult, GeneratedImage], None]
"""Called with the result so far (timings up to now) and each image as it is finished.
Every image of a batch is handed over even when the callback fails for one of them."""


@dataclass(frozen=True)
class PreparedRequest:
    """A validated, seeded request with its models found and its placement planned."""

    request: GenerationRequest
    plan: Plan
    sources: dict[int, ModelSource]
    missing: tuple[str, ...] = ()  # hub ids planned from published sizes (not downloaded)
    sizes: dict[int, Size] = field(default_factory=dict)  # each stage's output size
    tokens: tuple[TokenCount, ...] = ()  # each distinct text T5 reads (none if T5 is missing)

    def footprint(self, key: StageKey) -> StageFootprint:
        return next(s for s in self.plan.stages if s.key == key)


@dataclass
class _Work:
    """State that flows through the cascade for one request."""

    prepared: PreparedRequest
    generators: list[Any]
    embeds: list[tuple[Any, Any]] = field(default_factory=list)
    images: list[Any] = field(default_factory=list)
    intermediates: list[dict[int, Image]] = field(default_factory=list)
    timings: dict[str, StageTiming] = field(default_factory=dict)
    costs: list[dict[str, StageTiming]] = field(default_factory=list)  # per image
    finished: list[GeneratedImage] = field(default_factory=list)
    running: tuple[str, float] | None = None  # (stage key, perf_counter when it started)

    def charge(
        self, key: str, images: range | list[int], load: float = 0.0, run: float = 0.0
    ) -> None:
        """Split ``load`` and ``run`` seconds of phase ``key`` evenly over ``images``."""
        for i in images:
            cost = self.costs[i].setdefault(key, StageTiming())
            cost.load_s += load / len(images)
            cost.run_s += run / len(images)

    def result(self) -> GenerationResult:
        """The result so far; a stage still running is timed up to now."""
        timings = {key: StageTiming(t.load_s, t.run_s) for key, t in self.timings.items()}
        if self.running is not None:
            key, since = self.running
            timings[key].run_s += time.perf_counter() - since
        prepared = self.prepared
        return GenerationResult(
            request=prepared.request,
            plan=prepared.plan,
            models={f"stage_{n}": source for n, source in prepared.sources.items()},
            images=list(self.finished),
            timings=timings,
            sizes=dict(prepared.sizes),
        )


class Engine:
    """Runs generation requests; keeps stages loaded between requests when the plan allows.

    Usable as a plain Python API::

        with Engine() as engine:
            result = engine.generate(GenerationRequest(prompts=("a corgi",), seed=7))
    """

    def __init__(
        self,
        on_progress: ProgressCallback | None = None,
        embedding_cache: EmbeddingCache | None = None,
        warn_long_prompts: bool = True,
    ) -> None:
        """``warn_long_prompts``: log a warning for each prompt T5 cannot read whole (a
        caller that reports them itself, with their prompt-file lines, turns it off)."""
        self._report = on_progress or ignore_progress
        self.embedding_cache = embedding_cache  # may be swapped between requests
        self._warn_long_prompts = warn_long_prompts
        self._resident: dict[tuple[Any, ...], Any] = {}
        self._watermarkers: dict[str, Any] = {}

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Free every pipeline this engine keeps loaded."""
        while self._resident:
            key, pipe = self._resident.popitem()
            loading.free(pipe, device=key[-1])  # the cache key ends with the device
        self._watermarkers.clear()

    # 1–2. Check, find models, plan: nothing here reads weights.
    def prepare(
        self, request: GenerationRequest, *, published_sizes: bool = False
    ) -> PreparedRequest:
        """Validate, find the models and plan placement, loading no weights.

        Every model that is not downloaded is named in one error. With
        ``published_sizes`` (a dry run), a published model that is not downloaded yet is
        planned from its published parameter count instead, and listed in ``missing``.
        """
        request.validate()
        request = request.with_seed()
        phases = _phases(request)
        refs = {
            stage: request.stage_options(stage).model
            for stage in sorted({spec.model_stage for spec in phases})
        }
        watermark_only = request.watermark and 1 not in refs
        if watermark_only:  # IF's watermarker is in the stage-I repo
            refs[1] = request.stage_1.model
        sources, missing = find_models(refs)
        if watermark_only and missing.keys() == {1} and not published_sizes:
            raise ModelNotFoundError(
                f"the watermark comes from the stage-I repo: {not_downloaded(missing).message}",
                hint="download it, or pass --no-watermark",
            )
        if missing and not (
            published_sizes and all(r in PUBLISHED_PARAMETERS for r in missing.values())
        ):
            raise not_downloaded(missing, shipped=any(r in SHIPPED_MODELS for r in refs.values()))
        for stage, repo_id in missing.items():
            sources[stage] = ModelSource(ref=refs[stage], path=Path(), repo_id=repo_id)
        device = resolve_device(request.placement.device)
        dtype = resolve_dtype(request.placement.dtype, device)
        wanted = preferred_variant(request.placement.variant, dtype)
        footprints = []
        for spec in phases:
            source = sources[spec.model_stage]
            label = STAGE_LABELS[spec.key]
            if spec.model_stage in missing:
                footprints.append(published_stage(spec.key, label, source, spec.components, dtype))
                continue
            _check_pipeline_class(source, spec)
            check_folders(source, spec.folders)
            variant = choose_variant(source, list(spec.components), wanted)
            footprints.append(
                measure_stage(spec.key, label, source, spec.components, variant, dtype)
            )
        if request.watermark and 1 not in missing:
            check_watermarker(sources[1])
        sizes = plan_sizes(request, sources, missing)
        tokens: tuple[TokenCount, ...] = ()
        if request.uses_text_encoder and 1 not in missing:
            tokenizer = PromptTokenizer(sources[1])
            tokens = tuple(tokenizer.count(text) for text in _texts(request))
        plan = make_plan(
            request.placement,
            device,
            dtype,
            tuple(footprints),
            request.batch_size,
            request.last_stage,
            free_memory_bytes(device),
            area=sizes[1].width * sizes[1].height,
        )
        return PreparedRequest(
            request=request,
            plan=plan,
            sources=sources,
            missing=tuple(missing.values()),
            sizes=sizes,
            tokens=tokens,
        )

    def generate(
        self, request: GenerationRequest | PreparedRequest, on_image: ImageCallback | None = None
    ) -> GenerationResult:
        """Run the cascade; ``on_image`` gets each image as soon as it is finished."""
        prepared = request if isinstance(request, PreparedRequest) else self.prepare(request)
        import torch

        plan, placement = prepared.plan, prepared.request.placement
        apply_memory_cap(plan.device, placement.max_memory)
        if placement.compile and plan.offload not in ON_DEVICE:
            log.warning("--compile is skipped: --offload %s moves the weights", plan.offload)
        seeds = prepared.request.image_seeds()
        work = _Work(
            prepared=prepared,
            generators=[torch.Generator().manual_seed(seed) for seed in seeds],
            intermediates=[{} for _ in seeds],
            costs=[{} for _ in seeds],
        )
        try:
            with _translate_failures(prepared.plan), warnings.catch_warnings():
                # Stage II hands stage III a [-1, 1] tensor exactly as the reference recipe
                # does; diffusers' deprecation notice about that is not the user's concern.
                warnings.filterwarnings("ignore", message="Passing `image` as torch tensor")
                if prepared.request.uses_text_encoder:
                    self._encode(work)
                for stage in prepared.request.stages():
                    self._run_stage(work, stage, on_image)
        except IFCliError:
            self.close()
            raise
        return work.result()

    # 3. T5: each distinct text once (or from the embedding cache); embeddings feed I and II.
    def _encode(self, work: _Work) -> None:
        request, plan = work.prepared.request, work.prepared.plan
        negative = request.negative_prompt or ""
        texts = _texts(request)
        counts = {count.prompt: count for count in work.prepared.tokens}
        if self._warn_long_prompts:
            for count in counts.values():
                if count.over:
                    log.warning("the prompt %r is %s", shorten(count.prompt, 60), count.problem())
        cache = self.embedding_cache
        encoder = encoder_identity(work.prepared.footprint("text"))
        keys = (
            {text: cache.key(encoder, plan.dtype, plan.device, text) for text in texts}
            if cache
            else {}
        )
        embeds: dict[str, Any] = {}
        for text in keys:
            hit = cache.get(keys[text], plan.device) if cache else None
            if hit is not None:
                embeds[text] = hit[0].to(loading.torch_dtype(plan.dtype))
        missing = [text for text in texts if text not in embeds]
        if missing:
            with self._stage(work, "text") as pipe:
                started = time.perf_counter()
                self._report(ProgressEvent("text", "run", 0, len(missing)))
                fault_points.reached("encode", len(missing))
                for done, text in enumerate(missing, start=1):
                    embeds[text] = pipe.encode_prompt(
                        text,
                        do_classifier_free_guidance=False,
                        num_images_per_prompt=1,
                        device=plan.device,
                        clean_caption=False,
                    )[0]
                    if cache:
                        tokens = counts[text].tokens if text in counts else 0
                        cache.put(keys[text], embeds[text], tokens)
                    span = (done, done, len(missing))
                    self._report(ProgressEvent("text", "run", done, len(missing), images=span))
                images = range(request.total_images)
                work.charge("text", images, run=time.perf_counter() - started)
        work.embeds = [(embeds[p], embeds[negative]) for p in _image_prompts(request)]

    # 4. One stage for every image, batch by batch.
    def _run_stage(self, work: _Work, stage: int, on_image: ImageCallback | None) -> None:
        import torch

        request = work.prepared.request
        key: StageKey = f"stage_{stage}"  # type: ignore[assignment]
        options = request.stage_options(stage)
        final = stage == request.last_stage
        steps, timesteps = steps_and_timesteps(options.steps)
        steps_run = options.steps_run()
        count = request.total_images
        batches = [
            range(i, min(i + request.batch_size, count))
            for i in range(0, count, request.batch_size)
        ]
        prompts = _image_prompts(request)
        seeds = request.image_seeds()
        watermarker = self._watermarker(work.prepared) if request.watermark else None
        outputs: list[Any] = []
        with self._stage(work, key) as loaded:
            pipe = loading.for_flow(loaded, pipeline_name(request.flow, stage))
            size = work.prepared.sizes[stage]
            total = steps_run * len(batches)
            self._report(ProgressEvent(key, "run", 0, total))
            for number, batch in enumerate(batches):
                callback = self._step_reporter(
                    key, number * steps_run, total, (batch[0] + 1, batch[-1] + 1, count)
                )
                kwargs: dict[str, Any] = {
                    "generator": [work.generators[i] for i in batch],
                    "num_inference_steps": steps,
                    "guidance_scale": options.guidance_scale,
                    "output_type": "pil" if final else "pt",
                    "callback": callback,
                    "callback_steps": 1,
                }
                if stage == 3:
                    kwargs["prompt"] = [prompts[i] for i in batch]
                    if request.negative_prompt is not None:
                        kwargs["negative_prompt"] = [request.negative_prompt] * len(batch)
                else:
                    kwargs["timesteps"] = timesteps
                    kwargs["prompt_embeds"] = torch.cat([work.embeds[i][0] for i in batch])
                    kwargs["negative_prompt_embeds"] = torch.cat([work.embeds[i][1] for i in batch])
                previous = None
                if stage > request.first_stage:
                    previous = torch.cat([work.images[i] for i in batch])
                kwargs.update(
                    picture_arguments(request, stage, previous, len(batch), work.prepared.sizes)
                )
                if _takes_size(pipe):
                    kwargs.update(height=size.height, width=size.width)
                pipe.watermarker = watermarker if final else None
                started = time.perf_counter()
                images = pipe(**kwargs).images
                if pipe is not loaded:
                    loaded.maybe_free_model_hooks()  # the offload hooks belong to ``loaded``
                if not final:
                    outputs.extend(images.split(1))
                    if request.keep_intermediates:
                        for i, pil in zip(batch, _to_pil(pipe, images, watermarker), strict=True):
                            work.intermediates[i][stage] = pil
                    work.charge(key, batch, run=time.perf_counter() - started)
                    continue
                work.charge(key, batch, run=time.perf_counter() - started)
                made = [
                    GeneratedImage(
                        i, prompts[i], seeds[i], pil, work.intermediates[i], work.costs[i]
                    )
                    for i, pil in zip(batch, images, strict=True)
                ]
                _deliver(work, made, on_image)
            pipe.watermarker = None
        work.images = outputs

    def _step_reporter(
        self, key: StageKey, offset: int, total: int, images: tuple[int, int, int]
    ) -> Callable[..., None]:
        def report(step: int, _timestep: Any, _latents: Any) -> None:
            self._report(ProgressEvent(key, "run", offset + step + 1, total, images=images))
            if step == 0:
                fault_points.reached(key, images[1] - images[0] + 1)

        return report

    @contextmanager
    def _stage(self, work: _Work, key: StageKey) -> Iterator[Any]:
        """Load (or reuse) a phase's pipeline, time it, and free it afterwards unless resident."""
        plan = work.prepared.plan
        footprint = work.prepared.footprint(key)
        timing = work.timings.setdefault(key, StageTiming())
        cache_key = (
            key,
            str(footprint.source.path),
            footprint.variant,
            plan.dtype,
            plan.offload,
            plan.device,
        )
        pipe = self._resident.get(cache_key)
        started = time.perf_counter()
        if pipe is None:
            self._report(ProgressEvent(key, "load", 0, 1, footprint.source.describe()))
            pipe = loading.place(loading.load_stage(footprint, plan.dtype), plan)
            if request_compiles(work.prepared.request, plan, key):
                loading.compile_unet(pipe)
            if plan.keeps_loaded(key):
                self._resident[cache_key] = pipe
        loaded = time.perf_counter()
        timing.load_s += loaded - started
        work.charge(key, range(work.prepared.request.total_images), load=loaded - started)
        work.running = (key, loaded)
        try:
            yield pipe
        finally:
            work.running = None
            timing.run_s += time.perf_counter() - loaded
            if not plan.keeps_loaded(key):
                loading.free(pipe, plan.device)
                del pipe
        self._report(ProgressEvent(key, "done", 1, 1))

    def _watermarker(self, prepared: PreparedRequest) -> Any | None:
        source = prepared.sources[1]
        key = str(source.path)
        if key not in self._watermarkers:
            self._watermarkers[key] = loading.load_watermarker(source)
        return self._watermarkers[key]


def _deliver(work: _Work, made: list[GeneratedImage], on_image: ImageCallback | None) -> None:
    """Hand over every finished image of a batch, even after a hand-over fails (a full
    folder, a stop): the others are made already and must reach the caller. The first
    failure is raised once all of them are handed over."""
    failure: BaseException | None = None
    for done in made:
        work.finished.append(done)
        if on_image is None:
            continue
        try:
            on_image(work.result(), done)
        except BaseException as error:  # raised again below
            failure = failure or error
    if failure is not None:
        raise failure


def _takes_size(pipe: Any) -> bool:
    """IFPipeline and IFSuperResolutionPipeline take the size they make; the
    image-to-image pipelines and the x4 upscaler take it from their input pictures."""
    import inspect

    return "height" in inspect.signature(type(pipe).__call__).parameters


def request_compiles(request: GenerationRequest, plan: Plan, key: str) -> bool:
    """``--compile`` applies to the UNets of stages I–III, and only while they sit on the
    device: under accelerate's offload hooks a compiled graph would be rebuilt each move."""
    return request.placement.compile and key != "text" and plan.offload in ON_DEVICE


def _phases(request: GenerationRequest) -> list[StageSpec]:
    """The phases a request loads, in order: T5 where stage I or II runs, then its stages."""
    keys = {f"stage_{stage}" for stage in request.stages()}
    if request.uses_text_encoder:
        keys.add("text")
    return [spec for spec in STAGE_SPECS if spec.key in keys]


def _texts(request: GenerationRequest) -> list[str]:
    """Each distinct text T5 encodes: the prompts, then the negative prompt ("" if none)."""
    return list(dict.fromkeys([*request.prompts, request.negative_prompt or ""]))


def _image_prompts(request: GenerationRequest) -> list[str]:
    """The prompt of each image, in image order (all images of a prompt together)."""
    return [prompt for prompt in request.prompts for _ in range(request.num_images)]


def _check_pipeline_class(source: ModelSource, spec: StageSpec) -> None:
    found = pipeline_class(source)
    if found != spec.pipeline_class:
        stage = spec.model_stage
        raise ModelNotFoundError(
            f"{source.describe()} is a {found}, not a stage {stage} model ({spec.pipeline_class})",
            hint=f"check --stage-{stage}-model",
        )


def _to_pil(pipe: Any, images: torch.Tensor, watermarker: Any | None) -> list[Image]:
    """Convert a stage's ``pt`` output as the pipeline's own ``pil`` path does."""
    array = (images / 2 + 0.5).clamp(0, 1).cpu().permute(0, 2, 3, 1).float().numpy()
    pils = pipe.numpy_to_pil(array)
    if watermarker is not None:
        pils = watermarker.apply_watermark(pils, pipe.unet.config.sample_size)
    return pils


def _oom_hint(plan: Plan) -> str:
    better = {
        "none": "--offload text (free T5 once the prompts are encoded)",
        "text": "--offload unload (free each stage after use) or --offload model",
        "unload": "--offload model",
        "model": "--offload sequential (slow, but needs little memory)",
        "sequential": "fewer images per batch or a smaller stage-I model (IF-I-L, IF-I-M)",
    }[plan.offload]
    return f"it ran with --offload {plan.offload}; try {better}, and --batch-size 1"


@contextmanager
def _translate_failures(plan: Plan) -> Iterator[None]:
    """Turn device OOM, Ctrl-C and SIGTERM into if-cli errors; free what was loaded first."""
    try:
        yield
    except (RuntimeError, MemoryError) as exc:
        if not loading.is_out_of_memory(exc):
            raise
        raise OutOfMemoryError(f"{plan.device} ran out of memory", hint=_oom_hint(plan)) from exc
    except KeyboardInterrupt as exc:
        raise interruption(exc) from exc
