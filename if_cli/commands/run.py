"""Run image jobs for a command: skip finished ones, plan, call the engine, write, print.

Shared by every command that makes images, so checks, output and messages are the same.
All checks happen before any weights load. stdout carries only data: one path per image,
or with ``--json`` one JSON object per image.
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from if_cli.commands.batch import (
    Chunk,
    FinishedImage,
    ImageJob,
    RandomSeed,
    make_chunks,
    scan_folder,
    unfinished,
)
from if_cli.commands.processes import current_share
from if_cli.engine.result import GeneratedImage, GenerationResult
from if_cli.errors import (
    IFCliError,
    InterruptedByUser,
    OutOfMemoryError,
    SomeItemsFailed,
    StdoutClosed,
)
from if_cli.output.files import ensure_writable_dir, remove_empty_dirs, remove_orphans
from if_cli.output.naming import validate_template
from if_cli.progress import progress_reporter, say
from if_cli.stops import stops_wait
from if_cli.streams import emit, require_stdout

if TYPE_CHECKING:
    from if_cli.engine.cascade import Engine
    from if_cli.engine.events import ProgressCallback
    from if_cli.output.writer import OutputWriter, WrittenImage
    from if_cli.worker.client import WorkerEngine, WorkerEngineFactory


_UNDECODED = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True)
class RunOptions:
    out: Path
    name: str
    dry_run: bool = False
    quiet: bool = False
    json_output: bool = False
    keep_going: bool = False
    overwrite: bool = False
    chunk_size: int = 16
    embedding_cache: bool = True
    embedding_cache_gib: float = 2.0
    metadata: bool = True  # False: PNGs without text chunks, and no sidecars
    worker: str = "auto"  # --worker: auto, off, or a worker's address

    @classmethod
    def from_options(cls, options: Mapping[str, Any], **batch: Any) -> RunOptions:
        """The run's settings from a command's shared options (see ``cascade_options``)."""
        return cls(
            out=options["out"],
            name=options["name"],
            dry_run=options["dry_run"],
            quiet=options["quiet"],
            json_output=options["json_output"],
            overwrite=options["overwrite"],
            metadata=options["metadata"],
            worker=options.get("worker", "auto"),
            **batch,
        )


def _report_written(
    job: ImageJob,
    written: WrittenImage,
    image: GeneratedImage,
    so_far: GenerationResult,
    as_json: bool,
) -> None:
    timings = {k: round(t.load_s + t.run_s, 4) for k, t in image.timings.items()}
    size = (image.image.width, image.image.height)
    files = (written.image, written.sidecar, written.intermediates)
    _report(job, files, False, size, so_far.request.last_stage, timings, as_json)


def _report_skipped(job: ImageJob, found: FinishedImage, as_json: bool) -> None:
    """An image the folder already had is reported as a made one is, marked skipped."""
    files = (found.path, found.sidecar, found.intermediates)
    size = (found.width, found.height)
    _report(job, files, True, size, job.request.last_stage, {}, as_json)


def _report(
    job: ImageJob,
    files: tuple[Path, Path | None, tuple[Path, ...]],
    skipped: bool,
    size: tuple[int | None, int | None],
    stages: int,
    timings: dict[str, float],
    as_json: bool,
) -> None:
    """One image on stdout: its paths (intermediates first), or with ``--json`` one line
    with its files, who it is (prompt, seed, place in the run), size and timings."""
    image, sidecar, intermediates = files
    if not as_json:
        for path in (*intermediates, image):
            emit(str(path))
        return
    record = {
        "path": str(image),
        "sidecar": None if sidecar is None else str(sidecar),
        "intermediates": [str(p) for p in intermediates],
        "skipped": skipped,
        "prompt": job.prompt,
        "seed": job.seed,
        "index": job.index,
        "name": job.name,
        "origin": job.origin,
        "width": size[0],
        "height": size[1],
        "stages": stages,
        "timings_s": timings,
    }
    if job.cell:
        record["cell"] = job.cell
    text = json.dumps(record, ensure_ascii=False)
    if _UNDECODED.search(text):  # a path whose bytes are not UTF-8: JSON must be Unicode
        text = json.dumps(record)  # \udcff escapes: valid JSON that keeps every byte
    emit(text)


@contextmanager
def _output_folder(options: RunOptions) -> Iterator[None]:
    """The output folder, proven writable before any work; folders this run created are
    removed again if it fails before writing anything into them (a missing model, say)."""
    if options.dry_run:
        yield
        return
    created = ensure_writable_dir(options.out)
    remove_orphans(options.out)
    try:
        yield
    except BaseException:
        remove_empty_dirs(created)
        raise


def run_jobs(jobs: list[ImageJob], options: RunOptions) -> None:
    """Check names and stdout, skip finished jobs, then make and report the rest."""
    from if_cli.worker.address import worker_setting

    validate_template(options.name)
    worker_setting(options.worker)  # a typo fails now, not after the plan
    require_stdout()
    with _output_folder(options):
        _run(jobs, options)


def _run(jobs: list[ImageJob], options: RunOptions) -> None:
    started = time.time()
    share = current_share(jobs[0].request.placement.device)
    quiet = options.quiet or not share.is_main
    mine = share.take(jobs)
    todo = mine
    run = mine[0].run if mine else None
    if run is not None and run.resumed and not quiet:
        say(f"seed {run.seed}, from the earlier run in {options.out} (--seed N starts anew)")

    if not options.overwrite:
        done = scan_folder(options.out).images
        todo = [job for job in mine if job.fingerprint not in done]
        if len(todo) < len(mine) and not quiet:
            say(
                f"skipping {len(mine) - len(todo)} image(s) already in {options.out} "
                "(--overwrite makes them again)"
            )
        if not options.dry_run:
            for job in mine:
                if job.fingerprint in done:
                    _report_skipped(job, done[job.fingerprint], options.json_output)
    chunks = make_chunks(todo, options.chunk_size)
    if options.dry_run and not chunks:
        seed = f" (seed {run.seed}, from the earlier run)" if run and run.resumed else ""
        emit(f"# nothing to make: all {len(mine)} image(s) are already in {options.out}{seed}")

    from if_cli.output.writer import OutputWriter

    local = options.dry_run or share.count > 1 or not chunks
    worker = None if local else _worker(options, quiet)
    writer = OutputWriter(options.out, options.name, options.metadata)
    tally = _Tally()
    with (
        progress_reporter(quiet) as on_progress,
        _engine(options, on_progress, worker, quiet) as engine,
    ):
        if options.dry_run:
            _print_plans(engine, chunks, run)
        else:
            for chunk in chunks:
                _make_chunk(engine, chunk, writer, options, tally)
    sys.stdout.flush()
    if options.dry_run:
        return
    counts = share.total(
        {
            "written": tally.written,
            "skipped": len(mine) - len(todo),
            "failed": tally.failed,
            "todo": len(todo),
        }
    )
    share.close()  # the count was the last collective call
    if not share.is_main:
        return
    if not options.quiet:
        by = f" by {share.count} processes" if share.count > 1 else ""
        say(
            f"{counts['written']} image(s) written{by}, {counts['skipped']} skipped, "
            f"{counts['failed']} failed in {time.time() - started:.1f} s → {options.out}"
        )
        if run is not None and not run.resumed and counts["written"]:
            say(
                f"seed {run.seed} (drawn at random): the same command resumes this run; "
                f"--seed {run.seed} makes these images again anywhere"
            )
    if counts["failed"]:
        rest = "the rest are written" if counts["written"] else "none was written"
        raise SomeItemsFailed(
            f"{counts['failed']} of {counts['todo']} image(s) failed; {rest}",
            hint="run the same command again to retry only those",
        )


def _worker(options: RunOptions, quiet: bool) -> WorkerEngineFactory | None:
    """The worker ``--worker`` picks, checked, or None to run in this process."""
    from if_cli.worker.client import connect

    return connect(options.worker, on_notice=None if quiet else say)


def _engine(
    options: RunOptions,
    on_progress: ProgressCallback,
    worker: WorkerEngineFactory | None,
    quiet: bool,
) -> Engine | WorkerEngine:
    """The engine of this run: a worker's when there is one, else one in this process;
    both make the same bytes, and the files are written here either way."""
    if worker is not None:
        return worker.engine(
            on_progress=on_progress,
            on_notice=None if quiet else say,
            embedding_cache=options.embedding_cache,
            embedding_cache_gib=options.embedding_cache_gib,
        )
    from if_cli.engine.cascade import Engine
    from if_cli.engine.embedding_cache import EmbeddingCache

    cache = None
    if options.embedding_cache:
        cache = EmbeddingCache(max_bytes=int(options.embedding_cache_gib * 1024**3))
    return Engine(on_progress=on_progress, embedding_cache=cache, warn_long_prompts=False)


@dataclass
class _Tally:
    """Images written and failed so far, and the batch size an out-of-memory lowered."""

    written: int = 0
    failed: int = 0
    batch_limit: int | None = None


def _make_chunk(
    engine: Engine | WorkerEngine,
    chunk: Chunk,
    writer: OutputWriter,
    options: RunOptions,
    tally: _Tally,
) -> None:
    """Make and write one chunk's images.

    With ``--keep-going``, a chunk that runs out of memory is retried, for the images not
    yet written, at half the batch size (and later chunks keep the smaller one); a
    failure that a smaller batch cannot fix is counted and the run goes on.
    """
    from if_cli.output.metadata import ImageLabel
    from if_cli.output.rescue import ImageNotWritten, summary

    finished: set[int] = set()  # ImageJob.index of each image written
    while True:
        batch_size = min(chunk.request.batch_size, tally.batch_limit or chunk.request.batch_size)
        pending = unfinished(chunk, finished, batch_size)
        if pending is None:
            return

        not_written: list[ImageNotWritten] = []

        def write(
            so_far: GenerationResult,
            image: GeneratedImage,
            part: Chunk = pending,
            not_written: list[ImageNotWritten] = not_written,
        ) -> None:
            job = part.jobs[image.index]
            label = ImageLabel(
                job.index, job.name, job.fingerprint, job.origin, _run_record(job), job.cell
            )
            with stops_wait():  # a stop waits until the image is written and reported
                try:
                    written = writer.write(so_far, image, label)
                except ImageNotWritten as failure:
                    not_written.append(failure)
                    raise
                finished.add(job.index)
                tally.written += 1
                _report_written(job, written, image, so_far, options.json_output)

        try:
            engine.generate(pending.request, on_image=write)
            return
        except ImageNotWritten:
            _fail_or_go_on(summary(not_written), chunk, finished, options, tally)
            return
        except OutOfMemoryError as error:
            if not options.keep_going or batch_size == 1:
                _fail_or_go_on(error, chunk, finished, options, tally)
                return
            tally.batch_limit = batch_size // 2
            say(
                f"out of memory with --batch-size {batch_size}; "
                f"going on with --batch-size {tally.batch_limit}"
            )
        except IFCliError as error:
            _fail_or_go_on(error, chunk, finished, options, tally)
            return


def _run_record(job: ImageJob) -> dict[str, Any] | None:
    """What a sidecar keeps of a run without ``--seed``, so the same command resumes it."""
    return None if job.run is None else {"key": job.run.key, "seed": job.run.seed}


def _fail_or_go_on(
    error: IFCliError, chunk: Chunk, finished: set[int], options: RunOptions, tally: _Tally
) -> None:
    """Stop the run, or with ``--keep-going`` count the chunk's missing images and go on.

    A stop (a signal, a stdout nobody reads) is never something to go on after.
    """
    if not options.keep_going or isinstance(error, (InterruptedByUser, StdoutClosed)):
        raise error
    lost = [job for job in chunk.jobs if job.index not in finished]
    tally.failed += len(lost)
    origins = sorted({j.origin for j in lost if j.origin})
    where = f" ({', '.join(origins[:3])}{'…' if len(origins) > 3 else ''})" if origins else ""
    say(f"error: {error}; {len(lost)} image(s) failed{where}, going on")


def _print_plans(engine: Engine, chunks: list[Chunk], run: RandomSeed | None) -> None:
    """Each chunk planned, loading nothing; chunks that share a plan are shown once."""
    from if_cli.plan_report import FoldedPlans

    fresh = run is not None and not run.resumed  # the real run draws its own seed
    plans = FoldedPlans(len(chunks), random_seed=fresh)
    for number, chunk in enumerate(chunks, start=1):
        if text := plans.add(number, engine.prepare(chunk.request, published_sizes=True)):
            emit(text)
    if text := plans.finish():
        emit(text)
