"""Atomic, exclusive file writes.

A file is written to a temporary name in the target folder, flushed to disk, then
hard-linked to its final name, which fails if that name exists: no reader ever sees a
half-written file, and no existing file is ever replaced, even by a concurrent run.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from if_cli import fault_points
from if_cli.errors import OutputError

PART_SUFFIX = ".part"
NEW_FILE_MODE = 0o666  # what open() asks for; the umask then takes its bits away
_FULL = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


def write_failure(what: str, exc: OSError) -> OutputError:
    """The error for a failed write; a full disk (or a file-size limit) says so."""
    hint = None
    if exc.errno in _FULL:
        hint = "the disk is full or a size limit is set; free space or choose another --out"
    return OutputError(f"cannot write {what}: {exc.strerror or exc}", hint=hint)


def ensure_writable_dir(directory: Path) -> list[Path]:
    """Create ``directory`` if needed and prove a file can be written there.

    Returns the folders it created, outermost first, for ``remove_empty_dirs``.
    """
    if directory.exists() and not directory.is_dir():
        raise OutputError(f"output path {directory} exists and is not a directory")
    missing = [folder for folder in (directory, *directory.parents) if not folder.exists()]
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as exc:
        remove_empty_dirs(missing[::-1])
        failure = write_failure(f"to output directory {directory}", exc)
        if failure.hint is None:
            failure.hint = "choose a folder you can write to with -o/--out"
        raise failure from exc
    return missing[::-1]


def remove_empty_dirs(created: list[Path]) -> None:
    """Remove folders a run created, innermost first, where they are still empty."""
    for folder in reversed(created):
        try:
            folder.rmdir()
        except OSError:  # not empty (someone wrote there), or already gone
            return


def current_umask() -> int:
    """The process's umask, which files get as any Unix tool's would.

    Read from ``/proc`` where it is there; elsewhere set and restored at once (the only
    portable way to read it).
    """
    with (
        contextlib.suppress(OSError, ValueError),
        open("/proc/self/status", encoding="ascii", errors="replace") as status,
    ):
        for line in status:
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def publish(path: Path, write: Callable[[BinaryIO], None]) -> None:
    """Write via ``write`` to a temp file, then give it ``path`` unless ``path`` exists.

    Raises FileExistsError when the name is taken (the caller picks another), and
    OutputError for any other failure; the temp file is removed wherever the folder
    still allows it (a failure to remove it never hides the failure that matters).
    """
    prefix = f".{path.name}.{os.getpid()}."  # the writer's PID: see remove_orphans
    try:
        fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=prefix, suffix=PART_SUFFIX)
    except OSError as exc:
        raise write_failure(str(path), exc) from exc
    temp = Path(temp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(fd, NEW_FILE_MODE & ~current_umask())  # mkstemp's 0600 is private
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        fault_points.reached("save")
        try:
            os.link(temp, path)
        except FileExistsError:
            raise
        except OSError:
            _exclusive_rename(temp, path)
    except FileExistsError:
        raise
    except OSError as exc:
        raise write_failure(str(path), exc) from exc
    finally:
        with contextlib.suppress(OSError):  # gone, or a folder that no longer lets us
            temp.unlink()


def publish_bytes(path: Path, data: bytes) -> Path:
    """``publish`` for data already in memory; returns ``path``."""
    publish(path, lambda handle: handle.write(data))
    return path


def publish_beside(folder: Path, stem: str, suffix: str, data: bytes) -> Path:
    """``STEM+SUFFIX`` in ``folder``; if something took that name since the stem was
    chosen, ``STEM-<random>+SUFFIX`` (the sidecar records every file's real name)."""
    names = [f"{stem}{suffix}"] + [f"{stem}-{secrets.token_hex(4)}{suffix}" for _ in range(8)]
    for name in names:
        try:
            return publish_bytes(folder / name, data)
        except FileExistsError:
            continue
    raise OutputError(f"cannot write {folder / names[0]}: that name and 8 others are taken")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):  # gone, or no process could have it
        return False
    except OSError:  # alive but someone else's (EPERM), or not to be judged: keep it
        return True
    return True


def remove_orphans(directory: Path) -> int:
    """Delete temp files left by writers that died mid-write (killed, power cut).

    Only regular files whose writer process is gone are removed, so another if-cli
    writing into the same folder right now is never disturbed; one that cannot be
    removed (another user's, in a shared folder) is left as it is. Returns how many
    were removed.
    """
    removed = 0
    for temp in directory.glob(f".*{PART_SUFFIX}"):
        parts = temp.name.split(".")
        pid = next((int(p) for p in reversed(parts[:-2]) if p.isdigit()), None)
        if pid is None or _alive(pid) or temp.is_symlink() or not temp.is_file():
            continue
        try:
            temp.unlink()
            removed += 1
        except OSError:
            continue
    return removed


def _exclusive_rename(temp: Path, path: Path) -> None:
    """Fallback where hard links are not supported: reserve the name, then replace it."""
    os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    os.replace(temp, path)
