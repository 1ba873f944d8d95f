"""``if-cli serve`` and ``--worker``: the same files through a warm worker, a queue for
many clients, and a worker that refuses bad requests and goes on serving.

One real worker (the console script) serves this module; clients are real ``if-cli``
processes, and the bad requests go to its socket over HTTP.
"""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import FAST_STEPS
from tests.pictures import write_mask, write_picture
from tests.workers import (
    DEMO,
    FASTEST,
    Worker,
    client_environment,
    comparable_sidecar,
    run_cli,
    run_client,
    start_worker,
)


@pytest.fixture(scope="module")
def worker(hf_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Worker]:
    home = tmp_path_factory.mktemp("home")
    running = start_worker(hf_home, home, "--idle-timeout", "0")
    yield running
    assert running.stop() == 0, running.stderr()


def _same_files(made_here: Path, made_by_worker: Path) -> None:
    """Every PNG byte for byte; every sidecar equal but for time, timings and worker."""
    names = sorted(p.name for p in made_here.iterdir())
    assert names == sorted(p.name for p in made_by_worker.iterdir())
    assert any(name.endswith(".png") for name in names)
    for name in names:
        if name.endswith(".png"):
            assert (made_here / name).read_bytes() == (made_by_worker / name).read_bytes(), name
        elif name.endswith(".json"):
            here = comparable_sidecar(made_here / name)
            assert here == comparable_sidecar(made_by_worker / name), name
            assert "worker" not in json.loads((made_here / name).read_text())["runtime"]
            by_worker = json.loads((made_by_worker / name).read_text())["runtime"]["worker"]
            assert by_worker["pid"] > 0


def _both(worker: Worker, tmp_path: Path, *args: str) -> tuple[Any, Any]:
    here = run_client(worker, *args, "-o", "here", "--worker", "off", cwd=tmp_path)
    there = run_client(worker, *args, "-o", "there", cwd=tmp_path)
    assert here.returncode == 0, here.stderr
    assert there.returncode == 0, there.stderr
    return here, there


def test_generate_through_the_worker_writes_the_same_bytes_and_sidecars(
    worker: Worker, tmp_path: Path
) -> None:
    """The tiny cascade (IF's layout and pipelines), two prompts, an intermediate, the
    watermark (stage III runs the same code path: the x4 pipeline, as the demo's II)."""
    (tmp_path / "prompts.txt").write_text("a red fox\na blue boat\n")
    args = ["generate", "--prompts", "prompts.txt", "--seed", "7", *FAST_STEPS, "--stages", "2"]
    here, there = _both(worker, tmp_path, *args, "--keep-intermediates", "--name", "{index}")
    _same_files(tmp_path / "here", tmp_path / "there")
    assert here.stdout.replace("here/", "there/") == there.stdout
    assert "stage II: step 4/4" in there.stderr
    assert worker.status()["jobs_done"] >= 1


def test_json_lines_and_progress_are_the_ones_of_an_in_process_run(
    worker: Worker, tmp_path: Path
) -> None:
    here, there = _both(worker, tmp_path, "generate", "a star", "--seed", "3", *DEMO, "--json")
    mine, theirs = json.loads(here.stdout), json.loads(there.stdout)
    for record in (mine, theirs):
        record.pop("timings_s")
        record["path"] = Path(record["path"]).name
        record["sidecar"] = Path(record["sidecar"]).name
    assert mine == theirs

    def steps(stderr: str) -> list[str]:  # T5's differ: the first run fills the cache
        return [line.split(" (")[0] for line in stderr.splitlines() if "stage I" in line]

    assert steps(here.stderr) == steps(there.stderr)


