"""A job whose client wants every picture in one answer, as the A1111 and OpenAI APIs do.

The native API streams events; these APIs answer once the job is over. A
``CollectingJob`` keeps each finished picture as the PNG file ``if-cli generate`` would
write (pixels, and the A1111 ``parameters`` chunk that ``/sdapi/v1/png-info`` reads
back). ``run_job`` queues it behind the native jobs, waits, and cancels it when its
client hangs up, so a gone client never holds the queue.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from if_cli.errors import IFCliError, WorkerError
from if_cli.worker.jobs import Job, JobRunner, JobSettings
from if_cli.worker.wire import decode_error

if TYPE_CHECKING:
    from starlette.requests import Request

    from if_cli.engine.request import GenerationRequest
    from if_cli.engine.result import GeneratedImage, GenerationResult

POLL_S = 0.5
"""How often a waiting request checks that its client is still there."""


@dataclass(frozen=True)
class Picture:
    index: int
    prompt: str
    seed: int
    png: bytes
    size: tuple[int, int]
    parameters: str  # the A1111 text in the PNG


@dataclass
class Outcome:
    """The pictures made (all, or those before an error or an interrupt), and why not all."""

    pictures: list[Picture]
    result: GenerationResult | None  # so far: the request as it ran, its models
    error: IFCliError | None
    interrupted: bool


class CollectingJob(Job):
    """``api`` names the API that sent it (``a1111``, ``openai``): an interrupt of one
    API stops only its own jobs."""

    def __init__(
        self, request: GenerationRequest, loop: asyncio.AbstractEventLoop, api: str
    ) -> None:
        super().__init__(request, JobSettings(), self._relay)
        self.api = api
        self.resume_hint = None  # the server keeps no files: nothing to resume
        self.loop = loop
        self.finished: asyncio.Future[dict[str, Any]] = loop.create_future()
        self.pictures: list[Picture] = []
        self.result: GenerationResult | None = None

    def _relay(self, event: dict[str, Any]) -> None:
        """From the job thread: only the last event matters here."""
        if event["event"] in ("done", "error"):
            with contextlib.suppress(RuntimeError):  # the loop is gone: no one to tell
                self.loop.call_soon_threadsafe(_settle, self.finished, event)

    def on_image(self, so_far: GenerationResult, image: GeneratedImage) -> None:
        from if_cli.output.metadata import a1111_parameters
        from if_cli.output.writer import png_bytes

        size = image.image.size
        parameters = a1111_parameters(so_far, image, size)
        self.result = so_far
        self.pictures.append(
            Picture(
                index=image.index,
                prompt=image.prompt,
                seed=image.seed,
                png=png_bytes(image.image, parameters),
                size=size,
                parameters=parameters,
            )
        )


def _settle(future: asyncio.Future[dict[str, Any]], event: dict[str, Any]) -> None:
    if not future.done():
        future.set_result(event)


def sent_by(api: str) -> Callable[[Job], bool]:
    return lambda job: isinstance(job, CollectingJob) and job.api == api


async def run_job(
    runner: JobRunner, request: GenerationRequest, client: Request, api: str
) -> Outcome:
    """Queue ``request``, wait until it is over, and say how it went."""
    job = CollectingJob(request, asyncio.get_running_loop(), api)
    runner.submit(job)
    try:
        while not job.finished.done():
            await asyncio.wait({job.finished}, timeout=POLL_S)
            if not job.finished.done() and await client.is_disconnected():
                raise WorkerError("the client went away before its job finished")
    finally:
        runner.cancel(job)  # nothing once it is over; drops or stops it otherwise
    event = job.finished.result()
    error = decode_error(event["error"]) if event["event"] == "error" else None
    return Outcome(job.pictures, job.result, error, job.interrupted)
