"""The cascade's options, declared once and added to every command that runs it.

``generate``, ``img2img``, ``inpaint``, ``style`` and ``upscale`` share seeds, stage
settings, models, placement and output options. Each command names its own arguments
and takes the rest as ``**options``; ``with_options`` adds the shared parameters to its
signature (with the defaults of the diffusers pipelines that flow runs), so typer shows,
parses and completes them exactly alike everywhere.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable, Mapping
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import typer

from if_cli.commands import options as opt
from if_cli.engine.catalog import DEFAULT_PRESET, PRESETS
from if_cli.engine.request import Flow, GenerationRequest, StageOptions, flow_defaults
from if_cli.output.naming import DEFAULT_TEMPLATE

if TYPE_CHECKING:
    from if_cli.engine.image_input import ImageInput

Command = TypeVar("Command", bound=Callable[..., Any])
_KEYWORD = inspect.Parameter.KEYWORD_ONLY


def _param(name: str, annotation: Any, default: Any) -> inspect.Parameter:
    return inspect.Parameter(name, _KEYWORD, default=default, annotation=annotation)


def prompt_parameters() -> list[inspect.Parameter]:
    return [
        _param("negative_prompt", opt.NegativePrompt, None),
        _param("seed", opt.Seed, None),
        _param("num_images", opt.NumImages, 1),
    ]


def stage_parameters(
    flow: Flow, stages: Iterable[int], last_stage: Any = opt.LastStage
) -> list[inspect.Parameter]:
    """``--stages``, ``--batch-size`` and each stage's steps, guidance, noise, strength.

    ``last_stage`` is the annotation of the option that picks the last stage (``--stages``
    for most commands); None leaves it out for a command that sets it its own way.
    """
    defaults = flow_defaults(flow)
    stages = list(stages)
    repainting = [s for s in stages if defaults[s - 1].strength is not None]
    params = []
    if last_stage is not None:
        params.append(_param("stages", last_stage, 3))
    params.append(_param("batch_size", opt.BatchSize, 1))
    for stage in stages:
        d = defaults[stage - 1]
        prefix = "" if stage == 1 else f"stage_{stage}_"
        params += [
            _param(f"{prefix}steps", opt.STEPS[stage], str(d.steps)),
            _param(f"{prefix}guidance_scale", opt.GUIDANCE[stage], d.guidance_scale),
        ]
        if d.noise_level is not None:
            params.append(_param(f"stage_{stage}_noise_level", opt.NOISE[stage], d.noise_level))
        if d.strength is not None:
            first = stage == repainting[0]
            strength = opt.MAIN_STRENGTH[stage] if first else opt.STRENGTH[stage]
            params.append(_param(f"stage_{stage}_strength", strength, d.strength))
    return params


def model_parameters() -> list[inspect.Parameter]:
    return [
        _param("model", opt.ModelPreset, DEFAULT_PRESET),
        _param("stage_1_model", opt.Stage1Model, opt.DEFAULT_MODELS[0]),
        _param("stage_2_model", opt.Stage2Model, opt.DEFAULT_MODELS[1]),
        _param("stage_3_model", opt.Stage3Model, opt.DEFAULT_MODELS[2]),
    ]


def placement_parameters() -> list[inspect.Parameter]:
    return [
        _param("device", opt.Device, "auto"),
        _param("dtype", opt.DType, "auto"),
        _param("offload", opt.Offload, "auto"),
        _param("max_gpu_memory", opt.MaxGpuMemory, None),
        _param("compile", opt.Compile, False),
        _param("variant", opt.Variant, "auto"),
    ]


def output_parameters() -> list[inspect.Parameter]:
    return [
        _param("out", opt.OutDir, Path(".")),
        _param("name", opt.NameTemplate, DEFAULT_TEMPLATE),
        _param("keep_intermediates", opt.KeepIntermediates, False),
        _param("watermark", opt.Watermark, True),
        _param("json_output", opt.JsonOutput, False),
        _param("overwrite", opt.Overwrite, False),
        _param("metadata", opt.Metadata, True),
    ]


def shape_parameters() -> list[inspect.Parameter]:
    return [_param("aspect", opt.Aspect, None), _param("size", opt.PictureSize, None)]


def run_parameters() -> list[inspect.Parameter]:
    return [
        _param("dry_run", opt.DryRun, False),
        _param("quiet", opt.Quiet, False),
        _param("worker", opt.Worker, "auto"),
    ]


def cascade_parameters(
    flow: Flow, stages: Iterable[int], last_stage: Any = opt.LastStage
) -> list[inspect.Parameter]:
    """Every shared option of a command that runs ``stages`` of ``flow``."""
    return [
        *prompt_parameters(),
        *shape_parameters(),
        *stage_parameters(flow, stages, last_stage),
        *model_parameters(),
        *placement_parameters(),
        *output_parameters(),
    ]


def with_options(*groups: list[inspect.Parameter]) -> Callable[[Command], Command]:
    """Add ``groups`` of parameters to a command function that takes ``**options``."""

    def decorate(function: Command) -> Command:
        own = [
            p
            for p in inspect.signature(function, eval_str=True).parameters.values()
            if p.kind is not inspect.Parameter.VAR_KEYWORD
        ]
        params = [p.replace(kind=_KEYWORD) for p in own] + [p for g in groups for p in g]
        names = [p.name for p in params]
        if len(set(names)) != len(names):
            raise TypeError(f"{function.__name__}: an option is declared twice in {names}")

        @functools.wraps(function)
        def command(click_context: typer.Context, **values: Any) -> Any:
            from if_cli.commands.from_record import merge_recorded

            typed = typed_by_user(click_context)
            values = preset_filled(shape_settings(values, typed), set_by_user(click_context))
            return function(**merge_recorded(values, typed))

        context = _param("click_context", typer.Context, None)
        command.__signature__ = inspect.Signature([context, *params])  # type: ignore[attr-defined]
        command.__annotations__ = {p.name: p.annotation for p in (context, *params)}
        return command  # type: ignore[return-value]

    return decorate


def set_by_user(context: typer.Context) -> Callable[[str], bool]:
    """Whether the user set an option: on the command line, in an ``IF_CLI_*`` variable
    or in the config file (anything but its default)."""

    def user_set(name: str) -> bool:
        source = context.get_parameter_source(name)
        return source is not None and source.name != "DEFAULT"

    return user_set


def typed_by_user(context: typer.Context) -> Callable[[str], bool]:
    """Whether an option was typed on the command line (not a config or IF_CLI_* default)."""

    def typed(name: str) -> bool:
        source = context.get_parameter_source(name)
        return source is not None and source.name == "COMMANDLINE"

    return typed


def shape_settings(values: dict[str, Any], typed: Callable[[str], bool]) -> dict[str, Any]:
    """``--aspect`` and ``--size`` are two ways to say one thing: one typed on the command
    line overrides the other from the config or an ``IF_CLI_*`` variable, and a command
    that keeps its picture's own aspect (``--fit keep``) ignores a shape it was not given
    on the command line."""
    if "aspect" not in values:
        return values
    values = dict(values)
    if values["aspect"] is not None and values["size"] is not None:
        if typed("aspect") and not typed("size"):
            values["size"] = None
        elif typed("size") and not typed("aspect"):
            values["aspect"] = None
    if values.get("fit") == "keep":
        for name in ("aspect", "size"):
            if not typed(name):
                values[name] = None
    return values


def line_shape(merged: dict[str, Any], line: Mapping[str, Any]) -> dict[str, Any]:
    """A prompt-file line's ``aspect`` or ``size`` replaces the run's shape as a whole."""
    for mine, other in (("aspect", "size"), ("size", "aspect")):
        if line.get(mine) is not None and other not in line:
            return {**merged, other: None}
    return merged


def preset_filled(values: dict[str, Any], user_set: Callable[[str], bool]) -> dict[str, Any]:
    """``values`` with the ``--model`` preset's settings where the user set nothing.

    Set means on the command line, in an ``IF_CLI_*`` variable or in the config file:
    those always win over the preset, as over any default.
    """
    if "model" not in values:
        return values
    preset = PRESETS[values["model"]]
    fills: dict[str, Any] = {f"stage_{n}_model": m for n, m in enumerate(preset.models, 1)}
    fills["stages"] = preset.last_stage
    fills["to"] = "256" if preset.last_stage == 2 else "1024"  # upscale's --to
    fills["watermark"] = preset.watermark
    for stage in (1, 2, 3):
        prefix = "" if stage == 1 else f"stage_{stage}_"
        if preset.steps:
            fills[f"{prefix}steps"] = str(preset.steps[stage - 1])
        if preset.guidance_scale:
            fills[f"{prefix}guidance_scale"] = preset.guidance_scale[stage - 1]
    chosen = {name: v for name, v in fills.items() if name in values and not user_set(name)}
    return {**values, **chosen}


def _stage(o: Mapping[str, Any], stage: int, default: StageOptions) -> StageOptions:
    prefix = "" if stage == 1 else f"stage_{stage}_"
    return StageOptions(
        model=o.get(f"stage_{stage}_model", default.model),
        steps=opt.parse_steps(str(o.get(f"{prefix}steps", default.steps))),
        guidance_scale=o.get(f"{prefix}guidance_scale", default.guidance_scale),
        noise_level=o.get(f"stage_{stage}_noise_level", default.noise_level),
        strength=o.get(f"stage_{stage}_strength", default.strength),
    )


def request_from_options(
    o: Mapping[str, Any],
    flow: Flow = "generate",
    init: ImageInput | None = None,
    first_stage: int = 1,
) -> GenerationRequest:
    """One request from option values (command line, config, or a prompt-file line)."""
    defaults = flow_defaults(flow)
    return GenerationRequest(
        prompts=(o["prompt"],),
        negative_prompt=o.get("negative_prompt"),
        seed=o.get("seed"),
        num_images=o["num_images"],
        last_stage=o["stages"],
        batch_size=o["batch_size"],
        watermark=o["watermark"],
        keep_intermediates=o["keep_intermediates"],
        stage_1=_stage(o, 1, defaults[0]),
        stage_2=_stage(o, 2, defaults[1]),
        stage_3=_stage(o, 3, defaults[2]),
        placement=opt.placement(o),
        flow=flow,
        first_stage=first_stage,
        init=init,
        aspect=_shape(o, "aspect"),
        size=_shape(o, "size"),
    )


def _shape(o: Mapping[str, Any], name: str) -> str | None:
    """``--aspect`` or ``--size`` in one spelling (32:18 and 16:9 are one shape, so a
    run with either skips the other's finished images)."""
    from if_cli.engine.sizes import aspect_text, parse_aspect, parse_size

    value = o.get(name)
    if value is None:
        return None
    if name == "aspect":
        return aspect_text(parse_aspect(str(value)))
    return str(parse_size(str(value)))


def requested_ratio(o: Mapping[str, Any]) -> Fraction | None:
    """The aspect ``--aspect`` or ``--size`` asks for, which a picture is fitted to."""
    from if_cli.commands.option_words import in_option_words
    from if_cli.engine.sizes import parse_aspect, parse_size
    from if_cli.errors import InvalidRequestError

    try:
        if o.get("size") is not None:
            return parse_size(str(o["size"])).ratio
        if o.get("aspect") is not None:
            return parse_aspect(str(o["aspect"]))
    except InvalidRequestError as error:
        raise in_option_words(error) from error
    return None
