"""The client side: an engine that hands its requests to a running worker.

``WorkerEngine`` has the interface the commands use of ``Engine`` (``generate(request,
on_image)``, ``close``, a context manager), so planning, skip-if-done, naming and
writing stay in the command's own process, with the user's own permissions, exactly as
in-process. The worker sends the pixels; the client's writer makes the files. Progress,
warnings and errors arrive as events and are raised or reported as the engine would
(an out-of-memory in the worker is an ``OutOfMemoryError`` here, exit 5).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from if_cli.engine.events import ProgressCallback, ignore_progress
from if_cli.engine.result import GeneratedImage, GenerationResult
from if_cli.errors import IFCliError, WorkerError, interruption
from if_cli.worker.address import (
    AUTO,
    OFF,
    Address,
    default_socket,
    parse_worker,
    trusted_socket,
    worker_setting,
)
from if_cli.worker.software import difference, software
from if_cli.worker.wire import (
    PROTOCOL,
    decode_error,
    decode_event,
    decode_picture,
    decode_plan,
    decode_request,
    decode_sizes,
    decode_source,
    decode_timings,
    encode_request,
)

if TYPE_CHECKING:
    from if_cli.engine.cascade import ImageCallback
    from if_cli.engine.request import GenerationRequest

API_KEY_VARIABLE = "IF_CLI_API_KEY"
CONNECT_TIMEOUT_S = 5.0
Notice = Callable[[str], None]


class WorkerConnection:
    """An HTTP client for one worker's address."""

    def __init__(self, address: Address, api_key: str | None = None) -> None:
        import httpx

        self.address = address
        # Plain HTTP to a known address: no TLS context to build, and no proxy from the
        # environment may carry a loopback request (or the key) elsewhere.
        uds = None if address.path is None else str(address.path)
        headers = {"authorization": f"Bearer {api_key}"} if api_key else {}
        self.client = httpx.Client(
            transport=httpx.HTTPTransport(uds=uds, verify=False),
            base_url="http://worker" if uds else str(address),
            headers=headers,
            timeout=httpx.Timeout(CONNECT_TIMEOUT_S, read=None),  # a load takes minutes
            trust_env=False,
        )

    def status(self) -> dict[str, Any]:
        return self._call("GET", "/api/v1/status")

    def stop(self) -> dict[str, Any]:
        return self._call("POST", "/api/v1/stop")

    def close(self) -> None:
        self.client.close()

    def _call(self, method: str, path: str) -> dict[str, Any]:
        import httpx

        try:
            response = self.client.request(method, path, timeout=CONNECT_TIMEOUT_S)
        except httpx.HTTPError as error:
            raise self.unreachable(error) from error
        return answer(response, self.address)

    def unreachable(self, error: Exception) -> WorkerError:
        return WorkerError(f"no worker answers at {self.address} ({_reason(error)})")


def answer(response: Any, address: Address) -> dict[str, Any]:
    """The JSON of a worker's reply, or the error it carries, raised."""
    try:
        data = json.loads(response.read())
    except ValueError:
        data = None
    if response.status_code == 200 and isinstance(data, dict):
        return data
    if isinstance(data, dict) and "error" in data:
        raise decode_error(data["error"])
    raise WorkerError(f"{address} answered HTTP {response.status_code}: not an if-cli worker?")


def _reason(error: Exception) -> str:
    cause = error.__cause__ or error.__context__ or error
    text = getattr(cause, "strerror", None) or str(cause) or type(cause).__name__
    return str(text)


def connect(setting: str, on_notice: Notice | None = None) -> WorkerEngineFactory | None:
    """The worker ``--worker`` names, or None to run in this process.

    ``auto`` takes the user's worker when one answers on the default socket and runs the
    same software; otherwise (none, a socket left by a killed worker, other software) it
    runs here. An address given explicitly must answer, or the command fails (exit 11).
    """
    setting = worker_setting(setting)
    if setting == OFF:
        return None
    if setting == AUTO:
        try:
            path = default_socket()
        except WorkerError as error:  # no runtime folder to trust: no worker of ours there
            if on_notice is not None:
                on_notice(f"{error.message}; running in this process")
            return None
        if not os.path.lexists(path):  # the common case: one stat, and no httpx import
            return None
        address = Address(path=path)
    else:
        address = parse_worker(setting)
    if not http_client_installed():
        if setting == AUTO:
            return None
        raise WorkerError(
            "talking to a worker needs httpx, which is not installed",
            hint="pip install 'if-cli[serve]'",
        )
    doubt = None if address.path is None else trusted_socket(address.path)
    if doubt is not None:
        if setting != AUTO:
            raise WorkerError(f"cannot use the worker at {address}: {doubt}")
        if on_notice is not None:
            on_notice(f"passing by the worker at {address}: {doubt}; running in this process")
        return None
    connection = WorkerConnection(address, os.environ.get(API_KEY_VARIABLE) or None)
    try:
        status = connection.status()
        other = difference(status.get("software"), software())
        if other is not None:
            raise WorkerError(
                f"the worker at {address} runs {other}",
                hint="start it again from this environment (if-cli serve --stop; if-cli serve)",
            )
    except WorkerError as error:
        connection.close()
        if setting != AUTO:
            raise
        if on_notice is not None and "runs" in error.message:
            on_notice(f"{error.message}; running in this process")
        return None
    return WorkerEngineFactory(connection, status)


def http_client_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("httpx") is not None


