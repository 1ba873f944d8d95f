"""Same seed, same inputs: the engine's pixels equal the plain diffusers recipe's.

The recipe is the one in IF.md, run on the tiny repos on the CPU in fp32 with the fp16
weight files it names (``variant="fp16"``). Two changes only, both forced by the CPU
and transformers 5: no ``enable_model_cpu_offload`` (it needs an accelerator and does
not change the math) and ``safety_checker=None`` (diffusers' IFSafetyChecker cannot load
under transformers 5).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from if_cli.engine import Engine, GenerationRequest, Placement, StageOptions
from if_cli.engine.sizes import Size

PROMPT = "a photo of a corgi wearing a top hat, with the sign 'IF'"
STEPS = (3, 3, 2)


def _recipe(
    repos: dict[str, Path], seed: int, last_stage: int, first_size: tuple[int, int] | None = None
) -> dict[int, object]:
    """IF.md's reference recipe, verbatim but for the two CPU changes above; with
    ``first_size`` (width, height), stages I and II are asked for that size and four times
    it, as diffusers' ``height`` and ``width`` arguments allow."""
    import torch
    from diffusers import DiffusionPipeline

    fp32 = torch.float32
    stage_1 = DiffusionPipeline.from_pretrained(
        repos["stage_1"], variant="fp16", dtype=fp32, safety_checker=None
    )
    stage_2 = DiffusionPipeline.from_pretrained(
        repos["stage_2"], text_encoder=None, variant="fp16", dtype=fp32, safety_checker=None
    )
    safety = {
        "feature_extractor": stage_1.feature_extractor,
        "safety_checker": None,
        "watermarker": stage_1.watermarker,
    }
    pipes = [stage_1, stage_2]
    if last_stage == 3:  # loaded only where it runs, to keep the test short
        stage_3 = DiffusionPipeline.from_pretrained(repos["stage_3"], **safety, dtype=fp32)
        pipes.append(stage_3)
    for pipe in pipes:
        pipe.set_progress_bar_config(disable=True)
    prompt_embeds, negative_embeds = stage_1.encode_prompt(PROMPT)
    g = torch.manual_seed(seed)
    out: dict[int, object] = {}
    kind = "pil" if last_stage == 1 else "pt"
    sizes: list[dict[str, int]] = [{}, {}]
    if first_size is not None:
        width, height = first_size
        sizes = [{"width": width, "height": height}, {"width": 4 * width, "height": 4 * height}]
    img = stage_1(
        prompt_embeds=prompt_embeds,
        negative_prompt_embeds=negative_embeds,
        generator=g,
        output_type=kind,
        num_inference_steps=STEPS[0],
        **sizes[0],
    ).images
    out[1] = img
    if last_stage == 1:
        return out
    img = stage_2(
        image=img,
        prompt_embeds=prompt_embeds,
        negative_prompt_embeds=negative_embeds,
        generator=g,
        output_type="pt",
        num_inference_steps=STEPS[1],
        **sizes[1],
    ).images
    out[2] = img
    if last_stage == 2:
        return out
    out[3] = stage_3(
        prompt=PROMPT, image=img, noise_level=100, generator=g, num_inference_steps=STEPS[2]
    ).images
    return out


def _engine_request(
    repos: dict[str, Path], seed: int, last_stage: int, **extra: object
) -> GenerationRequest:
    return GenerationRequest(
        prompts=(PROMPT,),
        seed=seed,
        last_stage=last_stage,
        stage_1=StageOptions(str(repos["stage_1"]), STEPS[0], 7.0),
        stage_2=StageOptions(str(repos["stage_2"]), STEPS[1], 4.0, 250),
        stage_3=StageOptions(str(repos["stage_3"]), STEPS[2], 9.0, 100),
        placement=Placement(device="cpu", dtype="fp32", variant="fp16"),
        **extra,  # type: ignore[arg-type]
    )


