"""Find models on disk and check them before any weights load.

A model reference is a local folder in the diffusers layout or a hub id whose files are
already in the Hugging Face cache. if-cli never downloads while generating: a missing
model is an error that names the repo and how to get it. Only safetensors are accepted.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from if_cli.engine.catalog import DEMO_FOLDER, MODEL_ALIASES, shipped_model_path, short_name
from if_cli.engine.safetensors_header import DamagedFile, TensorInfo, read_tensor_infos
from if_cli.errors import ModelNotFoundError, NotDownloadedError
from if_cli.untrusted import UnreadableFile, read_json

HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
# Weight file stems used by diffusers (models) and transformers (text encoders, checkers).
_WEIGHT_STEMS = ("diffusion_pytorch_model", "model")


@dataclass(frozen=True)
class StageSpec:
    """What one phase of the cascade loads: which stage's model, components, class."""

    key: Literal["text", "stage_1", "stage_2", "stage_3"]
    model_stage: int
    components: tuple[str, ...]
    folders: tuple[str, ...]
    pipeline_class: str


STAGE_SPECS = (
    StageSpec("text", 1, ("text_encoder",), ("tokenizer",), "IFPipeline"),
    StageSpec("stage_1", 1, ("unet",), ("scheduler",), "IFPipeline"),
    StageSpec(
        "stage_2",
        2,
        ("unet",),
        ("scheduler", "image_noising_scheduler"),
        "IFSuperResolutionPipeline",
    ),
    StageSpec(
        "stage_3",
        3,
        ("unet", "vae", "text_encoder"),
        ("tokenizer", "scheduler", "low_res_scheduler"),
        "StableDiffusionUpscalePipeline",
    ),
)


def specs_for(pipeline: str) -> list[StageSpec]:
    """The cascade phases that load from a repo of this pipeline class (none if foreign)."""
    return [spec for spec in STAGE_SPECS if spec.pipeline_class == pipeline]


@dataclass(frozen=True)
class ModelSource:
    """Where a model's files are: a folder, plus its hub id and commit when from the cache."""

    ref: str
    path: Path
    repo_id: str | None = None
    revision: str | None = None

    def describe(self) -> str:
        return self.repo_id or str(self.path)


def resolve_model(ref: str) -> ModelSource:
    """Map a user's model reference to files on disk, without touching the network."""
    shipped = shipped_model_path(ref)
    if shipped is not None:
        return _check_index(ModelSource(ref=ref, path=shipped))
    expanded = Path(os.path.expanduser(ref))
    if _is_folder(expanded):
        return _check_index(_local(ref, expanded))
    if ref in MODEL_ALIASES:
        return _check_index(_from_hub_cache(MODEL_ALIASES[ref], ref))
    if not HUB_ID.match(ref):
        raise ModelNotFoundError(
            f"no model folder at {ref}",
            hint="give a folder in the diffusers layout or a hub id such as DeepFloyd/IF-I-XL-v1.0",
        )
    return _check_index(_from_hub_cache(ref, ref))


def _is_folder(path: Path) -> bool:
    """Whether ``path`` is a folder; a path no file system takes (a name over 255 bytes,
    a NUL) is none."""
    try:
        return path.is_dir()
    except (OSError, ValueError):
        return False


def find_models(refs: dict[int, str]) -> tuple[dict[int, ModelSource], dict[int, str]]:
    """Each stage's model, and the hub ids of those not downloaded yet (by stage).

    Every stage is looked up before anything is reported, so one message can name every
    missing model; any other problem (a bad folder, a damaged index) is raised at once.
    """
    sources: dict[int, ModelSource] = {}
    missing: dict[int, str] = {}
    for stage, ref in sorted(refs.items()):
        try:
            sources[stage] = resolve_model(ref)
        except NotDownloadedError as error:
            missing[stage] = error.repo_id
    return sources, missing


OFFER_THE_DEMO = "(--model demo runs the demo that ships with if-cli, offline)"
"""Said after a missing model's download command, unless the run already uses the demo."""


