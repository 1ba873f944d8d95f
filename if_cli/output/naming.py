"""File names from a template: safe on any filesystem, never clobbering.

The default template is ``{date}-{seed}-{slug}``. Every field value is reduced to a
portable slug, the name is cut to fit a 255-byte filename with room for suffixes, and a
name whose files already exist gets ``-2``, ``-3`` … until all its files are free.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections.abc import Mapping
from pathlib import Path

from if_cli.errors import InvalidRequestError

DEFAULT_TEMPLATE = "{date}-{seed}-{slug}"
TEMPLATE_FIELDS = ("date", "time", "seed", "slug", "index", "name")
SLUG_MAX_CHARS = 60
# 255 bytes per filename, minus the longest suffix we add ("-99999.stage-2.png" and such).
STEM_MAX_BYTES = 200
_WINDOWS_RESERVED = {
    "con",
    "prn",
    "aux",
    "nul",
    *(f"com{i}" for i in range(1, 10)),
    *(f"lpt{i}" for i in range(1, 10)),
}


def slugify(text: str, max_chars: int = SLUG_MAX_CHARS) -> str:
    """Lower-case ASCII words joined by ``-``: ``"A corgi, in a hat!"`` → ``a-corgi-in-a-hat``."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    words = re.findall(r"[a-z0-9]+", ascii_text.lower())
    slug = ""
    for word in words:
        candidate = f"{slug}-{word}" if slug else word
        if len(candidate) > max_chars:
            break
        slug = candidate
    return slug or (words[0][:max_chars] if words else "image")


def validate_template(template: str) -> None:
    """Reject unknown fields and path separators before any work starts."""
    if not template.strip():
        raise InvalidRequestError("the name template is empty")
    if "/" in template or "\\" in template or "\x00" in template:
        raise InvalidRequestError(
            "the name template must be a file name, not a path", hint="use --out for the folder"
        )
    try:
        fields = [name for _, name, _, _ in string.Formatter().parse(template) if name]
    except ValueError as exc:
        raise InvalidRequestError(f"bad name template {template!r}: {exc}") from exc
    unknown = [name for name in fields if name not in TEMPLATE_FIELDS]
    if unknown:
        raise InvalidRequestError(
            f"unknown field {{{unknown[0]}}} in the name template",
            hint="fields: " + ", ".join(f"{{{f}}}" for f in TEMPLATE_FIELDS),
        )


def render_stem(template: str, values: Mapping[str, object]) -> str:
    """Fill the template; the result is a safe file stem (no suffix)."""
    safe = {key: _safe_component(str(value)) for key, value in values.items()}
    stem = _safe_component(template.format_map(safe))
    if stem.lower() in _WINDOWS_RESERVED:
        stem = f"{stem}-image"
    encoded = stem.encode()[:STEM_MAX_BYTES]
    return encoded.decode("utf-8", "ignore").strip("-.") or "image"


def _safe_component(value: str) -> str:
    value = unicodedata.normalize("NFC", value)
    value = re.sub(r"[\x00-\x1f/\\:*?\"<>|]+", "-", value)
    return value.strip(" .") or "image"


def free_stem(directory: Path, stem: str, suffixes: tuple[str, ...]) -> str:
    """The first of ``stem``, ``stem-2``, ``stem-3`` … none of whose files exist yet."""
    candidate, number = stem, 1
    while any((directory / f"{candidate}{suffix}").exists() for suffix in suffixes):
        number += 1
        candidate = f"{stem}-{number}"
    return candidate