def test_img2img_and_inpaint_send_their_pictures_and_get_the_same_bytes(
    worker: Worker, tmp_path: Path
) -> None:
    write_picture(tmp_path / "in.png", (48, 36))
    write_mask(tmp_path / "mask.png", (48, 36))
    _both(worker, tmp_path, "img2img", "in.png", "a sunset", "--seed", "1", *DEMO, "--name", "a")
    _both(
        worker,
        tmp_path,
        *("inpaint", "in.png", "mask.png", "a hat", "--seed", "2", *DEMO, "--name", "b"),
    )
    _same_files(tmp_path / "here", tmp_path / "there")


def test_relative_model_paths_are_the_clients_and_a_missing_model_fails_alike(
    worker: Worker, tmp_path: Path
) -> None:
    import if_cli.demo

    shipped = Path(if_cli.demo.__file__).parent
    shutil.copytree(shipped / "IF-II-demo", tmp_path / "mine")
    args = ["generate", "a star", "--seed", "4", *DEMO, "--stage-2-model", "./mine"]
    _both(worker, tmp_path, *args)
    _same_files(tmp_path / "here", tmp_path / "there")

    missing = [*args[:-1], "./nothing-here"]
    here = run_client(worker, *missing, "--worker", "off", cwd=tmp_path)
    there = run_client(worker, *missing, cwd=tmp_path)
    assert here.returncode == there.returncode == 3
    assert here.stderr == there.stderr
    assert len(there.stderr.splitlines()) == 1


def test_a_worker_with_other_software_is_passed_by_and_named(
    worker: Worker, tmp_path: Path
) -> None:
    """Another embedding cache folder would not make the same bytes: run here instead."""
    other = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    result = run_client(worker, "generate", "a star", *DEMO, cwd=tmp_path, env=other)
    assert result.returncode == 0, result.stderr
    assert "XDG_CACHE_HOME" in result.stderr and "running in this process" in result.stderr
    sidecar = json.loads((tmp_path / result.stdout.strip()).with_suffix(".json").read_text())
    assert "worker" not in sidecar["runtime"]

    named = run_client(
        worker, "generate", "a star", *DEMO, "--worker", str(worker.socket), cwd=tmp_path, env=other
    )
    assert named.returncode == 11
    assert named.stderr.startswith("if-cli: error: the worker at ")


def test_status_answers_in_text_and_json(worker: Worker, tmp_path: Path) -> None:
    text = run_client(worker, "serve", "--status", cwd=tmp_path)
    assert text.returncode == 0, text.stderr
    assert f"listens: {worker.socket}" in text.stdout
    data = json.loads(run_client(worker, "serve", "--status", "--json", cwd=tmp_path).stdout)
    assert data["pid"] == worker.process.pid
    assert data["software"]["if_cli"]


def test_a_socket_left_by_a_dead_worker_is_run_past_or_named(tmp_path: Path, hf_home: Path) -> None:
    runtime = Path(tempfile.mkdtemp(prefix="ifd-"))
    (runtime / "if-cli").mkdir(mode=0o700)
    left = socket.socket(socket.AF_UNIX)
    left.bind(str(runtime / "if-cli" / "worker.sock"))
    left.close()  # the file stays; nothing listens
    env = client_environment(hf_home, tmp_path / "home", runtime)
    made = run_cli("generate", "a star", *DEMO, env=env, cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    named = run_cli(
        "generate",
        "a star",
        *DEMO,
        "--worker",
        str(runtime / "if-cli" / "worker.sock"),
        env=env,
        cwd=tmp_path,
    )
    assert named.returncode == 11
    assert named.stderr.startswith("if-cli: error: no worker answers at ")
    assert len(named.stderr.splitlines()) == 1
    none = run_cli(
        "serve", "--status", "--socket", str(runtime / "nothing.sock"), env=env, cwd=tmp_path
    )
    assert none.returncode == 11


def test_four_clients_of_ten_jobs_each_get_their_own_images_once(
    worker: Worker, tmp_path: Path
) -> None:
    """Each client runs ten jobs (--chunk-size 1) at the same time as the others."""

    def client(number: int) -> subprocess.CompletedProcess[str]:
        folder = tmp_path / f"client{number}"
        folder.mkdir()
        lines = [f"client {number} prompt {i}" for i in range(10)]
        (folder / "prompts.txt").write_text("\n".join(lines) + "\n")
        return run_client(
            worker,
            *("generate", "--prompts", "prompts.txt", "--seed", str(number * 100), *FASTEST),
            *("--chunk-size", "1", "--json", "-o", "out"),
            cwd=folder,
        )

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(client, range(4)))
    for number, result in enumerate(results):
        assert result.returncode == 0, result.stderr
        records = [json.loads(line) for line in result.stdout.splitlines()]
        assert len(records) == 10
        pictures = sorted((tmp_path / f"client{number}" / "out").glob("*.png"))
        assert len(pictures) == 10
        for record in records:
            sidecar = json.loads((tmp_path / f"client{number}" / record["sidecar"]).read_text())
            assert sidecar["image"]["prompt"] == record["prompt"]
            assert record["prompt"].startswith(f"client {number} ")
            assert sidecar["image"]["seed"] == number * 100 + record["index"]
            assert sidecar["runtime"]["worker"]["pid"] == worker.process.pid
    assert worker.process.poll() is None
    assert worker.status()["queued"] == 0


