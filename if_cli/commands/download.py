"""``if-cli download [MODEL ...]``: fetch only what the engine loads into the HF cache."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from if_cli.commands import options as opt
from if_cli.commands.confirm import confirm_or_stop
from if_cli.engine.catalog import DEFAULT_CASCADE, MODEL_ALIASES, repo_id_for
from if_cli.progress import fancy_output_allowed, say
from if_cli.units import human_bytes


def download(
    models: Annotated[
        list[str] | None,
        typer.Argument(
            help="Models to fetch: " + ", ".join(MODEL_ALIASES) + " or hub ids "
            "(owner/name). Default: " + " ".join(DEFAULT_CASCADE) + ".",
            metavar="[MODEL]...",
            autocompletion=opt.complete_models,
            show_default=False,
        ),
    ] = None,
    variant: Annotated[
        Literal["fp16", "fp32"],
        typer.Option("--variant", help="Which weight files: fp16 (half the size) or fp32."),
    ] = "fp16",
    revision: Annotated[
        str, typer.Option("--revision", help="Branch, tag or commit to fetch.")
    ] = "main",
    with_safety_checker: Annotated[
        bool,
        typer.Option("--with-safety-checker", help="Also fetch the IF safety checker weights."),
    ] = False,
    cache_dir: opt.CacheDir = None,
    token: Annotated[
        str | None,
        typer.Option(
            "--token",
            help="Hub token (default: HF_TOKEN, then the stored `hf auth login`). Never printed.",
            show_default=False,
        ),
    ] = None,
    yes: opt.Yes = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List the files and sizes; fetch nothing.")
    ] = False,
    quiet: opt.Quiet = False,
) -> None:
    """Download IF models into the Hugging Face cache, only the files if-cli loads.

    Prints the snapshot folder of each model on stdout. A finished file is never fetched
    again, so re-running an interrupted download completes it.
    """
    repo_ids = [repo_id_for(name) for name in (models or DEFAULT_CASCADE)]
    from huggingface_hub.utils import disable_progress_bars, logging

    from if_cli.engine import download as hub

    logging.set_verbosity_error()
    if quiet or not fancy_output_allowed():
        disable_progress_bars()
    wanted = "fp16" if variant == "fp16" else None
    plans = [
        hub.plan_download(repo_id, revision, wanted, with_safety_checker, cache_dir, token)
        for repo_id in repo_ids
    ]
    if dry_run:
        for plan in plans:
            print(
                f"{plan.repo_id}@{plan.commit}: {len(plan.files)} files, "
                f"{human_bytes(plan.selected_bytes)} of {human_bytes(plan.repo_bytes)} "
                f"in the repo, {human_bytes(plan.missing_bytes)} not yet cached"
            )
            for remote in plan.files:
                print(f"  {remote.size:>14,}  {remote.path}")
        return
    for plan in plans:
        if not quiet:
            damaged = f", {len(plan.damaged)} damaged in the cache" if plan.damaged else ""
            say(
                f"{plan.repo_id}@{plan.commit[:10]}: {len(plan.files)} files{damaged}, "
                f"{human_bytes(plan.missing_bytes)} to fetch "
                f"(a full snapshot would be {human_bytes(plan.repo_bytes)})"
            )
    hub.check_disk_space(plans, cache_dir)
    needed = sum(plan.missing_bytes for plan in plans)
    if needed and not confirm_or_stop(f"Download {human_bytes(needed)}?", yes):
        raise typer.Exit(1)
    for plan in plans:
        folder: Path = hub.run_download(plan, cache_dir, token)
        print(folder, flush=True)