def _pt_to_pixels(images: object) -> np.ndarray:
    """The IF pipelines' own pt → pil conversion, as uint8 pixels."""
    from diffusers import DiffusionPipeline

    array = (images / 2 + 0.5).clamp(0, 1).cpu().permute(0, 2, 3, 1).float().numpy()  # type: ignore[operator]
    return np.asarray(DiffusionPipeline.numpy_to_pil(array)[0])


@pytest.mark.slow
def test_full_cascade_equals_the_reference_recipe_at_64_256_and_1024(
    tiny_repos: dict[str, Path],
) -> None:
    expected = _recipe(tiny_repos, seed=0, last_stage=3)
    request = _engine_request(
        tiny_repos, seed=0, last_stage=3, keep_intermediates=True, watermark=False
    )
    with Engine() as engine:
        result = engine.generate(request)
    (image,) = result.images
    assert image.image.size == (1024, 1024)
    assert image.intermediates[1].size == (64, 64)
    assert image.intermediates[2].size == (256, 256)
    np.testing.assert_array_equal(np.asarray(image.intermediates[1]), _pt_to_pixels(expected[1]))
    np.testing.assert_array_equal(np.asarray(image.intermediates[2]), _pt_to_pixels(expected[2]))
    # The recipe hands stage III the IF watermarker: compare with the engine's watermark on.
    with Engine() as engine:
        marked = engine.generate(_engine_request(tiny_repos, seed=0, last_stage=3)).images[0]
    np.testing.assert_array_equal(np.asarray(marked.image), np.asarray(expected[3][0]))  # type: ignore[index]


def test_a_portrait_size_is_made_at_every_stage_as_the_recipe_makes_it(
    tiny_repos: dict[str, Path],
) -> None:
    expected = _recipe(tiny_repos, seed=2, last_stage=2, first_size=(64, 96))
    request = _engine_request(
        tiny_repos, seed=2, last_stage=2, keep_intermediates=True, watermark=False
    )
    with Engine() as engine:
        result = engine.generate(dataclasses.replace(request, size="256x384"))
    (image,) = result.images
    assert result.sizes == {1: Size(64, 96), 2: Size(256, 384), 3: Size(1024, 1536)}
    assert image.intermediates[1].size == (64, 96)
    np.testing.assert_array_equal(np.asarray(image.intermediates[1]), _pt_to_pixels(expected[1]))
    np.testing.assert_array_equal(np.asarray(image.image), _pt_to_pixels(expected[2]))


def test_stage_one_alone_equals_the_recipe_including_its_watermark(
    tiny_repos: dict[str, Path],
) -> None:
    # The recipe's IFPipeline loads the repo's watermarker and stamps its "pil" output.
    reference = _recipe(tiny_repos, seed=3, last_stage=1)[1][0]  # type: ignore[index]
    with Engine() as engine:
        result = engine.generate(_engine_request(tiny_repos, seed=3, last_stage=1))
    np.testing.assert_array_equal(np.asarray(result.images[0].image), np.asarray(reference))
    with Engine() as engine:
        unmarked = engine.generate(
            _engine_request(tiny_repos, seed=3, last_stage=1, watermark=False)
        )
    assert not np.array_equal(np.asarray(unmarked.images[0].image), np.asarray(reference))


def test_every_image_of_a_run_equals_that_image_made_alone(tiny_repos: dict[str, Path]) -> None:
    with Engine() as engine:
        together = engine.generate(_engine_request(tiny_repos, seed=10, last_stage=2, num_images=3))
        alone = engine.generate(_engine_request(tiny_repos, seed=12, last_stage=2))
    assert [image.seed for image in together.images] == [10, 11, 12]
    np.testing.assert_array_equal(
        np.asarray(together.images[2].image), np.asarray(alone.images[0].image)
    )
    assert not np.array_equal(
        np.asarray(together.images[0].image), np.asarray(together.images[1].image)
    )
