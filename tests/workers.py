"""A real ``if-cli serve`` for the worker tests: started, waited for, stopped."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.conftest import CLI

# The demo at a few steps: real models, a job in a fraction of a second.
DEMO = ["--model", "demo", "--steps", "3", "--stage-2-steps", "2"]
FASTEST = ["--model", "demo", "--steps", "1", "--stage-2-steps", "1"]


@dataclass
class Worker:
    process: subprocess.Popen[str]
    env: dict[str, str]  # the environment clients of this worker run in
    runtime: Path  # XDG_RUNTIME_DIR: the worker's socket is in runtime/if-cli/
    log: Path

    @property
    def socket(self) -> Path:
        return self.runtime / "if-cli" / "worker.sock"

    def stderr(self) -> str:
        return self.log.read_text()

    def call(self, method: str, path: str, content: bytes | None = None) -> Any:
        """One HTTP request to the worker's socket; the httpx response."""
        import httpx

        transport = httpx.HTTPTransport(uds=str(self.socket))
        with httpx.Client(transport=transport, base_url="http://worker") as client:
            return client.request(method, path, content=content, timeout=30)

    def status(self) -> dict[str, Any]:
        return self.call("GET", "/api/v1/status").json()

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        return self.process.wait(timeout)


def client_environment(hf_home: Path, home: Path, runtime: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "IF_CLI_"))}
    env.update(
        {
            "HF_HOME": str(hf_home),
            "HF_HUB_OFFLINE": "1",
            "HOME": str(home),
            "XDG_RUNTIME_DIR": str(runtime),
            # One thread a process: these tests start several at once on a 2-core machine
            # (the in-process runs they compare with get the same).
            "OMP_NUM_THREADS": "1",
            **extra,
        }
    )
    return env


def start_worker(
    hf_home: Path, home: Path, *args: str, extra_env: dict[str, str] | None = None
) -> Worker:
    """``if-cli serve ARGS`` in its own runtime folder (a short path: sockets have a
    100-byte limit), once it answers."""
    runtime = Path(tempfile.mkdtemp(prefix="ifw-"))
    env = client_environment(hf_home, home, runtime)
    log = runtime / "serve.log"
    process = subprocess.Popen(
        [str(CLI), "serve", *args],
        stdout=subprocess.DEVNULL,
        stderr=log.open("w"),
        stdin=subprocess.DEVNULL,
        text=True,
        env={**env, **(extra_env or {})},
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    worker = Worker(process, env, runtime, log)
    deadline = time.monotonic() + 60
    while "worker ready" not in log.read_text():
        if process.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"the worker did not start: {log.read_text()}")
        time.sleep(0.05)
    return worker


def run_cli(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CLI), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        timeout=300,
        check=False,
    )


def start_client(worker: Worker, *args: str, cwd: Path) -> subprocess.Popen[str]:
    """A command in the environment of the worker's clients, left running (Ctrl-C ends
    it as it ends a user's)."""
    return subprocess.Popen(
        [str(CLI), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env=worker.env,
        cwd=cwd,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def run_client(
    worker: Worker, *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """A command in the environment of the worker's clients (``env`` added)."""
    return run_cli(*args, env={**worker.env, **(env or {})}, cwd=cwd)


def comparable_sidecar(path: Path) -> dict[str, Any]:
    """A sidecar without what differs between any two runs: when, how long, free memory,
    and which worker (if any) made it."""
    data = json.loads(path.read_text())
    data.pop("created")
    data.pop("timings_s")
    data["runtime"].pop("offload_reason")
    data["runtime"].pop("worker", None)
    return data
