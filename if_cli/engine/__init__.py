"""The if-cli engine: a plain Python API over the IF cascade (no typer, no rich).

Importing it is cheap; torch and diffusers are imported only when a model is needed.
"""

from if_cli.engine.cascade import Engine, PreparedRequest
from if_cli.engine.events import ProgressCallback, ProgressEvent
from if_cli.engine.request import GenerationRequest, Placement, StageOptions
from if_cli.engine.result import GeneratedImage, GenerationResult, StageTiming

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
