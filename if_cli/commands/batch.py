"""From prompts to work: one job per image, skipping finished ones, grouped into chunks.

Every item (the PROMPT argument, or each line of ``--prompts``) becomes ``num_images``
jobs with seeds ``seed, seed+1, …``; an item without its own seed continues from the run's
seed by image count, so adding a seed to one line never shifts the others. Jobs with the
same settings share requests, ``chunk_size`` images each, so every model is loaded once
per chunk and the GPU sees batches. A job whose fingerprint an existing sidecar already
carries is finished and skipped. A run holds at most ``MAX_RUN_IMAGES`` images, counted
before any job is made, so a typo such as ``--num-images 1000000`` fails at once.
"""

from __future__ import annotations

import dataclasses
import logging
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from if_cli.commands.prompt_file import ARGUMENT, PromptItem
from if_cli.engine.request import GenerationRequest
from if_cli.errors import InvalidRequestError
from if_cli.output.metadata import MAX_SIDECAR_BYTES
from if_cli.untrusted import UnreadableFile, read_json

RequestBuilder = Callable[[Mapping[str, Any]], GenerationRequest]
MAX_RUN_IMAGES = 100_000
"""Images in one run (planning them takes about 5 s); split larger batches into runs."""

log = logging.getLogger("if_cli")


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


@dataclass(frozen=True)
class Chunk:
    request: GenerationRequest  # image k of the request is jobs[k]
    jobs: tuple[ImageJob, ...]


def plan_jobs(
    items: list[PromptItem], options: Mapping[str, Any], build: RequestBuilder
) -> list[ImageJob]:
    """Jobs for every item, each validated (errors name the file and line)."""
    base_seed = options.get("seed")
    if base_seed is None:
        base_seed = secrets.randbelow(2**32)
    requests = []
    offset = 0
    for item in items:
        merged = {**options, **item.overrides}
        seed = item.overrides.get("seed", base_seed + offset)
        try:
            single = build({**merged, "prompt": item.prompt, "seed": seed})
            single.validate()
        except InvalidRequestError as error:
            if item.source == ARGUMENT:
                raise
            raise InvalidRequestError(f"{item.where}: {error.message}", error.hint) from error
        requests.append((item, seed, single))
        offset += single.num_images
    if offset > MAX_RUN_IMAGES:
        raise InvalidRequestError(
            f"the run asks for {offset:,} images; one run makes at most {MAX_RUN_IMAGES:,}",
            hint="split the prompts into several runs (each resumes on its own)",
        )
    jobs: list[ImageJob] = []
    for item, seed, single in requests:
        for k in range(single.num_images):
            request = dataclasses.replace(
                single, num_images=1, seed=None, prompts=(item.prompt,), seeds=(seed + k,)
            )
            jobs.append(
                ImageJob(
                    index=len(jobs),
                    prompt=item.prompt,
                    seed=seed + k,
                    name=item.overrides.get("name"),  # a line's own name; --name is the template
                    origin=None if item.source == ARGUMENT else item.where,
                    request=request,
                    fingerprint=request.image_fingerprint(item.prompt, seed + k),
                )
            )
    return jobs


def finished_fingerprints(out: Path) -> set[str]:
    """Fingerprints of images in ``out`` whose PNG and sidecar are both complete.

    Every ``*.json`` there is untrusted: a file that cannot be read as JSON (a FIFO, a
    link to a device, a huge or absurdly nested file) is skipped with one warning for
    all of them; a JSON file that is not an if-cli sidecar is skipped silently.
    """
    done: set[str] = set()
    unreadable: list[UnreadableFile] = []
    for sidecar in sorted(out.glob("*.json")) if out.is_dir() else ():
        try:
            image = read_json(sidecar, MAX_SIDECAR_BYTES)["image"]
            fingerprint, name = image["fingerprint"], image["files"]["image"]
        except UnreadableFile as exc:
            unreadable.append(exc)
            continue
        except (KeyError, TypeError):
            continue  # not an if-cli sidecar
        if isinstance(fingerprint, str) and isinstance(name, str) and _complete(out, name):
            done.add(fingerprint)
    if unreadable:
        shown = "; ".join(str(problem) for problem in unreadable[:3])
        log.warning(
            "skipped %d unreadable file(s) in %s while looking for finished images: %s%s",
            len(unreadable),
            out,
            shown,
            "; …" if len(unreadable) > 3 else "",
        )
    return done


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
