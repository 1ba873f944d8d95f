"""OpenAI's images API (``/v1``), as the ``openai`` client library and the tools built on
it use it: ``images/generations``, ``images/edits`` (multipart; image and mask →
inpainting) and ``models``, answering with base64 PNGs and OpenAI's error shape.
openai_request.py maps the fields.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from if_cli.engine.catalog import PRESETS
from if_cli.errors import BadFieldError, IFCliError, InvalidRequestError
from if_cli.worker.apis.collect import Outcome, run_job
from if_cli.worker.apis.errors import openai_error, status_of
from if_cli.worker.apis.inputs import (
    UNKNOWN_FIELD,
    ApiState,
    UnknownModel,
    body_bytes,
    parse_object,
    png_base64,
)
from if_cli.worker.apis.openai_request import OpenAIJob, read_edit, read_generation
from if_cli.worker.jobs import JobRunner

MAX_FORM_PARTS = 64
MAX_FIELD_BYTES = 1024**2  # a form's text field (a prompt is at most 10,000 characters)


def openai_routes(runner: JobRunner, state: ApiState) -> list[Route]:
    async def run(request: Request, job: OpenAIJob) -> Response:
        outcome = await run_job(runner, job.request, request, "openai")
        if outcome.error is not None:
            return _error(outcome.error)
        return JSONResponse(_answer(outcome))

    async def generations(request: Request) -> Response:
        try:
            body = await body_bytes(request)
            job = await state.intake.read(lambda: read_generation(parse_object(body), state))
            return await run(request, job)
        except IFCliError as error:
            return _error(error)

    async def edits(request: Request) -> Response:
        try:
            form, image, mask = await _form(request)
            job = await state.intake.read(read_edit, form, image, mask, state)
            return await run(request, job)
        except IFCliError as error:
            return _error(error)

    async def models(_request: Request) -> Response:
        return JSONResponse(
            {
                "object": "list",
                "data": [_model(name) for name in PRESETS],
            }
        )

    async def model(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in PRESETS:
            return _error(UnknownModel("model", f"{name!r} is not one of {', '.join(PRESETS)}"))
        return JSONResponse(_model(name))

    return [
        Route("/v1/images/generations", generations, methods=["POST"]),
        Route("/v1/models/{name}", model, methods=["GET"]),
        Route("/v1/images/edits", edits, methods=["POST"]),
        Route("/v1/models", models, methods=["GET"]),
    ]


def _model(name: str) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": 0, "owned_by": "if-cli"}


def _error(error: IFCliError) -> Response:
    status, code = status_of(error), None
    if isinstance(error, UnknownModel):
        status, code = 404, "model_not_found"
    elif isinstance(error, BadFieldError) and error.problem == UNKNOWN_FIELD:
        code = "unknown_parameter"
    elif status == 400:
        code = "invalid_value"
    return openai_error(status, error, code)


def _answer(outcome: Outcome) -> dict[str, Any]:
    pictures = outcome.pictures
    width, height = pictures[0].size if pictures else (0, 0)
    return {
        "created": int(time.time()),
        "data": [{"b64_json": png_base64(p.png), "revised_prompt": None} for p in pictures],
        "output_format": "png",
        "size": f"{width}x{height}",
        "background": "opaque",
    }


async def _form(request: Request) -> tuple[dict[str, str], bytes, bytes | None]:
    """A multipart body: its text fields, the image (``image`` or one ``image[]``) and the
    mask; the whole body is bounded before it is parsed."""
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise InvalidRequestError("an edit is sent as multipart/form-data")
    request._body = await body_bytes(request)
    try:
        form = await request.form(
            max_files=4, max_fields=MAX_FORM_PARTS, max_part_size=MAX_FIELD_BYTES
        )
    except Exception as error:  # python-multipart's and Starlette's many kinds
        raise InvalidRequestError(f"the multipart body cannot be read: {error}") from None
    fields: dict[str, str] = {}
    files: dict[str, list[UploadFile]] = {}
    for name, value in form.multi_items():
        if isinstance(value, UploadFile):
            files.setdefault(name.removesuffix("[]"), []).append(value)
        elif name in fields:
            raise BadFieldError(name, "is given twice")
        else:
            fields[name] = value
    images = files.pop("image", [])
    if len(images) != 1:
        raise BadFieldError("image", f"must be exactly one picture file, got {len(images)}")
    masks = files.pop("mask", [])
    if len(masks) > 1 or files:
        name = "mask" if len(masks) > 1 else sorted(files)[0]
        raise BadFieldError(name, "is a file this server does not take")
    image = await images[0].read()
    mask = await masks[0].read() if masks else None
    await form.close()
    return fields, image, mask
