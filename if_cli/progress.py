"""Progress and log output on stderr: rich bars on a terminal, plain lines elsewhere.

Following rich-cli: decoration goes to stderr only; with NO_COLOR, TERM=dumb or a
non-terminal stderr (a pipe, a CI log) there are no bars, only a few plain lines per stage.
"""

from __future__ import annotations

import logging
import math
import os
import re
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from if_cli.engine.events import ProgressCallback, ProgressEvent, ignore_progress

PLAIN_REPORT_EVERY = 0.25  # plain mode prints at 0 %, 25 %, 50 %, 75 % and 100 %


def fancy_output_allowed(stream: Any = None) -> bool:
    stream = stream or sys.stderr
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    return bool(getattr(stream, "isatty", lambda: False)())


class _StderrHandler(logging.Handler):
    """Writes records to whatever ``sys.stderr`` is now (rich swaps it while bars run)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(f"if-cli: {record.levelname.lower()}: {record.getMessage()}\n")
            sys.stderr.flush()
        except Exception:  # logging must never break a run
            self.handleError(record)


LIBRARY_LOGGER = "if_cli.library"
"""Where notices of other libraries go (their Python warnings, what they print): shown as
if-cli warnings, and hidden by --quiet, unlike if-cli's own warnings."""


def _library_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: Any = None,
    line: str | None = None,
) -> None:
    """``warnings.showwarning``: one line through if-cli's logging, not the usual two."""
    logging.getLogger(LIBRARY_LOGGER).warning("%s: %s", category.__name__, message)


def install_log_handler() -> None:
    import warnings

    logger = logging.getLogger("if_cli")
    if not any(isinstance(h, _StderrHandler) for h in logger.handlers):
        logger.addHandler(_StderrHandler())
    logger.setLevel(logging.INFO)
    logger.propagate = False
    warnings.showwarning = _library_warning


@contextmanager
def library_notices(shown: bool) -> Iterator[None]:
    """Let other libraries' notices through, or (for --quiet) hide them, for a block."""
    logger = logging.getLogger(LIBRARY_LOGGER)
    before = logger.level
    logger.setLevel(logging.NOTSET if shown else logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(before)


def say(message: str) -> None:
    """A status line on stderr (never stdout, which carries only data)."""
    sys.stderr.write(f"if-cli: {message}\n")
    sys.stderr.flush()


def printable_line(text: str) -> str:
    """``text`` as one line a terminal shows as it is: line breaks folded, other control
    characters escaped (a file's text cannot forge lines, move the cursor or recolour)."""
    text = re.sub(r"\s*[\r\n\u2028\u2029\x85]+\s*", " ", str(text).strip())
    return re.sub(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", lambda m: repr(m.group())[1:-1], text)


def error_line(message: object) -> None:
    """``if-cli: error: …`` on stderr, as one printable line."""
    sys.stderr.write(f"if-cli: error: {printable_line(str(message))}\n")
    sys.stderr.flush()


def warn(message: str) -> None:
    """A warning on stderr: shown even with --quiet, as every if-cli warning is."""
    logging.getLogger("if_cli").warning(message)


def _pace(step: int, total: int, seconds: float, unit: str) -> str:
    """``3.20 steps/s, about 12 s left`` once a rate can be measured, else ""."""
    if step <= 0 or seconds <= 0:
        return ""
    rate = step / seconds
    if step >= total:
        return f"{rate:.2f} {unit}/s, {_duration(seconds)} in all"
    return f"{rate:.2f} {unit}/s, about {_duration((total - step) / rate)} left"


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


class PlainProgress:
    """A few lines per stage: loading, then steps at every quarter, with the images being
    made, the pace and the time left."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._next: dict[str, float] = {}
        self._started: dict[str, float] = {}
        self._clock = clock

    def __call__(self, event: ProgressEvent) -> None:
        if event.phase == "load":
            say(f"{event.label}: loading {event.detail}")
        elif event.phase == "run":
            now = self._clock()
            started = self._started.setdefault(event.stage, now)
            fraction = event.step / event.total if event.total else 1.0
            if fraction >= self._next.get(event.stage, 0.0):
                unit = "prompts" if event.stage == "text" else "steps"
                pace = _pace(event.step, event.total, now - started, unit)
                details = [d for d in (event.which_images, pace) if d]
                extra = f" ({'; '.join(details)})" if details else ""
                say(f"{event.label}: step {event.step}/{event.total}{extra}")
                # The next whole quarter, so the last step is always reported.
                quarters = math.floor(fraction / PLAIN_REPORT_EVERY + 1e-9) + 1
                self._next[event.stage] = quarters * PLAIN_REPORT_EVERY


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, OSError, ValueError):
        return False


class RichProgress:
    """One rich bar per stage on stderr."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.progress = Progress(
            TextColumn("{task.description:<16}"),
            BarColumn(bar_width=24),
            MofNCompleteColumn(),
            TextColumn("{task.fields[images]}"),
            TextColumn("{task.fields[pace]}"),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=False,
            # Lines printed while the bars run are drawn above them, on the terminal;
            # stdout may do so only when it is that terminal too, else the paths a
            # script redirects (`> paths.txt`) would land on the terminal instead.
            redirect_stdout=_is_terminal(sys.stdout),
        )
        self._tasks: dict[str, Any] = {}

    def __call__(self, event: ProgressEvent) -> None:
        if event.phase == "load":
            self._tasks[event.stage] = self.progress.add_task(
                f"{event.label} (loading)", total=None, images="", pace=""
            )
            return
        task = self._tasks.get(event.stage)
        if task is None:
            task = self._tasks[event.stage] = self.progress.add_task(
                event.label, total=None, images="", pace=""
            )
        if event.phase == "run":
            speed = self.progress.tasks[task].speed
            self.progress.update(
                task,
                description=event.label,
                completed=event.step,
                total=event.total,
                images=event.which_images,
                pace=f"{speed:.2f} steps/s" if speed else "",
            )
        else:
            total = self.progress.tasks[task].total or 1
            self.progress.update(task, description=event.label, completed=total, total=total)


@contextmanager
def progress_reporter(quiet: bool) -> Iterator[ProgressCallback]:
    """The callback to hand the engine, with bars shown only while the run lasts.

    With ``quiet`` other libraries' notices are hidden too.
    """
    with library_notices(shown=not quiet):
        if quiet:
            yield ignore_progress
        elif fancy_output_allowed():
            reporter = RichProgress()
            with reporter.progress:
                yield reporter
        else:
            yield PlainProgress()
