"""Same seed, same picture: each image flow's pixels equal the plain diffusers pipelines'.

The references call IFImg2ImgPipeline, IFImg2ImgSuperResolutionPipeline,
IFInpaintingPipeline, IFInpaintingSuperResolutionPipeline, IFSuperResolutionPipeline
and StableDiffusionUpscalePipeline directly, loaded from the tiny repos as the IF.md
recipe loads its pipelines (CPU, fp32, fp16 files, ``safety_checker=None``), and hand
them the picture if-cli read and fitted, at the size of each stage. The pictures are not
square (4:3 and 3:4): the stages keep their aspect, and each stage is exactly four
times the one before (IF's own resize would give stage II a different long side).
"""

from __future__ import annotations

import dataclasses
import inspect
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from if_cli.engine import Engine, GenerationRequest, Placement
from if_cli.engine.image_input import ImageInput, load_input
from if_cli.engine.request import flow_defaults
from tests.pictures import write_mask, write_picture

PROMPT = "a watercolour of a lighthouse at dusk"
SEED = 5
STEPS = (4, 4, 2)


@pytest.fixture(scope="module")
def picture(tmp_path_factory: pytest.TempPathFactory) -> ImageInput:
    folder = tmp_path_factory.mktemp("pictures")
    return load_input(str(write_picture(folder / "photo.png", (120, 90))))


# 120×90 kept: stage I 88×64 (IF's rule, as diffusers' resize), then ×4 and ×16.
WIDE = {1: (88, 64), 2: (352, 256), 3: (1408, 1024)}
TALL = {1: (64, 88), 2: (256, 352)}


@pytest.fixture(scope="module")
def masked(tmp_path_factory: pytest.TempPathFactory) -> ImageInput:
    folder = tmp_path_factory.mktemp("masked")
    image = write_picture(folder / "photo.jpg", (90, 120))
    return load_input(str(image), mask=str(write_mask(folder / "mask.png", (45, 60))))


def _at(picture: Any, size: tuple[int, int]) -> Any:
    """``picture`` at ``size``, resized as the IF pipelines resize (bicubic, no gap)."""
    from PIL import Image

    return picture.resize(size, Image.Resampling.BICUBIC, reducing_gap=None)


