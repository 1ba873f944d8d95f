"""The signals that stop a run, and the one moment a stop waits for.

SIGINT (Ctrl-C), SIGTERM and SIGHUP stop a run at once and unwind exactly as Ctrl-C
does, keeping every finished image. A signal the process inherited as ignored (``nohup``,
``trap '' HUP``) stays ignored, as in any Unix tool. While an image's files are being
written, a stop waits until that image is complete (milliseconds), so a stopped run never
leaves a PNG without its sidecar.
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from if_cli.errors import StopSignal

STOP_SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP")
log = logging.getLogger("if_cli")
_waiting: list[int] | None = None  # signals received while a write is in progress


def _stop(signal_number: int, _frame: Any) -> None:
    if _waiting is not None:
        _waiting.append(signal_number)
        return
    raise StopSignal(signal_number)


def install_stop_handlers() -> None:
    """Handle the stop signals, except those the process was started with ignored."""
    for name in STOP_SIGNALS:
        number = getattr(signal, name, None)
        if number is None or signal.getsignal(number) == signal.SIG_IGN:
            continue
        signal.signal(number, _stop)


@contextmanager
def stops_wait() -> Iterator[None]:
    """Let a stop that arrives during the block take effect only once it is over."""
    global _waiting
    outer = _waiting
    _waiting = [] if outer is None else outer
    try:
        yield
    except BaseException as error:
        pending = _release(outer)
        if pending is not None and not isinstance(error, KeyboardInterrupt):
            log.warning("%s", error)  # the stop wins; say what failed before it
            raise StopSignal(pending) from error
        raise
    pending = _release(outer)
    if pending is not None:
        raise StopSignal(pending)


def stop_waiting() -> bool:
    """Whether a stop has arrived and waits for the write in progress to finish."""
    return bool(_waiting)


def _release(outer: list[int] | None) -> int | None:
    """Leave the block; the first stop that waited, where this is the outermost block."""
    global _waiting
    pending = _waiting
    _waiting = outer
    if outer is not None or not pending:
        return None
    return pending[0]
