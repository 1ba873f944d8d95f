"""File names from a template: safe on any filesystem, never clobbering.

The default template is ``{date}-{seed}-{slug}``. Every field value is reduced to a
portable slug, the name is cut to fit a 255-byte filename with room for suffixes, and a
name whose files already exist gets ``-2``, ``-3`` … until all its files are free.

A template is checked completely before any work starts, so naming can never fail once
an image is made: only the known fields, no positional ``{}``, no ``!r`` conversions, and
a format spec only on the number fields, as a width (``{index:04d}``).
"""

from __future__ import annotations

import os
import re
import string
import unicodedata
from collections.abc import Mapping
from pathlib import Path

from if_cli.errors import InvalidRequestError

DEFAULT_TEMPLATE = "{date}-{seed}-{slug}"
TEMPLATE_FIELDS = ("date", "time", "seed", "slug", "index", "name")
NUMBER_FIELDS = ("seed", "index")
_NUMBER_SPEC = re.compile(r"(0?[0-9]{1,2})?d?")
# Unicode categories never kept in a name: controls (C0, DEL, C1), format characters
# (bidirectional overrides such as U+202E, zero-width characters), line and paragraph
# separators, surrogates and private use.
_DROPPED_CATEGORIES = {"Cc", "Cf", "Zl", "Zp", "Cs", "Co"}
SLUG_MAX_CHARS = 60
# 255 bytes per filename, minus the longest suffix we add ("-99999.stage-2.png" and such).
STEM_MAX_BYTES = 200
# Windows refuses these names with any extension too (``CON.tar.png``), and COM¹ … LPT³.
_WINDOWS_RESERVED = {
    "con",
    "prn",
    "aux",
    "nul",
    *(f"{port}{n}" for port in ("com", "lpt") for n in (*"123456789", "¹", "²", "³")),
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


_FIELD_HINT = "fields: " + ", ".join(f"{{{f}}}" for f in TEMPLATE_FIELDS)


def validate_template(template: str) -> None:
    """Refuse, before any work starts, every template that could fail to name a file."""
    if not template.strip():
        raise InvalidRequestError("the name template is empty")
    if "/" in template or "\\" in template or "\x00" in template:
        raise InvalidRequestError(
            "the name template must be a file name, not a path", hint="use --out for the folder"
        )
    try:
        fields = [f for f in string.Formatter().parse(template) if f[1] is not None]
    except ValueError as exc:
        raise InvalidRequestError(
            f"bad name template {template!r}: {exc}", hint="write a literal brace as {{ or }}"
        ) from exc
    for _, name, spec, conversion in fields:
        _check_field(name or "", spec or "", conversion)


def _check_field(name: str, spec: str, conversion: str | None) -> None:
    if name not in TEMPLATE_FIELDS:
        shown = "{}" if not name else f"{{{name}}}"
        raise InvalidRequestError(f"unknown field {shown} in the name template", hint=_FIELD_HINT)
    if conversion is not None:
        raise InvalidRequestError(
            f"{{{name}!{conversion}}} in the name template: conversions are not supported",
            hint=f"write {{{name}}}",
        )
    if spec and (name not in NUMBER_FIELDS or not _NUMBER_SPEC.fullmatch(spec)):
        raise InvalidRequestError(
            f"{{{name}:{spec}}} in the name template: only "
            + " and ".join(f"{{{f}}}" for f in NUMBER_FIELDS)
            + " take a format, a width of up to 99",
            hint="for example {index:04d} or {seed:010d}",
        )


def render_stem(template: str, values: Mapping[str, object]) -> str:
    """Fill the template; the result is a safe file stem (no suffix).

    Numbers stay numbers (for ``{index:04d}``); every other value is made safe first.
    """
    safe = {
        key: value
        if key in NUMBER_FIELDS and isinstance(value, int)
        else _safe_component(str(value))
        for key, value in values.items()
    }
    stem = _safe_component(template.format_map(safe))
    encoded = stem.encode()[:STEM_MAX_BYTES]
    stem = encoded.decode("utf-8", "ignore").strip("-.") or "image"
    head, dot, rest = stem.partition(".")
    if head.rstrip().lower() in _WINDOWS_RESERVED:
        stem = f"{head}-image{dot}{rest}"
    return stem


def _safe_component(value: str) -> str:
    """One portable name component: no separators, controls or invisible characters."""
    value = unicodedata.normalize("NFC", value)
    value = "".join(c for c in value if unicodedata.category(c) not in _DROPPED_CATEGORIES)
    value = re.sub(r"[/\\:*?\"<>|]+", "-", value)
    return value.strip(" .") or "image"


def name_taken(path: Path) -> bool:
    """Whether anything at all has this name: a file, a folder, a FIFO, or a symlink,
    dangling or not (``exists()`` follows links and calls a dangling one free)."""
    return os.path.lexists(path)


def free_stem(directory: Path, stem: str, suffixes: tuple[str, ...]) -> str:
    """The first of ``stem``, ``stem-2``, ``stem-3`` … none of whose names are taken."""
    candidate, number = stem, 1
    while any(name_taken(directory / f"{candidate}{suffix}") for suffix in suffixes):
        number += 1
        candidate = f"{stem}-{number}"
    return candidate
