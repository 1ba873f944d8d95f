"""Run a request for a command: validate, plan, call the engine, write, print paths.

Shared by every command that makes images, so checks, output and messages are the same.
All checks happen before any weights load.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from if_cli.engine.request import GenerationRequest
from if_cli.engine.result import GeneratedImage, GenerationResult
from if_cli.output.files import ensure_writable_dir
from if_cli.output.naming import validate_template
from if_cli.progress import progress_reporter, say


def run_request(
    request: GenerationRequest,
    out: Path,
    name: str,
    dry_run: bool,
    quiet: bool,
    started: float,
) -> None:
    request.validate()
    validate_template(name)
    if not dry_run:
        ensure_writable_dir(out)

    from if_cli.engine.cascade import Engine
    from if_cli.output.writer import OutputWriter

    with progress_reporter(quiet) as on_progress, Engine(on_progress=on_progress) as engine:
        prepared = engine.prepare(request)
        if dry_run:
            from if_cli.plan_report import format_plan

            print(format_plan(prepared))
            return
        writer = OutputWriter(out, name)

        def write(so_far: GenerationResult, image: GeneratedImage) -> None:
            written = writer.write(so_far, image)
            for path in (*written.intermediates, written.image):
                print(path, flush=True)

        result = engine.generate(prepared, on_image=write)
    if not quiet:
        seeds = prepared.request.image_seeds()
        say(
            f"{len(result.images)} image(s) in {time.time() - started:.1f} s "
            f"(seed {seeds[0]}{'…' + str(seeds[-1]) if len(seeds) > 1 else ''}) → {out}"
        )
    sys.stdout.flush()
