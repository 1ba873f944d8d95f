"""The engine as a Python API: progress, memory hand-off, warnings, failures."""

from __future__ import annotations

import gc
import logging
from pathlib import Path

import pytest

from if_cli.engine import Engine, GenerationRequest, Placement, ProgressEvent, StageOptions
from if_cli.errors import InvalidRequestError, ModelNotFoundError, OutOfMemoryError


def _request(repos: dict[str, Path], **changes: object) -> GenerationRequest:
    fields: dict[str, object] = {
        "prompts": ("a red circle above a blue square",),
        "seed": 5,
        "last_stage": 2,
        "stage_1": StageOptions(str(repos["stage_1"]), 2, 7.0),
        "stage_2": StageOptions(str(repos["stage_2"]), 2, 4.0, 250),
        "stage_3": StageOptions(str(repos["stage_3"]), 2, 9.0, 100),
        "placement": Placement(device="cpu"),
    }
    fields.update(changes)
    return GenerationRequest(**fields)  # type: ignore[arg-type]


def test_progress_reports_load_steps_and_done_for_every_stage(
    tiny_repos: dict[str, Path],
) -> None:
    events: list[ProgressEvent] = []
    with Engine(on_progress=events.append) as engine:
        engine.generate(_request(tiny_repos, num_images=2))
    # T5 encodes two texts: the prompt and the (empty) negative prompt.
    for stage, total in (("text", 2), ("stage_1", 4), ("stage_2", 4)):
        mine = [e for e in events if e.stage == stage]
        assert mine[0].phase == "load" and mine[-1].phase == "done"
        steps = [e.step for e in mine if e.phase == "run"]
        assert steps == list(range(total + 1))
        assert {e.total for e in mine if e.phase == "run"} == {total}
    assert [e.stage for e in events if e.phase == "done"] == ["text", "stage_1", "stage_2"]


def test_a_named_schedule_runs_its_own_number_of_steps(tiny_repos: dict[str, Path]) -> None:
    events: list[ProgressEvent] = []
    request = _request(
        tiny_repos, last_stage=1, stage_1=StageOptions(str(tiny_repos["stage_1"]), "smart27", 7.0)
    )
    with Engine(on_progress=events.append) as engine:
        engine.generate(request)
    assert max(e.step for e in events if e.stage == "stage_1" and e.phase == "run") == 27


def _live_t5_encoders() -> int:
    from transformers import T5EncoderModel

    gc.collect()
    return sum(isinstance(o, T5EncoderModel) for o in gc.get_objects())


@pytest.mark.parametrize(("offload", "t5_alive"), [("unload", 0), ("text", 0), ("none", 1)])
def test_t5_is_freed_before_stage_one_unless_everything_stays_resident(
    tiny_repos: dict[str, Path], offload: str, t5_alive: int
) -> None:
    seen: list[int] = []

    def watch(event: ProgressEvent) -> None:
        if event.stage == "stage_1" and event.phase == "run" and event.step == 1:
            seen.append(_live_t5_encoders())

    with Engine(on_progress=watch) as engine:
        engine.generate(
            _request(tiny_repos, last_stage=1, placement=Placement(device="cpu", offload=offload))
        )  # type: ignore[arg-type]
    assert seen == [t5_alive]
    assert _live_t5_encoders() == 0  # closing the engine frees what it kept


