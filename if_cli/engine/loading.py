"""Load each stage's diffusers pipeline lazily, place it on the device, and free it.

Every load goes through ``from_pretrained`` with ``use_safetensors=True`` (pickles are
never read) and the components a stage does not need passed as ``None``. The IF safety
checker is never loaded: diffusers' class cannot load under transformers 5, and if-cli
documents that it does not filter images (see README, "Safety checker and watermark").
A file that passed the planner's checks and still fails to load is a model error (exit
3) naming the model and the command that replaces it, not an internal error.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from if_cli.engine.library_output import stdout_captured
from if_cli.engine.memory import Plan, StageFootprint
from if_cli.engine.models import repair_hint
from if_cli.engine.watermark import FittingWatermarker
from if_cli.errors import IFCliError, ModelNotFoundError

if TYPE_CHECKING:
    from diffusers import DiffusionPipeline

    from if_cli.engine.models import ModelSource

log = logging.getLogger("if_cli")

_SKIP_IF_EXTRAS = {"safety_checker": None, "feature_extractor": None, "watermarker": None}
TORCH_DTYPES = {"fp16": "float16", "bf16": "bfloat16", "fp32": "float32"}


def quiet_libraries() -> None:
    """The engine never prints: silence diffusers' and transformers' bars and notices.

    Called before the pipelines are imported, since importing them already logs notices.
    """
    import diffusers
    import transformers

    diffusers.utils.logging.set_verbosity_error()
    diffusers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()


def torch_dtype(name: str) -> Any:
    import torch

    return getattr(torch, TORCH_DTYPES[name])


def _from_pretrained(cls: Any, footprint: StageFootprint, dtype: str, **components: Any) -> Any:
    pipe = cls.from_pretrained(
        footprint.source.path,
        variant=footprint.variant,
        dtype=torch_dtype(dtype),
        use_safetensors=True,
        **components,
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


MAX_REASON_CHARS = 240


def is_out_of_memory(error: BaseException) -> bool:
    """Whether ``error`` says the device (or the CPU's RAM) ran out of memory."""
    import torch

    if isinstance(error, (torch.OutOfMemoryError, MemoryError)):
        return True
    text = str(error).lower()
    return isinstance(error, RuntimeError) and (
        "out of memory" in text or "can't allocate memory" in text
    )


@contextmanager
def _as_model_error(source: ModelSource, what: str) -> Iterator[None]:
    """Whatever a library raises while reading a model's files (short of running out of
    memory) means the files cannot be used: exit 3 with the model and its fix."""
    try:
        with stdout_captured():
            yield
    except IFCliError:
        raise
    except Exception as exc:
        if is_out_of_memory(exc):
            raise
        reason = (str(exc).strip().splitlines() or [""])[0] or type(exc).__name__
        if len(reason) > MAX_REASON_CHARS:
            reason = reason[: MAX_REASON_CHARS - 1] + "…"
        raise ModelNotFoundError(
            f"{source.describe()}: {what} cannot be loaded: {reason}", hint=repair_hint(source)
        ) from exc


def load_stage(footprint: StageFootprint, dtype: str) -> DiffusionPipeline:
    """Load the pipeline of one cascade phase with only the parts that phase uses."""
    with _as_model_error(footprint.source, footprint.label):
        pipe = _load_stage(footprint, dtype)
    _refuse_missing_weights(pipe, footprint)
    return pipe


def _refuse_missing_weights(pipe: DiffusionPipeline, footprint: StageFootprint) -> None:
    """A weight file that lacks tensors its model needs leaves them empty ("meta");
    that is a damaged file, said before the model is moved or run."""
    import torch

    for name, component in pipe.components.items():
        if not isinstance(component, torch.nn.Module):
            continue
        empty = next((n for n, p in component.named_parameters() if p.is_meta), None)
        if empty is not None:
            raise ModelNotFoundError(
                f"{footprint.source.describe()} is damaged: its {name} weights have no "
                f"tensor {empty!r}",
                hint=repair_hint(footprint.source),
            )


def _load_stage(footprint: StageFootprint, dtype: str) -> DiffusionPipeline:
    quiet_libraries()
    from diffusers import IFPipeline, IFSuperResolutionPipeline, StableDiffusionUpscalePipeline

    if footprint.key == "text":
        return _from_pretrained(
            IFPipeline,
            footprint,
            dtype,
            unet=None,
            requires_safety_checker=False,
            **_SKIP_IF_EXTRAS,
        )
    if footprint.key == "stage_1":
        return _from_pretrained(
            IFPipeline,
            footprint,
            dtype,
            text_encoder=None,
            tokenizer=None,
            requires_safety_checker=False,
            **_SKIP_IF_EXTRAS,
        )
    if footprint.key == "stage_2":
        return _from_pretrained(
            IFSuperResolutionPipeline,
            footprint,
            dtype,
            text_encoder=None,
            tokenizer=None,
            requires_safety_checker=False,
            **_SKIP_IF_EXTRAS,
        )
    return _from_pretrained(
        StableDiffusionUpscalePipeline,
        footprint,
        dtype,
        safety_checker=None,
        feature_extractor=None,
        watermarker=None,
    )


def for_flow(pipe: DiffusionPipeline, class_name: str) -> DiffusionPipeline:
    """The loaded components under the pipeline class a flow calls: no copy, no load.

    ``IFImg2ImgPipeline(**IFPipeline.components)`` shares every module, so one loaded
    stage serves text-to-image, image-to-image and inpainting alike.
    """
    if type(pipe).__name__ == class_name:
        return pipe
    import diffusers

    flow_pipe = getattr(diffusers, class_name)(**pipe.components, requires_safety_checker=False)
    flow_pipe.set_progress_bar_config(disable=True)
    return flow_pipe


def load_watermarker(source: ModelSource) -> FittingWatermarker | None:
    """IF's watermarker from the stage-I repo; None (with a warning) if the repo has none."""
    if not (source.path / "watermarker").is_dir():
        log.warning("%s has no watermarker/ folder: images are not watermarked", source.describe())
        return None
    quiet_libraries()
    from diffusers.pipelines.deepfloyd_if.watermark import IFWatermarker

    with _as_model_error(source, "the watermarker"):
        marker = IFWatermarker.from_pretrained(
            source.path, subfolder="watermarker", use_safetensors=True
        )
    return FittingWatermarker(marker)


def place(pipe: DiffusionPipeline, plan: Plan) -> DiffusionPipeline:
    """Put a pipeline where the plan says: on the device, or under accelerate's offload."""
    if plan.offload == "model":
        pipe.enable_model_cpu_offload(device=plan.device)
    elif plan.offload == "sequential":
        pipe.enable_sequential_cpu_offload(device=plan.device)
    else:
        pipe.to(plan.device)
    return pipe


def compile_unet(pipe: DiffusionPipeline) -> None:
    """Run the pipeline's UNet through ``torch.compile`` (compiled at its first call).

    Inductor's compiled kernels go to if-cli's cache folder (unless
    ``TORCHINDUCTOR_CACHE_DIR`` says otherwise), so a later run with the same shapes loads
    them instead of compiling again. Shapes are static: a new batch size compiles anew.
    """
    import torch

    _use_compile_cache()
    pipe.unet = torch.compile(pipe.unet, dynamic=False)


def _use_compile_cache() -> None:
    """Point inductor at if-cli's cache unless the user chose a folder.

    Inductor writes its default (a folder under /tmp) back into the environment the
    first time it looks, so that value means "not chosen" too.
    """
    import os

    from platformdirs import user_cache_path

    variable = "TORCHINDUCTOR_CACHE_DIR"
    current = os.environ.get(variable)
    try:
        from torch._inductor.runtime.cache_dir_utils import default_cache_dir

        default = os.path.abspath(default_cache_dir())
    except ImportError:  # a torch without that helper: only an unset variable is ours
        default = None
    if current is None or os.path.abspath(current) == default:
        os.environ[variable] = str(user_cache_path("if-cli") / "compiled")


def free(pipe: DiffusionPipeline | None, device: str) -> None:
    """Drop a pipeline and give its memory back to the device."""
    if pipe is None:
        return
    import torch

    if hasattr(pipe, "remove_all_hooks"):
        pipe.remove_all_hooks()
    del pipe
    gc.collect()
    if device.startswith("cuda") and torch.cuda.is_available():
        torch.cuda.empty_cache()
    elif device == "mps":
        torch.mps.empty_cache()
