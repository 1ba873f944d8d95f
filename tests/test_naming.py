"""Output names are safe on any filesystem and never clobber an existing file."""

from __future__ import annotations

from pathlib import Path

import pytest

from if_cli.errors import InvalidRequestError
from if_cli.output.naming import (
    DEFAULT_TEMPLATE,
    free_stem,
    render_stem,
    slugify,
    validate_template,
)

FIELDS = {"date": "20261123", "time": "101500", "seed": 7, "index": 0}


@pytest.mark.parametrize(
    ("prompt", "slug"),
    [
        (
            "a photo of a corgi wearing a top hat, with the sign 'IF'",
            "a-photo-of-a-corgi-wearing-a-top-hat-with-the-sign-if",
        ),
        ("Café, Crème brûlée!", "cafe-creme-brulee"),
        ("../../etc/passwd", "etc-passwd"),
        ("日本語のみ", "image"),
        ("", "image"),
    ],
)
def test_slug_is_lowercase_ascii_words(prompt: str, slug: str) -> None:
    assert slugify(prompt) == slug


def test_slug_is_cut_at_a_word_boundary() -> None:
    slug = slugify("word " * 50)
    assert len(slug) <= 60 and not slug.endswith("-") and set(slug.split("-")) == {"word"}


@pytest.mark.parametrize("template", ["{seed}/{slug}", "../{slug}", "", "{nope}", "{slug"])
def test_bad_templates_are_refused(template: str) -> None:
    with pytest.raises(InvalidRequestError):
        validate_template(template)


def test_rendered_names_stay_inside_the_folder_and_under_255_bytes() -> None:
    stem = render_stem("{slug}-{date}-{seed}", {**FIELDS, "slug": "ü" * 400})
    assert "/" not in stem and len(stem.encode()) <= 200
    assert render_stem("{slug}", {**FIELDS, "slug": "con"}) == "con-image"
    assert render_stem(DEFAULT_TEMPLATE, {**FIELDS, "slug": "a-b"}) == "20261123-7-a-b"


def test_next_free_name_skips_any_taken_file(tmp_path: Path) -> None:
    (tmp_path / "x.png").write_bytes(b"")
    (tmp_path / "x-2.json").write_bytes(b"")
    assert free_stem(tmp_path, "x", (".png", ".json")) == "x-3"
    assert free_stem(tmp_path, "y", (".png", ".json")) == "y"


@pytest.mark.parametrize(
    ("count", "text"),
    [
        (0, "0 B"),
        (1023, "1023 B"),
        (1536, "1.50 KiB"),
        (10_700_000_000, "9.97 GiB"),
        (10**18, "888.18 PiB"),
    ],
)
def test_byte_counts_print_in_binary_units(count: int, text: str) -> None:
    from if_cli.units import human_bytes

    assert human_bytes(count) == text


@pytest.mark.parametrize(
    ("slug", "stem"),
    [("con", "con-image"), ("CON.tar", "CON-image.tar"), ("nul .txt", "nul -image.txt"),
     ("com¹", "com¹-image"), ("lpt3.x.y", "lpt3-image.x.y"), ("console", "console")],
)  # fmt: skip
def test_windows_reserved_names_are_renamed_with_any_extension(slug: str, stem: str) -> None:
    assert render_stem("{slug}", {**FIELDS, "slug": slug}) == stem
