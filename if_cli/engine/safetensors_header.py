"""Read and check a safetensors header without reading any weights.

The header says how many bytes each tensor takes and where it lies, so a damaged file is
found before anything loads: a download cut short, a header that is not JSON, shapes
whose sizes do not match their byte ranges (the "4194304 EiB" model), bytes missing at
the end. The planner sizes memory from the same header, so a plan can only be made from
a file that would load.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

from if_cli.untrusted import open_untrusted, parse_json, read_up_to

MAX_HEADER_BYTES = 100_000_000  # the safetensors format's own limit
DTYPE_BITS = {
    "BOOL": 8,
    "U8": 8,
    "I8": 8,
    "F8_E5M2": 8,
    "F8_E4M3": 8,
    "F8_E5M2FNUZ": 8,
    "F8_E4M3FNUZ": 8,
    "F8_E8M0": 8,
    "F4": 4,
    "F6_E2M3": 6,
    "F6_E3M2": 6,
    "I16": 16,
    "U16": 16,
    "F16": 16,
    "BF16": 16,
    "I32": 32,
    "U32": 32,
    "F32": 32,
    "I64": 64,
    "U64": 64,
    "F64": 64,
    "C64": 64,
}
"""The element types the safetensors format knows, in bits (some are smaller than a byte)."""


class DamagedFile(ValueError):
    """A safetensors file that cannot load; the message reads after the file's name."""


@dataclass(frozen=True)
class TensorInfo:
    name: str
    numel: int


def _numel(name: str, shape: object) -> int:
    if not isinstance(shape, list) or not all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
    ):
        raise DamagedFile(f"gives tensor {name!r} the shape {shape!r}")
    numel = 1
    for dim in shape:
        numel *= dim
    return numel


def _span(name: str, offsets: object) -> tuple[int, int]:
    if (
        not isinstance(offsets, list)
        or len(offsets) != 2
        or not all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)
        or not 0 <= offsets[0] <= offsets[1]
    ):
        raise DamagedFile(f"gives tensor {name!r} the byte range {offsets!r}")
    return offsets[0], offsets[1]


def _read_header(path: Path) -> tuple[dict[str, object], int]:
    """The header as a dict, and how many data bytes follow it in the file."""
    with open_untrusted(path) as (fd, info):
        size = info.st_size
        prefix = read_up_to(fd, 8)
        if len(prefix) < 8:
            raise DamagedFile(f"is {size} bytes, too short for a safetensors header")
        (length,) = struct.unpack("<Q", prefix)
        if length > min(MAX_HEADER_BYTES, size - 8):
            raise DamagedFile(f"announces a {length:,}-byte header in a {size:,}-byte file")
        text = read_up_to(fd, length)
    try:
        header = parse_json(text)
    except ValueError as exc:
        raise DamagedFile(f"has a header that is {exc}") from exc
    if not isinstance(header, dict):
        raise DamagedFile("has a header that is not a JSON object")
    return header, size - 8 - length


def read_tensor_infos(path: Path) -> list[TensorInfo]:
    """Every tensor's element count, once the header is proven to describe the file.

    Raises DamagedFile (the reason) or UnreadableFile (not a regular file, say).
    """
    header, data_bytes = _read_header(path)
    infos, spans = [], []
    metadata = header.get("__metadata__", {})
    if not isinstance(metadata, dict) or not all(
        isinstance(value, str) for value in metadata.values()
    ):
        raise DamagedFile("has __metadata__ that is not a map of strings")
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        if not isinstance(meta, dict):
            raise DamagedFile(f"describes tensor {name!r} as {meta!r}")
        numel = _numel(name, meta.get("shape"))
        begin, end = _span(name, meta.get("data_offsets"))
        bits = DTYPE_BITS.get(meta.get("dtype"))  # type: ignore[arg-type]
        if bits is None:
            raise DamagedFile(f"gives tensor {name!r} the unknown dtype {meta.get('dtype')!r}")
        if (end - begin) * 8 != numel * bits:
            raise DamagedFile(
                f"gives tensor {name!r} {end - begin:,} bytes, but its shape and dtype "
                f"need {numel * bits / 8:,.0f}"
            )
        infos.append(TensorInfo(name, numel))
        spans.append((begin, end))
    covered = 0
    for begin, end in sorted(spans):
        if begin != covered:
            raise DamagedFile(f"has tensors that overlap or leave a gap at byte {covered:,}")
        covered = end
    if covered > data_bytes:
        raise DamagedFile(
            f"is truncated: its tensors need {covered:,} bytes after the header, "
            f"the file holds {data_bytes:,}"
        )
    if covered < data_bytes:
        raise DamagedFile(f"has {data_bytes - covered:,} bytes after its last tensor")
    return infos
