"""Shared fixtures: tiny IF repos in the published layout, a fake HF cache, the real CLI.

Nothing here touches the network or the user's own cache: HOME and HF_HOME point into
pytest's temporary folders before any Hugging Face library is imported.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest

_ISOLATED_HOME = Path(tempfile.mkdtemp(prefix="if-cli-test-home-"))
atexit.register(shutil.rmtree, _ISOLATED_HOME, ignore_errors=True)
os.environ["HOME"] = str(_ISOLATED_HOME)
os.environ["HF_HOME"] = str(_ISOLATED_HOME / "hf")
os.environ["HF_HUB_OFFLINE"] = "1"
# Where `--worker auto` looks for a worker: never the developer's own running one.
os.environ["XDG_RUNTIME_DIR"] = str(_ISOLATED_HOME / "run")
(_ISOLATED_HOME / "run").mkdir(mode=0o700)
os.environ.pop("HF_HUB_CACHE", None)
os.environ.pop("HF_TOKEN", None)


def _threads_per_xdist_worker(workers: int) -> int:
    """The cores divided among pytest-xdist's workers. Each worker, and each ``if-cli`` it
    starts, would otherwise run PyTorch on every core: on CI's 2 cores, two workers at two
    threads each ran the parity tests 1.9x slower than at one thread each."""
    return max(1, len(os.sched_getaffinity(0)) // workers)


# In each xdist worker (the controller runs no test), before PyTorch is imported; the
# environment carries it to every CLI run a test starts. A value the caller set wins.
if "PYTEST_XDIST_WORKER_COUNT" in os.environ:
    os.environ.setdefault(
        "OMP_NUM_THREADS",
        str(_threads_per_xdist_worker(int(os.environ["PYTEST_XDIST_WORKER_COUNT"]))),
    )

from tests.tiny_cascade import write_tiny_cascade  # noqa: E402

HUB_IDS = {
    "stage_1": "DeepFloyd/IF-I-XL-v1.0",
    "stage_2": "DeepFloyd/IF-II-L-v1.0",
    "stage_3": "stabilityai/stable-diffusion-x4-upscaler",
}
FAKE_COMMIT = "0123456789abcdef0123456789abcdef01234567"
# Few steps keep a full 64 → 256 → 1024 run at a few seconds on a CPU.
FAST_STEPS = ["--steps", "2", "--stage-2-steps", "2", "--stage-3-steps", "2"]
CLI = Path(sys.executable).with_name("if-cli")


@pytest.fixture(scope="session")
def tiny_repos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The three tiny repos as local folders, keyed stage_1 / stage_2 / stage_3."""
    return write_tiny_cascade(tmp_path_factory.mktemp("repos"))


def write_hub_cache(hub_cache: Path, repo_id: str, folder: Path, commit: str) -> Path:
    """Lay ``folder`` out as huggingface_hub caches a download: blobs, refs, snapshot links."""
    repo_dir = hub_cache / f"models--{repo_id.replace('/', '--')}"
    snapshot = repo_dir / "snapshots" / commit
    (repo_dir / "blobs").mkdir(parents=True, exist_ok=True)
    for path in sorted(folder.rglob("*")):
        if not path.is_file():
            continue
        data = path.read_bytes()
        blob = repo_dir / "blobs" / hashlib.sha256(data).hexdigest()
        blob.write_bytes(data)
        link = snapshot / path.relative_to(folder)
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))
    (repo_dir / "refs").mkdir(exist_ok=True)
    (repo_dir / "refs" / "main").write_text(commit)
    return snapshot


@pytest.fixture(scope="session")
def hf_home(tmp_path_factory: pytest.TempPathFactory, tiny_repos: dict[str, Path]) -> Path:
    """An HF_HOME whose cache holds the tiny repos under the default hub ids."""
    home = tmp_path_factory.mktemp("hf_home")
    for stage, repo_id in HUB_IDS.items():
        write_hub_cache(home / "hub", repo_id, tiny_repos[stage], FAKE_COMMIT)
    return home


@pytest.fixture
def cli(hf_home: Path, tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run the installed ``if-cli`` console script in a clean environment."""

    def run(
        *args: str,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        stdin: Path | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """``stdin`` is a file fed to the command's standard input (bytes, as is)."""
        environment = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("HF_", "IF_CLI_", "NO_COLOR"))
        }
        environment.update(
            {"HF_HOME": str(hf_home), "HF_HUB_OFFLINE": "1", "HOME": str(tmp_path / "home")}
        )
        environment.update(env or {})
        with stdin.open("rb") if stdin else open(os.devnull, "rb") as feed:
            return subprocess.run(
                [str(CLI), *args],
                stdin=feed,
                capture_output=True,
                text=True,
                env=environment,
                cwd=cwd or tmp_path,
                timeout=600,
                check=False,
            )

    return run


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``gpu`` tests skip cleanly, with a reason, where PyTorch sees no CUDA device."""
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device; none is available")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
