"""What a client and a worker must share to make the same bytes.

The same if-cli and libraries (the PNG's text, the sidecar's versions, the arithmetic),
and the same places for models and cached embeddings. A client with ``--worker auto``
that finds a worker started from other software runs in its own process instead.
"""

from __future__ import annotations

import os
from typing import Any

from if_cli import __version__
from if_cli.worker.wire import PROTOCOL

SAME_SOFTWARE_VARIABLES = (
    "HOME",  # the caches' default place
    "HF_HOME",
    "HF_HUB_CACHE",
    "HUGGINGFACE_HUB_CACHE",
    "XDG_CACHE_HOME",
)


def software() -> dict[str, Any]:
    from if_cli.output.metadata import library_versions

    return {
        "if_cli": __version__,
        "protocol": PROTOCOL,
        "versions": library_versions(),
        "environment": {name: os.environ.get(name) for name in SAME_SOFTWARE_VARIABLES},
    }


def difference(theirs: Any, mine: dict[str, Any]) -> str | None:
    """The first thing that differs, in words (``torch 2.12.0, not 2.13.0``), or None."""
    if not isinstance(theirs, dict):
        return "software it does not describe"
    if theirs.get("if_cli") != mine["if_cli"] or theirs.get("protocol") != mine["protocol"]:
        return f"if-cli {theirs.get('if_cli')}, not {mine['if_cli']}"
    for group in ("versions", "environment"):
        given = theirs.get(group) if isinstance(theirs.get(group), dict) else {}
        for name, value in mine[group].items():
            if given.get(name) != value:
                return f"{name} {_said(given.get(name))}, not {_said(value)}"
    return None


def _said(value: Any) -> str:
    return "unset" if value is None else str(value)
