"""``if-cli download`` and ``if-cli models`` against a real HTTP hub on 127.0.0.1."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from if_cli.engine.download import RemoteFile, file_variant, needed_folders, select_files
from tests.fake_hub import FakeHub, repo_from_folder

Cli = Callable[..., subprocess.CompletedProcess[str]]
IF_I = "DeepFloyd/IF-I-XL-v1.0"
IF_II = "DeepFloyd/IF-II-L-v1.0"
COMMIT = "f" * 40
TOKEN = "hf_test_token_with_access"
UNET_FP16 = "unet/diffusion_pytorch_model.fp16.safetensors"
# Files the engine loads from an IF-I repo with --variant fp16.
EXPECTED_IF_I = {
    "model_index.json",
    "feature_extractor/preprocessor_config.json",
    "scheduler/scheduler_config.json",
    "text_encoder/config.json",
    "text_encoder/model.safetensors.index.fp16.json",
    "text_encoder/model.fp16-00001-of-00003.safetensors",
    "text_encoder/model.fp16-00002-of-00003.safetensors",
    "text_encoder/model.fp16-00003-of-00003.safetensors",
    "tokenizer/special_tokens_map.json",
    "tokenizer/spiece.model",
    "tokenizer/tokenizer_config.json",
    "unet/config.json",
    UNET_FP16,
    "watermarker/config.json",
    "watermarker/diffusion_pytorch_model.safetensors",
}


def padded_copy(folder: Path, target: Path, pad_unet_to: int) -> Path:
    """A copy whose fp16 UNet is over two 10 MB download chunks (still a valid file)."""
    from safetensors.torch import load_file, save_file

    repo = shutil.copytree(folder, target)
    path = repo / UNET_FP16
    save_file(load_file(path), path, metadata={"format": "pt", "padding": " " * pad_unet_to})
    return repo


@pytest.fixture
def hub(tiny_repos: dict[str, Path]) -> Iterator[FakeHub]:
    server = FakeHub(tokens=(TOKEN,)).start()
    server.repos[IF_I] = repo_from_folder(tiny_repos["stage_1"], COMMIT)
    server.repos[IF_II] = repo_from_folder(tiny_repos["stage_2"], COMMIT)
    yield server
    server.stop()


@pytest.fixture
def online(
    cli: Cli, hub: FakeHub, tmp_path: Path
) -> Callable[..., subprocess.CompletedProcess[str]]:
    """The CLI pointed at the fake hub with an empty cache of its own."""
    home = tmp_path / "hf-home"

    def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return cli(
            *args,
            env={
                "HF_ENDPOINT": hub.url,
                "HF_HOME": str(home),
                "HF_HUB_OFFLINE": "0",
                **(env or {}),
            },
        )

    run.home = home  # type: ignore[attr-defined]
    return run


def _snapshot(home: Path, repo_id: str = IF_I) -> Path:
    return home / "hub" / f"models--{repo_id.replace('/', '--')}" / "snapshots" / COMMIT


def _cached_files(home: Path, repo_id: str = IF_I) -> set[str]:
    folder = _snapshot(home, repo_id)
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


def test_download_fetches_only_what_the_engine_loads_and_generate_finds_it(
    online: Callable[..., subprocess.CompletedProcess[str]], hub: FakeHub, tmp_path: Path
) -> None:
    completed = online("download", "I-XL", "--yes")
    assert completed.returncode == 0, completed.stderr
    home: Path = online.home  # type: ignore[attr-defined]
    assert completed.stdout.strip() == str(_snapshot(home))
    assert set(hub.file_gets()) - {"model_index.json"} == EXPECTED_IF_I - {"model_index.json"}
    assert _cached_files(home) == EXPECTED_IF_I
    served = hub.repos[IF_I].files
    assert hub.bytes_sent < sum(len(data) for data in served.values()) / 2
    made = online(
        "generate",
        "a cat",
        "--stages",
        "1",
        "--steps",
        "2",
        "-q",
        "--stage-1-model",
        "I-XL",
        "-o",
        str(tmp_path / "out"),
        env={"HF_HUB_OFFLINE": "1"},
    )
    assert made.returncode == 0, made.stderr
    assert Path(made.stdout.strip()).is_file()


def test_dry_run_lists_files_and_writes_nothing(
    online: Callable[..., subprocess.CompletedProcess[str]], hub: FakeHub
) -> None:
    completed = online("download", "I-XL", "--dry-run")
    assert completed.returncode == 0, completed.stderr
    listed = {line.split()[-1] for line in completed.stdout.splitlines()[1:]}
    assert listed == EXPECTED_IF_I
    assert "not yet cached" in completed.stdout.splitlines()[0]
    assert hub.file_gets() == ["model_index.json"]  # read into memory to learn the class
    assert not (online.home / "hub").exists()  # type: ignore[attr-defined]


def test_a_dropped_connection_resumes_with_a_range_request(
    cli: Cli, tiny_repos: dict[str, Path], tmp_path: Path
) -> None:
    server = FakeHub().start()
    try:
        served = padded_copy(tiny_repos["stage_1"], tmp_path / "big", pad_unet_to=24_000_000)
        server.repos[IF_I] = repo_from_folder(served, COMMIT)
        server.drop_halfway[f"{IF_I}/{UNET_FP16}"] = 1
        home = tmp_path / "home-resume"
        completed = cli(
            "download",
            "I-XL",
            "--yes",
            env={"HF_ENDPOINT": server.url, "HF_HOME": str(home), "HF_HUB_OFFLINE": "0"},
        )
        assert completed.returncode == 0, completed.stderr
        ranges = [r.range for r in server.requests if r.path.endswith(UNET_FP16) and r.range]
        assert ranges and ranges[0].startswith("bytes=") and not ranges[0].startswith("bytes=0-")
        assert (_snapshot(home) / UNET_FP16).read_bytes() == (served / UNET_FP16).read_bytes()
    finally:
        server.stop()


def test_an_interrupted_download_completes_on_rerun_fetching_only_what_is_missing(
    online: Callable[..., subprocess.CompletedProcess[str]], hub: FakeHub
) -> None:
    hub.drop_halfway[f"{IF_I}/{UNET_FP16}"] = 100  # the network keeps failing on this file
    failed = online("download", "I-XL", "--yes")
    assert failed.returncode == 8, failed.stderr
    assert f"if-cli: error: cannot download {IF_I} from {hub.url}" in failed.stderr
    assert "finished files are kept" in failed.stderr
    assert UNET_FP16 not in _cached_files(online.home)  # type: ignore[attr-defined]
    hub.drop_halfway.clear()
    before = len(hub.file_gets())
    again = online("download", "I-XL", "--yes")
    assert again.returncode == 0, again.stderr
    assert hub.file_gets()[before:] == [UNET_FP16]
    assert _cached_files(online.home) == EXPECTED_IF_I  # type: ignore[attr-defined]


def test_rerunning_a_complete_download_transfers_no_file(
    online: Callable[..., subprocess.CompletedProcess[str]], hub: FakeHub
) -> None:
    assert online("download", "I-XL", "--yes").returncode == 0
    before = len(hub.file_gets())
    again = online("download", "I-XL")  # nothing missing: no --yes needed
    assert again.returncode == 0, again.stderr
    assert hub.file_gets()[before:] == []
    assert "0 B to fetch" in again.stderr


@pytest.mark.parametrize("damage", ["truncated", "header-not-json"])
def test_a_damaged_cached_file_is_named_by_generate_and_fetched_again_by_download(
    online: Callable[..., subprocess.CompletedProcess[str]], hub: FakeHub, damage: str
) -> None:
    assert online("download", "I-XL", "--yes").returncode == 0
    weights = _snapshot(online.home) / UNET_FP16  # type: ignore[attr-defined]
    good = weights.read_bytes()
    blob = weights.resolve()
    if damage == "truncated":
        blob.write_bytes(good[: len(good) // 3])
    else:
        blob.write_bytes(good[:8] + b"x" * (len(good) - 8))  # same size, header destroyed
    listed = json.loads(online("models", "--json").stdout)
    assert listed[0]["complete"] is False and "is damaged" in listed[0]["problem"]
    used = online("generate", "a fox", "--stages", "1", "--dtype", "fp16", "--dry-run")
    assert used.returncode == 3
    assert used.stderr.startswith(f"if-cli: error: {IF_I} is damaged: {UNET_FP16} ")
    assert used.stderr.rstrip().endswith("run `if-cli download I-XL` to fetch it again")
    before = len(hub.file_gets())
    again = online("download", "I-XL", "--yes")
    assert again.returncode == 0, again.stderr
    assert "1 damaged in the cache" in again.stderr
    assert hub.file_gets()[before:] == [UNET_FP16]
    assert weights.read_bytes() == good


def test_a_hub_that_never_answers_is_unreachable_after_a_timeout(cli: Cli, tmp_path: Path) -> None:
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()  # accepts connections, never says a word
    try:
        started = time.monotonic()
        done = cli(
            "download", "I-M", "--dry-run",
            env={
                "HF_ENDPOINT": f"http://127.0.0.1:{silent.getsockname()[1]}",
                "HF_HUB_OFFLINE": "0",
                "HF_HUB_ETAG_TIMEOUT": "1",
                "HF_HOME": str(tmp_path / "hf-home"),
            },
        )  # fmt: skip
        took = time.monotonic() - started
    finally:
        silent.close()
    assert done.returncode == 8, done.stderr
    assert done.stderr.startswith("if-cli: error: cannot download DeepFloyd/IF-I-M-v1.0")
    assert took < 60


def test_stage_two_repos_skip_the_text_encoder_the_engine_never_loads(
    online: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    assert online("download", "II-L", "--yes").returncode == 0
    files = _cached_files(online.home, IF_II)  # type: ignore[attr-defined]
    assert "unet/diffusion_pytorch_model.fp16.safetensors" in files
    assert "image_noising_scheduler/scheduler_config.json" in files
    assert not any(f.startswith(("text_encoder/", "tokenizer/", "safety_checker/")) for f in files)


def test_fp32_variant_and_safety_checker_on_request(
    online: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    completed = online("download", "I-XL", "--variant", "fp32", "--with-safety-checker", "--yes")
    assert completed.returncode == 0, completed.stderr
    files = _cached_files(online.home)  # type: ignore[attr-defined]
    assert "unet/diffusion_pytorch_model.safetensors" in files
    assert "safety_checker/model.safetensors" in files
    assert not any(".fp16" in f or f.endswith(".bin") for f in files)


def test_gated_repo_without_access_says_where_to_accept_the_licence(
    online: Callable[..., subprocess.CompletedProcess[str]], hub: FakeHub
) -> None:
    hub.repos[IF_I].gated = True
    for extra, env in (([], {}), (["--token", "hf_wrong_secret_value"], {})):
        completed = online("download", "I-XL", "--yes", *extra, env=env)
        assert completed.returncode == 7
        line = completed.stderr.strip()
        assert line.startswith(f"if-cli: error: {IF_I} is gated")
        assert f"https://huggingface.co/{IF_I}" in line and "hf auth login" in line
        assert "hf_wrong_secret_value" not in completed.stdout + completed.stderr
    allowed = online("download", "I-XL", "--yes", env={"HF_TOKEN": TOKEN})
    assert allowed.returncode == 0, allowed.stderr
    assert TOKEN not in allowed.stdout + allowed.stderr
    assert any(r.authorization == f"Bearer {TOKEN}" for r in hub.requests)


def test_the_stored_login_token_is_used_and_never_shown(
    online: Callable[..., subprocess.CompletedProcess[str]], hub: FakeHub
) -> None:
    hub.repos[IF_I].gated = True
    home: Path = online.home  # type: ignore[attr-defined]
    home.mkdir(parents=True)
    (home / "token").write_text(TOKEN)  # where `hf auth login` stores it under HF_HOME
    completed = online("download", "I-XL", "--yes")
    assert completed.returncode == 0, completed.stderr
    assert any(r.authorization == f"Bearer {TOKEN}" for r in hub.requests)
    assert TOKEN not in completed.stdout + completed.stderr


def test_cache_dir_puts_the_files_where_asked_and_models_reads_them(
    online: Callable[..., subprocess.CompletedProcess[str]], tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    completed = online("download", "II-L", "--yes", "--cache-dir", str(elsewhere))
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.startswith(str(elsewhere))
    listed = _cached(online("models", "--json", "--cache-dir", str(elsewhere)))
    assert [m["repo_id"] for m in listed] == [IF_II]
    assert _cached(online("models", "--json")) == []  # the default cache is empty


def test_unknown_repo_is_no_such_model(
    online: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    completed = online("download", "someone/not-a-model", "--yes")
    assert completed.returncode == 3
    assert "no such model on the hub: someone/not-a-model" in completed.stderr


def test_offline_or_unreachable_hub_is_a_network_error(
    online: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    offline = online("download", "I-XL", "--yes", env={"HF_HUB_OFFLINE": "1"})
    assert offline.returncode == 8
    assert "HF_HUB_OFFLINE is set" in offline.stderr
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    unreachable = online("download", "I-XL", "--yes", env={"HF_ENDPOINT": closed})
    assert unreachable.returncode == 8
    assert f"cannot download {IF_I} from {closed}" in unreachable.stderr
    assert "Traceback" not in offline.stderr + unreachable.stderr


def test_not_enough_disk_space_is_refused_before_any_transfer(
    online: Callable[..., subprocess.CompletedProcess[str]], hub: FakeHub
) -> None:
    hub.repos[IF_I].listed_sizes[UNET_FP16] = 10**18  # the hub says the file is an exabyte
    completed = online("download", "I-XL", "--yes")
    assert completed.returncode == 6
    assert "not enough disk space" in completed.stderr
    assert hub.file_gets() == ["model_index.json"]


def test_without_a_terminal_it_asks_for_yes_and_fetches_nothing(
    online: Callable[..., subprocess.CompletedProcess[str]], hub: FakeHub
) -> None:
    completed = online("download", "I-XL")
    assert completed.returncode == 2
    assert "add --yes" in completed.stderr
    assert hub.file_gets() == ["model_index.json"]


def test_unknown_alias_is_refused_before_any_request(
    online: Callable[..., subprocess.CompletedProcess[str]], hub: FakeHub
) -> None:
    completed = online("download", "I-XXL")
    assert completed.returncode == 2 and "unknown model 'I-XXL'" in completed.stderr
    assert hub.requests == []


def test_models_lists_the_cache_and_rm_frees_it(
    online: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    assert online("download", "I-XL", "II-L", "--yes").returncode == 0
    listing = online("models")
    assert listing.returncode == 0, listing.stderr
    rows = listing.stdout.splitlines()[1:]
    assert [row.split()[0] for row in rows] == ["I-XL", "II-L", "demo-I", "demo-II"]
    assert all(row.split()[1] == COMMIT[:12] and row.endswith("complete") for row in rows[:2])
    data = _cached(online("models", "--json"))
    assert {m["repo_id"] for m in data} == {IF_I, IF_II}
    assert all(m["complete"] and m["variants"] == ["fp16"] for m in data)
    home: Path = online.home  # type: ignore[attr-defined]
    (_snapshot(home) / UNET_FP16).unlink()
    broken = _cached(online("models", "--json"))
    assert [m["complete"] for m in broken] == [False, True]
    assert online("models", "rm", "I-XL").returncode == 2  # no terminal, no --yes
    removed = online("models", "rm", "I-XL", "--yes")
    assert removed.returncode == 0, removed.stderr
    assert f"removed {IF_I}" in removed.stderr
    assert [m["repo_id"] for m in _cached(online("models", "--json"))] == [IF_II]
    assert online("models", "rm", "I-XL", "--yes").returncode == 3


def _cached(listing: subprocess.CompletedProcess[str]) -> list[dict]:
    """The models of a ``models --json`` listing that are in the cache (not shipped)."""
    return [m for m in json.loads(listing.stdout) if not m["shipped"]]


@pytest.mark.parametrize(
    ("name", "variant"),
    [
        ("diffusion_pytorch_model.fp16.safetensors", "fp16"),
        ("diffusion_pytorch_model.safetensors", None),
        ("model.fp16-00001-of-00002.safetensors", "fp16"),
        ("model-00001-of-00002.safetensors", None),
        ("model.safetensors.index.fp16.json", "fp16"),
        ("model.safetensors.index.json", None),
        ("model.8bit.safetensors", "8bit"),
    ],
)
def test_file_variants_are_read_from_published_names(name: str, variant: str | None) -> None:
    assert file_variant(name) == variant


def test_a_folder_without_the_variant_keeps_its_full_precision_files() -> None:
    files = [
        RemoteFile(p, 1)
        for p in (
            "model_index.json",
            "vae/config.json",
            "vae/diffusion_pytorch_model.safetensors",
            "unet/diffusion_pytorch_model.safetensors",
            "unet/diffusion_pytorch_model.fp16.safetensors",
            "unet/diffusion_pytorch_model.bin",
            "README.md",
            "x4-upscaler-ema.ckpt",
        )
    ]
    index = {"_class_name": "StableDiffusionUpscalePipeline"}
    chosen = [f.path for f in select_files(files, needed_folders(index, False), "fp16")]
    assert chosen == [
        "model_index.json",
        "unet/diffusion_pytorch_model.fp16.safetensors",
        "vae/config.json",
        "vae/diffusion_pytorch_model.safetensors",
    ]


def test_a_repo_with_only_pickle_weights_is_refused_and_nothing_fetched(
    online: Callable[..., subprocess.CompletedProcess[str]], hub: FakeHub
) -> None:
    files = hub.repos[IF_I].files
    for name in [n for n in files if n.startswith("unet/") and n.endswith(".safetensors")]:
        del files[name]
    files["unet/diffusion_pytorch_model.bin"] = b"a pickle can run code when it is read"
    completed = online("download", "I-XL", "--yes")
    assert completed.returncode == 3
    assert completed.stderr.strip() == (
        f"if-cli: error: {IF_I} has only pickle weights for unet "
        "(diffusion_pytorch_model.bin); if-cli loads safetensors only, since a pickle can "
        "run code when read"
    )
    assert hub.file_gets() == ["model_index.json"]
