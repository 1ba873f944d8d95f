"""The worker's HTTP API (a small Starlette app), served by uvicorn on its socket.

``GET /api/v1/status``, ``POST /api/v1/jobs`` (a stream of JSON lines), ``POST
/api/v1/stop`` and ``GET /api/v1/openapi.json``; docs/worker.md describes them. A bad
request is answered at once with ``{"error": {...}}`` (type, exit code, message, hint)
and the worker goes on serving. On TCP, with ``--api-key``, every request must carry
``Authorization: Bearer KEY``; on the Unix socket the file's permissions guard it.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hmac
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from if_cli.engine.embedding_cache import MAX_CACHE_GIB
from if_cli.errors import IFCliError, InvalidRequestError, WorkerError
from if_cli.schema import SchemaError, check_value
from if_cli.worker.apis.a1111 import a1111_routes
from if_cli.worker.apis.errors import error_for, native_error, status_of
from if_cli.worker.apis.inputs import ApiState, BodyTooLarge, Intake, body_bytes, parse_object
from if_cli.worker.apis.openai_images import openai_routes
from if_cli.worker.jobs import Job, JobRunner, JobSettings
from if_cli.worker.openapi import OPENAPI
from if_cli.worker.wire import PROTOCOL, bad_request, decode_request

HEARTBEAT_S = 1.0
"""A queued job's client hears from the worker this often (its place in the queue); a
client that went away is noticed at the next one."""
_JOB_FIELDS = {"protocol", "request", "settings"}
_SETTINGS = {"embedding_cache": "flag", "embedding_cache_gib": "number", "cwd": "text"}


def build_app(
    runner: JobRunner,
    describe: Callable[[], dict[str, Any]],
    request_stop: Callable[[str], None],
    api_key: str | None = None,
    model: str = "if",
) -> Starlette:
    """The app; ``describe`` gives the status fields of the worker itself, and
    ``request_stop`` shuts the server down (as SIGTERM does). ``model`` is the preset the
    A1111 and OpenAI endpoints run when a request names none."""

    state = ApiState(Intake(runner), model)

    async def status(_request: Request) -> Response:
        return JSONResponse({**describe(), **runner.status()})

    async def stop(_request: Request) -> Response:
        request_stop("asked to stop")
        return JSONResponse({"stopping": True})

    async def openapi(_request: Request) -> Response:
        return JSONResponse(OPENAPI)

    async def jobs(request: Request) -> Response:
        try:
            body = await body_bytes(request)
            job_request, settings = await state.intake.read(_job_from, body)
        except BodyTooLarge as error:
            return native_error(413, bad_request(error.message))
        except IFCliError as error:  # a bad request, or a full queue (503)
            return native_error(status_of(error), error)
        loop = asyncio.get_running_loop()
        channel: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

        def send(event: dict[str, Any]) -> None:
            with contextlib.suppress(RuntimeError):  # the loop is gone: no one to tell
                loop.call_soon_threadsafe(channel.put_nowait, event)

        job = Job(job_request, settings, send)
        try:
            ahead = runner.submit(job)
        except WorkerError as error:
            return native_error(503, error)
        return StreamingResponse(
            _events(runner, job, ahead, channel), media_type="application/x-ndjson"
        )

    app = Starlette(
        routes=[
            Route("/api/v1/status", status, methods=["GET"]),
            Route("/api/v1/jobs", jobs, methods=["POST"]),
            Route("/api/v1/stop", stop, methods=["POST"]),
            Route("/api/v1/openapi.json", openapi, methods=["GET"]),
            *a1111_routes(runner, state),
            *openai_routes(runner, state),
        ],
        exception_handlers={404: _not_found, 405: _not_allowed},
    )
    return _Guard(app, api_key)


async def _events(
    runner: JobRunner, job: Job, ahead: int, channel: asyncio.Queue[dict[str, Any]]
) -> AsyncIterator[bytes]:
    """The job's events as JSON lines; a client that leaves cancels its job.

    Waiting for the next event is never cancelled by a heartbeat (a cancelled ``get``
    could lose the event it was about to return: an image).
    """
    waiting: asyncio.Future[dict[str, Any]] | None = None
    try:
        yield _line({"event": "queued", "ahead": ahead})
        while True:
            if waiting is None:
                waiting = asyncio.ensure_future(channel.get())
            done, _ = await asyncio.wait({waiting}, timeout=HEARTBEAT_S)
            if not done:  # a heartbeat: where the job stands
                place = runner.ahead_of(job)
                yield _line(
                    {"event": "alive"} if place is None else {"event": "queued", "ahead": place}
                )
                continue
            event, waiting = waiting.result(), None
            yield _line(event)
            if event["event"] in ("done", "error"):
                return
    finally:
        if waiting is not None:
            waiting.cancel()
        runner.cancel(job)


def _line(event: dict[str, Any]) -> bytes:
    return (json.dumps(event, ensure_ascii=False) + "\n").encode()


def _job_from(body: bytes) -> tuple[Any, JobSettings]:
    try:
        data = parse_object(body)
    except InvalidRequestError as error:
        raise bad_request(error.message) from None
    unknown = sorted(set(data) - _JOB_FIELDS)
    if unknown:
        raise bad_request(f"unknown field {unknown[0]!r}")
    protocol = data.get("protocol")
    if isinstance(protocol, bool) or protocol != PROTOCOL:
        raise bad_request(
            f"protocol {json.dumps(protocol)} is not this worker's ({PROTOCOL}): "
            "client and worker must be the same if-cli"
        )
    if "request" not in data:
        raise bad_request("request is missing")
    settings = data.get("settings")
    settings = {} if settings is None else settings
    if not isinstance(settings, dict):
        raise bad_request("settings must be an object")
    for name, value in settings.items():
        kind = _SETTINGS.get(name)
        if kind is None:
            raise bad_request(f"unknown field {name!r} in settings")
        try:
            check_value(f"settings.{name}", value, kind)
        except SchemaError as error:
            raise bad_request(f"settings.{name} has the wrong type: {error}") from None
    gib = settings.get("embedding_cache_gib", 2.0)
    if not 0 <= gib <= MAX_CACHE_GIB:
        raise InvalidRequestError(
            f"settings.embedding_cache_gib must be from 0 to {MAX_CACHE_GIB}, got {gib}"
        )
    try:
        return decode_request(data["request"]), JobSettings(**settings)
    except (KeyError, TypeError, ValueError, OverflowError) as error:  # a check missed it
        raise bad_request(f"the request cannot be read ({type(error).__name__}: {error})") from None


async def _not_found(request: Request, _exc: Exception) -> Response:
    return error_for(request.url.path, 404, bad_request("no such endpoint"), "not_found")


async def _not_allowed(request: Request, _exc: Exception) -> Response:
    error = bad_request(f"{request.method} is not allowed here")
    return error_for(request.url.path, 405, error, "method_not_allowed")


class _Guard:
    """Checks of TCP requests, before any route runs: no web page's, and the key.

    A web page the user visits can send requests to a loopback port (and, by DNS
    rebinding, read the answers); browsers mark those with ``Origin`` and the page's own
    ``Host``. So a request with an ``Origin``, or addressed to another host than the
    worker's address, is refused; then, with ``--api-key``, the key is checked.
    """

    def __init__(self, app: Any, api_key: str | None) -> None:
        self.app = app
        self.key = None if api_key is None else api_key.encode()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        refusal = _refusal(scope, self.key) if scope["type"] == "http" else None
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _refusal(scope: dict[str, Any], key: bytes | None) -> JSONResponse | None:
    if not _over_tcp(scope):
        return None
    path = str(scope.get("path", ""))
    headers = dict(scope.get("headers") or [])
    if b"origin" in headers:
        return error_for(path, 403, WorkerError("requests from web pages are refused"))
    if key is None:  # with a key, a page that rebinds a name still lacks the key
        host = headers.get(b"host", b"").decode("latin-1").lower()
        if host not in _own_hosts(scope):
            return error_for(path, 403, WorkerError(f"requests to {host!r} are refused"))
        return None
    if not hmac.compare_digest(_given_key(headers.get(b"authorization", b"")), key):
        error = WorkerError(
            "this worker needs its key: Authorization: Bearer KEY "
            "(or basic auth with the key as the password)"
        )
        return error_for(path, 401, error, "invalid_api_key")
    return None


def _given_key(authorization: bytes) -> bytes:
    """The key a request carries: ``Bearer KEY`` (the native and OpenAI clients), or
    basic auth with the key as its password (A1111 clients, any user name)."""
    scheme, _, given = authorization.partition(b" ")
    if scheme.lower() == b"bearer":
        return given.strip()
    if scheme.lower() == b"basic":
        try:
            decoded = base64.b64decode(given.strip(), validate=True)
        except (binascii.Error, ValueError):
            return b""
        return decoded.partition(b":")[2]
    return b""


def _own_hosts(scope: dict[str, Any]) -> set[str]:
    """The ``Host`` values that name this worker: its address and, on loopback, the
    loopback names."""
    host, port = scope.get("server") or ("", 0)
    names = {str(host).lower()}
    if names & {"127.0.0.1", "::1", "localhost"}:
        names |= {"127.0.0.1", "localhost", "[::1]"}
    names = {f"[{n}]" if ":" in n and not n.startswith("[") else n for n in names}
    return {f"{name}:{port}" for name in names} | names


def _over_tcp(scope: dict[str, Any]) -> bool:
    """A Unix socket's connections have no peer address (uvicorn gives ``client`` None)."""
    return scope.get("client") is not None
