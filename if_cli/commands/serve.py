"""``if-cli serve``: a warm worker, so image commands stop reloading the models.

``if-cli serve`` runs in the foreground until stopped (Ctrl-C, SIGTERM, ``--stop``, or
the idle timeout); ``--status`` and ``--stop`` talk to a running one. Image commands use
it by themselves (``--worker auto``); see docs/worker.md.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from if_cli.commands import options as opt
from if_cli.commands.cascade_options import placement_parameters, with_options
from if_cli.errors import InvalidRequestError, WorkerError

SERVE_PANEL = "Worker"


@with_options(placement_parameters())
def serve(
    socket_path: Annotated[
        Path | None,
        typer.Option(
            "--socket",
            help="The Unix socket to listen on (made 0600 in a private folder). "
            "Default: worker.sock in your runtime folder, where --worker auto looks.",
            metavar="PATH",
            show_default=False,
            rich_help_panel=SERVE_PANEL,
        ),
    ] = None,
    listen: Annotated[
        str | None,
        typer.Option(
            "--listen",
            help="Also listen on TCP, such as 127.0.0.1:7860; an address other than "
            "loopback needs --api-key.",
            metavar="HOST:PORT",
            show_default=False,
            rich_help_panel=SERVE_PANEL,
        ),
    ] = None,
    api_key: Annotated[
        str | None,
        typer.Option(
            "--api-key",
            envvar="IF_CLI_API_KEY",
            help="Require Authorization: Bearer KEY on TCP (clients read IF_CLI_API_KEY). "
            "Prefer the variable: a command line is visible to other users.",
            metavar="KEY",
            show_default=False,
            show_envvar=False,
            rich_help_panel=SERVE_PANEL,
        ),
    ] = None,
    idle_timeout: Annotated[
        str,
        typer.Option(
            "--idle-timeout",
            help="Free the device and exit after this long without a job (90s, 15m, 2h); 0 never.",
            metavar="DURATION",
            rich_help_panel=SERVE_PANEL,
        ),
    ] = "15m",
    status: Annotated[
        bool,
        typer.Option(
            "--status",
            help="Show the running worker and exit (exit 11 if none).",
            rich_help_panel=SERVE_PANEL,
        ),
    ] = False,
    stop: Annotated[
        bool,
        typer.Option(
            "--stop",
            help="Stop the running worker (as SIGTERM does) and exit.",
            rich_help_panel=SERVE_PANEL,
        ),
    ] = False,
    json_output: Annotated[
        bool, typer.Option("--json", help="--status as one JSON object on stdout.")
    ] = False,
    model: Annotated[
        Literal["if", "demo"],
        typer.Option(
            "--model",
            help="The cascade the A1111 (/sdapi/v1) and OpenAI (/v1/images) endpoints run "
            "when a request names none: if or demo.",
            rich_help_panel=SERVE_PANEL,
        ),
    ] = "if",
    quiet: opt.Quiet = False,
    **options: Any,
) -> None:
    """Keep the cascade loaded between commands: a worker the image commands use by
    themselves (--worker auto), with the same progress, files and exit codes.

    Jobs run one at a time, in the order they come; each client writes its own files.
    The worker listens on a Unix socket only you can open, and with --listen on TCP.
    """
    from if_cli.progress import say
    from if_cli.units import parse_duration
    from if_cli.worker.address import Address, default_socket, parse_listen

    if status and stop:
        raise InvalidRequestError("give --status or --stop, not both")
    path = socket_path.expanduser().absolute() if socket_path else default_socket()
    if status or stop:
        _talk_to(Address(path=path), stop, json_output, quiet)
        return
    try:
        idle = parse_duration(idle_timeout)
    except ValueError as error:
        raise InvalidRequestError(f"--idle-timeout: {error}") from error
    address = None if listen is None else parse_listen(listen)
    if api_key and address is None and not quiet:
        say("the API key guards TCP only: without --listen it is not used")
    if address is not None and not address.is_loopback and not api_key:
        raise InvalidRequestError(
            f"--listen {listen} is reachable from other machines: it needs --api-key",
            hint="set IF_CLI_API_KEY to a long random key, or listen on 127.0.0.1",
        )
    from if_cli.worker.server import ServeSettings
    from if_cli.worker.server import serve as run_worker

    if quiet:  # the worker's line per job; warnings still show
        logging.getLogger("if_cli.worker").setLevel(logging.WARNING)

    settings = ServeSettings(
        socket=path,
        listen=address,
        api_key=api_key or None,
        idle_timeout_s=idle,
        placement=opt.placement(options),
        model=model,
    )

    def ready(described: dict[str, Any]) -> None:
        if quiet:
            return
        where = described["socket"] + (f" and {described['listen']}" if address else "")
        wait = f"exits after {idle:g} s idle" if idle else "no idle timeout"
        say(f"worker ready on {where} (pid {described['pid']}; {wait}; Ctrl-C stops it)")

    reason = run_worker(settings, on_ready=ready)
    if not quiet:
        say(f"worker stopped ({reason})")


def _talk_to(address: Any, stop: bool, json_output: bool, quiet: bool) -> None:
    from if_cli.progress import say
    from if_cli.worker.client import WorkerConnection

    connection = WorkerConnection(address)
    try:
        answer = connection.stop() if stop else connection.status()
    finally:
        connection.close()
    if stop:
        _wait_until_gone(address.path)
        if not quiet:
            say(f"the worker at {address} stopped")
        return
    if json_output:
        print(json.dumps(answer, ensure_ascii=False))
        return
    placement = answer.get("placement", {})
    chosen = ", ".join(f"{k} {v}" for k, v in placement.items() if v not in ("auto", None, False))
    print(f"worker: pid {answer.get('pid')}, since {answer.get('started')}")
    listens = answer.get("socket", "") + (f", {answer['listen']}" if answer.get("listen") else "")
    print(f"listens: {listens}")
    print(f"placement: {chosen or 'auto'}")
    running = "one running" if answer.get("running") else "none running"
    print(
        f"jobs: {answer.get('jobs_done')} done, {answer.get('jobs_failed')} failed, "
        f"{answer.get('jobs_cancelled')} cancelled; {running}, {answer.get('queued')} queued"
    )


def _wait_until_gone(socket: Path, timeout_s: float = 60.0) -> None:
    """Return once the worker has removed its socket (it finishes its step first), so
    ``if-cli serve --stop && if-cli serve`` starts the new one."""
    import os
    import time

    deadline = time.monotonic() + timeout_s
    while os.path.lexists(socket):
        if time.monotonic() > deadline:
            raise WorkerError(f"the worker at {socket} was asked to stop but is still there")
        time.sleep(0.05)
