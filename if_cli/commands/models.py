"""``if-cli models``: what is cached and usable; ``if-cli models rm MODEL`` frees it."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from if_cli.commands import options as opt
from if_cli.commands.confirm import confirm_or_stop
from if_cli.engine.catalog import SHIPPED_MODELS, repo_id_for, short_name
from if_cli.errors import InvalidRequestError
from if_cli.help_format import GroupedTyper
from if_cli.progress import say
from if_cli.units import human_bytes

models_app = GroupedTyper(
    help="List the IF models in the Hugging Face cache, or remove one.",
    invoke_without_command=True,
    no_args_is_help=False,
)


@models_app.callback()
def list_models(
    context: typer.Context,
    cache_dir: opt.CacheDir = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON array on stdout.")] = False,
) -> None:
    """List cached pipelines: name, revision, variants, size, and whether they load."""
    if context.invoked_subcommand is not None:
        return
    from if_cli.engine.cache import list_cached, list_shipped

    cached = list_cached(cache_dir)
    every = [*cached, *list_shipped()]
    if as_json:
        print(
            json.dumps(
                [
                    {
                        "repo_id": m.repo_id,
                        "name": short_name(m.repo_id),
                        "revision": m.revision,
                        "refs": list(m.refs),
                        "variants": list(m.variants),
                        "size_bytes": m.size_bytes,
                        "complete": m.complete,
                        "problem": m.problem,
                        "path": str(m.path),
                        "shipped": m.shipped,
                    }
                    for m in every
                ],
                indent=2,
            )
        )
        return
    print(f"{'MODEL':<42} {'REVISION':<12} {'VARIANTS':<10} {'SIZE':>11}  STATUS")
    for m in every:
        status = "complete" if m.complete else f"incomplete: {m.problem}"
        if m.shipped:
            status += " (ships with if-cli: --model demo)"
        print(
            f"{short_name(m.repo_id):<42} {m.revision[:12]:<12} {','.join(m.variants):<10} "
            f"{human_bytes(m.size_bytes):>11}  {status}"
        )
    if not cached:
        say("no IF models in the Hugging Face cache yet; get them with `if-cli download`")


@models_app.command("rm")
def remove_model(
    model: Annotated[
        str,
        typer.Argument(
            help="Alias (I-XL, II-L, x4 …) or hub id.",
            metavar="MODEL",
            autocompletion=opt.complete_models,
        ),
    ],
    cache_dir: opt.CacheDir = None,
    yes: opt.Yes = False,
) -> None:
    """Delete a model from the Hugging Face cache, after confirmation."""
    from if_cli.engine.cache import cached_size, remove_cached
    from if_cli.errors import ModelNotFoundError

    if model in SHIPPED_MODELS:
        raise InvalidRequestError(f"{model} ships inside if-cli; it is not in the cache")
    repo_id = repo_id_for(model)
    size = cached_size(repo_id, cache_dir)
    if not size:
        raise ModelNotFoundError(f"{repo_id} is not in the Hugging Face cache")
    if not confirm_or_stop(f"Delete {repo_id} ({human_bytes(size)}) from the cache?", yes):
        raise typer.Exit(1)
    freed = remove_cached(repo_id, cache_dir)
    say(f"removed {repo_id}, {human_bytes(freed)} freed")