class WorkerEngineFactory:
    """A worker found and checked; ``engine()`` makes the engine that uses it."""

    def __init__(self, connection: WorkerConnection, status: dict[str, Any]) -> None:
        self.connection = connection
        self.status = status

    def engine(self, **kwargs: Any) -> WorkerEngine:
        return WorkerEngine(self.connection, self.status, **kwargs)


class WorkerEngine:
    """``Engine.generate`` run by a worker; see the module's docstring."""

    def __init__(
        self,
        connection: WorkerConnection,
        status: dict[str, Any],
        on_progress: ProgressCallback | None = None,
        on_notice: Notice | None = None,
        embedding_cache: bool = True,
        embedding_cache_gib: float = 2.0,
    ) -> None:
        self.connection = connection
        self.worker = {"address": str(connection.address), "pid": status.get("pid")}
        self.report = on_progress or ignore_progress
        self.notice = on_notice or (lambda _message: None)
        self._settings = {
            "embedding_cache": embedding_cache,
            "embedding_cache_gib": embedding_cache_gib,
        }

    def __enter__(self) -> WorkerEngine:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.connection.close()

    def generate(
        self, request: GenerationRequest, on_image: ImageCallback | None = None
    ) -> GenerationResult:
        import httpx

        job = _JobEvents(self, request, on_image)
        body = {
            "protocol": PROTOCOL,
            "request": encode_request(request),
            "settings": {**self._settings, "cwd": os.getcwd()},
        }
        address = self.connection.address
        try:
            with self.connection.client.stream(
                "POST",
                "/api/v1/jobs",
                content=json.dumps(body).encode(),
                headers={"content-type": "application/json"},
            ) as response:
                if response.status_code != 200:
                    answer(response, address)
                for line in response.iter_lines():
                    if line and job.take(json.loads(line)):
                        break
            job.finish()
        except KeyboardInterrupt as stop:
            raise interruption(stop) from stop
        except httpx.HTTPError as error:
            if not job.heard:
                raise self.connection.unreachable(error) from error
            raise WorkerError(
                f"the worker at {address} stopped in the middle of the job "
                f"({_reason(error)}); finished images were kept",
                hint="run the same command again: it makes only the missing images",
            ) from error
        return job.result()


class _JobEvents:
    """One job's events, turned into the engine's callbacks, errors and result."""

    def __init__(
        self, engine: WorkerEngine, request: GenerationRequest, on_image: ImageCallback | None
    ) -> None:
        self.engine = engine
        self.request = request
        self.on_image = on_image
        self.started: dict[str, Any] | None = None
        self.images: list[GeneratedImage] = []
        self.timings: dict[str, Any] = {}
        self.failure: BaseException | None = None
        self.error: IFCliError | None = None
        self.done = False
        self.ahead = 0
        self.heard = False  # any event at all: the worker took the job

    def take(self, event: dict[str, Any]) -> bool:
        """Handle one event; True once nothing more is to be read."""
        self.heard = True
        kind = event.get("event")
        if self.failure is not None and kind != "image":
            return True  # the batch that failed is handed over: stop (cancels the job)
        if kind == "queued":
            ahead = int(event.get("ahead", 0))
            if ahead and ahead != self.ahead:
                self.engine.notice(f"waiting for the worker: {ahead} job(s) ahead")
            self.ahead = ahead
        elif kind == "started":
            self._start(event)
        elif kind == "progress":
            self.engine.report(decode_event(event))
        elif kind == "log":
            name = str(event.get("logger", "if_cli"))
            logger = logging.getLogger(name if name.startswith("if_cli") else "if_cli")
            logger.log(int(event.get("level", logging.WARNING)), "%s", event.get("message"))
        elif kind == "image":
            self._deliver(event)
        elif kind == "done":
            self.timings = decode_timings(event["timings"])
            self.done = True
            return True
        elif kind == "error":
            self.error = decode_error(event.get("error"))
            return True
        return False

    def _start(self, event: dict[str, Any]) -> None:
        self.started = {
            "request": decode_request(event["request"], init=self.request.init),
            "plan": decode_plan(event["plan"]),
            "models": {key: decode_source(s) for key, s in event["models"].items()},
            "sizes": decode_sizes(event["sizes"]),
        }

    def _result(self, timings: dict[str, Any]) -> GenerationResult:
        if self.started is None:
            raise WorkerError("the worker sent results before it started the job")
        return GenerationResult(
            request=self.started["request"],
            plan=self.started["plan"],
            models=self.started["models"],
            images=list(self.images),
            timings=timings,
            sizes=self.started["sizes"],
            worker=self.engine.worker,
        )

    def _deliver(self, event: dict[str, Any]) -> None:
        """Hand one image over; as in-process, a failure waits until its batch is over."""
        image = GeneratedImage(
            index=int(event["index"]),
            prompt=str(event["prompt"]),
            seed=int(event["seed"]),
            image=decode_picture(event["png"], "the image", "RGB"),
            intermediates={
                int(stage): decode_picture(png, "an intermediate", "RGB")
                for stage, png in event.get("intermediates", {}).items()
            },
            timings=decode_timings(event["timings"]),
        )
        self.images.append(image)
        if self.on_image is None:
            return
        try:
            self.on_image(self._result(decode_timings(event["so_far"])), image)
        except BaseException as error:  # raised once the batch is handed over
            self.failure = self.failure or error

    def finish(self) -> None:
        """Raise what ended the job, if anything did."""
        if self.failure is not None:
            raise self.failure
        if self.error is not None:
            raise self.error
        if not self.done:
            raise WorkerError(
                f"the worker at {self.engine.connection.address} ended the job without a result"
            )

    def result(self) -> GenerationResult:
        return self._result(self.timings)
