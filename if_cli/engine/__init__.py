"""The if-cli engine: a plain Python API over the IF cascade (no typer, no rich).

Importing it is cheap: names load on first use (PEP 562), and torch and diffusers are
imported only when a model is needed.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "Engine": "cascade",
    "PreparedRequest": "cascade",
    "ProgressCallback": "events",
    "ProgressEvent": "events",
    "GenerationRequest": "request",
    "Placement": "request",
    "StageOptions": "request",
    "GeneratedImage": "result",
    "GenerationResult": "result",
    "StageTiming": "result",
}
__all__ = [
    "Engine",
    "GeneratedImage",
    "GenerationRequest",
    "GenerationResult",
    "Placement",
    "PreparedRequest",
    "ProgressCallback",
    "ProgressEvent",
    "StageOptions",
    "StageTiming",
]

if TYPE_CHECKING:
    from if_cli.engine.cascade import Engine, PreparedRequest
    from if_cli.engine.events import ProgressCallback, ProgressEvent
    from if_cli.engine.request import GenerationRequest, Placement, StageOptions
    from if_cli.engine.result import GeneratedImage, GenerationResult, StageTiming


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'if_cli.engine' has no attribute {name!r}")
    return getattr(import_module(f"if_cli.engine.{_EXPORTS[name]}"), name)