def not_downloaded(missing: dict[int, str], shipped: bool = False) -> NotDownloadedError:
    """One error naming every model to download, with the one command that fetches them.

    ``shipped``: the run's other stages are the demo's, so the hint does not offer the
    demo again; where only stage III is missing, it says the demo ends at stage II.
    """
    from huggingface_hub import constants

    repos = list(dict.fromkeys(missing.values()))
    names = [short_name(repo) for repo in repos]
    offline = " (HF_HUB_OFFLINE is set)" if constants.HF_HUB_OFFLINE else ""
    if len(repos) == 1:
        what = f"model {repos[0]} is"
    else:
        what = f"models {', '.join(repos[:-1])} and {repos[-1]} are"
    download = f"run `if-cli download {' '.join(names)}`"
    if shipped and missing.keys() == {3}:
        hint = (
            "the demo's own stages end at stage II (128 px): stop there (--stages 2; "
            f"upscale --to 256), or {download}"
        )
    elif shipped:
        hint = f"{download}, or pass local folders"
    else:
        hint = f"{download}, or pass local folders {OFFER_THE_DEMO}"
    return NotDownloadedError(
        f"{what} not in the Hugging Face cache at {constants.HF_HUB_CACHE}{offline}",
        repos[0],
        hint=hint,
    )


def _local(ref: str, folder: Path) -> ModelSource:
    """A folder; one inside a hub cache snapshot keeps its repo id and commit."""
    parent = folder.parent
    if parent.name == "snapshots" and parent.parent.name.startswith("models--"):
        repo_id = parent.parent.name.removeprefix("models--").replace("--", "/")
        return ModelSource(ref=ref, path=folder, repo_id=repo_id, revision=folder.name)
    return ModelSource(ref=ref, path=folder.resolve())


def _from_hub_cache(repo_id: str, ref: str) -> ModelSource:
    from huggingface_hub import constants, try_to_load_from_cache

    found = try_to_load_from_cache(repo_id, "model_index.json")
    if not isinstance(found, str):
        offline = " (HF_HUB_OFFLINE is set)" if constants.HF_HUB_OFFLINE else ""
        raise NotDownloadedError(
            f"model {repo_id} is not in the Hugging Face cache at {constants.HF_HUB_CACHE}"
            f"{offline}",
            repo_id,
            hint=f"run `if-cli download {short_name(repo_id)}`, or pass a local folder "
            f"{OFFER_THE_DEMO}",
        )
    snapshot = Path(found).parent
    return ModelSource(ref=ref, path=snapshot, repo_id=repo_id, revision=snapshot.name)


TRUSTED_LIBRARIES = ("diffusers", "transformers")
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")
"""Weights in Python's pickle format, which can run code when read: never loaded."""


MAX_CONFIG_BYTES = 64 * 1024**2
"""JSON files of a model (configs, a tokenizer's vocabulary) are at most a few MiB."""


def repair_hint(source: ModelSource) -> str:
    """The command that replaces a model's damaged files."""
    if source.repo_id:
        return f"run `if-cli download {short_name(source.repo_id)}` to fetch it again"
    if source.path.is_relative_to(DEMO_FOLDER):
        return "reinstall if-cli (pip install --force-reinstall if-cli)"
    return "copy or download the model folder again"


def damaged(source: ModelSource, path: Path, reason: str) -> ModelNotFoundError:
    """The error for a model file that cannot be used, naming the file and the fix."""
    try:
        shown = str(path.relative_to(source.path))
    except ValueError:
        shown = str(path)
    return ModelNotFoundError(
        f"{source.describe()} is damaged: {shown} {reason}", hint=repair_hint(source)
    )


def model_json(source: ModelSource, path: Path) -> Any:
    """A JSON file of a model, read as untrusted (bounded, regular files only)."""
    try:
        return read_json(path, MAX_CONFIG_BYTES)
    except UnreadableFile as exc:
        raise damaged(source, path, exc.reason) from exc