def test_prompts_longer_than_77_t5_tokens_warn_that_the_tail_is_cut(
    tiny_repos: dict[str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    long_prompt = " ".join(["a red circle above a blue square"] * 20)
    with caplog.at_level(logging.WARNING, logger="if_cli"), Engine() as engine:
        engine.generate(_request(tiny_repos, last_stage=1, prompts=(long_prompt,)))
    warned = [r.getMessage() for r in caplog.records]
    assert any("T5 tokens; T5 reads the first 77, so" in message for message in warned)


def test_a_short_prompt_does_not_warn(
    tiny_repos: dict[str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="if_cli"), Engine() as engine:
        engine.generate(_request(tiny_repos, last_stage=1))
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_device_out_of_memory_becomes_an_error_that_names_the_offload_to_try(
    tiny_repos: dict[str, Path],
) -> None:
    import torch

    def run_out_of_memory(event: ProgressEvent) -> None:
        if event.stage == "stage_1" and event.step == 1:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    with pytest.raises(OutOfMemoryError) as raised, Engine(on_progress=run_out_of_memory) as e:
        e.generate(_request(tiny_repos, placement=Placement(device="cpu", offload="none")))
    assert "--offload text" in str(raised.value)
    assert raised.value.exit_code == 5


def test_models_are_checked_before_any_weights_load(tiny_repos: dict[str, Path]) -> None:
    events: list[ProgressEvent] = []
    swapped = _request(tiny_repos, stage_1=StageOptions(str(tiny_repos["stage_2"]), 2, 7.0))
    with pytest.raises(ModelNotFoundError, match="IFSuperResolutionPipeline, not a stage 1"):
        Engine(on_progress=events.append).generate(swapped)
    assert events == []


def test_invalid_requests_fail_before_anything_is_reported(tiny_repos: dict[str, Path]) -> None:
    events: list[ProgressEvent] = []
    with pytest.raises(InvalidRequestError):
        Engine(on_progress=events.append).generate(_request(tiny_repos, num_images=0))
    assert events == []


def test_images_are_handed_over_as_soon_as_each_is_finished(
    tiny_repos: dict[str, Path],
) -> None:
    order: list[str] = []
    with Engine(on_progress=lambda e: order.append(f"{e.stage}:{e.phase}")) as engine:
        result = engine.generate(
            _request(tiny_repos, last_stage=1, num_images=2),
            on_image=lambda so_far, image: order.append(
                f"image {image.index} ({len(so_far.images)} done)"
            ),
        )
    assert order.index("image 0 (1 done)") < order.index("image 1 (2 done)")
    assert order.index("image 1 (2 done)") < order.index("stage_1:done")
    assert [image.seed for image in result.images] == [5, 6]
    assert result.timings["stage_1"].run_s > 0


def test_a_cached_prompt_never_loads_t5_and_gives_the_same_pixels(
    tiny_repos: dict[str, Path], tmp_path: Path
) -> None:
    import numpy as np

    from if_cli.engine.embedding_cache import EmbeddingCache

    cache = EmbeddingCache(tmp_path / "embeddings")
    first_events: list[ProgressEvent] = []
    with Engine(on_progress=first_events.append, embedding_cache=cache) as engine:
        first = engine.generate(_request(tiny_repos, last_stage=1)).images[0]
    assert len(list((tmp_path / "embeddings").glob("*.safetensors"))) == 2
    events: list[ProgressEvent] = []
    with Engine(on_progress=events.append, embedding_cache=cache) as engine:
        again = engine.generate(_request(tiny_repos, last_stage=1)).images[0]
    assert any(e.stage == "text" for e in first_events)
    assert not any(e.stage == "text" for e in events)
    np.testing.assert_array_equal(np.asarray(first.image), np.asarray(again.image))


def test_the_embedding_cache_keeps_the_most_recently_used_within_its_cap(
    tmp_path: Path,
) -> None:
    import os

    import torch

    from if_cli.engine.embedding_cache import EmbeddingCache

    one = torch.zeros(1, 77, 32)
    cache = EmbeddingCache(tmp_path, max_bytes=10**9)
    for n, text in enumerate(["a", "b", "c"]):
        cache.put(text, one, tokens=3)
        os.utime(tmp_path / f"{text}.safetensors", ns=(n * 10**9, n * 10**9))
    assert cache.get("a", "cpu") is not None  # "a" is now the most recently used
    size = (tmp_path / "a.safetensors").stat().st_size
    cache.max_bytes = 2 * size
    cache.evict()
    assert sorted(p.stem for p in tmp_path.glob("*.safetensors")) == ["a", "c"]
    tensor, tokens = cache.get("c", "cpu")  # type: ignore[misc]
    assert tokens == 3 and tensor.shape == (1, 77, 32)
