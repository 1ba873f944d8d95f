"""From prompts to work: one job per image, skipping finished ones, grouped into chunks.

Every item (the PROMPT argument, or each line of ``--prompts``) becomes ``num_images``
jobs with seeds ``seed, seed+1, …``; an item without its own seed continues from the run's
seed by image count, so adding a seed to one line never shifts the others. Jobs with the
same settings share requests, ``chunk_size`` images each, so every model is loaded once
per chunk and the GPU sees batches. A job whose fingerprint an existing sidecar already
carries is finished and skipped. A run holds at most ``MAX_RUN_IMAGES`` images, counted
before any job is made, so a typo such as ``--num-images 1000000`` fails at once.

A run without ``--seed`` draws its seed at random, and its sidecars remember it with the
run's key, so the same command resumes instead of starting afresh: a prompt file's run
(keyed by the file) always takes the seed its folder remembers, so cron re-runs make
only new lines; a prompt on the command line (keyed by prompt and settings) takes it only
while that run is unfinished, so asking again for a finished picture makes a new one.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from if_cli.commands.cascade_options import line_shape
from if_cli.commands.early_warnings import warn_early
from if_cli.commands.option_words import in_option_words
from if_cli.commands.processes import current_share
from if_cli.commands.prompt_file import ARGUMENT, PromptItem
from if_cli.commands.seeds import parse_seeds
from if_cli.engine.picture_sizes import plan_sizes
from if_cli.engine.request import GenerationRequest
from if_cli.errors import InvalidRequestError
from if_cli.output.metadata import MAX_SIDECAR_BYTES
from if_cli.untrusted import UnreadableFile, read_json

RequestBuilder = Callable[[Mapping[str, Any]], GenerationRequest]
RANDOM_SEEDS = 2**32
"""A run without ``--seed`` draws its seed below this."""
MAX_RUN_IMAGES = 100_000
"""Images in one run (planning them takes about 7 s); split larger batches into runs."""

log = logging.getLogger("if_cli")


@dataclass(frozen=True)
class RandomSeed:
    """How a run without ``--seed`` got its seed: ``key`` names the run, ``seed`` is its
    base seed, ``resumed`` says whether an earlier run's sidecars gave it."""

    key: str
    seed: int
    resumed: bool = False


@dataclass(frozen=True)
class ImageJob:
    """One image to make: its place in the run, its origin, seed and identity."""

    index: int
    prompt: str
    seed: int
    name: str | None
    origin: str | None  # "prompts.txt:12" for prompt-file lines
    request: GenerationRequest  # the settings, for one image
    fingerprint: str
    run: RandomSeed | None = None  # set when the run's seed was not given
    cell: dict[str, Any] | None = None  # the values --sweep gave this image


@dataclass(frozen=True)
class FinishedImage:
    """An image already in the output folder: its files, as its sidecar names them."""

    path: Path
    sidecar: Path
    intermediates: tuple[Path, ...]
    width: int | None
    height: int | None