def _check_index(source: ModelSource) -> ModelSource:
    index = source.path / "model_index.json"
    if not os.path.lexists(index):
        raise ModelNotFoundError(
            f"{source.describe()} is not a model in the diffusers layout (no model_index.json)"
        )
    components = model_json(source, index)
    if not isinstance(components, dict):
        raise damaged(source, index, "is not a diffusers model index (not a JSON object)")
    _refuse_code(source, components)
    return source


def _refuse_code(source: ModelSource, components: dict[str, object]) -> None:
    """Refuse a model that names a class from code it ships (``unet/my_unet.py``).

    diffusers imports such a file when asked to trust remote code; if-cli never asks, and
    says so before anything is loaded rather than failing inside diffusers.
    """
    for name, entry in components.items():
        if name.startswith("_") or not isinstance(entry, list) or len(entry) != 2:
            continue
        library, class_name = entry
        if library in TRUSTED_LIBRARIES or not isinstance(library, str):
            continue
        shipped = [source.path / name / f"{library}.py", source.path / f"{library}.py"]
        if any(path.exists() for path in shipped):
            raise ModelNotFoundError(
                f"{source.describe()} wants code of its own for {name} ({library}.{class_name})",
                hint="if-cli runs only diffusers' and transformers' classes, never a model's code",
            )


def pipeline_class(source: ModelSource) -> str:
    """The pipeline class named in ``model_index.json`` (e.g. ``IFPipeline``)."""
    index = model_json(source, source.path / "model_index.json")
    return str(index.get("_class_name")) if isinstance(index, dict) else "None"


def weight_files(source: ModelSource, component: str, variant: str | None) -> list[Path] | None:
    """The safetensors files of ``component`` for ``variant``, or None if that variant is absent.

    Handles single files and sharded checkpoints (``*.safetensors.index[.fp16].json``).
    """
    folder = source.path / component
    suffix = f".{variant}" if variant else ""
    for stem in _WEIGHT_STEMS:
        single = folder / f"{stem}{suffix}.safetensors"
        if single.is_file():
            return [single]
        index = folder / f"{stem}.safetensors.index{suffix}.json"
        if os.path.lexists(index):
            weight_map = _weight_map(source, index)
            shards = sorted({folder / name for name in weight_map.values()})
            missing = [shard.name for shard in shards if not shard.is_file()]
            if missing:
                raise ModelNotFoundError(
                    f"{source.describe()} is incomplete: {component}/{missing[0]} is missing",
                    hint=repair_hint(source),
                )
            return shards
    return None


def _weight_map(source: ModelSource, index: Path) -> dict[str, str]:
    """A sharded checkpoint's tensor → shard file map, each shard a plain file name."""
    data = model_json(source, index)
    weight_map = data.get("weight_map") if isinstance(data, dict) else None
    if not isinstance(weight_map, dict) or not all(
        isinstance(name, str) and name and "/" not in name and "\\" not in name and name != ".."
        for name in weight_map.values()
    ):
        raise damaged(source, index, "has no valid weight_map of shard file names")
    return weight_map


# Config values that size a model or a schedule: whole numbers above 0 (or lists of
# them); anything else fails deep inside a run (a NaN sample size, -5 timesteps).
SIZES = (
    "sample_size",
    "in_channels",
    "out_channels",
    "block_out_channels",
    "layers_per_block",
    "num_train_timesteps",
    "d_model",
    "d_ff",
    "d_kv",
    "num_heads",
    "num_layers",
    "vocab_size",
)


def _is_size(value: object) -> bool:
    if isinstance(value, list):
        return bool(value) and all(_is_size(v) for v in value)
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _check_json_files(source: ModelSource, folder: str) -> None:
    """Every JSON file in a model folder (configs, tokenizer files, shard indexes) must
    be a JSON object, as each of them is in the diffusers and transformers layouts, and
    a config's sizes must be sizes."""
    for path in sorted((source.path / folder).glob("*.json")):
        data = model_json(source, path)
        if not isinstance(data, dict):
            raise damaged(source, path, "is not a JSON object")
        if path.name.endswith("config.json"):
            wrong = next(
                (k for k in SIZES if data.get(k) is not None and not _is_size(data[k])), None
            )
            if wrong is not None:
                raise damaged(source, path, f"gives {wrong} the value {data[wrong]!r}")


