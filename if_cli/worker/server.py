"""``if-cli serve``: bind the sockets, run the job thread and uvicorn, shut down cleanly.

SIGTERM, SIGINT, ``POST /api/v1/stop`` and the idle timeout all end the same way: no
new job is taken, queued ones are told the worker stopped, the running one stops at its
next step (its finished images have reached its client), the models are freed and the
socket file is removed. A second Ctrl-C stops without waiting.
"""

from __future__ import annotations

import logging
import os
import socket
import stat
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from if_cli.engine.request import Placement
from if_cli.errors import WorkerError
from if_cli.worker.address import Address, check_socket_path, private_folder
from if_cli.worker.jobs import JobRunner
from if_cli.worker.software import software

log = logging.getLogger("if_cli")
STOP_WAIT_S = 30.0
"""How long shutdown waits for the running job to reach its next step."""


@dataclass(frozen=True)
class ServeSettings:
    socket: Path
    listen: Address | None = None
    api_key: str | None = None
    idle_timeout_s: float = 900.0  # 0: never
    placement: Placement = field(default_factory=Placement)
    model: str = "if"  # the preset the A1111 and OpenAI endpoints run by default


def serve(settings: ServeSettings, on_ready: Any = None) -> str:
    """Serve until stopped; the reason it stopped (``SIGTERM``, ``idle timeout`` …)."""
    try:
        import starlette  # noqa: F401
        import uvicorn
    except ImportError as missing:
        raise WorkerError(
            f"if-cli serve needs {missing.name}, which is not installed",
            hint="pip install 'if-cli[serve]'",
        ) from missing

    from if_cli.worker.app import build_app
    from if_cli.worker.http_server import WorkerServer

    sockets = [bind_unix(settings.socket)]
    inode = settings.socket.stat().st_ino
    runner = JobRunner(settings.placement)
    try:
        if settings.listen is not None:
            sockets.append(bind_tcp(settings.listen))
        started = datetime.now().astimezone().isoformat(timespec="seconds")
        identity = software()

        def describe() -> dict[str, Any]:
            return {
                "name": "if-cli worker",
                "pid": os.getpid(),
                "started": started,
                "socket": str(settings.socket),
                "listen": None if settings.listen is None else str(settings.listen),
                "idle_timeout_s": settings.idle_timeout_s,
                "placement": asdict(settings.placement),
                "model": settings.model,
                "software": identity,
            }

        config = uvicorn.Config(
            None,  # type: ignore[arg-type]  # the app is set below, once the server exists
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=int(STOP_WAIT_S),
        )
        server = WorkerServer(config, runner, settings.idle_timeout_s)
        config.app = build_app(
            runner, describe, server.request_stop, settings.api_key, settings.model
        )
        runner.start()
        if on_ready is not None:
            on_ready(describe())
        server.run(sockets=sockets)
        return server.reason
    finally:
        runner.stop("shutting down")
        runner.join(STOP_WAIT_S)
        for sock in sockets:
            sock.close()
        _remove_socket(settings.socket, inode)


def bind_unix(path: Path) -> socket.socket:
    """A listening socket at ``path``, 0600 in a private folder; a socket file left by a
    worker that was killed is replaced, a live worker's is not."""
    check_socket_path(path)
    private_folder(path.parent)
    if os.path.lexists(path):
        if not stat.S_ISSOCK(path.lstat().st_mode):
            raise WorkerError(
                f"{path} exists and is not a socket", hint="choose --socket elsewhere"
            )
        if answers(path):
            raise WorkerError(
                f"a worker already listens on {path}",
                hint="`if-cli serve --status` shows it, `if-cli serve --stop` ends it",
            )
        path.unlink()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    before = os.umask(0o177)
    try:
        sock.bind(str(path))
    except OSError as error:
        sock.close()
        raise WorkerError(f"cannot listen on {path}: {error.strerror}") from error
    finally:
        os.umask(before)
    os.chmod(path, 0o600)
    sock.listen(128)
    return sock


def bind_tcp(address: Address) -> socket.socket:
    family = socket.AF_INET6 if ":" in (address.host or "") else socket.AF_INET
    try:
        return socket.create_server((address.host, address.port), family=family, backlog=128)
    except OSError as error:
        raise WorkerError(f"cannot listen on {address}: {error.strerror}") from error


def answers(path: Path) -> bool:
    """Whether something accepts connections on the socket ``path``."""
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(2.0)
    try:
        probe.connect(str(path))
        return True
    except OSError:
        return False
    finally:
        probe.close()


def _remove_socket(path: Path, inode: int) -> None:
    """Remove the socket file, unless another worker has put its own there since."""
    try:
        if path.lstat().st_ino == inode:
            path.unlink()
    except OSError:
        pass
