"""A worker under stress: killed mid-job, its client interrupted, out of memory, stopped,
idle, reached over TCP. Each test starts its own real ``if-cli serve``."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import CLI
from tests.workers import DEMO, Worker, run_client, start_client, start_worker


def _wait_for(worker: Worker, words: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while words not in worker.stderr():
        assert time.monotonic() < deadline, worker.stderr()
        time.sleep(0.05)


def _two_prompts(folder: Path) -> list[str]:
    (folder / "prompts.txt").write_text("a red cube\na blue ball\n")
    return ["generate", "--prompts", "prompts.txt", "--seed", "5", *DEMO, "--chunk-size", "1"]


def test_a_worker_killed_mid_job_leaves_its_client_one_line_and_no_partial_file(
    hf_home: Path, tmp_path: Path
) -> None:
    worker = start_worker(hf_home, tmp_path / "home", extra_env={"IF_CLI_FAULT": "pause@stage_2#2"})
    client = start_client(worker, *_two_prompts(tmp_path), "-o", "out", cwd=tmp_path)
    _wait_for(worker, "paused at stage_2")  # the second image, the first one written
    worker.process.kill()
    _out, err = client.communicate(timeout=60)
    assert client.returncode == 11, err
    assert err.splitlines()[-1].startswith("if-cli: error: the worker at ")
    assert "stopped in the middle of the job" in err
    assert sorted(p.suffix for p in (tmp_path / "out").iterdir()) == [".json", ".png"]

    again = run_client(worker, *_two_prompts(tmp_path), "-o", "out", cwd=tmp_path)
    assert again.returncode == 0, again.stderr  # the socket is stale: run here
    assert "skipping 1 image(s)" in again.stderr
    sidecars = [json.loads(p.read_text()) for p in (tmp_path / "out").glob("*.json")]
    assert sorted("worker" in s["runtime"] for s in sidecars) == [False, True]


def test_ctrl_c_in_a_client_cancels_its_job_and_the_worker_goes_on(
    hf_home: Path, tmp_path: Path
) -> None:
    release = tmp_path / "release"
    worker = start_worker(
        hf_home,
        tmp_path / "home",
        "--idle-timeout",
        "0",
        extra_env={"IF_CLI_FAULT": "pause@stage_2", "IF_CLI_FAULT_RELEASE": str(release)},
    )
    try:
        first = start_client(worker, "generate", "a star", *DEMO, "-o", "first", cwd=tmp_path)
        _wait_for(worker, "paused at stage_2")
        first.send_signal(signal.SIGINT)
        _out, err = first.communicate(timeout=60)
        assert first.returncode == 130, err
        assert err.splitlines()[-1] == "if-cli: error: interrupted; finished images were kept"
        time.sleep(1.5)  # the worker notices the client left at its next heartbeat
        release.touch()
        second = run_client(worker, "generate", "a ball", *DEMO, "-o", "second", cwd=tmp_path)
        assert second.returncode == 0, second.stderr
        status = worker.status()
        assert status["jobs_cancelled"] == 1 and status["jobs_done"] == 1
        assert not list((tmp_path / "first").glob("*.png"))
    finally:
        worker.stop()


def test_out_of_memory_in_the_worker_is_exit_5_and_the_worker_stays_up(
    hf_home: Path, tmp_path: Path
) -> None:
    worker = start_worker(
        hf_home,
        tmp_path / "home",
        "--idle-timeout",
        "0",
        extra_env={"IF_CLI_FAULT": "oom@stage_1>1"},
    )
    try:
        args = ["generate", "a star", *DEMO, "--num-images", "2", "--batch-size", "2"]
        failed = run_client(worker, *args, "-o", "a", cwd=tmp_path)
        assert failed.returncode == 5, failed.stderr
        assert failed.stderr.splitlines()[-1].startswith("if-cli: error: cpu ran out of memory;")
        kept_going = run_client(worker, *args, "--keep-going", "-o", "b", cwd=tmp_path)
        assert kept_going.returncode == 0, kept_going.stderr
        assert "going on with --batch-size 1" in kept_going.stderr
        assert len(list((tmp_path / "b").glob("*.png"))) == 2
        assert worker.process.poll() is None
    finally:
        worker.stop()


def test_sigterm_stops_the_running_job_and_exits_cleanly(hf_home: Path, tmp_path: Path) -> None:
    release = tmp_path / "release"
    worker = start_worker(
        hf_home,
        tmp_path / "home",
        extra_env={"IF_CLI_FAULT": "pause@stage_2", "IF_CLI_FAULT_RELEASE": str(release)},
    )
    client = start_client(worker, "generate", "a star", *DEMO, "-o", "out", cwd=tmp_path)
    _wait_for(worker, "paused at stage_2")
    worker.process.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    release.touch()  # the paused step ends; the job stops at the next one
    assert worker.process.wait(60) == 0, worker.stderr()
    assert "worker stopped (SIGTERM)" in worker.stderr()
    assert not worker.socket.exists()
    _out, err = client.communicate(timeout=60)
    assert client.returncode == 11, err
    assert err.splitlines()[-1].startswith("if-cli: error: the worker stopped (SIGTERM)")
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_an_idle_worker_frees_everything_and_exits(hf_home: Path, tmp_path: Path) -> None:
    worker = start_worker(hf_home, tmp_path / "home", "--idle-timeout", "1s")
    assert worker.process.wait(30) == 0
    assert "worker stopped (idle timeout)" in worker.stderr()
    assert not worker.socket.exists()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_tcp_asks_for_the_key_and_never_shows_it(hf_home: Path, tmp_path: Path) -> None:
    import httpx

    port = _free_port()
    key = "k3y-" + "x" * 40
    worker = start_worker(
        hf_home,
        tmp_path / "home",
        "--listen",
        f"127.0.0.1:{port}",
        extra_env={"IF_CLI_API_KEY": key},
    )
    try:
        url = f"http://127.0.0.1:{port}/api/v1/status"
        refused = httpx.get(url, timeout=10)
        assert refused.status_code == 401
        page = httpx.get(
            url, headers={"authorization": f"Bearer {key}", "origin": "http://x.example"}
        )
        assert page.status_code == 403
        assert refused.json()["error"]["exit_code"] == 11
        assert httpx.get(url, headers={"authorization": f"Bearer {key}"}, timeout=10).is_success
        address = ["--worker", f"http://127.0.0.1:{port}"]
        no_key = run_client(worker, "generate", "a star", *DEMO, *address, cwd=tmp_path)
        assert no_key.returncode == 11 and "needs its key" in no_key.stderr
        made = run_client(
            worker, "generate", "a star", *DEMO, *address, cwd=tmp_path, env={"IF_CLI_API_KEY": key}
        )
        assert made.returncode == 0, made.stderr
        status = run_client(worker, "serve", "--status", "--json", cwd=tmp_path).stdout
        assert key not in status + worker.stderr() + made.stderr
    finally:
        worker.stop()


def test_listening_beyond_loopback_needs_a_key(hf_home: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        [str(CLI), "serve", "--listen", "0.0.0.0:7860"],
        capture_output=True,
        text=True,
        env={**os.environ, "HOME": str(tmp_path)},
        check=False,
    )
    assert result.returncode == 2
    assert "needs --api-key" in result.stderr


def test_the_socket_is_private_and_one_worker_owns_it(hf_home: Path, tmp_path: Path) -> None:
    import httpx

    port = _free_port()
    worker = start_worker(hf_home, tmp_path / "home", "--listen", f"127.0.0.1:{port}")
    try:
        url = f"http://127.0.0.1:{port}/api/v1/status"
        assert httpx.get(url, timeout=10).is_success  # loopback without a key: allowed
        rebound = httpx.get(url, headers={"host": f"evil.example:{port}"}, timeout=10)
        assert rebound.status_code == 403  # a web page's request (DNS rebinding)
        assert (
            httpx.post(url.replace("status", "stop"), headers={"origin": "http://x"}).status_code
            == 403
        )
        assert stat.S_IMODE(worker.socket.stat().st_mode) == 0o600
        assert stat.S_IMODE(worker.socket.parent.stat().st_mode) == 0o700
        second = run_client(worker, "serve", cwd=tmp_path)
        assert second.returncode == 11
        assert "a worker already listens on" in second.stderr
        stopped = run_client(worker, "serve", "--stop", cwd=tmp_path)
        assert stopped.returncode == 0, stopped.stderr
        assert worker.process.wait(30) == 0
    finally:
        worker.stop()
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    shared.chmod(0o755)
    open_folder = run_client(worker, "serve", "--socket", str(shared / "w.sock"), cwd=tmp_path)
    assert open_folder.returncode == 11
    assert "is not private" in open_folder.stderr


@pytest.mark.parametrize("typo", ["offf", "http://host:port", "https://127.0.0.1:7860"])
def test_a_mistyped_worker_address_is_a_usage_error(
    hf_home: Path, tmp_path: Path, typo: str
) -> None:
    """Rejected before anything runs (``offf`` would be a socket path, and not exist)."""
    result = subprocess.run(
        [str(CLI), "generate", "a star", *DEMO, "--worker", typo],
        capture_output=True,
        text=True,
        env={**os.environ, "HOME": str(tmp_path)},
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("if-cli: error: --worker takes auto, off, a socket path")
    assert not list(tmp_path.glob("*.png"))
