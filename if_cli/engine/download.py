"""Download exactly the files the engine loads into the Hugging Face cache.

The published IF repos hold the original format, pickles, fp32, fp16 and 8-bit weights,
and a safety checker: a plain snapshot is ~40 GB. ``plan_download`` lists the repo (no
file is fetched but ``model_index.json``, read into memory), keeps the configs, tokenizer
files and one variant of the safetensors of the components this pipeline class loads,
and sizes what is still missing from the cache. A cached file whose size differs from
the hub's, or a safetensors file whose header does not describe it, is damaged and
counts as missing. ``run_download`` then removes the damaged files and fetches the
missing ones with huggingface_hub, which keeps finished files and resumes transfers.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from if_cli.engine.models import PICKLE_SUFFIXES, specs_for
from if_cli.engine.safetensors_header import DamagedFile, read_tensor_infos
from if_cli.errors import (
    AccessDeniedError,
    IFCliError,
    ModelNotFoundError,
    NetworkError,
    OutputError,
)
from if_cli.units import human_bytes
from if_cli.untrusted import UnreadableFile

CONFIG_SUFFIXES = (".json", ".txt", ".model")
SAFETY_FOLDERS = ("safety_checker",)
# Folders the engine reads beyond the phase specs: IF's watermark, and the image
# processor config the reference recipe hands to stage III (a few hundred bytes).
EXTRA_FOLDERS = {
    "IFPipeline": ("watermarker", "feature_extractor"),
    "IFSuperResolutionPipeline": ("feature_extractor",),
}


@dataclass(frozen=True)
class RemoteFile:
    path: str
    size: int


@dataclass(frozen=True)
class DownloadPlan:
    """What ``run_download`` will fetch for one repo, and how that compares to a snapshot."""

    repo_id: str
    revision: str
    commit: str
    pipeline_class: str
    files: tuple[RemoteFile, ...]
    repo_bytes: int
    missing: tuple[RemoteFile, ...]
    damaged: tuple[RemoteFile, ...] = ()  # in the cache but broken; part of ``missing``

    @property
    def selected_bytes(self) -> int:
        return sum(f.size for f in self.files)

    @property
    def missing_bytes(self) -> int:
        return sum(f.size for f in self.missing)


def file_variant(name: str) -> str | None:
    """The variant a weight file belongs to: ``model.fp16-00001-of-00002.safetensors`` → fp16."""
    if ".safetensors.index." in name:
        rest = name.split(".safetensors.index.", 1)[1]
        return None if rest == "json" else rest.removesuffix(".json")
    parts = name.split(".")
    if name.endswith(".safetensors") and len(parts) >= 3:
        return parts[-2].split("-")[0]
    return None


def _is_weights(name: str) -> bool:
    return name.endswith(".safetensors") or ".safetensors.index." in name


def needed_folders(model_index: dict[str, object], with_safety_checker: bool) -> set[str]:
    """The folders if-cli reads from a repo with this ``model_index.json``."""
    pipeline = str(model_index.get("_class_name"))
    specs = specs_for(pipeline)
    if specs:
        folders = {f for spec in specs for f in (*spec.components, *spec.folders)}
        folders |= set(EXTRA_FOLDERS.get(pipeline, ()))
    else:  # another diffusers pipeline: every component it lists
        folders = {
            k
            for k, v in model_index.items()
            if not k.startswith("_") and isinstance(v, list) and v[0] is not None
        }
        folders -= set(SAFETY_FOLDERS)
    if with_safety_checker:
        folders |= {*SAFETY_FOLDERS, "feature_extractor"}
    return folders


def select_files(
    files: list[RemoteFile], folders: set[str], variant: str | None
) -> list[RemoteFile]:
    """Configs, tokenizer files and one variant of safetensors in ``folders``.

    A folder without files of ``variant`` keeps its full-precision files, as diffusers
    falls back per component. Pickles, other variants and original-format files are left.
    """
    chosen = [f for f in files if f.path == "model_index.json"]
    by_folder: dict[str, list[RemoteFile]] = {}
    for remote in files:
        parts = PurePosixPath(remote.path).parts
        if len(parts) > 1 and parts[0] in folders:
            by_folder.setdefault(parts[0], []).append(remote)
    for entries in by_folder.values():
        names = [PurePosixPath(f.path).name for f in entries]
        present = {file_variant(n) for n in names if _is_weights(n)}
        use = variant if variant in present else None
        for remote, name in zip(entries, names, strict=True):
            if _is_weights(name):
                if file_variant(name) == use:
                    chosen.append(remote)
            elif name.endswith(CONFIG_SUFFIXES):
                chosen.append(remote)
    return sorted(chosen, key=lambda f: f.path)


def _refuse_pickle_only(
    repo_id: str, tree: list[RemoteFile], chosen: tuple[RemoteFile, ...]
) -> None:
    """A needed folder whose weights are pickles only cannot be loaded: say so, fetch nothing."""
    with_weights = {PurePosixPath(f.path).parts[0] for f in chosen if _is_weights(f.path)}
    needed = {PurePosixPath(f.path).parts[0] for f in chosen if "/" in f.path}
    lacking = needed - with_weights
    for remote in tree:
        parts = PurePosixPath(remote.path).parts
        if len(parts) > 1 and parts[0] in lacking and remote.path.endswith(PICKLE_SUFFIXES):
            raise ModelNotFoundError(
                f"{repo_id} has only pickle weights for {parts[0]} ({parts[-1]})",
                hint="if-cli loads safetensors only, since a pickle can run code when read",
            )


_OUTPUT_ERRNOS = {errno.ENOSPC, errno.EACCES, errno.EROFS, errno.EDQUOT, errno.EFBIG}


def _is_transport_error(exc: BaseException) -> bool:
    """A failure of the HTTP client itself (connect, timeout, dropped connection)."""
    return type(exc).__module__.split(".")[0] in {"httpx", "httpx2", "httpcore", "httpcore2"}


@contextmanager
def hub_errors(repo_id: str, revision: str) -> Iterator[None]:
    """Turn huggingface_hub's failures into if-cli errors that say what to do."""
    from huggingface_hub import constants
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    card = f"https://huggingface.co/{repo_id}"
    network = NetworkError(
        f"cannot download {repo_id} from {constants.ENDPOINT}",
        hint="check the network and run the same command again; finished files are kept",
    )
    try:
        yield
    except IFCliError:
        raise
    except GatedRepoError as exc:
        raise AccessDeniedError(
            f"{repo_id} is gated and this account has no access to it",
            hint=f"accept the licence at {card} while logged in, then log in here with "
            "`hf auth login` or set HF_TOKEN",
        ) from exc
    except RevisionNotFoundError as exc:
        raise ModelNotFoundError(f"{repo_id} has no revision {revision!r}") from exc
    except RepositoryNotFoundError as exc:
        raise ModelNotFoundError(
            f"no such model on the hub: {repo_id}",
            hint="check the name; a private repo also needs `hf auth login` or HF_TOKEN",
        ) from exc
    except OfflineModeIsEnabled as exc:
        raise NetworkError(
            f"cannot download {repo_id}: HF_HUB_OFFLINE is set",
            hint="unset it to download, or use what is already cached",
        ) from exc
    except HfHubHTTPError as exc:
        raise network from exc
    except OSError as exc:
        if exc.errno in _OUTPUT_ERRNOS:
            raise OutputError(f"cannot write the download of {repo_id}: {exc}") from exc
        raise network from exc
    except Exception as exc:
        if _is_transport_error(exc):
            raise network from exc
        raise


