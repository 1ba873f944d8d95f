"""Errors in each API's own shape, so its clients read them as they read the original's.

- native (``/api/v1``): ``{"error": {type, exit_code, message, hint, …}}``;
- A1111 (``/sdapi/v1``): a bad field as FastAPI's 422 (``{"detail": [{"loc", "msg",
  "type"}]}``), anything else as A1111's ``{"error", "detail", "body", "errors"}``;
- OpenAI (``/v1``): ``{"error": {"message", "type", "param", "code"}}``.
"""

from __future__ import annotations

from starlette.responses import JSONResponse

from if_cli.errors import BadFieldError, IFCliError, InvalidRequestError, WorkerError
from if_cli.worker.apis.inputs import BodyTooLarge
from if_cli.worker.wire import encode_error

A1111_PREFIX = "/sdapi/v1/"
OPENAI_PREFIX = "/v1/"


def status_of(error: IFCliError) -> int:
    """The HTTP status of an error a request met."""
    if isinstance(error, BodyTooLarge):
        return 413
    if isinstance(error, InvalidRequestError):
        return 400
    if isinstance(error, WorkerError):
        return 503  # stopping, or the client's job was cut short
    return 500  # the models, the device, memory: the server's side


def api_text(error: IFCliError) -> str:
    """The message, and its hint unless the hint is about the command line (``--fit``,
    ``if-cli generate``), which an API's client cannot use."""
    hint = error.hint
    if hint is None or "--" in hint or "if-cli" in hint:
        return error.message
    return f"{error.message}; {hint}"


def native_error(status: int, error: IFCliError) -> JSONResponse:
    return JSONResponse({"error": encode_error(error)}, status_code=status)


def a1111_error(status: int, error: IFCliError) -> JSONResponse:
    text = api_text(error)
    if isinstance(error, BadFieldError) and status == 400:
        problem = api_text(error).removeprefix(f"{error.field} ")
        location = ["body", *_location(error.field)]
        detail = [{"loc": location, "msg": problem, "type": "value_error"}]
        return JSONResponse({"detail": detail}, status_code=422)
    headers = {"WWW-Authenticate": "Basic"} if status == 401 else None
    body = {"error": type(error).__name__, "detail": text, "body": "", "errors": text}
    return JSONResponse(body, status_code=status, headers=headers)


def _location(field: str) -> list[str | int]:
    """``init_images[0]`` → ``["init_images", 0]``, as FastAPI names a list's item."""
    parts: list[str | int] = []
    for part in field.replace("[", ".").replace("]", "").split("."):
        parts.append(int(part) if part.isdigit() else part)
    return parts


_OPENAI_TYPES = {400: "invalid_request_error", 401: "invalid_request_error", 404: "not_found"}


def openai_error(status: int, error: IFCliError, code: str | None = None) -> JSONResponse:
    kind = _OPENAI_TYPES.get(status, "invalid_request_error" if status < 500 else "server_error")
    param = getattr(error, "field", None)
    body = {"error": {"message": api_text(error), "type": kind, "param": param, "code": code}}
    return JSONResponse(body, status_code=status)


def error_for(path: str, status: int, error: IFCliError, code: str | None = None) -> JSONResponse:
    """``error`` in the shape of the API ``path`` belongs to."""
    if path.startswith(A1111_PREFIX):
        return a1111_error(status, error)
    if path.startswith(OPENAI_PREFIX):
        return openai_error(status, error, code)
    return native_error(status, error)
