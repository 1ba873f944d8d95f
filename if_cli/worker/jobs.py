"""Jobs in the worker: one thread, one engine, one job at a time, in arrival order.

The engine is the same ``Engine`` a command runs in its own process; living in the
worker, it keeps what its memory plan allows resident (and compiled) from one job to the
next. Each job has a sink for its events, which the HTTP layer streams to its client,
and can be cancelled at any moment: a queued job is dropped, a running one stops at its
next progress report and the worker goes on with the next.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from if_cli.engine.request import GenerationRequest, Placement
from if_cli.errors import IFCliError, WorkerError
from if_cli.worker.wire import (
    encode_error,
    encode_event,
    encode_picture,
    encode_plan,
    encode_request,
    encode_sizes,
    encode_sources,
    encode_timings,
)

if TYPE_CHECKING:
    from if_cli.engine.cascade import Engine
    from if_cli.engine.events import ProgressEvent
    from if_cli.engine.result import GeneratedImage, GenerationResult

log = logging.getLogger("if_cli.worker")  # the worker's own log: never sent to clients
MAX_QUEUED_JOBS = 32
"""Jobs that may wait at once: a command's chunks come one at a time, so only many
clients at once (or a flood) reach it."""
MAX_QUEUED_PICTURE_BYTES = 2 * 1024**3
"""Decoded input pictures that waiting jobs may hold in memory together (one 8192² px
picture is 192 MiB)."""
RESUME_HINT = "run the same command again: it makes only the missing images"
Send = Callable[[dict[str, Any]], None]
_ids = itertools.count(1)


class WorkerBusy(WorkerError):
    """The queue is full: the client may try again later (HTTP 503)."""


class JobCancelled(Exception):
    """Raised from the engine's progress callback to stop a cancelled job. Not an
    ``IFCliError``: the engine keeps its resident models for the next job."""


@dataclass(frozen=True)
class JobSettings:
    """What a job brings besides its request: the client's cache settings and folder
    (relative model paths are the client's)."""

    embedding_cache: bool = True
    embedding_cache_gib: float = 2.0
    cwd: str | None = None


class Job:
    def __init__(self, request: GenerationRequest, settings: JobSettings, send: Send) -> None:
        self.id = next(_ids)
        self.request = request
        self.settings = settings
        self.send = send
        self.cancelled = threading.Event()
        self.stop_reason = "the job was cancelled"
        self.created = time.monotonic()
        self.progress: ProgressEvent | None = None  # the last one, for progress queries
        self.interrupted = False  # stopped by an API's interrupt (not by its own client)
        self.resume_hint: str | None = RESUME_HINT  # what its client can do when it stops

    def picture_bytes(self) -> int:
        """Memory its input picture (and mask) holds while it waits."""
        init = self.request.init
        if init is None:
            return 0
        width, height = init.image.size
        return width * height * (4 if init.mask is not None else 3)

    def age(self) -> float:
        return time.monotonic() - self.created

    def on_image(self, so_far: GenerationResult, image: GeneratedImage) -> None:
        """A finished image: sent to the client as a lossless PNG (the client writes the
        file, with its metadata)."""
        self.send(
            {
                "event": "image",
                "index": image.index,
                "prompt": image.prompt,
                "seed": image.seed,
                "png": encode_picture(image.image),
                "intermediates": {
                    str(stage): encode_picture(picture)
                    for stage, picture in image.intermediates.items()
                },
                "timings": encode_timings(image.timings),
                "so_far": encode_timings(so_far.timings),
            }
        )


def placed(request: GenerationRequest, worker: Placement) -> GenerationRequest:
    """The request with the worker's placement wherever the client left the default:
    ``if-cli serve --dtype fp16`` sets the dtype of jobs that do not choose one."""
    default, mine = Placement(), request.placement
    merged = {
        field.name: getattr(
            worker if getattr(mine, field.name) == getattr(default, field.name) else mine,
            field.name,
        )
        for field in dataclasses.fields(Placement)
    }
    return dataclasses.replace(request, placement=Placement(**merged))


class JobRunner:
    """The queue and the thread that runs it."""

    def __init__(self, placement: Placement) -> None:
        self.placement = placement
        self.jobs_done = 0  # finished with every image
        self.jobs_failed = 0
        self.jobs_cancelled = 0
        self._queue: list[Job] = []
        self._current: Job | None = None
        self._stopping: str | None = None
        self._idle_since = time.monotonic()
        self._lock = threading.Condition()
        self._thread = threading.Thread(target=self._loop, name="if-cli-jobs", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout: float | None = None) -> None:
        if self._thread.is_alive():
            self._thread.join(timeout)

    # Called from the HTTP layer -----------------------------------------------------------
    def submit(self, job: Job) -> int:
        """Queue ``job``; the number of jobs ahead of it."""
        with self._lock:
            self._check_room(job.picture_bytes())
            self._queue.append(job)
            self._lock.notify_all()
            return len(self._queue) - 1 + (self._current is not None)

    def check_room(self) -> None:
        """Raise WorkerBusy (or WorkerError, stopping) unless a job could queue now:
        checked before a request's pictures are decoded."""
        with self._lock:
            self._check_room(0)

    def _check_room(self, picture_bytes: int) -> None:
        if self._stopping:
            raise WorkerError(f"the worker is stopping ({self._stopping})")
        if len(self._queue) >= MAX_QUEUED_JOBS:
            raise WorkerBusy(
                f"the worker's queue is full ({len(self._queue)} jobs waiting, the most it holds)",
                hint="try again once it is shorter",
            )
        held = sum(waiting.picture_bytes() for waiting in self._queue)
        if self._queue and held + picture_bytes > MAX_QUEUED_PICTURE_BYTES:
            raise WorkerBusy(
                f"the worker's queue is full: its waiting jobs' pictures hold "
                f"{held / 1024**3:.1f} GiB of the {MAX_QUEUED_PICTURE_BYTES / 1024**3:g} GiB "
                "it keeps",
                hint="try again once it is shorter",
            )

    def ahead_of(self, job: Job) -> int | None:
        """Jobs ahead of ``job`` in the queue; None once it runs (or is over)."""
        with self._lock:
            if job not in self._queue:
                return None
            return self._queue.index(job) + (self._current is not None)

    def cancel(self, job: Job) -> None:
        """Drop a queued job, or stop a running one at its next step (no-op once done)."""
        job.cancelled.set()
        with self._lock:
            if job in self._queue:
                self._queue.remove(job)

    def stop(self, reason: str) -> None:
        """Refuse new jobs, drop the queued ones (each told why) and stop the running one."""
        with self._lock:
            if self._stopping:
                return
            self._stopping = reason
            dropped, self._queue = self._queue, []
            if self._current is not None:
                self._current.stop_reason = f"the worker stopped ({reason}) before the job finished"
                self._current.cancelled.set()
            self._lock.notify_all()
        for job in dropped:
            job.send(_error(WorkerError(f"the worker stopped ({reason}) before this job began")))

    def status(self) -> dict[str, Any]:
        with self._lock:
            return {
                "running": self._current is not None,
                "queued": len(self._queue),
                "jobs_done": self.jobs_done,
                "jobs_failed": self.jobs_failed,
                "jobs_cancelled": self.jobs_cancelled,
                "idle_s": round(self.idle_seconds() or 0.0, 1),
                "stopping": self._stopping,
            }

    def idle_seconds(self) -> float | None:
        """How long nothing has run or waited; None while busy."""
        if self._current is not None or self._queue:
            return None
        return time.monotonic() - self._idle_since

    # The job thread -----------------------------------------------------------------------
    def _loop(self) -> None:
        from if_cli.engine.cascade import Engine

        forward = _JobLogs(self)
        logging.getLogger("if_cli").addHandler(forward)
        engine = Engine(on_progress=self._progress, warn_long_prompts=False)
        try:
            while True:
                with self._lock:
                    while not self._queue and not self._stopping:
                        self._lock.wait()
                    if not self._queue:
                        return
                    job = self._current = self._queue.pop(0)
                last = _error(WorkerError("the job ended without a result"))
                try:
                    last = self._run(engine, job)
                finally:
                    with self._lock:  # over before its client hears so: status agrees
                        self._current = None
                        self._idle_since = time.monotonic()
                    job.send(last)
        finally:
            engine.close()
            logging.getLogger("if_cli").removeHandler(forward)

    def current(self) -> Job | None:
        return self._current

    def interrupt(self, reason: str, accepts: Callable[[Job], bool]) -> bool:
        """Stop the running job at its next step if ``accepts`` it (an API's interrupt
        stops that API's jobs, never a command's); whether one was stopped."""
        with self._lock:
            job = self._current
            if job is None or not accepts(job):
                return False
            job.stop_reason = reason
            job.interrupted = True
            job.cancelled.set()
            return True

    def _run(self, engine: Engine, job: Job) -> dict[str, Any]:
        """Run ``job``; its last event (``done`` or ``error``), sent once it is over."""
        try:
            with _working_folder(job.settings.cwd):
                engine.embedding_cache = _cache(job.settings)
                prepared = engine.prepare(placed(job.request, self.placement))
                request = encode_request(dataclasses.replace(prepared.request, init=None))
                job.send(
                    {
                        "event": "started",
                        "request": request,
                        "plan": encode_plan(prepared.plan),
                        "models": encode_sources(
                            {f"stage_{n}": s for n, s in prepared.sources.items()}
                        ),
                        "sizes": encode_sizes(prepared.sizes),
                    }
                )
                result = engine.generate(prepared, on_image=job.on_image)
        except JobCancelled:
            self.jobs_cancelled += 1
            log.info("job %d cancelled: %s", job.id, job.stop_reason)
            return _error(WorkerError(job.stop_reason, hint=job.resume_hint))
        except IFCliError as error:
            self.jobs_failed += 1
            log.info("job %d failed: %s", job.id, error)
            return _error(error)
        except Exception as error:  # a bug: the job fails, the worker goes on
            self.jobs_failed += 1
            log.exception("job %d failed", job.id)
            engine.close()
            return _error(IFCliError(f"internal error in the worker: {error!r}"))
        self.jobs_done += 1
        log.info("job %d: %d image(s) in %.1f s", job.id, len(result.images), job.age())
        return {"event": "done", "timings": encode_timings(result.timings)}

    def _progress(self, event: ProgressEvent) -> None:
        job = self._current
        if job is None:
            return
        if job.cancelled.is_set():
            raise JobCancelled
        job.progress = event
        job.send(encode_event(event))


def _cache(settings: JobSettings) -> Any:
    """The embedding cache the client asked for (a new handle on the same folder)."""
    if not settings.embedding_cache:
        return None
    from if_cli.engine.embedding_cache import EmbeddingCache

    return EmbeddingCache(max_bytes=int(settings.embedding_cache_gib * 1024**3))


def _error(error: IFCliError) -> dict[str, Any]:
    return {"event": "error", "error": encode_error(error)}


@contextlib.contextmanager
def _working_folder(folder: str | None) -> Iterator[None]:
    """Run in the client's folder, so its relative model paths mean what they meant there
    (jobs run one at a time, so the worker's own folder is free to change)."""
    before = os.getcwd()
    try:
        if folder:
            os.chdir(folder)
    except OSError as error:
        raise WorkerError(f"the worker cannot enter {folder}: {error.strerror}") from error
    try:
        yield
    finally:
        os.chdir(before)


class _JobLogs(logging.Handler):
    """Warnings the engine logs while it runs a job go to that job's client as well."""

    def __init__(self, runner: JobRunner) -> None:
        super().__init__()
        self._runner = runner

    def emit(self, record: logging.LogRecord) -> None:
        job = self._runner.current()
        if job is None or threading.current_thread().name != "if-cli-jobs":
            return
        if record.levelno < logging.WARNING or record.name.startswith(log.name):
            return
        job.send(
            {
                "event": "log",
                "logger": record.name,
                "level": record.levelno,
                "message": record.getMessage(),
            }
        )
