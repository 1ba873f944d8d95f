"""What is in the Hugging Face cache for if-cli: each pipeline repo, its size, variants,
and whether the engine could load it now. Also removal of a cached repo.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from if_cli.engine.download import file_variant
from if_cli.engine.models import (
    ModelSource,
    check_folders,
    check_weights,
    choose_variant,
    pipeline_class,
    specs_for,
)
from if_cli.errors import IFCliError, ModelNotFoundError


@dataclass(frozen=True)
class CachedModel:
    repo_id: str
    revision: str
    refs: tuple[str, ...]
    size_bytes: int
    variants: tuple[str, ...]
    problem: str | None
    path: Path
    shipped: bool = False  # part of if-cli (the demo), not in the Hugging Face cache

    @property
    def complete(self) -> bool:
        return self.problem is None


def _scan(cache_dir: Path | None):  # type: ignore[no-untyped-def]
    from huggingface_hub import scan_cache_dir
    from huggingface_hub.errors import CacheNotFound

    try:
        return scan_cache_dir(cache_dir)
    except CacheNotFound:
        return None


def _variants(source: ModelSource) -> tuple[str, ...]:
    """Variants present in the weight components the engine loads from this repo."""
    components = {c for spec in specs_for(pipeline_class(source)) for c in spec.components}
    found = {
        file_variant(path.name) or "fp32"
        for component in components
        for path in (source.path / component).glob("*.safetensors")
    }
    return tuple(sorted(found))


def _problem(source: ModelSource, interrupted: bool) -> str | None:
    """Why the engine could not load this snapshot now, or None."""
    if interrupted:
        return "a download was interrupted; run `if-cli download` again"
    try:
        wanted = pipeline_class(source)
        specs = specs_for(wanted)
        for spec in specs:
            check_folders(source, spec.folders)
            variant = choose_variant(source, list(spec.components), "fp16")
            check_weights(source, list(spec.components), variant)
    except IFCliError as error:
        return error.message
    return None if specs else f"{wanted} is not a pipeline if-cli runs"


def list_cached(cache_dir: Path | None = None) -> list[CachedModel]:
    """Every cached model repo that holds a diffusers pipeline, newest revision first."""
    info = _scan(cache_dir)
    if info is None:
        return []
    found = []
    for repo in sorted(info.repos, key=lambda r: r.repo_id):
        if repo.repo_type != "model":
            continue
        interrupted = any(repo.repo_path.glob("blobs/*.incomplete"))
        for revision in sorted(repo.revisions, key=lambda r: r.last_modified, reverse=True):
            snapshot = Path(revision.snapshot_path)
            if not (snapshot / "model_index.json").is_file():
                continue
            source = ModelSource(repo.repo_id, snapshot, repo.repo_id, revision.commit_hash)
            found.append(
                CachedModel(
                    repo_id=repo.repo_id,
                    revision=revision.commit_hash,
                    refs=tuple(sorted(revision.refs)),
                    size_bytes=revision.size_on_disk,
                    variants=_variants(source),
                    problem=_problem(source, interrupted),
                    path=snapshot,
                )
            )
    return found


def list_shipped() -> list[CachedModel]:
    """The demo models that ship inside if-cli, checked as cached ones are."""
    import if_cli
    from if_cli.engine.catalog import SHIPPED_MODELS, shipped_model_path

    found = []
    for name in SHIPPED_MODELS:
        folder = shipped_model_path(name)
        assert folder is not None
        source = ModelSource(name, folder, name, None)
        found.append(
            CachedModel(
                repo_id=name,
                revision=f"if-cli {if_cli.__version__}",
                refs=(),
                size_bytes=sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()),
                variants=_variants(source),
                problem=_problem(source, interrupted=False),
                path=folder,
                shipped=True,
            )
        )
    return found


def cached_size(repo_id: str, cache_dir: Path | None = None) -> int:
    """Bytes a repo takes in the cache (0 if absent)."""
    info = _scan(cache_dir)
    repos = [] if info is None else [r for r in info.repos if r.repo_id == repo_id]
    return sum(r.size_on_disk for r in repos)


def remove_cached(repo_id: str, cache_dir: Path | None = None) -> int:
    """Delete ``repo_id``'s whole cache folder (every revision, blob and partial file).

    Deleting by folder, not by commit hash, can never touch another repo.
    """
    info = _scan(cache_dir)
    repos = (
        []
        if info is None
        else [r for r in info.repos if r.repo_id == repo_id and r.repo_type == "model"]
    )
    if not repos:
        raise ModelNotFoundError(f"{repo_id} is not in the Hugging Face cache")
    for repo in repos:
        shutil.rmtree(repo.repo_path)
    return sum(repo.size_on_disk for repo in repos)
