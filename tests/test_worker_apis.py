"""The A1111 and OpenAI endpoints of ``if-cli serve``, driven by the real client libraries
from PyPI (``webuiapi`` and ``openai``), unmodified.

One worker serves this module: the demo cascade, on loopback, as docs/compatible-apis.md
starts it. Every picture an API returns is compared, pixel for pixel, with what
``if-cli`` makes in its own process with the same settings; bad requests get each API's
own error shape and the worker goes on serving. The docs' client examples run as
written; a second worker, with a key, refuses both APIs' clients without it.
"""

from __future__ import annotations

import base64
import io
import json
import socket
import threading
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import openai
import pytest
import webuiapi

from tests.pictures import write_mask, write_picture
from tests.workers import Worker, run_client, start_client, start_worker

ROOT = Path(__file__).resolve().parent.parent
KEY = "test-key-" + "k" * 32
PROMPT = "a red circle above a blue square"
STEPS = ["--steps", "3"]  # the demo's stage II keeps its 10 steps, as through the APIs


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Served:
    def __init__(self, worker: Worker, port: int) -> None:
        self.worker = worker
        self.port = port
        self.base = f"http://127.0.0.1:{port}"

    def a1111(self) -> Any:
        return webuiapi.WebUIApi(host="127.0.0.1", port=self.port)

    def openai(self) -> Any:
        return openai.OpenAI(base_url=f"{self.base}/v1", api_key="unused", max_retries=0)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.post(self.base + path, timeout=120, **kwargs)

    def get(self, path: str) -> httpx.Response:
        return httpx.get(self.base + path, timeout=30)


def _serve(hf_home: Path, home: Path, *args: str, key: str | None = None) -> Served:
    port = _free_port()
    worker = start_worker(
        hf_home,
        home,
        *("--model", "demo", "--listen", f"127.0.0.1:{port}", "--idle-timeout", "0", *args),
        extra_env={"IF_CLI_API_KEY": key} if key else None,
    )
    return Served(worker, port)


