"""Reading files that if-cli did not write in this run: bounded, and never left hanging.

Sidecars found in ``--out``, the sidecar beside an ``upscale`` input, a sidecar given to
``replay``, the config file, prompt files and a model's JSON and safetensors headers can
be anything a folder can hold: a FIFO that never answers, a symlink to ``/dev/zero``, a
JSON document nested a million levels deep. Each is opened without blocking, refused
unless it is a regular file (a pipe only where the user named one, as in
``--prompts <(grep …)``), read up to a size limit, and parsed with a bounded depth.
Every failure is an ``UnreadableFile`` with its reason in words; the caller decides
whether that is an error of its own kind or a file to skip with a warning.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

MAX_JSON_DEPTH = 64
"""Deeper than anything if-cli writes or reads (a sidecar is 4 levels deep)."""
_READ_CHUNK = 1 << 20


class UnreadableFile(Exception):
    """A file that cannot be used, and why (``reason`` reads after the file's name)."""

    def __init__(self, path: Path | str, reason: str) -> None:
        super().__init__(f"{path} {reason}")
        self.path = Path(path)
        self.reason = reason


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _too_large(limit: int) -> str:
    return f"is larger than {limit:,} bytes; refused"


@contextmanager
def open_untrusted(path: Path | str, streams: bool = False) -> Iterator[tuple[int, os.stat_result]]:
    """An open descriptor of a regular file (or, with ``streams``, of a pipe too), and its
    status, read from the descriptor itself so the file cannot be swapped after the check.

    The open does not block, so a FIFO with no writer cannot hang it.
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError as exc:
        dangling = os.path.islink(path)
        raise UnreadableFile(path, "is a broken link" if dangling else "does not exist") from exc
    except IsADirectoryError as exc:
        raise UnreadableFile(path, "is a folder") from exc
    except OSError as exc:
        raise UnreadableFile(path, f"cannot be opened: {exc.strerror or exc}") from exc
    except ValueError as exc:  # a NUL in the name
        raise UnreadableFile(repr(str(path)), "is not a possible file name") from exc
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) and not (streams and stat.S_ISFIFO(info.st_mode)):
            raise UnreadableFile(path, f"is {_kind(info.st_mode)}, not a regular file")
        os.set_blocking(fd, True)
        yield fd, info
    except OSError as exc:
        raise UnreadableFile(path, f"cannot be read: {exc.strerror or exc}") from exc
    finally:
        os.close(fd)


def read_bytes(path: Path | str, limit: int, streams: bool = False) -> bytes:
    """All of a file of at most ``limit`` bytes (see ``open_untrusted``)."""
    with open_untrusted(path, streams) as (fd, info):
        if stat.S_ISREG(info.st_mode) and info.st_size > limit:
            raise UnreadableFile(path, _too_large(limit))
        data = read_up_to(fd, limit + 1)
    if len(data) > limit:  # a file that grew since its size was read, or a stream
        raise UnreadableFile(path, _too_large(limit))
    return data


def read_up_to(fd: int, count: int) -> bytes:
    """``count`` bytes from ``fd``, or fewer where the file ends first."""
    chunks, total = [], 0
    while total < count:
        chunk = os.read(fd, min(_READ_CHUNK, count - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    return b"".join(chunks)


def depth(value: Any) -> int:
    """How deeply lists and objects nest in a parsed JSON value (a scalar is 0)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children = list(item.values())
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in children)
    return deepest


def parse_json(text: str | bytes) -> Any:
    """JSON with a bounded depth; ValueError for anything else, whose message reads after
    "is" ("not valid JSON (…)", "nested more than 64 levels deep")."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise ValueError(f"nested more than {MAX_JSON_DEPTH} levels deep") from None
    except UnicodeDecodeError as exc:
        raise ValueError(f"not UTF-8 text (bad byte at offset {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc.msg} at line {exc.lineno})") from None
    except ValueError as exc:  # a number too long to convert, and such
        raise ValueError(f"not valid JSON ({exc})") from None
    if depth(value) > MAX_JSON_DEPTH:
        raise ValueError(f"nested more than {MAX_JSON_DEPTH} levels deep")
    return value


def read_json(path: Path | str, limit: int) -> Any:
    """A regular file of at most ``limit`` bytes, parsed as JSON with a bounded depth."""
    data = read_bytes(path, limit)
    try:
        return parse_json(data)
    except ValueError as exc:
        raise UnreadableFile(path, f"is {exc}") from exc
