"""Bytes a naive ``snapshot_download`` fetches vs ``if-cli download``, on one fake hub.

The repo is the tests' tiny IF-I-XL in the published layout: diffusers format with fp32
and fp16 safetensors, a pickle beside each, the safety checker and the original-format
checkpoint. Both downloads run in this process against the same local server.

    python benchmarks/download_bytes.py
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
WORK = Path(tempfile.mkdtemp(prefix="if-cli-download-bytes-"))
os.environ["HF_HOME"] = str(WORK / "hf-home")
os.environ["HF_HUB_OFFLINE"] = "0"
os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"

from tests.fake_hub import FakeHub, repo_from_folder  # noqa: E402
from tests.tiny_cascade import write_stage_1_repo  # noqa: E402

REPO_ID = "DeepFloyd/IF-I-XL-v1.0"


def main() -> None:
    hub = FakeHub().start()
    os.environ["HF_ENDPOINT"] = hub.url
    from huggingface_hub import constants, snapshot_download

    constants.ENDPOINT = hub.url
    from if_cli.engine.download import plan_download, run_download
    from if_cli.units import human_bytes

    folder = write_stage_1_repo(WORK / "IF-I-XL-v1.0")
    hub.repos[REPO_ID] = repo_from_folder(folder, "0" * 40)
    served = hub.repos[REPO_ID].files
    try:
        snapshot_download(REPO_ID, cache_dir=WORK / "naive", endpoint=hub.url)
        naive, naive_files = hub.bytes_sent, len(hub.file_gets())
        before, before_files = hub.bytes_sent, len(hub.file_gets())
        plan = plan_download(REPO_ID, cache_dir=WORK / "if-cli")
        run_download(plan, cache_dir=WORK / "if-cli")
        ours, ours_files = hub.bytes_sent - before, len(hub.file_gets()) - before_files
    finally:
        hub.stop()
    print(f"repo: {len(served)} files, {human_bytes(sum(map(len, served.values())))}")
    print(f"{'download':<28} {'files':>6} {'bytes':>12} {'share':>7}")
    print(f"{'naive snapshot_download':<28} {naive_files:>6} {naive:>12,} {1:>7.1%}")
    print(f"{'if-cli download (fp16)':<28} {ours_files:>6} {ours:>12,} {ours / naive:>7.1%}")


if __name__ == "__main__":
    main()