@pytest.fixture(scope="module")
def served(hf_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    running = _serve(hf_home, tmp_path_factory.mktemp("home"))
    yield running
    assert running.worker.stop() == 0, running.worker.stderr()


def _pixels(picture: Any) -> np.ndarray:
    from PIL import Image

    if isinstance(picture, (bytes, str)):
        data = base64.b64decode(picture) if isinstance(picture, str) else picture
        picture = Image.open(io.BytesIO(data))
    return np.asarray(picture.convert("RGB"))


def _made_here(served: Served, tmp_path: Path, *args: str) -> list[np.ndarray]:
    """The pictures ``if-cli`` makes in its own process, in image order."""
    out = tmp_path / "here"
    made = run_client(
        served.worker, *args, "--worker", "off", "-o", str(out), "--json", cwd=tmp_path
    )
    assert made.returncode == 0, made.stderr
    return [
        _pixels(Path(json.loads(line)["path"]).read_bytes()) for line in made.stdout.splitlines()
    ]


def _same(received: list[np.ndarray], expected: list[np.ndarray]) -> None:
    assert len(received) == len(expected)
    for got, want in zip(received, expected, strict=True):
        assert got.shape == want.shape
        assert np.array_equal(got, want)


# The real clients ----------------------------------------------------------------------


def test_webuiapi_txt2img_gets_the_pixels_if_cli_generate_makes(
    served: Served, tmp_path: Path
) -> None:
    result = served.a1111().txt2img(prompt=PROMPT, seed=3, steps=3, n_iter=2, width=512, height=512)
    expected = _made_here(
        served, tmp_path, "generate", PROMPT, "--model", "demo", "--seed", "3", *STEPS,
        "--num-images", "2",
    )  # fmt: skip
    _same([_pixels(p) for p in result.images], expected)
    assert result.info["all_seeds"] == [3, 4]
    assert (result.info["width"], result.info["height"]) == (128, 128)
    assert result.info["sampler_name"] == "DPM++ 2M"  # what ran, not webuiapi's "Euler a"
    assert result.info["sd_model_name"] == "demo"
    assert result.parameters["prompt"] == PROMPT


def test_webuiapi_img2img_and_inpainting_get_the_pixels_of_img2img_and_inpaint(
    served: Served, tmp_path: Path
) -> None:
    from PIL import Image

    picture, mask = write_picture(tmp_path / "in.png", (96, 96)), tmp_path / "mask.png"
    write_mask(mask, (96, 96))
    api = served.a1111()
    varied = api.img2img(
        images=[Image.open(picture)], prompt="a sunset", seed=4, steps=3, denoising_strength=0.6
    )
    expected = _made_here(
        served, tmp_path, "img2img", str(picture), "a sunset", "--model", "demo",
        "--seed", "4", *STEPS, "--strength", "0.6",
    )  # fmt: skip
    _same([_pixels(varied.image)], expected)
    assert varied.info["extra_generation_params"] == {"Mode": "img2img"}

    painted = api.img2img(
        images=[Image.open(picture)],
        mask_image=Image.open(mask),
        prompt="a hat",
        seed=5,
        steps=3,
        denoising_strength=0.9,
    )
    expected = _made_here(
        served, tmp_path, "inpaint", str(picture), str(mask), "a hat", "--model", "demo",
        "--seed", "5", *STEPS, "--strength", "0.9", "--name", "painted",
    )  # fmt: skip
    _same([_pixels(painted.image)], expected)


def test_png_info_reads_back_the_prompt_and_seed_of_a_picture_it_made(served: Served) -> None:
    api = served.a1111()
    made = api.txt2img(
        prompt="a green star", negative_prompt="blur", seed=11, steps=2, sampler_index="Euler"
    )
    read = api.png_info(made.image).json  # webuiapi keeps the raw answer here
    assert read["parameters"]["Prompt"] == "a green star"
    assert read["parameters"]["Negative prompt"] == "blur"
    assert read["parameters"]["Seed"] == 11
    assert read["info"] == made.info["infotexts"][0]


def test_models_and_options_choose_the_cascade(served: Served) -> None:
    api = served.a1111()
    assert sorted(api.util_get_model_names()) == ["demo", "if"]
    assert api.util_get_current_model() == "demo"
    api.util_set_model("if")
    try:
        assert api.get_options()["sd_model_checkpoint"] == "if"
        listed = served.openai().models.list()
        assert sorted(model.id for model in listed) == ["demo", "if"]
        assert served.openai().models.retrieve("demo").id == "demo"
    finally:
        api.util_set_model("demo")


def test_progress_follows_a_job_and_interrupt_stops_it(served: Served) -> None:
    api = served.a1111()
    answers: list[Any] = []
    thread = threading.Thread(
        target=lambda: answers.append(api.txt2img(prompt=PROMPT, seed=1, steps=900, n_iter=4))
    )
    started = time.monotonic()
    thread.start()
    deadline = time.monotonic() + 120
    while (progress := api.get_progress())["state"]["sampling_step"] < 2:
        assert time.monotonic() < deadline, progress
        time.sleep(0.1)
    assert 0 < progress["progress"] < 1
    assert progress["state"]["sampling_steps"] == 900 * 4  # the stage's steps, every image
    assert progress["state"]["job_count"] == 1
    api.interrupt()
    thread.join(120)
    interrupted = answers[0]
    assert interrupted.info["interrupted"] is True
    assert len(interrupted.images) < 4
    assert time.monotonic() - started < 60
    after = api.get_progress()
    assert after["state"]["job_count"] == 0 and after["progress"] == 0
    assert len(api.txt2img(prompt=PROMPT, seed=1, steps=2).images) == 1  # serves on


def test_openai_generations_get_the_pixels_if_cli_generate_makes(
    served: Served, tmp_path: Path
) -> None:
    answer = served.openai().images.generate(
        prompt=PROMPT, n=2, size="1024x1024", response_format="b64_json", extra_body={"seed": 3}
    )
    expected = _made_here(
        served, tmp_path, "generate", PROMPT, "--model", "demo", "--seed", "3",
        "--num-images", "2",
    )  # fmt: skip
    _same([_pixels(image.b64_json) for image in answer.data], expected)
    assert answer.size == "128x128"


def test_openai_edits_repaint_where_the_mask_is_transparent(served: Served, tmp_path: Path) -> None:
    from PIL import Image

    picture, mask = write_picture(tmp_path / "in.png", (96, 96)), tmp_path / "mask.png"
    write_mask(mask, (96, 96))
    white = np.asarray(Image.open(mask).convert("L")) >= 128
    transparent = np.zeros((96, 96, 4), dtype=np.uint8)
    transparent[..., 3] = np.where(white, 0, 255)  # OpenAI: transparent = repaint
    buffer = io.BytesIO()
    Image.fromarray(transparent, mode="RGBA").save(buffer, format="PNG")
    answer = served.openai().images.edit(
        image=("in.png", picture.read_bytes(), "image/png"),
        mask=("mask.png", buffer.getvalue(), "image/png"),
        prompt="a hat",
        extra_body={"seed": 6},
    )
    expected = _made_here(
        served, tmp_path, "inpaint", str(picture), str(mask), "a hat", "--model", "demo",
        "--seed", "6",
    )  # fmt: skip
    _same([_pixels(image.b64_json) for image in answer.data], expected)


def test_with_a_key_both_apis_refuse_a_client_without_it(hf_home: Path, tmp_path: Path) -> None:
    keyed = _serve(hf_home, tmp_path / "home", key=KEY)
    try:
        keyless = webuiapi.WebUIApi(host="127.0.0.1", port=keyed.port)
        with pytest.raises(RuntimeError) as refused:
            keyless.txt2img(prompt=PROMPT, steps=1)
        assert refused.value.args[0] == 401
        wrong = webuiapi.WebUIApi(host="127.0.0.1", port=keyed.port, username="me", password="x")
        with pytest.raises(RuntimeError, match="401"):
            wrong.txt2img(prompt=PROMPT, steps=1)
        client = openai.OpenAI(base_url=f"{keyed.base}/v1", api_key="wrong", max_retries=0)
        with pytest.raises(openai.AuthenticationError) as denied:
            client.images.generate(prompt=PROMPT)
        assert denied.value.body["code"] == "invalid_api_key"
        # With the key: basic auth's password for A1111 clients, the API key for OpenAI's.
        with_key = webuiapi.WebUIApi(host="127.0.0.1", port=keyed.port, username="me", password=KEY)
        assert with_key.util_get_current_model() == "demo"
        client = openai.OpenAI(base_url=f"{keyed.base}/v1", api_key=KEY, max_retries=0)
        assert len(client.models.list().data) == 2
    finally:
        keyed.worker.stop()


def test_the_docs_client_examples_run_as_written(served: Served, tmp_path: Path) -> None:
    """The README's and docs/compatible-apis.md's Python examples, on this worker's port."""
    import os
    import re

    examples = set()
    for page in ("README.md", "docs/compatible-apis.md"):
        text = (ROOT / page).read_text()
        examples |= set(re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL))
    examples = {code for code in examples if "127.0.0.1:7860" in code or "7860" in code}
    assert len(examples) == 2, examples
    before = Path.cwd()
    os.chdir(tmp_path)
    try:
        for code in sorted(examples):
            exec(compile(code.replace("7860", str(served.port)), "example", "exec"), {})
    finally:
        os.chdir(before)
    names = sorted(p.name for p in tmp_path.glob("*.png"))
    assert names == ["circle-0.png", "circle-1.png", "circle.png"]
    assert all(_pixels(p.read_bytes()).shape == (128, 128, 3) for p in tmp_path.glob("*.png"))