# Bad requests: each answered with the error shape, and the worker goes on ------------------

GOOD = {"prompts": ["a star"], "stage_1": {"model": "demo-I"}}


def _png(mode: str = "RGB", size: tuple[int, int] = (8, 8)) -> str:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new(mode, size).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def _job(request: Any = None, **top: Any) -> dict[str, Any]:
    return {"protocol": 1, "request": GOOD if request is None else request, **top}


def _with(**fields: Any) -> dict[str, Any]:
    return _job({**GOOD, **fields})


_INIT = {"image": _png(), "source": "x.png", "fit": "keep", "original_size": [8, 8], "notes": []}
BAD_REQUESTS: list[tuple[str, Any, int, str]] = [
    ("not JSON", b"{not json", 400, "not valid JSON"),
    ("not UTF-8", b'{"a": "\xc3\x28"}', 400, "not UTF-8"),
    ("a list", [], 400, "must be a JSON object"),
    ("nested too deep", b"[" * 200 + b"]" * 200, 400, "nested more than"),
    ("no protocol", {"request": GOOD}, 400, "protocol null"),
    ("another protocol", _job(protocol=2), 400, "protocol 2"),
    ("no request", {"protocol": 1}, 400, "request is missing"),
    ("unknown top field", _job(extra=1), 400, "unknown field 'extra'"),
    ("settings of a wrong type", _job(settings=[]), 400, "settings must be an object"),
    ("unknown setting", _job(settings={"x": 1}), 400, "unknown field 'x' in settings"),
    ("cache size as text", _job(settings={"embedding_cache_gib": "2"}), 400, "wrong type"),
    ("cache flag as number", _job(settings={"embedding_cache": 1}), 400, "wrong type"),
    ("request not an object", _job("a star"), 400, "must be an object"),
    ("no prompts", _job({}), 400, "request.prompts is missing"),
    ("prompts a string", _with(prompts="a star"), 400, "must be a list"),
    ("a prompt a number", _with(prompts=[5]), 400, "request.prompts[0] must be a string"),
    ("no prompt at all", _with(prompts=[]), 400, "no prompt given"),
    ("an empty prompt", _with(prompts=["  "]), 400, "the prompt is empty"),
    ("a NUL in the prompt", _with(prompts=["a\x00b"]), 400, "NUL"),
    ("a prompt too long", _with(prompts=["a" * 10_001]), 400, "limit is 10000"),
    ("seed as text", _with(seed="7"), 400, "request.seed must be a whole number"),
    ("negative seed", _with(seed=-1), 400, "seed must be from 0"),
    ("seed too large", _with(seed=2**64), 400, "seed must be from 0"),
    ("num_images zero", _with(num_images=0), 400, "num_images must be from 1"),
    ("num_images a float", _with(num_images=1.5), 400, "must be a whole number"),
    ("batch too large", _with(batch_size=10**6), 400, "batch_size must be from 1"),
    ("last stage 4", _with(last_stage=4), 400, "last_stage must be from 1 to 3"),
    ("watermark as text", _with(watermark="no"), 400, "must be true or false"),
    ("unknown request field", _with(sampler="Euler"), 400, "unknown field 'sampler'"),
    (
        "unknown stage field",
        _with(stage_1={"model": "demo-I", "eta": 0}),
        400,
        "unknown field 'eta'",
    ),
    ("steps zero", _with(stage_1={"model": "demo-I", "steps": 0}), 400, "stage_1.steps must be"),
    ("steps a bad schedule", _with(stage_1={"model": "demo-I", "steps": "fast"}), 400, "schedule"),
    (
        "guidance as text",
        _with(stage_1={"model": "demo-I", "guidance_scale": "7"}),
        400,
        "a number",
    ),
    ("guidance too large", _with(stage_1={"model": "demo-I", "guidance_scale": 1e9}), 400, "0 to"),
    (
        "noise level 5000",
        _with(stage_2={"model": "demo-I", "noise_level": 5000}),
        400,
        "noise_level",
    ),
    ("empty model", _with(stage_1={"model": " "}), 400, "stage_1.model is empty"),
    ("unknown device", _with(placement={"device": "tpu"}), 400, "placement.device must be one of"),
    ("memory cap zero", _with(placement={"max_memory": 0}), 400, "placement.max_memory"),
    ("unknown flow", _with(flow="dream"), 400, "unknown flow 'dream'"),
    ("img2img without a picture", _with(flow="img2img"), 400, "img2img needs an image"),
    ("a picture for generate", _with(init=_INIT), 400, "generate takes no input image"),
    ("picture not base64", _with(flow="img2img", init={**_INIT, "image": "@@"}), 400, "base64"),
    ("picture not a PNG", _with(flow="img2img", init={**_INIT, "image": "AAAA"}), 400, "not a PNG"),
    ("picture in mode L", _with(flow="img2img", init={**_INIT, "image": _png("L")}), 400, "RGB"),
    ("an unknown fit", _with(flow="img2img", init={**_INIT, "fit": "zoom"}), 400, "init.fit"),
    (
        "a mask of another size",
        _with(flow="inpaint", init={**_INIT, "mask": _png("L", (4, 4))}),
        400,
        "not the picture's",
    ),
    ("a bad aspect", _with(aspect="wide"), 400, "aspect"),
    (
        "a picture with no image",
        _with(flow="img2img", init={"fit": "keep"}),
        400,
        "request.init.image is missing",
    ),
    (
        "an original size below 1",
        _with(flow="img2img", init={**_INIT, "original_size": [0, 5]}),
        400,
        "must be from 1",
    ),
    ("twenty thousand prompts", _with(prompts=["a"] * 20_000), 400, "the limit is 10000"),
    ("a protocol of true", _job(protocol=True), 400, "protocol true"),
    ("a cache past any disk", _job(settings={"embedding_cache_gib": 1e300}), 400, "0 to 1024"),
]


