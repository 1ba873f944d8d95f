"""A disk cache of T5 prompt embeddings, so a repeated prompt never loads the encoder.

T5-XXL is ~10 GB to load for a few milliseconds of work per prompt. Each text's
embedding (77 × 4096) is stored as a safetensors file keyed by the encoder's identity
(hub revision, or a local folder's weight files), the dtype, the device type and the
exact text. Least recently used files are removed past the size cap.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from if_cli.engine.memory import GIB

if TYPE_CHECKING:
    from if_cli.engine.memory import StageFootprint

log = logging.getLogger("if_cli")

DEFAULT_MAX_BYTES = 2 * GIB
MAX_CACHE_GIB = 1024
"""A cap past any disk (and past what a byte count can hold when written as GiB)."""


def default_folder() -> Path:
    from platformdirs import user_cache_path

    return user_cache_path("if-cli") / "embeddings"


def encoder_identity(footprint: StageFootprint) -> str:
    """What makes two encoders the same: a hub revision, or a folder's exact files."""
    source = footprint.source
    if source.repo_id and source.revision:
        return f"{source.repo_id}@{source.revision}/{footprint.variant}"
    folder = source.path / "text_encoder"
    files = sorted(folder.glob("*.safetensors"))
    stamps = [f"{p.name}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in files]
    return f"{source.path}/{footprint.variant}/" + ",".join(stamps)


class EmbeddingCache:
    def __init__(self, folder: Path | None = None, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.folder = folder or default_folder()
        self.max_bytes = max_bytes
        self._warned = False

    def key(self, encoder: str, dtype: str, device: str, text: str) -> str:
        device_type = device.split(":")[0]
        material = "\x00".join((encoder, dtype, device_type, text)).encode()
        return hashlib.sha256(material).hexdigest()

    def _path(self, key: str) -> Path:
        return self.folder / f"{key}.safetensors"

    def get(self, key: str, device: str) -> tuple[Any, int] | None:
        """The cached embedding on ``device`` and the text's token count, or None.

        A hit counts as a use for the least-recently-used eviction.
        """
        from safetensors import SafetensorError, safe_open

        path = self._path(key)
        if not path.is_file():  # missing, or something else by that name: not ours
            return None
        try:
            with safe_open(path, framework="pt", device="cpu") as handle:
                tensor = handle.get_tensor("embeds")
                tokens = int((handle.metadata() or {}).get("tokens", 0))
            os.utime(path)
        except (OSError, KeyError, ValueError, RuntimeError, SafetensorError):
            return None
        if tensor.dim() != 3 or tensor.shape[0] != 1:  # one prompt's (1, tokens, width)
            return None
        return tensor.to(device), tokens

    def put(self, key: str, embeds: Any, tokens: int) -> None:
        """Store atomically (a reader never sees half a file), then evict past the cap.

        A cache that cannot be written (full disk, read-only home) only makes later runs
        slower, so it warns once and the run goes on.
        """
        try:
            self._store(key, embeds, tokens)
        except Exception as exc:  # OSError, or safetensors' own error for a failed write
            if not self._warned:
                log.warning("T5 embeddings are not cached in %s: %s", self.folder, exc)
                self._warned = True
            return
        self.evict()

    def _store(self, key: str, embeds: Any, tokens: int) -> None:
        from safetensors.torch import save_file

        self.folder.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=self.folder, suffix=".part")
        os.close(fd)
        try:
            tensors = {"embeds": embeds.detach().to("cpu").contiguous()}
            save_file(tensors, temp, metadata={"tokens": str(tokens)})
            os.replace(temp, self._path(key))
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)

    def evict(self) -> None:
        entries = []
        for path in self.folder.glob("*.safetensors"):
            with contextlib.suppress(FileNotFoundError):
                stat = path.stat()
                entries.append((stat.st_mtime_ns, stat.st_size, path))
        total = sum(size for _, size, _ in entries)
        for _, size, path in sorted(entries):
            if total <= self.max_bytes:
                break
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            total -= size