def _load(cls: Any, repo: Path, **components: Any) -> Any:
    import torch

    pipe = cls.from_pretrained(
        repo, variant="fp16", dtype=torch.float32, safety_checker=None, **components
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _embeds(repos: dict[str, Path], prompt: str) -> tuple[Any, Any]:
    from diffusers import IFPipeline

    return _load(IFPipeline, repos["stage_1"], unet=None).encode_prompt(prompt)


def _pixels(images: Any, watermarker: Any = None) -> np.ndarray:
    """The IF pipelines' own pt → pil conversion (and watermark), as uint8 pixels."""
    from diffusers import DiffusionPipeline

    array = (images / 2 + 0.5).clamp(0, 1).cpu().permute(0, 2, 3, 1).float().numpy()
    pils = DiffusionPipeline.numpy_to_pil(array)
    if watermarker is not None:
        # The pipeline passes its UNet's size: the short side of what it makes.
        pils = watermarker.apply_watermark(pils, min(pils[0].size))
    return np.asarray(pils[0])


def _request(
    repos: dict[str, Path], flow: str, init: ImageInput, last: int, first: int = 1, **extra: Any
) -> GenerationRequest:
    defaults = flow_defaults(flow)  # type: ignore[arg-type]
    stages = [
        dataclasses.replace(d, model=str(repos[f"stage_{n}"]), steps=STEPS[n - 1])
        for n, d in enumerate(defaults, start=1)
    ]
    return GenerationRequest(
        prompts=(extra.pop("prompt", PROMPT),),
        seed=SEED,
        last_stage=last,
        first_stage=first,
        flow=flow,  # type: ignore[arg-type]
        init=init,
        watermark=extra.pop("watermark", False),
        keep_intermediates=True,
        stage_1=stages[0],
        stage_2=stages[1],
        stage_3=stages[2],
        placement=Placement(device="cpu", dtype="fp32", variant="fp16"),
        **extra,
    )


def _run(request: GenerationRequest) -> Any:
    with Engine() as engine:
        (image,) = engine.generate(request).images
    return image


def test_image_flow_defaults_are_the_diffusers_pipelines_own() -> None:
    from diffusers import (
        IFImg2ImgPipeline,
        IFImg2ImgSuperResolutionPipeline,
        IFInpaintingPipeline,
        IFInpaintingSuperResolutionPipeline,
    )

    def default(cls: Any, name: str) -> Any:
        return inspect.signature(cls.__call__).parameters[name].default

    pairs = {
        "img2img": (IFImg2ImgPipeline, IFImg2ImgSuperResolutionPipeline),
        "inpaint": (IFInpaintingPipeline, IFInpaintingSuperResolutionPipeline),
    }
    for flow, (first, second) in pairs.items():
        stage_1, stage_2, _ = flow_defaults(flow)  # type: ignore[arg-type]
        assert stage_1.steps == default(first, "num_inference_steps")
        assert stage_1.guidance_scale == default(first, "guidance_scale")
        assert stage_1.strength == default(first, "strength")
        assert stage_2.steps == default(second, "num_inference_steps")
        assert stage_2.guidance_scale == default(second, "guidance_scale")
        assert stage_2.strength == default(second, "strength")
        assert stage_2.noise_level == default(second, "noise_level")


@pytest.mark.slow
def test_img2img_equals_img2img_then_img2img_sr_then_x4(
    tiny_repos: dict[str, Path], picture: ImageInput
) -> None:
    import torch
    from diffusers import (
        IFImg2ImgPipeline,
        IFImg2ImgSuperResolutionPipeline,
        StableDiffusionUpscalePipeline,
    )

    stage_1 = _load(IFImg2ImgPipeline, tiny_repos["stage_1"], text_encoder=None)
    stage_2 = _load(IFImg2ImgSuperResolutionPipeline, tiny_repos["stage_2"], text_encoder=None)
    stage_3 = _load(
        StableDiffusionUpscalePipeline, tiny_repos["stage_3"], watermarker=stage_1.watermarker
    )
    prompt_embeds, negative_embeds = _embeds(tiny_repos, PROMPT)
    embeds = {"prompt_embeds": prompt_embeds, "negative_prompt_embeds": negative_embeds}
    g = torch.manual_seed(SEED)
    low = stage_1(
        image=picture.image, strength=0.7, num_inference_steps=STEPS[0], guidance_scale=10.0,
        generator=g, output_type="pt", **embeds,
    ).images  # fmt: skip
    middle = stage_2(
        image=low, original_image=_at(picture.image, WIDE[2]), strength=0.8,
        num_inference_steps=STEPS[1], generator=g, output_type="pt", **embeds,
    ).images  # fmt: skip
    final = stage_3(
        prompt=PROMPT, image=middle, noise_level=100, generator=g, num_inference_steps=STEPS[2]
    ).images[0]

    made = _run(_request(tiny_repos, "img2img", picture, last=3, watermark=True))
    assert made.intermediates[1].size == WIDE[1] and made.image.size == WIDE[3]
    mark = stage_1.watermarker  # --keep-intermediates stamps them as the pipelines' pil output
    np.testing.assert_array_equal(np.asarray(made.intermediates[1]), _pixels(low, mark))
    np.testing.assert_array_equal(np.asarray(made.intermediates[2]), _pixels(middle, mark))
    np.testing.assert_array_equal(np.asarray(made.image), np.asarray(final))


def test_inpainting_equals_inpainting_then_inpainting_sr(
    tiny_repos: dict[str, Path], masked: ImageInput
) -> None:
    import torch
    from diffusers import IFInpaintingPipeline, IFInpaintingSuperResolutionPipeline

    stage_1 = _load(IFInpaintingPipeline, tiny_repos["stage_1"], text_encoder=None)
    stage_2 = _load(IFInpaintingSuperResolutionPipeline, tiny_repos["stage_2"], text_encoder=None)
    prompt_embeds, negative_embeds = _embeds(tiny_repos, PROMPT)
    embeds = {"prompt_embeds": prompt_embeds, "negative_prompt_embeds": negative_embeds}
    g = torch.manual_seed(SEED)
    low = stage_1(
        image=masked.image, mask_image=masked.mask, num_inference_steps=STEPS[0],
        generator=g, output_type="pt", **embeds,
    ).images  # fmt: skip
    middle = stage_2(
        image=low, original_image=_at(masked.image, TALL[2]), mask_image=_at(masked.mask, TALL[2]),
        num_inference_steps=STEPS[1], generator=g, output_type="pt", **embeds,
    ).images  # fmt: skip

    made = _run(_request(tiny_repos, "inpaint", masked, last=2))
    assert made.intermediates[1].size == TALL[1] and made.image.size == TALL[2]
    np.testing.assert_array_equal(np.asarray(made.intermediates[1]), _pixels(low))
    np.testing.assert_array_equal(np.asarray(made.image), _pixels(middle))


def _stage_2_alone(repos: dict[str, Path], cls: Any, prompt: str, **pictures: Any) -> Any:
    """A stage-II pipeline run on its own, as the first stage, on the picture at stage
    I's size."""
    import torch

    stage_2 = _load(cls, repos["stage_2"], text_encoder=None)
    prompt_embeds, negative_embeds = _embeds(repos, prompt)
    size = pictures.pop("size", None)
    if size is not None:
        pictures.update(width=size[0], height=size[1])
    return stage_2(
        image=_at(pictures.pop("source"), WIDE[1]), num_inference_steps=STEPS[1],
        prompt_embeds=prompt_embeds, negative_prompt_embeds=negative_embeds,
        generator=torch.manual_seed(SEED), output_type="pt", **pictures,
    ).images  # fmt: skip


def test_style_equals_img2img_sr_on_the_picture_itself(
    tiny_repos: dict[str, Path], picture: ImageInput
) -> None:
    from diffusers import IFImg2ImgSuperResolutionPipeline

    style = "in the style of a woodcut"
    expected = _stage_2_alone(
        tiny_repos, IFImg2ImgSuperResolutionPipeline, style,
        source=picture.image, original_image=_at(picture.image, WIDE[2]), strength=0.8,
    )  # fmt: skip
    made = _run(_request(tiny_repos, "style", picture, last=2, first=2, prompt=style))
    np.testing.assert_array_equal(np.asarray(made.image), _pixels(expected))


def test_upscale_from_64_equals_sr_and_from_256_equals_x4(
    tiny_repos: dict[str, Path], picture: ImageInput
) -> None:
    import torch
    from diffusers import IFSuperResolutionPipeline, StableDiffusionUpscalePipeline

    expected_256 = _stage_2_alone(
        tiny_repos, IFSuperResolutionPipeline, "", source=picture.image, size=WIDE[2]
    )
    made = _run(_request(tiny_repos, "upscale", picture, last=2, first=2, prompt=""))
    assert made.image.size == WIDE[2]
    np.testing.assert_array_equal(np.asarray(made.image), _pixels(expected_256))

    stage_3 = _load(StableDiffusionUpscalePipeline, tiny_repos["stage_3"])
    expected_1024 = stage_3(
        prompt=PROMPT, image=_at(picture.image, WIDE[2]), noise_level=100,
        num_inference_steps=STEPS[2], generator=torch.manual_seed(SEED),
    ).images[0]  # fmt: skip
    made = _run(_request(tiny_repos, "upscale", picture, last=3, first=3))
    assert made.image.size == WIDE[3]
    np.testing.assert_array_equal(np.asarray(made.image), np.asarray(expected_1024))


def test_a_flow_uses_the_stage_models_without_reloading_between_flows(
    tiny_repos: dict[str, Path], picture: ImageInput
) -> None:
    with Engine() as engine:
        request = _request(tiny_repos, "img2img", picture, last=1)
        request = dataclasses.replace(request, placement=Placement("cpu", "fp32", "none", "fp16"))
        first = engine.generate(request)
        again = engine.generate(dataclasses.replace(request, flow="generate", init=None))
    assert first.timings["stage_1"].load_s > 0
    assert again.timings["stage_1"].load_s < first.timings["stage_1"].load_s
    assert not np.array_equal(np.asarray(first.images[0].image), np.asarray(again.images[0].image))
