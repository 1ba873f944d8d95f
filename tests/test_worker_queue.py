"""The worker's queue: bounded in jobs and in the pictures they hold, and an API's
interrupt that reaches only that API's jobs (no worker process needed)."""

from __future__ import annotations

import asyncio

import pytest
from PIL import Image

from if_cli.engine.image_input import ImageInput
from if_cli.engine.request import GenerationRequest, Placement
from if_cli.worker import jobs
from if_cli.worker.apis.collect import CollectingJob, sent_by
from if_cli.worker.apis.inputs import Intake
from if_cli.worker.jobs import Job, JobRunner, JobSettings, WorkerBusy


def _job(side: int = 0) -> Job:
    init = None
    if side:
        picture = Image.new("RGB", (side, side))
        init = ImageInput(image=picture, source="-", fit="keep", original_size=picture.size)
    request = GenerationRequest(
        prompts=("a cube",), flow="img2img" if init else "generate", init=init
    )
    return Job(request, JobSettings(), lambda _event: None)


def test_a_full_queue_refuses_the_next_job_until_one_leaves() -> None:
    runner = JobRunner(Placement())  # not started: every job waits
    waiting = [_job() for _ in range(jobs.MAX_QUEUED_JOBS)]
    for job in waiting:
        runner.submit(job)
    with pytest.raises(WorkerBusy, match="queue is full"):
        runner.submit(_job())
    runner.cancel(waiting[0])
    runner.submit(_job())


def test_waiting_pictures_are_bounded_but_one_large_picture_may_wait(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(jobs, "MAX_QUEUED_PICTURE_BYTES", 100 * 100 * 3 * 2)
    runner = JobRunner(Placement())
    runner.submit(_job(side=300))  # alone, over the budget: accepted
    with pytest.raises(WorkerBusy):
        runner.submit(_job(side=10))
    runner.cancel(runner._queue[0])
    runner.submit(_job(side=100))
    runner.submit(_job(side=100))
    with pytest.raises(WorkerBusy):
        runner.submit(_job(side=10))
    runner.submit(_job())  # no picture: nothing held


def test_an_apis_interrupt_reaches_only_that_apis_jobs() -> None:
    loop = asyncio.new_event_loop()
    try:
        request = GenerationRequest(prompts=("a cube",))
        a1111, openai = (
            CollectingJob(request, loop, "a1111"),
            CollectingJob(request, loop, "openai"),
        )
        assert sent_by("a1111")(a1111)
        assert not sent_by("a1111")(openai)
        assert not sent_by("a1111")(_job())  # a command's job
        assert a1111.resume_hint is None and _job().resume_hint
    finally:
        loop.close()


def test_a_request_meets_a_full_queue_before_its_pictures_are_decoded() -> None:
    runner = JobRunner(Placement())
    for _ in range(jobs.MAX_QUEUED_JOBS):
        runner.submit(_job())
    decoded: list[bool] = []
    with pytest.raises(WorkerBusy):
        asyncio.run(Intake(runner).read(lambda: decoded.append(True)))
    assert decoded == []
    runner.stop("a test")
    with pytest.raises(jobs.WorkerError, match="stopping"):
        asyncio.run(Intake(runner).read(lambda: decoded.append(True)))
    assert decoded == []