@dataclass
class FolderRecord:
    """What the output folder holds: finished images by fingerprint, and for each earlier
    run without ``--seed`` (by key and seed) how many of its images are there, and when
    the newest was made."""

    images: dict[str, FinishedImage] = field(default_factory=dict)
    runs: dict[tuple[str, int], tuple[int, str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Chunk:
    request: GenerationRequest  # image k of the request is jobs[k]
    jobs: tuple[ImageJob, ...]


def plan_jobs(
    items: list[PromptItem],
    options: Mapping[str, Any],
    build: RequestBuilder,
    cells: list[dict[str, Any]] | None = None,
) -> list[ImageJob]:
    """Jobs for every item, each validated (errors name the file and line), once for
    each sweep cell in ``cells`` (the same seeds in every cell).

    Without a ``seed`` in ``options`` the base seed is the one an unfinished (or, for a
    prompt file, any) earlier run into ``options["out"]`` remembers, else a random one.
    A list or range of seeds gives every prompt each of them.
    """
    try:
        given = parse_seeds(options.get("seed"))
    except InvalidRequestError as error:
        raise in_option_words(error) from error
    listed = given if isinstance(given, tuple) else None
    requests = []
    count = 0
    for cell in cells or [{}]:
        offset = 0
        for item in items:
            single, own, seed = _checked(item, options, build, cell, listed, given, offset)
            requests.append((item, own, seed, single, cell))
            offset += single.num_images
            count += single.num_images
    warn_early([(item, single) for item, _, _, single, _ in requests])
    if count > MAX_RUN_IMAGES:
        raise InvalidRequestError(
            f"the run asks for {count:,} images; one run makes at most {MAX_RUN_IMAGES:,}",
            hint="split the prompts into several runs (each resumes on its own)",
        )
    if cells and len(cells) > 1:
        _check_cells_differ(requests)
    run = None
    if given is None:
        run = _random_seed(items, [r[:4] for r in requests], count, options)
    base = run.seed if run else 0
    jobs: list[ImageJob] = []
    for item, own, seed, single, cell in requests:
        first = seed if own else seed + base
        seeds = listed if listed and not own else range(first, first + single.num_images)
        for image_seed in seeds:
            request = dataclasses.replace(
                single, num_images=1, seed=None, prompts=(item.prompt,), seeds=(image_seed,)
            )
            jobs.append(
                ImageJob(
                    index=len(jobs),
                    prompt=item.prompt,
                    seed=image_seed,
                    name=item.overrides.get("name"),  # a line's own name; --name is the template
                    origin=None if item.source == ARGUMENT else item.where,
                    request=request,
                    fingerprint=request.image_fingerprint(item.prompt, image_seed),
                    run=run,
                    cell=cell or None,
                )
            )
    return jobs


def _check_cells_differ(requests: list[Any]) -> None:
    """Two sweep cells that make the same images (a value given twice, or a setting the
    stages that run never use) are a mistake, not a comparison."""
    seen: dict[str, dict[str, Any]] = {}
    for item, _own, seed, single, cell in requests:
        identity = single.image_fingerprint(item.prompt, seed)
        other = seen.setdefault(identity, cell)
        if other is not cell:
            shown = ", ".join(f"{k}={cell[k]}" for k in cell if cell[k] != other.get(k))
            raise InvalidRequestError(
                f"--sweep {shown or cell}: makes the same images as another cell",
                hint="sweep a setting the stages that run use (stage 2 settings need "
                "--stages 2 or 3), each value once",
            )


def _checked(
    item: PromptItem,
    options: Mapping[str, Any],
    build: RequestBuilder,
    cell: dict[str, Any],
    listed: tuple[int, ...] | None,
    given: int | tuple[int, ...] | None,
    offset: int,
) -> tuple[GenerationRequest, bool, int]:
    """One item's request in one sweep cell, validated; whether the line set its own
    seed, and its first seed."""
    overrides = {**item.overrides, **cell}
    merged = line_shape({**options, **overrides}, overrides)
    own = item.overrides.get("seed") is not None
    if listed and not own:
        if merged.get("num_images", 1) not in (1, len(listed)):
            raise InvalidRequestError(
                f"--num-images {merged['num_images']} and {len(listed)} listed seeds disagree",
                hint="a list or range of seeds makes one image per seed for every prompt",
            )
        merged["num_images"] = len(listed)
        seed = listed[0]
    else:
        seed = item.overrides["seed"] if own else (given or 0) + offset  # type: ignore[operator]
    try:
        single = build({**merged, "prompt": item.prompt, "seed": seed})
        single.validate()
        if single.aspect or single.size or single.init:  # sizes the models cannot make
            plan_sizes(single)
    except InvalidRequestError as error:
        worded = in_option_words(error, item.overrides)
        if cell:
            sweep = ", ".join(f"{key}={value}" for key, value in cell.items())
            worded = InvalidRequestError(f"--sweep {sweep}: {worded.message}", worded.hint)
        if item.source == ARGUMENT:
            raise worded from error
        raise InvalidRequestError(f"{item.where}: {worded.message}", worded.hint) from error
    return single, own, seed


def _random_seed(
    items: list[PromptItem], requests: list[Any], count: int, options: Mapping[str, Any]
) -> RandomSeed:
    """The base seed of a run without ``--seed``: remembered by the folder, or new.

    A prompt file's run is keyed by the file: the seed its folder remembers always
    applies. A prompt given on the command line is keyed by everything that decides its
    images but the seed: an earlier such run is resumed only while it is unfinished.
    """
    files = sorted({item.source for item in items if item.source != ARGUMENT})
    if files:
        named = [f if f == "-" else os.path.realpath(f) for f in files]
        identity = "prompts:" + "\n".join(named)
    else:
        identity = "\n".join(
            single.image_fingerprint(item.prompt, seed + k)
            for item, _own, seed, single in requests
            for k in range(single.num_images)
        )
    key = hashlib.sha256(identity.encode("utf-8", "surrogateescape")).hexdigest()[:16]
    out = options.get("out")
    earlier = []
    if out is not None and not options.get("overwrite"):
        earlier = [
            (newest, seed, made)
            for (run_key, seed), (made, newest) in scan_folder(Path(out), quiet=True).runs.items()
            if run_key == key and (files or made < count)
        ]
    if earlier:
        _newest, seed, _made = max(earlier)
        return RandomSeed(key, seed, resumed=True)
    # Processes of one `accelerate launch` run share the main process's draw.
    share = current_share(str(options.get("device", "cpu")))
    return RandomSeed(key, share.agree(secrets.randbelow(RANDOM_SEEDS)))


def scan_folder(out: Path, quiet: bool = False) -> FolderRecord:
    """The images in ``out`` whose PNG and sidecar are both complete, and the runs
    without ``--seed`` they came from.

    Every ``*.json`` there is untrusted: a file that cannot be read as JSON (a FIFO, a
    link to a device, a huge or absurdly nested file) is skipped with one warning for
    all of them (none when ``quiet``); a JSON file that is not an if-cli sidecar is
    skipped silently.
    """
    record = FolderRecord()
    unreadable: list[UnreadableFile] = []
    odd_runs: list[str] = []
    for sidecar in sorted(out.glob("*.json")) if out.is_dir() else ():
        try:
            data = read_json(sidecar, MAX_SIDECAR_BYTES)
            image = data["image"]
            fingerprint, files = image["fingerprint"], image["files"]
            name = files["image"]
        except UnreadableFile as exc:
            unreadable.append(exc)
            continue
        except (KeyError, TypeError):
            continue  # not an if-cli sidecar
        if not (isinstance(fingerprint, str) and isinstance(name, str) and _complete(out, name)):
            continue
        others = [v for k, v in files.items() if k != "image" and isinstance(v, str)]
        record.images[fingerprint] = FinishedImage(
            out / name,
            sidecar,
            tuple(out / other for other in sorted(others) if _complete(out, other)),
            _whole(image.get("width")),
            _whole(image.get("height")),
        )
        run = image.get("run")
        if run is None:
            pass
        elif not _is_run_record(run):
            odd_runs.append(sidecar.name)
        else:
            made, newest = record.runs.get((run["key"], run["seed"]), (0, ""))
            created = data.get("created") if isinstance(data.get("created"), str) else ""
            record.runs[(run["key"], run["seed"])] = (made + 1, max(newest, created))
    if odd_runs and not quiet:
        log.warning(
            "ignored the run record (image.run) of %d sidecar(s) in %s, which is not a key "
            "and a seed from 0 to %d: %s%s; their images still count as made",
            len(odd_runs),
            out,
            RANDOM_SEEDS - 1,
            ", ".join(odd_runs[:3]),
            ", …" if len(odd_runs) > 3 else "",
        )
    if unreadable and not quiet:
        shown = "; ".join(str(problem) for problem in unreadable[:3])
        log.warning(
            "skipped %d unreadable file(s) in %s while looking for finished images: %s%s",
            len(unreadable),
            out,
            shown,
            "; …" if len(unreadable) > 3 else "",
        )
    return record


def _is_run_record(run: object) -> bool:
    """Whether a sidecar's ``image.run`` is what if-cli writes: a key and a drawn seed."""
    if not isinstance(run, dict) or not isinstance(run.get("key"), str):
        return False
    seed = _whole(run.get("seed"))
    return seed is not None and 0 <= seed < RANDOM_SEEDS


def _whole(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _complete(out: Path, name: str) -> bool:
    """Whether the PNG a sidecar names is a regular PNG file in ``out`` itself."""
    path = out / name
    return path.parent == out and name.endswith(".png") and path.is_file()


def make_chunks(jobs: list[ImageJob], chunk_size: int) -> list[Chunk]:
    """Jobs with equal settings, in run order, ``chunk_size`` images a request."""
    groups: dict[GenerationRequest, list[ImageJob]] = {}
    for job in jobs:
        key = dataclasses.replace(job.request, prompts=(), seeds=None)
        groups.setdefault(key, []).append(job)
    return [
        _chunk_of(settings, members[start : start + chunk_size])
        for settings, members in groups.items()
        for start in range(0, len(members), chunk_size)
    ]


def unfinished(chunk: Chunk, finished: set[int], batch_size: int) -> Chunk | None:
    """What is left of ``chunk`` once the jobs whose ``index`` is in ``finished`` are
    written, ``batch_size`` images a pass; None when nothing is left."""
    rest = [job for job in chunk.jobs if job.index not in finished]
    if not rest:
        return None
    return _chunk_of(dataclasses.replace(chunk.request, batch_size=batch_size), rest)


def _chunk_of(settings: GenerationRequest, jobs: list[ImageJob]) -> Chunk:
    request = dataclasses.replace(
        settings, prompts=tuple(j.prompt for j in jobs), seeds=tuple(j.seed for j in jobs)
    )
    return Chunk(request, tuple(jobs))
