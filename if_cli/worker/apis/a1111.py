"""The AUTOMATIC1111 web UI's API (``/sdapi/v1``), as its clients (webuiapi, editor
plugins, bots) use it: txt2img, img2img (inpainting with a mask), progress, interrupt,
the models and options, and png-info.

Pictures come back as base64 PNGs carrying the A1111 ``parameters`` text, with the
``info`` JSON string A1111 clients parse. a1111_request.py maps the fields.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from if_cli import __version__
from if_cli.engine.catalog import PRESETS
from if_cli.errors import BadFieldError, IFCliError
from if_cli.worker.apis.a1111_request import (
    AUTOMATIC_SCHEDULERS,
    CLIENT_DEFAULT_SAMPLERS,
    A1111Job,
    check_options,
    read_img2img,
    read_txt2img,
)
from if_cli.worker.apis.collect import Outcome, run_job, sent_by
from if_cli.worker.apis.errors import a1111_error, status_of
from if_cli.worker.apis.inputs import (
    ApiState,
    body_bytes,
    model_named,
    parse_object,
    picture_bytes,
    png_base64,
    sampler_of,
)
from if_cli.worker.jobs import JobRunner

INTERRUPTED = "interrupted by POST /sdapi/v1/interrupt"
Handler = Callable[[Request], Coroutine[Any, Any, Response]]


def a1111_routes(runner: JobRunner, state: ApiState) -> list[Route]:
    def generation(read: Callable[[dict[str, Any], ApiState], A1111Job]) -> Handler:
        def parse_and_read(body: bytes) -> A1111Job:
            return read(parse_object(body), state)

        async def handle(request: Request) -> Response:
            try:
                job = await state.intake.read(parse_and_read, await body_bytes(request))
                outcome = await run_job(runner, job.request, request, "a1111")
            except IFCliError as error:
                return a1111_error(status_of(error), error)
            if outcome.error is not None and not outcome.interrupted:
                return a1111_error(status_of(outcome.error), outcome.error)
            return JSONResponse(_answer(job, outcome))

        return handle

    async def progress(_request: Request) -> Response:
        return JSONResponse(_progress(runner))

    async def interrupt(_request: Request) -> Response:
        runner.interrupt(INTERRUPTED, sent_by("a1111"))
        return JSONResponse({})

    async def sd_models(_request: Request) -> Response:
        return JSONResponse(
            [
                {
                    "title": name,
                    "model_name": name,
                    "hash": None,
                    "sha256": None,
                    "filename": ", ".join(preset.models[: preset.last_stage]),
                    "config": None,
                }
                for name, preset in PRESETS.items()
            ]
        )

    async def options(request: Request) -> Response:
        if request.method == "GET":
            return JSONResponse({"sd_model_checkpoint": state.model, "samples_format": "png"})
        try:
            data = await state.intake.read(parse_object, await body_bytes(request))
            check_options(data)
            if "sd_model_checkpoint" in data:
                state.model = model_named(data["sd_model_checkpoint"], "sd_model_checkpoint")
        except IFCliError as error:
            return a1111_error(status_of(error), error)
        return JSONResponse(None)

    async def samplers(_request: Request) -> Response:
        names = sorted({sampler_of(name) for name in PRESETS})
        return JSONResponse(
            [{"name": n, "aliases": list(CLIENT_DEFAULT_SAMPLERS), "options": {}} for n in names]
        )

    async def schedulers(_request: Request) -> Response:
        return JSONResponse(
            [{"name": AUTOMATIC_SCHEDULERS[1], "label": "Automatic", "aliases": None}]
        )

    async def scripts(_request: Request) -> Response:
        return JSONResponse({"txt2img": [], "img2img": []})

    async def png_info(request: Request) -> Response:
        try:
            body = await body_bytes(request)
            return JSONResponse(await state.intake.read(_png_info, body))
        except IFCliError as error:
            return a1111_error(status_of(error), error)

    prefix = "/sdapi/v1"
    return [
        Route(f"{prefix}/txt2img", generation(read_txt2img), methods=["POST"]),
        Route(f"{prefix}/img2img", generation(read_img2img), methods=["POST"]),
        Route(f"{prefix}/progress", progress, methods=["GET"]),
        Route(f"{prefix}/interrupt", interrupt, methods=["POST"]),
        Route(f"{prefix}/sd-models", sd_models, methods=["GET"]),
        Route(f"{prefix}/options", options, methods=["GET", "POST"]),
        Route(f"{prefix}/samplers", samplers, methods=["GET"]),
        Route(f"{prefix}/schedulers", schedulers, methods=["GET"]),
        Route(f"{prefix}/scripts", scripts, methods=["GET"]),
        Route(f"{prefix}/png-info", png_info, methods=["POST"]),
    ]


def _answer(job: A1111Job, outcome: Outcome) -> dict[str, Any]:
    """A1111's answer: the pictures, the request echoed, and ``info`` as a JSON string."""
    images = [png_base64(p.png) for p in outcome.pictures] if job.send_images else []
    return {
        "images": images,
        "parameters": job.echo,
        "info": json.dumps(_info(job, outcome), ensure_ascii=False),
    }


