"""The worker's native API as an OpenAPI 3.1 document (``GET /api/v1/openapi.json``)."""

from __future__ import annotations

from typing import Any

from if_cli import __version__

_ERROR = {
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "type": {"type": "string", "description": "if-cli's error class"},
                "exit_code": {"type": "integer", "description": "the CLI's exit code"},
                "message": {"type": "string"},
                "hint": {"type": ["string", "null"]},
                "field": {"type": ["string", "null"]},
            },
        }
    },
}
_STAGE = {
    "type": "object",
    "properties": {
        "model": {"type": "string"},
        "steps": {"type": ["integer", "string"]},
        "guidance_scale": {"type": "number"},
        "noise_level": {"type": ["integer", "null"]},
        "strength": {"type": ["number", "null"]},
    },
    "additionalProperties": False,
}
_REQUEST = {
    "type": "object",
    "required": ["prompts"],
    "additionalProperties": False,
    "description": "if_cli.engine.GenerationRequest; fields left out take the flow's defaults",
    "properties": {
        "prompts": {"type": "array", "items": {"type": "string"}},
        "negative_prompt": {"type": ["string", "null"]},
        "seed": {"type": ["integer", "null"]},
        "seeds": {"type": ["array", "null"], "items": {"type": "integer"}},
        "num_images": {"type": "integer", "minimum": 1},
        "last_stage": {"type": "integer", "minimum": 1, "maximum": 3},
        "batch_size": {"type": "integer", "minimum": 1},
        "watermark": {"type": "boolean"},
        "keep_intermediates": {"type": "boolean"},
        "stage_1": _STAGE,
        "stage_2": _STAGE,
        "stage_3": _STAGE,
        "placement": {"type": "object"},
        "flow": {"enum": ["generate", "img2img", "inpaint", "style", "upscale"]},
        "first_stage": {"type": "integer"},
        "init": {
            "type": ["object", "null"],
            "description": "the picture a flow starts from: base64 PNGs (image RGB, mask L)",
        },
        "aspect": {"type": ["string", "null"]},
        "size": {"type": ["string", "null"]},
    },
}
_ERRORS = {
    "400": {"description": "a bad request", "content": {"application/json": {"schema": _ERROR}}},
    "401": {"description": "TCP without the API key"},
    "413": {"description": "the body is over 256 MiB"},
}
OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "if-cli worker", "version": __version__},
    "paths": {
        "/api/v1/status": {
            "get": {
                "summary": "The worker: version, pid, placement, queue",
                "responses": {"200": {"description": "status"}},
            }
        },
        "/api/v1/jobs": {
            "post": {
                "summary": "Run one request; the answer is a stream of JSON lines",
                "description": "Events: queued {ahead}, started {request, plan, models, "
                "sizes}, progress {stage, phase, step, total, images}, log {level, "
                "message}, image {index, prompt, seed, png (base64), intermediates, "
                "timings}, then done {timings} or error {error}. Closing the connection "
                "cancels the job.",
                "requestBody": {
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["protocol", "request"],
                                "properties": {
                                    "protocol": {"const": 1},
                                    "request": _REQUEST,
                                    "settings": {
                                        "type": "object",
                                        "properties": {
                                            "embedding_cache": {"type": "boolean"},
                                            "embedding_cache_gib": {"type": "number"},
                                            "cwd": {"type": "string"},
                                        },
                                    },
                                },
                            }
                        }
                    }
                },
                "responses": {
                    "200": {"description": "events", "content": {"application/x-ndjson": {}}},
                    **_ERRORS,
                    "503": {"description": "the worker is stopping"},
                },
            }
        },
        "/api/v1/stop": {
            "post": {
                "summary": "Stop the worker (as SIGTERM)",
                "responses": {"200": {"description": "stopping"}},
            }
        },
    },
}