def use_timeouts() -> None:
    """Give every hub request a timeout: huggingface_hub asks for none (it passes
    ``timeout=None``), so a hub or proxy that accepts the connection and never answers
    would hang if-cli for good.

    A request hook fills each timeout left unset with ``HF_HUB_ETAG_TIMEOUT`` seconds (10
    by default): a request that hears nothing for that long fails, and the command fails
    as unreachable (exit 8). Timeouts huggingface_hub does set (file transfers) stay.
    """
    from huggingface_hub import constants, set_client_factory
    from huggingface_hub.utils._http import default_client_factory

    seconds = float(constants.HF_HUB_ETAG_TIMEOUT)

    def bounded(request: Any) -> None:
        asked = request.extensions.get("timeout") or {}
        request.extensions["timeout"] = {
            key: seconds if asked.get(key) is None else asked[key]
            for key in ("connect", "read", "write", "pool")
        }

    def client() -> Any:
        made = default_client_factory()
        hooks = made.event_hooks
        hooks["request"] = [*hooks.get("request", []), bounded]
        made.event_hooks = hooks
        return made

    set_client_factory(client)


def _cache_dir(cache_dir: Path | None) -> Path:
    from huggingface_hub import constants

    return Path(cache_dir or constants.HF_HUB_CACHE)