def _info(job: A1111Job, outcome: Outcome) -> dict[str, Any]:
    request = (outcome.result.request if outcome.result else None) or job.request
    pictures = outcome.pictures
    stage_1 = request.stage_1
    width, height = pictures[0].size if pictures else (0, 0)
    seeds = [p.seed for p in pictures]
    return {
        "prompt": request.prompts[0],
        "all_prompts": [p.prompt for p in pictures],
        "negative_prompt": request.negative_prompt or "",
        "all_negative_prompts": [request.negative_prompt or ""] * len(pictures),
        "seed": seeds[0] if seeds else -1,
        "all_seeds": seeds,
        "subseed": -1,
        "all_subseeds": [-1] * len(pictures),
        "subseed_strength": 0,
        "width": width,
        "height": height,
        "sampler_name": sampler_of(job.model),
        "cfg_scale": stage_1.guidance_scale,
        "steps": stage_1.steps,
        "batch_size": request.batch_size,
        "restore_faces": False,
        "face_restoration_model": None,
        "sd_model_name": job.model,
        "sd_model_hash": None,
        "sd_vae_name": None,
        "sd_vae_hash": None,
        "seed_resize_from_w": -1,
        "seed_resize_from_h": -1,
        "denoising_strength": stage_1.strength,
        "extra_generation_params": {"Mode": request.flow} if request.flow != "generate" else {},
        "index_of_first_image": 0,
        "infotexts": [p.parameters for p in pictures],
        "styles": [],
        "job_timestamp": datetime.now().strftime("%Y%m%d%H%M%S"),
        "clip_skip": 1,
        "is_using_inpainting_conditioning": False,
        "version": f"if-cli {__version__}",
        "interrupted": outcome.interrupted,
    }


def _progress(runner: JobRunner) -> dict[str, Any]:
    """How far the running job is: its stages in turn, each step by step."""
    job = runner.current()
    queued = runner.status()["queued"]
    fraction, step, steps = 0.0, 0, 0
    if job is not None and job.progress is not None:
        event = job.progress
        stages = [f"stage_{n}" for n in job.request.stages()]
        done = stages.index(event.stage) if event.stage in stages else 0
        if event.phase == "run" and event.total:
            step, steps = event.step, event.total
            done += step / steps
        elif event.phase == "done":
            done += 1
        fraction = min(done / len(stages), 1.0)
    elapsed = job.age() if job is not None else 0.0
    eta = elapsed / fraction - elapsed if fraction > 0 else 0.0
    return {
        "progress": round(fraction, 4),
        "eta_relative": round(eta, 2),
        "state": {
            "skipped": False,
            "interrupted": bool(job and job.interrupted),
            "stopping_generation": False,
            "job": f"job {job.id}" if job is not None else "",
            "job_count": queued + (job is not None),
            "job_timestamp": time.strftime("%Y%m%d%H%M%S"),
            "job_no": 0,
            "sampling_step": step,
            "sampling_steps": steps,
        },
        "current_image": None,
        "textinfo": None,
        "current_task": None if job is None else f"job {job.id}",
    }


def _png_info(body: bytes) -> dict[str, Any]:
    """The text chunks of a picture (nothing decoded but its header), the A1111
    ``parameters`` text parsed as A1111 does."""
    from if_cli.errors import InvalidRequestError
    from if_cli.output.read_back import parse_a1111, text_chunks

    data = picture_bytes(parse_object(body).get("image"), "image")
    try:
        items = text_chunks(data, "image")
    except InvalidRequestError as error:
        raise BadFieldError("image", error.message.removeprefix("image ")) from None
    text = items.pop("parameters", "")
    if not text.strip():
        return {"info": "", "items": items, "parameters": {}}
    read = parse_a1111("image", text)
    parameters: dict[str, Any] = {
        "Prompt": read.prompt,
        "Negative prompt": read.negative_prompt or "",
    }
    for key, value in read.settings.items():
        parameters[key] = value
        if key == "Size" and "x" in str(value):
            parameters["Size-1"], _, parameters["Size-2"] = str(value).partition("x")
    if read.seed is not None:
        parameters["Seed"] = read.seed
    return {"info": text, "items": items, "parameters": parameters}