def check_folders(source: ModelSource, folders: tuple[str, ...]) -> None:
    """Fail clearly if a config-only folder (tokenizer, scheduler …) is missing or holds
    a JSON file that cannot be read."""
    for folder in folders:
        if not (source.path / folder).is_dir():
            raise ModelNotFoundError(
                f"{source.describe()} is incomplete: it has no {folder}/ folder",
                hint=repair_hint(source),
            )
        _check_json_files(source, folder)


def check_component(source: ModelSource, component: str) -> None:
    """Fail clearly if a component folder is missing or holds only pickle weights."""
    folder = source.path / component
    if not folder.is_dir():
        raise ModelNotFoundError(f"{source.describe()} has no {component}/ folder")
    _check_json_files(source, component)
    has_safetensors = any(folder.glob("*.safetensors"))
    if not has_safetensors:
        pickles = sorted(p.name for p in folder.iterdir() if p.name.endswith(PICKLE_SUFFIXES))
        if pickles:
            raise ModelNotFoundError(
                f"{source.describe()} {component}/ holds only pickle weights ({pickles[0]})",
                hint="if-cli loads safetensors only; download the safetensors files",
            )
        raise ModelNotFoundError(f"{source.describe()} {component}/ holds no weights")


def component_files(source: ModelSource, component: str, variant: str | None) -> list[Path] | None:
    """The files diffusers loads for ``component`` under ``variant``.

    Like diffusers, a component without files of the variant falls back to its
    full-precision files.
    """
    found = weight_files(source, component, variant)
    if found is None and variant is not None:
        found = weight_files(source, component, None)
    return found


def choose_variant(source: ModelSource, components: list[str], preferred: str | None) -> str | None:
    """Pick the variant to load: ``preferred`` when every component can be loaded with it.

    ``preferred`` is ``"fp16"`` or ``None`` (the full-precision files). A cache with only
    fp16 files still runs in fp32 (upcast on load).
    """
    for component in components:
        check_component(source, component)
    for variant in dict.fromkeys((preferred, "fp16")):
        if all(component_files(source, c, variant) is not None for c in components):
            return variant
    raise ModelNotFoundError(
        f"{source.describe()} has no complete set of safetensors weights for "
        + ", ".join(components),
        hint="download the model again",
    )


def tensor_infos(source: ModelSource, path: Path) -> list[TensorInfo]:
    """A weight file's tensors from its header; a damaged file is a model error (exit 3)."""
    try:
        return read_tensor_infos(path)
    except UnreadableFile as exc:
        raise damaged(source, path, exc.reason) from exc
    except DamagedFile as exc:
        raise damaged(source, path, str(exc)) from exc


def check_weights(source: ModelSource, components: list[str], variant: str | None) -> None:
    """Every weight file the components load under ``variant``, checked from its header."""
    for component in components:
        for path in component_files(source, component, variant) or []:
            tensor_infos(source, path)


def check_watermarker(source: ModelSource) -> None:
    """IF's watermarker (a small model in the stage-I repo) checked as the stages are."""
    folder = source.path / "watermarker"
    if not folder.is_dir():
        return  # loading warns that images go unmarked
    _check_json_files(source, "watermarker")
    for path in sorted(folder.glob("*.safetensors")):
        tensor_infos(source, path)


def component_bytes(
    source: ModelSource, files: list[Path], bytes_per_param: int, fp32_names: tuple[str, ...] = ()
) -> tuple[int, int]:
    """Memory a component takes once loaded with ``bytes_per_param``: (total, largest tensor).

    Tensors whose name contains one of ``fp32_names`` stay in fp32 (T5 keeps its ``wo``
    layers in fp32 when loaded in fp16). Every file's header is checked on the way.
    """
    total = largest = 0
    for path in files:
        for info in tensor_infos(source, path):
            keep_fp32 = any(part in info.name for part in fp32_names)
            size = info.numel * (4 if keep_fp32 else bytes_per_param)
            total += size
            largest = max(largest, size)
    return total, largest
