"""Models are found on disk (folder or HF cache) and checked before any weights load."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from if_cli.engine.models import (
    ModelSource,
    check_component,
    choose_variant,
    component_files,
    resolve_model,
    weight_files,
)
from if_cli.errors import ModelNotFoundError
from tests.conftest import FAKE_COMMIT, write_hub_cache


def test_a_local_folder_is_used_as_is(tiny_repos: dict[str, Path]) -> None:
    source = resolve_model(str(tiny_repos["stage_1"]))
    assert source.path == tiny_repos["stage_1"].resolve()
    assert source.repo_id is None and source.revision is None


def test_a_folder_without_model_index_is_not_a_model(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match="not a model in the diffusers layout"):
        resolve_model(str(tmp_path))


def test_a_path_that_does_not_exist_is_named(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match="no model folder at"):
        resolve_model(str(tmp_path / "missing" / "deeper"))


def test_a_hub_id_missing_from_the_cache_says_how_to_get_it() -> None:
    with pytest.raises(ModelNotFoundError) as raised:
        resolve_model("DeepFloyd/IF-I-M-v1.0")
    text = str(raised.value)
    assert "DeepFloyd/IF-I-M-v1.0 is not in the Hugging Face cache" in text
    assert "run `if-cli download I-M`" in text
    assert "HF_HUB_OFFLINE" in text
    assert raised.value.exit_code == 3


def test_a_cached_hub_id_resolves_to_its_snapshot_and_commit(
    tiny_repos: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from huggingface_hub import constants

    snapshot = write_hub_cache(
        tmp_path / "hub", "DeepFloyd/IF-I-XL-v1.0", tiny_repos["stage_1"], FAKE_COMMIT
    )
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    source = resolve_model("DeepFloyd/IF-I-XL-v1.0")
    assert source.path == snapshot
    assert (source.repo_id, source.revision) == ("DeepFloyd/IF-I-XL-v1.0", FAKE_COMMIT)
    assert resolve_model("I-XL").path == snapshot  # the short name finds the same files
    by_folder = resolve_model(str(snapshot))  # the snapshot folder itself keeps its identity
    assert (by_folder.repo_id, by_folder.revision) == ("DeepFloyd/IF-I-XL-v1.0", FAKE_COMMIT)


def test_variant_prefers_what_was_asked_and_falls_back(tiny_repos: dict[str, Path]) -> None:
    source = ModelSource(ref="r", path=tiny_repos["stage_3"])
    parts = ["unet", "vae", "text_encoder"]
    assert choose_variant(source, parts, "fp16") == "fp16"
    assert choose_variant(source, parts, None) is None


def test_only_fp16_files_still_load_for_fp32(tiny_repos: dict[str, Path], tmp_path: Path) -> None:
    repo = shutil.copytree(tiny_repos["stage_1"], tmp_path / "repo")
    (repo / "unet" / "diffusion_pytorch_model.safetensors").unlink()
    assert choose_variant(ModelSource(ref="r", path=repo), ["unet"], None) == "fp16"


def test_a_component_without_the_variant_uses_its_full_precision_files(
    tiny_repos: dict[str, Path], tmp_path: Path
) -> None:
    repo = shutil.copytree(tiny_repos["stage_3"], tmp_path / "repo")
    (repo / "vae" / "diffusion_pytorch_model.fp16.safetensors").unlink()
    source = ModelSource(ref="r", path=repo)
    # diffusers falls back per component, so the stage still loads with variant fp16.
    assert choose_variant(source, ["unet", "vae", "text_encoder"], "fp16") == "fp16"
    assert component_files(source, "vae", "fp16") == [
        repo / "vae" / "diffusion_pytorch_model.safetensors"
    ]


def test_a_missing_shard_is_reported(tiny_repos: dict[str, Path], tmp_path: Path) -> None:
    repo = shutil.copytree(tiny_repos["stage_1"], tmp_path / "repo")
    next((repo / "text_encoder").glob("model.fp16-00002-*")).unlink()
    with pytest.raises(ModelNotFoundError, match="incomplete"):
        weight_files(ModelSource(ref="r", path=repo), "text_encoder", "fp16")


def test_pickle_only_weights_are_refused(tiny_repos: dict[str, Path], tmp_path: Path) -> None:
    repo = shutil.copytree(tiny_repos["stage_1"], tmp_path / "repo")
    for file in (repo / "unet").glob("*.safetensors"):
        file.unlink()
    with pytest.raises(ModelNotFoundError, match="only pickle weights"):
        check_component(ModelSource(ref="r", path=repo), "unet")
