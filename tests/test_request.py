"""Requests are validated cheaply and completely before anything loads."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from if_cli.engine.request import GenerationRequest, StageOptions, default_stage_2
from if_cli.engine.schedules import (
    SCHEDULE_LENGTHS,
    SCHEDULE_NAMES,
    step_count,
    steps_and_timesteps,
    timesteps_for,
)
from if_cli.errors import InvalidRequestError


def _request(**changes: object) -> GenerationRequest:
    return dataclasses.replace(GenerationRequest(prompts=("a corgi",), seed=1), **changes)


def test_defaults_are_the_reference_recipe() -> None:
    request = GenerationRequest(prompts=("a corgi",))
    assert (request.stage_1.steps, request.stage_1.guidance_scale) == (100, 7.0)
    assert (request.stage_2.steps, request.stage_2.guidance_scale, request.stage_2.noise_level) == (
        50,
        4.0,
        250,
    )
    assert (request.stage_3.steps, request.stage_3.guidance_scale, request.stage_3.noise_level) == (
        75,
        9.0,
        100,
    )
    assert request.stage_1.model == "DeepFloyd/IF-I-XL-v1.0"
    assert request.stage_2.model == "DeepFloyd/IF-II-L-v1.0"
    assert request.stage_3.model == "stabilityai/stable-diffusion-x4-upscaler"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"prompts": ("",)}, "prompt is empty"),
        ({"prompts": ("   \t",)}, "prompt is empty"),
        ({"prompts": ()}, "no prompt"),
        ({"prompts": ("a\x00b",)}, "NUL"),
        ({"num_images": 0}, "num_images"),
        ({"batch_size": 0}, "batch_size"),
        ({"last_stage": 0}, "last_stage"),
        ({"last_stage": 4}, "last_stage"),
        ({"seed": -1}, "seed"),
        ({"stage_1": StageOptions("m", 0, 7.0)}, "stage_1.steps"),
        ({"stage_1": StageOptions("m", -3, 7.0)}, "stage_1.steps"),
        ({"stage_1": StageOptions("m", 10, -1.0)}, "guidance_scale"),
        ({"stage_1": StageOptions("m", 10, float("nan"))}, "guidance_scale"),
        ({"stage_1": StageOptions("m", "smart13", 7.0)}, "is not a step count or a schedule"),
        ({"stage_1": StageOptions(" ", 10, 7.0)}, "stage_1.model is empty"),
        ({"stage_2": dataclasses.replace(default_stage_2(), noise_level=1000)}, "noise_level"),
        ({"stage_2": dataclasses.replace(default_stage_2(), noise_level=-1)}, "noise_level"),
        ({"stage_3": StageOptions("m", "smart27", 9.0, 100)}, "stage_3.steps must be a number"),
        ({"stage_3": StageOptions("m", 10, 9.0, 351)}, "noise_level"),
    ],
)
def test_invalid_values_are_rejected_with_a_message_naming_them(
    changes: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidRequestError, match=message) as raised:
        _request(**changes).validate()
    assert raised.value.exit_code == 2


def test_settings_of_stages_that_do_not_run_are_not_checked() -> None:
    _request(last_stage=1, stage_3=StageOptions("m", 0, -1.0)).validate()


def test_each_image_gets_its_own_consecutive_seed() -> None:
    request = _request(prompts=("a", "b"), num_images=2, seed=40)
    assert request.image_seeds() == [40, 41, 42, 43]


def test_a_missing_seed_is_drawn_once_and_kept() -> None:
    seeded = GenerationRequest(prompts=("a",)).with_seed()
    assert seeded.seed is not None
    assert seeded.with_seed().seed == seeded.seed


def test_schedule_names_are_exactly_the_ones_diffusers_publishes() -> None:
    from diffusers.pipelines.deepfloyd_if import timesteps

    published = {n.removesuffix("_timesteps") for n in dir(timesteps) if n.endswith("_timesteps")}
    assert set(SCHEDULE_NAMES) == published
    for name, length in SCHEDULE_LENGTHS.items():
        assert len(timesteps_for(name)) == length == step_count(name)


def test_a_named_schedule_fixes_both_count_and_timesteps() -> None:
    count, schedule = steps_and_timesteps("super40")
    assert count == 40 and schedule == timesteps_for("super40")
    assert steps_and_timesteps(25) == (25, None)


def test_explicit_seeds_give_each_prompt_its_own_seed() -> None:
    request = _request(prompts=("a", "b", "a"), seed=None, seeds=(9, 3, 10))
    request.validate()
    assert request.with_seed().image_seeds() == [9, 3, 10]
    with pytest.raises(InvalidRequestError, match="one seed per prompt"):
        _request(prompts=("a", "b"), seeds=(1,)).validate()
    with pytest.raises(InvalidRequestError, match="num_images 1"):
        _request(prompts=("a",), seeds=(1,), num_images=2).validate()


def test_an_image_flow_without_strengths_takes_its_pipelines_defaults() -> None:
    request = GenerationRequest(prompts=("a",), flow="inpaint")
    assert (request.stage_1.strength, request.stage_2.strength) == (1.0, 0.8)
    assert GenerationRequest(prompts=("a",)).stage_1.strength is None


def test_flows_check_their_input_and_their_first_and_last_stage(tmp_path: Path) -> None:
    from if_cli.engine.image_input import load_input
    from tests.pictures import write_picture

    init = load_input(str(write_picture(tmp_path / "p.png", (32, 32))))
    cases = {
        "needs an image": {"flow": "img2img"},
        "takes no input image": {"init": init},
        "cannot start at stage 1": {"flow": "upscale", "init": init},
        "must be 3 or more": {"flow": "upscale", "init": init, "first_stage": 3, "last_stage": 2},
        "needs a mask": {"flow": "inpaint", "init": init},
    }
    for words, fields in cases.items():
        with pytest.raises(InvalidRequestError, match=words):
            GenerationRequest(prompts=("a",), **fields).validate()  # type: ignore[arg-type]
    GenerationRequest(prompts=("",), flow="upscale", init=init, first_stage=3).validate()
