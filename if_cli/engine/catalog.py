"""Models by short name: the published IF models, the shipped demo, and cascade presets.

Users type ``I-XL`` instead of a repo id, ``demo-I`` for the demo stage I that ships
inside the package, and ``--model demo`` for a whole cascade with the settings it runs
best with.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from if_cli.errors import InvalidRequestError

MODEL_ALIASES: dict[str, str] = {
    "I-XL": "DeepFloyd/IF-I-XL-v1.0",
    "I-L": "DeepFloyd/IF-I-L-v1.0",
    "I-M": "DeepFloyd/IF-I-M-v1.0",
    "II-L": "DeepFloyd/IF-II-L-v1.0",
    "II-M": "DeepFloyd/IF-II-M-v1.0",
    "x4": "stabilityai/stable-diffusion-x4-upscaler",
}
DEFAULT_CASCADE = ("I-XL", "II-L", "x4")
_BY_REPO = {repo: alias for alias, repo in MODEL_ALIASES.items()}

PUBLISHED_PARAMETERS: dict[str, dict[str, int]] = {
    # Parameters of what each phase loads, from the model cards (T5 4.76B, IF-I-XL 4.3B,
    # IF-I-L 900M, IF-I-M 400M, IF-II-L 1.2B, IF-II-M 450M; the x4 upscaler's UNet 473M,
    # VAE 55M and OpenCLIP text encoder 340M): plans for models not downloaded yet.
    "DeepFloyd/IF-I-XL-v1.0": {"text": 4_762_310_656, "stage_1": 4_304_695_110},
    "DeepFloyd/IF-I-L-v1.0": {"text": 4_762_310_656, "stage_1": 900_000_000},
    "DeepFloyd/IF-I-M-v1.0": {"text": 4_762_310_656, "stage_1": 400_000_000},
    "DeepFloyd/IF-II-L-v1.0": {"stage_2": 1_200_876_550},
    "DeepFloyd/IF-II-M-v1.0": {"stage_2": 450_000_000},
    "stabilityai/stable-diffusion-x4-upscaler": {"stage_3": 869_100_000},
}
T5_FP32_PARAMETERS = 24 * 10_240 * 4_096
"""T5-XXL's feed-forward output layers (``wo``), which stay fp32 when loaded in fp16."""

DEMO_FOLDER = Path(__file__).resolve().parent.parent / "demo"
SHIPPED_MODELS: dict[str, str] = {"demo-I": "IF-I-demo", "demo-II": "IF-II-demo"}
"""Models inside the package (``if_cli/demo/``), by the name a user types."""


def shipped_model_path(name: str) -> Path | None:
    """The folder of a model shipped with if-cli, or None if ``name`` is not one."""
    folder = SHIPPED_MODELS.get(name)
    return DEMO_FOLDER / folder if folder else None


@dataclass(frozen=True)
class Preset:
    """A named cascade: its models, the stage it stops at, the settings it runs best with.

    ``steps`` and ``guidance_scale`` (one per stage) replace each flow's defaults where
    given; None keeps the defaults of the diffusers pipelines.
    """

    description: str
    models: tuple[str, str, str]
    last_stage: int = 3
    steps: tuple[int, int, int] | None = None
    guidance_scale: tuple[float, float, float] | None = None
    watermark: bool = True


PRESETS: dict[str, Preset] = {
    "if": Preset(
        "DeepFloyd IF: IF-I-XL, IF-II-L and the x4 upscaler, 64 → 256 → 1024 px "
        "(run `if-cli download` first)",
        tuple(MODEL_ALIASES[a] for a in DEFAULT_CASCADE),  # type: ignore[arg-type]
    ),
    "demo": Preset(
        "the small demo cascade shipped with if-cli: simple shapes, 32 → 128 px, "
        "offline and in seconds on a CPU",
        ("demo-I", "demo-II", MODEL_ALIASES["x4"]),
        last_stage=2,
        steps=(20, 10, 75),
        guidance_scale=(7.0, 1.0, 9.0),  # stage II follows its 32 px picture: no CFG
        watermark=False,  # IF's watermark marks IF's weights; the demo's are if-cli's own
    ),
}
DEFAULT_PRESET = "if"


def repo_id_for(name: str) -> str:
    """An alias or a hub id (``owner/name``) → the hub id."""
    if name in MODEL_ALIASES:
        return MODEL_ALIASES[name]
    if name in SHIPPED_MODELS:
        raise InvalidRequestError(f"{name} ships inside if-cli: there is nothing to download")
    owner, slash, repo = name.partition("/")
    if not slash or not owner or not repo or "/" in repo:
        raise InvalidRequestError(
            f"unknown model {name!r}",
            hint="use a hub id (owner/name) or one of " + ", ".join(MODEL_ALIASES),
        )
    return name


def short_name(repo_id: str) -> str:
    """The alias of a published repo, else the repo id itself."""
    return _BY_REPO.get(repo_id, repo_id)


def preset_stages(name: str, flow: str = "generate") -> tuple[Any, Any, Any]:
    """Each stage's options in ``flow`` under the preset ``name``: its models, and its
    steps and guidance where it sets them, over the flow's defaults (what ``--model``
    gives a command line that sets nothing else)."""
    import dataclasses

    from if_cli.engine.request import flow_defaults

    preset = PRESETS[name]
    stages = []
    for number, default in enumerate(flow_defaults(flow), 1):  # type: ignore[arg-type]
        changes: dict[str, Any] = {"model": preset.models[number - 1]}
        if preset.steps:
            changes["steps"] = preset.steps[number - 1]
        if preset.guidance_scale:
            changes["guidance_scale"] = preset.guidance_scale[number - 1]
        stages.append(dataclasses.replace(default, **changes))
    return stages[0], stages[1], stages[2]