def test_openai_client_errors_carry_the_field_openai_names(served: Served) -> None:
    client = served.openai()
    with pytest.raises(openai.NotFoundError) as missing:
        client.images.generate(prompt=PROMPT, model="dall-e-3")
    assert missing.value.body["code"] == "model_not_found"
    with pytest.raises(openai.BadRequestError) as bad:
        client.images.generate(prompt=PROMPT, response_format="url")
    assert bad.value.body["param"] == "response_format"


# Bad requests ----------------------------------------------------------------------------

_PICTURE = base64.b64encode(b"\x89PNG\r\n\x1a\nbroken").decode()
A1111_BAD: list[tuple[str, dict[str, Any], int, str]] = [
    ("txt2img", {"prompt": 5}, 422, "prompt"),
    ("txt2img", {"prompt": "x", "steps": "many"}, 422, "steps"),
    ("txt2img", {"prompt": "x", "steps": 0}, 422, "steps"),
    ("txt2img", {"prompt": "x", "steps": 5000}, 422, "steps"),
    ("txt2img", {"prompt": "x", "cfg_scale": -1}, 422, "cfg_scale"),
    ("txt2img", {"prompt": "x", "cfg_scale": float("nan")}, 422, "cfg_scale"),
    ("txt2img", {"prompt": "x", "seed": -5}, 422, "seed"),
    ("txt2img", {"prompt": "x", "seed": 2**64}, 422, "seed"),
    ("txt2img", {"prompt": "x", "width": 0, "height": 512}, 422, "width"),
    ("txt2img", {"prompt": "x", "width": 4096, "height": 64}, 422, "width"),
    ("txt2img", {"prompt": "x", "batch_size": 0}, 422, "batch_size"),
    ("txt2img", {"prompt": "x", "batch_size": 50, "n_iter": 3}, 422, "n_iter"),
    ("txt2img", {"prompt": "x", "sampler_name": "DPM++ SDE Karras"}, 422, "sampler_name"),
    ("txt2img", {"prompt": "x", "scheduler": "karras"}, 422, "scheduler"),
    ("txt2img", {"prompt": "x", "enable_hr": True}, 422, "enable_hr"),
    ("txt2img", {"prompt": "x", "restore_faces": True}, 422, "restore_faces"),
    ("txt2img", {"prompt": "x", "subseed_strength": 0.5}, 422, "subseed_strength"),
    ("txt2img", {"prompt": "x", "sharpness": 2}, 422, "sharpness"),
    ("txt2img", {"prompt": "x", "denoising_strength": "lots"}, 422, "denoising_strength"),
    ("txt2img", {"prompt": "x", "subseed": float("nan")}, 422, "subseed"),
    ("txt2img", {"prompt": "x", "comments": "c" * 70_000}, 422, "comments"),
    ("txt2img", {"prompt": "x", "override_settings": {"CLIP_stop_at_last_layers": 2}}, 422,
     "override_settings"),
    ("txt2img", {"prompt": "x", "override_settings": {"sd_model_checkpoint": "sdxl"}}, 422,
     "override_settings"),
    ("txt2img", {"prompt": "a\x00b"}, 400, ""),
    ("txt2img", {"prompt": ""}, 400, ""),
    ("img2img", {"prompt": "x"}, 422, "init_images"),
    ("img2img", {"prompt": "x", "init_images": ["!!not base64!!"]}, 422, "init_images"),
    ("img2img", {"prompt": "x", "init_images": [_PICTURE]}, 400, ""),
    ("img2img", {"prompt": "x", "init_images": [_PICTURE, _PICTURE]}, 422, "init_images"),
    ("img2img", {"prompt": "x", "init_images": [_PICTURE], "resize_mode": 3}, 422,
     "resize_mode"),
    ("img2img", {"prompt": "x", "init_images": [_PICTURE], "denoising_strength": 0}, 422,
     "denoising_strength"),
    ("png-info", {"image": _PICTURE}, 422, "image"),
    ("options", {"CLIP_stop_at_last_layers": 2}, 422, "CLIP_stop_at_last_layers"),
]  # fmt: skip


