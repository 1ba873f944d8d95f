"""The standard streams, treated as Unix tools treat them.

- A descriptor 0, 1 or 2 that is closed when if-cli starts (``2>&-``) is opened on
  ``/dev/null``, so no file if-cli opens later can take its number: a library that
  writes to "stderr" would otherwise write into a PNG.
- stderr is decoration (progress, warnings, errors): when it is closed or breaks, it is
  dropped and the work goes on.
- stdout is data (paths, JSON): when it is closed or its reader goes away (``| head``),
  ``emit`` raises ``StdoutClosed`` (exit 141, as a shell reports SIGPIPE); when it is a
  file on a full disk, an ``OutputError`` (exit 6). What is finished stays finished.
"""

from __future__ import annotations

import errno
import io
import os
import sys
from typing import Any

from if_cli.errors import IFCliError, OutputError, StdoutClosed

_STDOUT_CLOSED = "stdout is closed"
_stdout_at_start: tuple[int, int] | None = None  # (device, inode) of descriptor 1
_BROKEN = {errno.EPIPE, errno.EBADF, errno.ECONNRESET}
_FULL = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO}


class _ClosedStdout(io.TextIOBase):
    """sys.stdout when descriptor 1 was closed at start: every write is refused."""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        raise OSError(errno.EBADF, _STDOUT_CLOSED)


class _ForgivingStderr(io.TextIOBase):
    """sys.stderr that drops what it cannot write, for good, instead of failing the run."""

    def __init__(self, stream: Any) -> None:
        super().__init__()
        self._stream = stream

    def _lost(self) -> None:
        self._stream = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the process

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except (OSError, ValueError):
            self._lost()
            return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except (OSError, ValueError):
            self._lost()

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        try:
            return bool(self._stream.isatty())
        except (OSError, ValueError):
            return False

    def fileno(self) -> int:
        return int(self._stream.fileno())

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return str(getattr(self._stream, "encoding", None) or "utf-8")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _reopen_closed_descriptors() -> set[int]:
    """Open /dev/null on each of 0, 1, 2 that is closed; the numbers that were."""
    closed = set()
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            closed.add(fd)
            null = os.open(os.devnull, os.O_RDWR)
            if null != fd:  # the lowest free number is taken first, so normally it is fd
                os.dup2(null, fd)
                os.close(null)
    return closed


def guard_standard_streams() -> None:
    """Make closed descriptors harmless and stderr forgiving; call once, first thing."""
    global _stdout_at_start
    closed = _reopen_closed_descriptors()
    _stdout_at_start = _identity(1)
    if 0 in closed or sys.stdin is None:
        sys.stdin = open(os.devnull)  # noqa: SIM115 - lives as long as the process
    if 1 in closed or sys.stdout is None:
        sys.stdout = _ClosedStdout()
    stderr = sys.stderr
    if 2 in closed or stderr is None:
        stderr = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the process
    if not isinstance(stderr, _ForgivingStderr):
        sys.stderr = _ForgivingStderr(stderr)


def _identity(target: int | str) -> tuple[int, int] | None:
    """(device, inode) of a descriptor or a path; None where it cannot be told."""
    try:
        info = os.stat(target)
    except OSError:
        return None
    return info.st_dev, info.st_ino


def stdout_silenced_by_a_library() -> bool:
    """Whether a library met a broken stdout and pointed it at /dev/null itself.

    rich does so when printing (help text, tables) into a pipe whose reader went away,
    then exits with a bare code 1; if-cli turns that into its own exit 141.
    """
    now = _identity(1)
    return now != _stdout_at_start and now == _identity(os.devnull)


def stdout_failure(error: BaseException, kept: str = "") -> IFCliError | None:
    """The if-cli error for an OSError of a write to stdout, or None for another error.

    Closed or broken: ``StdoutClosed``; full: ``OutputError``. stdout is silenced for
    the exit. ``kept`` tells what survives the stop (", and finished images were kept").
    """
    if not isinstance(error, OSError) or error.errno not in _BROKEN | _FULL:
        return None
    _silence_stdout()
    if error.errno in _FULL:
        return OutputError(
            f"cannot write to stdout: {error.strerror}; stopped{kept}",
            hint="the disk is full or a size limit is set; free space or send stdout elsewhere",
        )
    if str(error).endswith(_STDOUT_CLOSED):
        return StdoutClosed(f"stdout is closed; stopped{kept}")
    return broken_stdout(kept)


def broken_stdout(kept: str = "") -> StdoutClosed:
    """The error for a stdout whose reader went away."""
    return StdoutClosed(f"stdout is broken (its reader went away); stopped{kept}")


def _silence_stdout() -> None:
    """Point descriptor 1 at /dev/null, so the interpreter's last flush cannot fail."""
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 1)
        os.close(null)
    except OSError:
        pass
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the process


def require_stdout() -> None:
    """Refuse to start work whose results nobody could be told of (stdout closed)."""
    if isinstance(sys.stdout, _ClosedStdout):
        raise StdoutClosed(
            "stdout is closed, and if-cli prints there the path of each image it writes",
            hint="send it to /dev/null instead (>/dev/null) if the paths are not wanted",
        )


def emit(line: str) -> None:
    """One line of data on stdout, written at once; StdoutClosed when nobody can read it."""
    try:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()
    except OSError as error:
        failure = stdout_failure(error, ", and finished images were kept")
        if failure is None:
            raise
        raise failure from error