def _read_model_index(
    api: object, repo_id: str, commit: str, token: str | None, cache: Path
) -> dict:
    """``model_index.json`` of ``commit``: from the cache when there, else fetched into
    memory (nothing is written to the cache before the user agrees to download)."""
    from huggingface_hub import get_session, hf_hub_url, try_to_load_from_cache
    from huggingface_hub.utils import build_hf_headers, hf_raise_for_status

    cached = try_to_load_from_cache(repo_id, "model_index.json", cache_dir=cache, revision=commit)
    if isinstance(cached, str):
        return json.loads(Path(cached).read_text())
    url = hf_hub_url(repo_id, "model_index.json", revision=commit, endpoint=api.endpoint)  # type: ignore[attr-defined]
    response = get_session().get(
        url, headers=build_hf_headers(token=token), timeout=30, follow_redirects=True
    )
    hf_raise_for_status(response)
    return json.loads(response.content)


def plan_download(
    repo_id: str,
    revision: str = "main",
    variant: str | None = "fp16",
    with_safety_checker: bool = False,
    cache_dir: Path | None = None,
    token: str | None = None,
) -> DownloadPlan:
    """List the repo and pick the files to fetch; reads nothing but small metadata."""
    from huggingface_hub import HfApi, try_to_load_from_cache
    from huggingface_hub.hf_api import RepoFile

    use_timeouts()
    api = HfApi(token=token)
    cache = _cache_dir(cache_dir)
    with hub_errors(repo_id, revision):
        commit = api.repo_info(repo_id, revision=revision).sha
        assert commit is not None
        tree = [
            RemoteFile(entry.path, int(entry.size or 0))
            for entry in api.list_repo_tree(repo_id, revision=commit, recursive=True)
            if isinstance(entry, RepoFile)
        ]
        if not any(f.path == "model_index.json" for f in tree):
            raise ModelNotFoundError(f"{repo_id} is not a diffusers pipeline (no model_index.json)")
        model_index = _read_model_index(api, repo_id, commit, token, cache)
    folders = needed_folders(model_index, with_safety_checker)
    files = tuple(select_files(tree, folders, variant))
    _refuse_pickle_only(repo_id, tree, files)
    missing, damaged = [], []
    for remote in files:
        cached = try_to_load_from_cache(repo_id, remote.path, cache_dir=cache, revision=commit)
        if not isinstance(cached, str):
            missing.append(remote)
        elif is_damaged(Path(cached), remote):
            missing.append(remote)
            damaged.append(remote)
    return DownloadPlan(
        repo_id=repo_id,
        revision=revision,
        commit=commit,
        pipeline_class=str(model_index.get("_class_name")),
        files=files,
        repo_bytes=sum(f.size for f in tree),
        missing=tuple(missing),
        damaged=tuple(damaged),
    )


def is_damaged(cached: Path, remote: RemoteFile) -> bool:
    """Whether a cached file is not the hub's: another size, or a broken safetensors."""
    try:
        if remote.size and cached.stat().st_size != remote.size:
            return True
        if cached.name.endswith(".safetensors"):
            read_tensor_infos(cached)
    except (OSError, DamagedFile, UnreadableFile):
        return True
    return False


def _remove_damaged(plan: DownloadPlan, cache: Path) -> None:
    """Delete damaged files (the snapshot's link and the blob behind it) so they are
    fetched again; huggingface_hub would otherwise take them as finished."""
    from huggingface_hub import try_to_load_from_cache

    for remote in plan.damaged:
        cached = try_to_load_from_cache(
            plan.repo_id, remote.path, cache_dir=cache, revision=plan.commit
        )
        if not isinstance(cached, str):
            continue
        blob = Path(os.path.realpath(cached))
        for path in (Path(cached), blob):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()


def free_bytes(cache_dir: Path | None) -> tuple[Path, int]:
    """Free space where the cache lives (or would be created)."""
    place = _cache_dir(cache_dir)
    while not place.exists() and place != place.parent:
        place = place.parent
    return place, shutil.disk_usage(place).free


def check_disk_space(plans: list[DownloadPlan], cache_dir: Path | None) -> None:
    """Refuse before any transfer when the files still missing do not fit."""
    need = sum(plan.missing_bytes for plan in plans)
    place, free = free_bytes(cache_dir)
    if need > free:
        raise OutputError(
            f"not enough disk space: the download needs {human_bytes(need)} and "
            f"{place} has {human_bytes(free)} free",
            hint="free some space or pick another place with --cache-dir or HF_HOME",
        )


def run_download(
    plan: DownloadPlan, cache_dir: Path | None = None, token: str | None = None
) -> Path:
    """Fetch the plan's files into the cache; returns the snapshot folder."""
    from huggingface_hub import snapshot_download

    _remove_damaged(plan, _cache_dir(cache_dir))
    with hub_errors(plan.repo_id, plan.revision):
        folder = snapshot_download(
            plan.repo_id,
            revision=plan.revision,
            allow_patterns=[f.path for f in plan.files],
            cache_dir=_cache_dir(cache_dir),
            token=token,
        )
    return Path(folder)