@pytest.mark.parametrize(("endpoint", "body", "status", "field"), A1111_BAD)
def test_a1111_refuses_a_bad_request_in_its_own_shape_and_serves_on(
    served: Served, endpoint: str, body: dict[str, Any], status: int, field: str
) -> None:
    answer = served.post(f"/sdapi/v1/{endpoint}", content=json.dumps(body))
    assert answer.status_code == status, answer.text
    shape = answer.json()
    if status == 422:  # FastAPI's validation error, as A1111 gives it
        assert shape["detail"][0]["loc"][:2] == ["body", field]
        assert shape["detail"][0]["msg"]
    else:
        assert set(shape) == {"error", "detail", "body", "errors"} and shape["detail"]
    assert served.get("/sdapi/v1/progress").status_code == 200


OPENAI_BAD: list[tuple[dict[str, Any], int, str | None]] = [
    ({}, 400, "prompt"),
    ({"prompt": 5}, 400, "prompt"),
    ({"prompt": "x", "n": 0}, 400, "n"),
    ({"prompt": "x", "n": 101}, 400, "n"),
    ({"prompt": "x", "n": "2"}, 400, "n"),
    ({"prompt": "x", "size": "big"}, 400, "size"),
    ({"prompt": "x", "size": "4096x64"}, 400, "size"),
    ({"prompt": "x", "response_format": "url"}, 400, "response_format"),
    ({"prompt": "x", "quality": "hd"}, 400, "quality"),
    ({"prompt": "x", "style": "vivid"}, 400, "style"),
    ({"prompt": "x", "stream": True}, 400, "stream"),
    ({"prompt": "x", "output_format": "jpeg"}, 400, "output_format"),
    ({"prompt": "x", "background": "transparent"}, 400, "background"),
    ({"prompt": "x", "temperature": 1}, 400, "temperature"),
    ({"prompt": "x", "model": "dall-e-3"}, 404, "model"),
    ({"prompt": "x", "model": 5}, 400, "model"),
    ({"prompt": "x", "seed": -2}, 400, "seed"),
    ({"prompt": "x" * 10_001}, 400, None),
]


