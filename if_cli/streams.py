"""The standard streams, treated as Unix tools treat them.

- A descriptor 0, 1 or 2 that is closed when if-cli starts (``2>&-``) is opened on
  ``/dev/null``, so no file if-cli opens later can take its number: a library that
  writes to "stderr" would otherwise write into a PNG.
- stderr is decoration (progress, warnings, errors): when it is closed or breaks, it is
  dropped and the work goes on.
- stdout is data (paths, JSON): when it is closed or its reader goes away (``| head``),
  ``emit`` raises ``StdoutClosed`` (exit 141, as a shell reports SIGPIPE), and what is
  finished stays finished.
"""

from __future__ import annotations

import errno
import io
import os
import sys
from typing import Any

from if_cli.errors import StdoutClosed

_STDOUT_CLOSED = "stdout is closed"
_BROKEN = {errno.EPIPE, errno.EBADF, errno.ECONNRESET}


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
    closed = _reopen_closed_descriptors()
    if 0 in closed or sys.stdin is None:
        sys.stdin = open(os.devnull)  # noqa: SIM115 - lives as long as the process
    if 1 in closed or sys.stdout is None:
        sys.stdout = _ClosedStdout()
    stderr = sys.stderr
    if 2 in closed or stderr is None:
        stderr = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the process
    if not isinstance(stderr, _ForgivingStderr):
        sys.stderr = _ForgivingStderr(stderr)


def is_stdout_failure(error: BaseException) -> bool:
    """Whether an OSError is stdout refusing data (closed, or a reader that went away)."""
    return isinstance(error, OSError) and error.errno in _BROKEN


def stdout_closed(error: BaseException, kept: str = "") -> StdoutClosed:
    """The if-cli error for a failed write to stdout; stdout is silenced for the exit.

    ``kept`` tells what survives the stop (", and finished images were kept").
    """
    _silence_stdout()
    what = "closed" if str(error).endswith(_STDOUT_CLOSED) else "broken (its reader went away)"
    return StdoutClosed(f"stdout is {what}; stopped{kept}")


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
        if not is_stdout_failure(error):
            raise
        raise stdout_closed(error, ", and finished images were kept") from error
