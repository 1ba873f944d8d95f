"""Hostile files for the tests: damaged weights, forged sidecars, files that are not files.

Each helper writes one kind of damage as it happens in the wild (a download cut short, a
header overwritten, a hand-edited sidecar, a FIFO where a file should be), so the tests
can hand it to the real CLI.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import struct
from pathlib import Path
from typing import Any

_STAGE = {"steps": 2, "guidance_scale": 7.0, "noise_level": None, "strength": None}
VALID_SIDECAR: dict[str, Any] = {
    "schema": 1,
    "tool": {"name": "if-cli", "version": "0.1.0"},
    "image": {
        "prompt": "a red fox",
        "negative_prompt": None,
        "seed": 3,
        "fingerprint": "0" * 64,
        "files": {"image": "fox.png"},
    },
    "request": {
        "negative_prompt": None,
        "last_stage": 1,
        "watermark": True,
        "keep_intermediates": False,
        "placement": {"variant": "auto"},
        "stage_1": {**_STAGE, "model": "DeepFloyd/IF-I-XL-v1.0"},
        "stage_2": {**_STAGE, "model": "DeepFloyd/IF-II-L-v1.0", "noise_level": 250},
        "stage_3": {**_STAGE, "model": "stabilityai/stable-diffusion-x4-upscaler"},
        "flow": "generate",
        "first_stage": 1,
        "init": None,
    },
    "models": {"stage_1": None},
    "runtime": {"device": "cpu", "dtype": "fp32"},
}
"""The smallest sidecar replay accepts: the fields it reads, each of the right type."""

_REMOVE = object()


def sidecar_with(edits: dict[str, Any]) -> dict[str, Any]:
    """``VALID_SIDECAR`` with dotted fields replaced (``"request.init": "x"``) or, for
    the value ``REMOVE``, deleted."""
    data = copy.deepcopy(VALID_SIDECAR)
    for dotted, value in edits.items():
        *parents, last = dotted.split(".")
        node = data
        for part in parents:
            node = node[part]
        if value is _REMOVE:
            del node[last]
        else:
            node[last] = value
    return data


REMOVE = _REMOVE


def nested(depth: int) -> str:
    """JSON nested ``depth`` lists deep."""
    return "[" * depth + "]" * depth


def fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def link_to_zero(path: Path) -> Path:
    """A symlink to /dev/zero: endless bytes for whoever reads it."""
    path.symlink_to("/dev/zero")
    return path


def _header_and_data(path: Path) -> tuple[dict[str, Any], bytes]:
    data = path.read_bytes()
    (length,) = struct.unpack("<Q", data[:8])
    return json.loads(data[8 : 8 + length]), data[8 + length :]


def _write_safetensors(path: Path, header: dict[str, Any], data: bytes) -> None:
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    path.write_bytes(struct.pack("<Q", len(text)) + text + data)


def damaged_model(source: Path, target: Path, damage: str) -> Path:
    """A copy of a model folder whose UNet weight files carry one kind of ``damage``."""
    shutil.copytree(source, target)
    for path in sorted((target / "unet").glob("*.safetensors")):
        header, data = _header_and_data(path)
        tensors = [name for name in header if name != "__metadata__"]
        first = next(name for name in tensors if header[name]["data_offsets"][0] == 0)
        if damage == "truncated":
            path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
        elif damage == "header-not-json":
            size = path.stat().st_size
            (length,) = struct.unpack("<Q", path.read_bytes()[:8])
            path.write_bytes(
                struct.pack("<Q", length) + b"x" * length + b"\0" * (size - 8 - length)
            )
        elif damage == "absurd-shape":
            header[first]["shape"] = [2**31, 2**31, 2**20]
            _write_safetensors(path, header, data)
        elif damage == "long-header":
            path.write_bytes(struct.pack("<Q", 2**40) + path.read_bytes()[8:])
        elif damage == "tiny":
            path.write_bytes(b"\x01\x02")
        elif damage == "dtype":
            header[first]["dtype"] = "X99"
            _write_safetensors(path, header, data)
        elif damage == "metadata":
            header["__metadata__"] = {"format": 1}
            _write_safetensors(path, header, data)
        elif damage == "missing-tensor":
            header[f"renamed.{first}"] = header.pop(first)
            _write_safetensors(path, header, data)
        elif damage == "gap":
            begin, end = header[first]["data_offsets"]
            header[first]["data_offsets"] = [begin + 8, end + 8]
            _write_safetensors(path, header, data + bytes(8))
        else:
            raise ValueError(damage)
    return target


def model_with_json(source: Path, target: Path, file: str, text: str) -> Path:
    """A copy of a model folder with one JSON file (``unet/config.json``) replaced."""
    shutil.copytree(source, target)
    (target / file).write_text(text)
    return target


def edited_json(path: Path, **changes: Any) -> str:
    """The JSON text of ``path`` with top-level keys changed."""
    return json.dumps({**json.loads(path.read_text()), **changes})