@pytest.mark.parametrize(("body", "status", "param"), OPENAI_BAD)
def test_openai_refuses_a_bad_request_in_its_own_shape_and_serves_on(
    served: Served, body: dict[str, Any], status: int, param: str | None
) -> None:
    answer = served.post("/v1/images/generations", json=body)
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert error["message"] and error["type"] and error["param"] == param
    assert served.get("/v1/models").status_code == 200


def _rgba(alpha: int, size: tuple[int, int] = (64, 64), half: bool = False) -> bytes:
    """A picture of one colour and ``alpha``; with ``half``, its left half opaque."""
    from PIL import Image

    picture = Image.new("RGBA", size, (10, 20, 30, alpha))
    if half:
        picture.paste((10, 20, 30, 255), (0, 0, size[0] // 2, size[1]))
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


EDITS_BAD: list[tuple[dict[str, Any], dict[str, Any], str]] = [
    ({"prompt": "x"}, {}, "image"),
    ({"prompt": "x"}, {"image": b"not a picture"}, "image"),
    ({"prompt": "x"}, {"image": _rgba(255), "mask": _rgba(255)}, "mask"),
    ({"prompt": "x"}, {"image": _rgba(255), "mask": _rgba(0, (64, 32), half=True)}, "mask"),
    ({"prompt": "x"}, {"image": _rgba(255), "mask": _rgba(0)}, "mask"),
    ({"prompt": "x"}, {"image": _rgba(0)}, "image"),
    ({"prompt": "x", "n": "two"}, {"image": _rgba(255)}, "n"),
    ({"prompt": "x"}, {"image": _rgba(255), "style": _rgba(255)}, "style"),
    ({}, {"image": _rgba(255)}, "prompt"),
]


@pytest.mark.parametrize(("fields", "files", "param"), EDITS_BAD)
def test_openai_edits_refuse_bad_forms(
    served: Served, fields: dict[str, Any], files: dict[str, bytes], param: str
) -> None:
    sent = {name: (f"{name}.png", data, "image/png") for name, data in files.items()}
    answer = served.post("/v1/images/edits", data=fields, files=sent or {"x": ("", b"")})
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["param"] == param


def test_other_paths_and_methods_answer_in_the_apis_shape(served: Served) -> None:
    missing = served.get("/sdapi/v1/nothing")
    assert missing.status_code == 404 and "detail" in missing.json()
    wrong = served.get("/sdapi/v1/txt2img")
    assert wrong.status_code == 405 and "detail" in wrong.json()
    openai_missing = served.get("/v1/nothing")
    assert openai_missing.status_code == 404 and openai_missing.json()["error"]["message"]
    as_json = served.post("/v1/images/edits", json={"prompt": "x"})
    assert as_json.status_code == 400 and "multipart" in as_json.json()["error"]["message"]


def test_a_body_declared_over_the_limit_is_refused_before_it_is_read(served: Served) -> None:
    for path in ("/sdapi/v1/txt2img", "/v1/images/generations"):
        with socket.create_connection(("127.0.0.1", served.port), timeout=30) as connection:
            connection.sendall(
                f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{served.port}\r\n"
                f"Authorization: Bearer {KEY}\r\nContent-Type: application/json\r\n"
                "Content-Length: 300000000\r\n\r\n{".encode()
            )
            head = connection.recv(4096).decode("latin-1")
        assert head.startswith("HTTP/1.1 413"), head
    assert served.get("/sdapi/v1/progress").status_code == 200


def test_a_client_that_hangs_up_cancels_its_job(served: Served) -> None:
    body = {"prompt": PROMPT, "steps": 1000, "n_iter": 20}
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{served.base}/sdapi/v1/txt2img", json=body, timeout=3)
    deadline = time.monotonic() + 30
    while served.worker.status()["running"] or served.worker.status()["queued"]:
        assert time.monotonic() < deadline, "the job of a gone client still runs"
        time.sleep(0.2)
    assert served.worker.status()["jobs_cancelled"] >= 1


def test_interrupt_never_stops_a_job_of_if_clis_own_commands(
    served: Served, tmp_path: Path
) -> None:
    command = start_client(
        served.worker, "generate", PROMPT, "--model", "demo", "--steps", "60", "-q", cwd=tmp_path
    )
    deadline = time.monotonic() + 60
    while not served.worker.status()["running"]:
        assert command.poll() is None and time.monotonic() < deadline, command.stderr
        time.sleep(0.1)
    served.a1111().interrupt()
    _, stderr = command.communicate(timeout=120)
    assert command.returncode == 0, stderr
    assert len(list(tmp_path.glob("*.png"))) == 1


def _png_with_text(text: str, size: tuple[int, int] = (8, 8)) -> str:
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("parameters", text)
    buffer = io.BytesIO()
    Image.new("RGB", size).save(buffer, format="PNG", pnginfo=info)
    return base64.b64encode(buffer.getvalue()).decode()


def test_png_info_reads_hostile_text_at_once_and_serves_on(served: Served) -> None:
    started = time.monotonic()
    long_line = served.post("/sdapi/v1/png-info", json={"image": _png_with_text("x" * 900_000)})
    assert long_line.status_code == 200 and time.monotonic() - started < 10
    odd_seed = served.post("/sdapi/v1/png-info", json={"image": _png_with_text("a\nSeed: ²")})
    assert odd_seed.status_code == 200 and odd_seed.json()["parameters"]["Seed"] == "²"
    bomb = bytearray(base64.b64decode(_png_with_text("a")))
    bomb[16:24] = (100_000).to_bytes(4, "big") * 2  # the header's width and height
    bomb[29:33] = zlib.crc32(bytes(bomb[12:29])).to_bytes(4, "big")  # and its checksum
    answer = served.post(
        "/sdapi/v1/png-info", json={"image": base64.b64encode(bytes(bomb)).decode()}
    )
    assert answer.status_code == 422 and "too large" in answer.json()["detail"][0]["msg"]


def test_an_inverted_mask_is_checked_after_it_is_inverted(served: Served) -> None:
    from PIL import Image

    def b64(picture: Any) -> str:
        buffer = io.BytesIO()
        picture.save(buffer, format="PNG")
        return base64.b64encode(buffer.getvalue()).decode()

    body = {
        "prompt": "x",
        "init_images": [b64(Image.new("RGB", (64, 64)))],
        "mask": b64(Image.new("L", (64, 64), 255)),
        "inpainting_mask_invert": 1,
    }
    answer = served.post("/sdapi/v1/img2img", json=body)
    assert answer.status_code == 400 and "nothing would be repainted" in answer.text
