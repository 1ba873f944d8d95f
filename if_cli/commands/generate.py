"""``if-cli generate PROMPT`` or ``--prompts FILE``: images through the IF cascade."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from if_cli.commands.cascade_options import cascade_parameters, run_parameters, with_options
from if_cli.commands.options import PROMPT_PANEL
from if_cli.errors import InvalidRequestError

BATCH_PANEL = "Batch and scripting"
EXPLORE_PANEL = "Exploring"


@with_options(cascade_parameters("generate", (1, 2, 3)), run_parameters())
def generate(
    prompt: Annotated[
        str | None,
        typer.Argument(
            help="What the image should show (or use --prompts).",
            metavar="PROMPT",
            show_default=False,
        ),
    ] = None,
    prompts: Annotated[
        str | None,
        typer.Option(
            "--prompts",
            help="A file of prompts, - for stdin: one a line (blank "
            "lines and # comments skipped), or JSON Lines whose objects set "
            '"prompt" and any per-image option.',
            rich_help_panel=BATCH_PANEL,
            show_default=False,
        ),
    ] = None,
    from_image: Annotated[
        str | None,
        typer.Option(
            "--from",
            help="Take every setting of this picture (an if-cli PNG or sidecar, or a PNG "
            "with an A1111 parameters chunk): prompt, seed, stages, steps, guidance, models; "
            "any option given here overrides it.",
            metavar="IMAGE",
            rich_help_panel=PROMPT_PANEL,
            show_default=False,
        ),
    ] = None,
    sweep: Annotated[
        list[str] | None,
        typer.Option(
            "--sweep",
            help="Run the prompts once per value: KEY=V1,V2,… (guidance, steps, "
            "stage-2-noise-level …); several make a grid. Sidecars record each cell.",
            metavar="KEY=V,…",
            rich_help_panel=EXPLORE_PANEL,
            show_default=False,
        ),
    ] = None,
    sample: Annotated[
        int | None,
        typer.Option(
            "--sample",
            help="Of the prompts {a|b} wildcards make, draw N at random instead of all.",
            metavar="N",
            rich_help_panel=EXPLORE_PANEL,
            show_default=False,
        ),
    ] = None,
    sample_seed: Annotated[
        int | None,
        typer.Option(
            "--sample-seed",
            help="Seed of the --sample draw (random and printed when not given).",
            rich_help_panel=EXPLORE_PANEL,
            show_default=False,
        ),
    ] = None,
    sheet: Annotated[
        bool,
        typer.Option(
            "--sheet",
            help="Also write a contact sheet of the run's pictures (sheet.png in --out).",
            rich_help_panel=EXPLORE_PANEL,
        ),
    ] = False,
    keep_going: Annotated[
        bool,
        typer.Option(
            "--keep-going",
            help="Go on after a chunk fails (out of memory, a missing model); exit 10 at the end.",
            rich_help_panel=BATCH_PANEL,
        ),
    ] = False,
    chunk_size: Annotated[
        int,
        typer.Option(
            "--chunk-size",
            help="Images per chunk: T5, then stage I, II, III "
            "for the whole chunk, each model loaded once per chunk.",
            rich_help_panel=BATCH_PANEL,
        ),
    ] = 16,
    embedding_cache: Annotated[
        bool,
        typer.Option(
            "--embedding-cache/--no-embedding-cache",
            help="Reuse T5 embeddings of prompts seen before (a cached prompt never loads T5).",
            rich_help_panel=BATCH_PANEL,
        ),
    ] = True,
    embedding_cache_gib: Annotated[
        float,
        typer.Option(
            "--embedding-cache-gib",
            help="Size cap of the embedding cache; least recently used entries go first.",
            rich_help_panel=BATCH_PANEL,
        ),
    ] = 2.0,
    **options: Any,
) -> None:
    """Make images from text with the IF cascade (64 → 256 → 1024 px).

    Writes NAME.png (with an A1111-style "parameters" text chunk) and NAME.json (every
    setting, seed, model revision and timing) per image, and prints each PNG path.
    Images already in the output folder for the same settings are skipped, so an
    interrupted run can simply be run again.
    """
    from if_cli.commands.batch import plan_jobs
    from if_cli.commands.cascade_options import request_from_options
    from if_cli.commands.prompt_file import ARGUMENT, PromptItem, read_prompt_file
    from if_cli.commands.run import RunOptions, run_jobs
    from if_cli.commands.sweeps import grid, parse_sweeps
    from if_cli.commands.wildcards import expand_items

    if (prompt is None) == (prompts is None):
        raise InvalidRequestError("give either a PROMPT or --prompts FILE")
    if chunk_size < 1:
        raise InvalidRequestError(f"--chunk-size must be at least 1, got {chunk_size}")
    from if_cli.engine.embedding_cache import MAX_CACHE_GIB

    if not 0 <= embedding_cache_gib <= MAX_CACHE_GIB:
        raise InvalidRequestError(
            f"--embedding-cache-gib must be from 0 to {MAX_CACHE_GIB}, got {embedding_cache_gib}"
        )
    items = [PromptItem(ARGUMENT, 0, prompt)] if prompt is not None else read_prompt_file(prompts)  # type: ignore[arg-type]
    items = expand_items(items, sample, _sample_seed(sample, sample_seed, options["quiet"]))
    cells = grid(parse_sweeps(sweep)) if sweep else None
    jobs = plan_jobs(items, options, request_from_options, cells)
    run_jobs(
        jobs,
        RunOptions.from_options(
            options,
            keep_going=keep_going,
            chunk_size=chunk_size,
            embedding_cache=embedding_cache,
            embedding_cache_gib=embedding_cache_gib,
        ),
    )
    if sheet and not options["dry_run"]:
        _write_sheet(jobs, options["out"])


def _sample_seed(sample: int | None, seed: int | None, quiet: bool) -> int | None:
    """The seed of a ``--sample`` draw: the one given, or a random one, said on stderr."""
    if sample is None:
        return None
    if sample < 1:
        raise InvalidRequestError(f"--sample must be at least 1, got {sample}")
    if seed is None:
        import secrets

        from if_cli.progress import say

        seed = secrets.randbelow(2**32)
        if not quiet:
            say(f"--sample {sample}: drawn with --sample-seed {seed} (give it to draw the same)")
    return seed


def _write_sheet(jobs: list[Any], out: Path) -> None:
    """A contact sheet of the run's pictures, made now or found already made."""
    from if_cli.commands.batch import scan_folder
    from if_cli.output.sheet import draw_sheet, tiles_of
    from if_cli.progress import say

    finished = scan_folder(out, quiet=True).images
    pictures = [finished[job.fingerprint].path for job in jobs if job.fingerprint in finished]
    if pictures:
        say(f"contact sheet: {draw_sheet(tiles_of(pictures), out / 'sheet.png')}")