def _post(worker: Worker, path: str, body: Any, method: str = "POST") -> Any:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return worker.call(method, path, content)


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [case[1:] for case in BAD_REQUESTS],
    ids=[case[0] for case in BAD_REQUESTS],
)
def test_a_bad_request_gets_a_clear_error_and_the_worker_goes_on(
    worker: Worker, body: Any, status: int, words: str
) -> None:
    answer = _post(worker, "/api/v1/jobs", body)
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert words in error["message"], error
    assert error["exit_code"] == 2
    assert worker.status()["pid"] == worker.process.pid


def test_other_bad_calls_answer_in_the_same_shape(worker: Worker) -> None:
    assert _post(worker, "/api/v1/nothing", b"").status_code == 404
    assert _post(worker, "/api/v1/jobs", b"", method="GET").status_code == 405
    huge = socket.socket(socket.AF_UNIX)  # says it brings 300 MB: refused before reading
    huge.connect(str(worker.socket))
    huge.sendall(b"POST /api/v1/jobs HTTP/1.1\r\nHost: w\r\nContent-Length: 300000000\r\n\r\n")
    assert huge.recv(4096).startswith(b"HTTP/1.1 413 ")
    huge.close()
    assert worker.status()["pid"] == worker.process.pid


def test_a_picture_sent_with_only_its_pixels_is_taken(worker: Worker) -> None:
    answer = _post(
        worker,
        "/api/v1/jobs",
        _with(
            flow="img2img",
            init={"image": _png(size=(16, 16))},
            last_stage=2,
            stage_1={"model": "demo-I", "steps": 2},
            stage_2={"model": "demo-II", "steps": 2},
        ),
    )
    assert answer.status_code == 200, answer.text
    assert json.loads(answer.text.splitlines()[-1])["event"] == "done"


