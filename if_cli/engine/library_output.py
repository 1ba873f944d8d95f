"""What libraries print on their own goes through if-cli's logging, never to stdout.

The tokenizers library prints some notices from Rust straight to the process's stdout
("Ignored unknown kwarg option __type" for tokenizer files in an older format), where
they would corrupt the paths and JSON a script reads. While a model loads, descriptor 1
(and Python's ``sys.stdout``) point at a temporary file; each distinct line found there
is then logged once as a library warning (``if_cli.library``), which ``--quiet`` hides.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
import tempfile
from collections.abc import Iterator

library_log = logging.getLogger("if_cli.library")
MAX_CAPTURED_BYTES = 64 * 1024
_seen: set[str] = set()


@contextlib.contextmanager
def stdout_captured() -> Iterator[None]:
    """Run the block with stdout diverted; log what was printed there afterwards."""
    with contextlib.suppress(OSError, ValueError):  # a failing stdout is reported elsewhere
        sys.stdout.flush()
    python_level = io.StringIO()
    with tempfile.TemporaryFile() as sink:
        saved = os.dup(1)
        os.dup2(sink.fileno(), 1)
        try:
            with contextlib.redirect_stdout(python_level):
                yield
        finally:
            os.dup2(saved, 1)
            os.close(saved)
            sink.seek(0)
            printed = sink.read(MAX_CAPTURED_BYTES).decode("utf-8", "replace")
            _log_lines(printed + python_level.getvalue())


def _log_lines(text: str) -> None:
    for line in text.splitlines():
        line = line.strip()
        if line and line not in _seen:
            _seen.add(line)
            library_log.warning("%s", line)