def test_a_model_path_no_file_system_takes_is_no_model_folder(
    worker: Worker, tmp_path: Path
) -> None:
    result = run_client(
        worker, "generate", "a star", *DEMO, "--stage-1-model", "a" * 300, cwd=tmp_path
    )
    assert result.returncode == 3, result.stderr
    assert result.stderr.startswith("if-cli: error: no model folder at aaaa")


def test_without_a_runtime_folder_to_trust_commands_run_here(tmp_path: Path, hf_home: Path) -> None:
    """platformdirs refuses a fallback runtime folder that is a symlink (or another
    user's): image commands run in their own process and say why."""
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    (temporary / f"runtime-{os.geteuid()}").symlink_to(tmp_path)
    env = client_environment(hf_home, tmp_path / "home", tmp_path, TMPDIR=str(temporary))
    env.pop("XDG_RUNTIME_DIR")
    made = run_cli("generate", "a star", *DEMO, env=env, cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    assert "no private runtime folder" in made.stderr
    status = run_cli("serve", "--status", env=env, cwd=tmp_path)
    assert status.returncode == 11
    assert status.stderr.startswith("if-cli: error: no private runtime folder")


def test_a_request_the_api_takes_runs_with_the_flows_defaults(worker: Worker) -> None:
    """The native API fills what a request leaves out, as the command line does."""
    answer = _post(
        worker,
        "/api/v1/jobs",
        _with(
            stage_1={"model": "demo-I", "steps": 2},
            stage_2={"model": "demo-II", "steps": 2},
            last_stage=2,
            seed=1,
            watermark=False,
        ),
    )
    assert answer.status_code == 200, answer.text
    events = [json.loads(line) for line in answer.text.splitlines()]
    kinds = [event["event"] for event in events]
    assert kinds[0] == "queued" and kinds[-1] == "done", kinds
    started = next(e for e in events if e["event"] == "started")
    assert started["request"]["stage_2"]["noise_level"] == 250
    images = [e for e in events if e["event"] == "image"]
    assert len(images) == 1 and images[0]["seed"] == 1


def test_a_socket_in_a_folder_others_can_open_is_not_trusted(tmp_path: Path, hf_home: Path) -> None:
    """Someone else's socket must not get the prompts: auto runs here and says why."""
    runtime = Path(tempfile.mkdtemp(prefix="ifo-"))
    (runtime / "if-cli").mkdir(mode=0o755)
    (runtime / "if-cli").chmod(0o755)
    listening = socket.socket(socket.AF_UNIX)
    listening.bind(str(runtime / "if-cli" / "worker.sock"))
    listening.listen()
    env = client_environment(hf_home, tmp_path / "home", runtime)
    try:
        made = run_cli("generate", "a star", *DEMO, env=env, cwd=tmp_path)
    finally:
        listening.close()
    assert made.returncode == 0, made.stderr
    assert "is not a private folder of yours; running in this process" in made.stderr
