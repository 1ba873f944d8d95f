"""Reading input pictures: every format and mode users hand us, and every bad file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from if_cli.engine.image_input import MAX_INPUT_PIXELS, load_input
from if_cli.errors import InvalidRequestError
from tests.pictures import (
    pattern,
    png_header_only,
    write_16bit_png,
    write_animated_gif,
    write_mask,
    write_picture,
    write_rotated_jpeg,
    write_transparent_png,
    write_truncated,
)


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".webp", ".bmp", ".tiff", ".gif"])
def test_each_common_format_is_read_as_rgb_at_its_size(tmp_path: Path, suffix: str) -> None:
    path = write_picture(tmp_path / f"photo{suffix}", (48, 48))
    init = load_input(str(path))
    assert init.image.mode == "RGB" and init.image.size == (48, 48)
    assert init.original_size == (48, 48) and init.notes == ()
    if suffix in (".png", ".bmp", ".tiff"):  # lossless: the very pixels
        np.testing.assert_array_equal(np.asarray(init.image), pattern((48, 48)))


@pytest.mark.parametrize("mode", ["L", "P", "CMYK", "1"])
def test_greyscale_palette_cmyk_and_bilevel_pictures_become_rgb(tmp_path: Path, mode: str) -> None:
    suffix = ".jpg" if mode == "CMYK" else ".png"
    init = load_input(str(write_picture(tmp_path / f"p{suffix}", (32, 32), mode=mode)))
    assert init.image.mode == "RGB" and init.image.size == (32, 32)
    if mode in ("L", "1"):
        pixels = np.asarray(init.image)
        assert (pixels[..., 0] == pixels[..., 1]).all() and (pixels[..., 1] == pixels[..., 2]).all()


def test_only_the_first_frame_of_an_animation_is_used(tmp_path: Path) -> None:
    init = load_input(str(write_animated_gif(tmp_path / "anim.gif", (20, 20))))
    assert tuple(np.asarray(init.image)[10, 10]) == (255, 0, 0)
    assert "first of 2 frames" in init.notes


def test_transparency_is_composited_on_white(tmp_path: Path) -> None:
    init = load_input(str(write_transparent_png(tmp_path / "cut-out.png", (40, 40))))
    pixels = np.asarray(init.image)
    assert (pixels[:, 20:] == 255).all()
    np.testing.assert_array_equal(pixels[:, :20], pattern((40, 40))[:, :20])
    assert "transparency composited on white" in init.notes


def test_sixteen_bit_pictures_are_scaled_to_eight_bits_not_clipped(tmp_path: Path) -> None:
    init = load_input(str(write_16bit_png(tmp_path / "scan.png", (64, 64))))
    grey = np.asarray(init.image)[..., 0]
    assert grey.min() == 0 and grey.max() == 255
    assert grey[32, 0] in range(120, 136)  # the ramp's middle, not saturated at 255
    assert "16-bit image reduced to 8 bits" in init.notes


def test_the_exif_orientation_of_a_photo_is_applied(tmp_path: Path) -> None:
    init = load_input(str(write_rotated_jpeg(tmp_path / "phone.jpg", (60, 30))), fit="pad")
    assert init.original_size == (30, 60)  # stored 60×30 sideways, shown 30×60
    assert "EXIF orientation 6 applied" in init.notes


def test_each_fit_without_an_aspect_makes_a_square_and_is_recorded(tmp_path: Path) -> None:
    path = str(write_picture(tmp_path / "wide.png", (120, 60)))
    crop, pad, stretch = (load_input(path, fit) for fit in ("crop", "pad", "stretch"))
    assert crop.image.size == (60, 60)
    np.testing.assert_array_equal(np.asarray(crop.image), pattern((120, 60))[:, 30:90])
    assert pad.image.size == (120, 120)
    assert (np.asarray(pad.image)[:30] == 0).all()  # black bars above and below
    np.testing.assert_array_equal(np.asarray(pad.image)[30:90], pattern((120, 60)))
    assert stretch.image.size == (120, 120)
    assert len({crop.digest, pad.digest, stretch.digest}) == 3
    assert crop.describe()["fit"] == "crop" and "crop to a square" in crop.notes


def test_a_mask_of_another_size_but_the_same_shape_is_resized_and_binarised(
    tmp_path: Path,
) -> None:
    image = write_picture(tmp_path / "photo.png", (200, 100))
    init = load_input(str(image), mask=str(write_mask(tmp_path / "mask.png", (50, 25))))
    assert init.mask is not None and init.mask.size == init.image.size == (200, 100)
    assert set(np.unique(np.asarray(init.mask))) == {0, 255}


def test_inputs_with_equal_pixels_are_equal_whatever_their_file(tmp_path: Path) -> None:
    first = load_input(str(write_picture(tmp_path / "a.png", (30, 30))))
    second = load_input(str(write_picture(tmp_path / "b.bmp", (30, 30))))
    assert first == second and hash(first) == hash(second)
    assert first != load_input(str(write_picture(tmp_path / "c.png", (31, 31))))


def _bad_files(folder: Path) -> dict[str, tuple[str, str]]:
    """name → (path, the words the error must contain)."""
    good = write_picture(folder / "good.png", (64, 64))
    jpeg = write_picture(folder / "good.jpg", (64, 64))
    (folder / "empty.png").write_bytes(b"")
    (folder / "notes.png").write_text("this is a text file, not a picture\n")
    (folder / "folder.png").mkdir()
    corrupt = bytearray(jpeg.read_bytes())
    corrupt[200:600] = b"\xff" * 400
    (folder / "corrupt.jpg").write_bytes(bytes(corrupt[:700]))
    side = int(MAX_INPUT_PIXELS**0.5) + 1
    return {
        "missing": (str(folder / "nowhere.png"), "no such file"),
        "directory": (str(folder / "folder.png"), "is a folder"),
        "empty": (str(folder / "empty.png"), "is empty"),
        "text named .png": (str(folder / "notes.png"), "not an image file"),
        "truncated": (str(write_truncated(folder / "cut.png", good)), "truncated or corrupt"),
        "corrupt jpeg": (str(folder / "corrupt.jpg"), "truncated or corrupt"),
        "zero size": (str(png_header_only(folder / "zero.png", 0, 10)), "header is broken"),
        "over the limit": (str(png_header_only(folder / "big.png", side, side)), "too large"),
        "bomb": (str(png_header_only(folder / "bomb.png", 100_000, 100_000)), "too large"),
    }


@pytest.mark.parametrize(
    "case",
    [
        "missing",
        "directory",
        "empty",
        "text named .png",
        "truncated",
        "corrupt jpeg",
        "zero size",
        "over the limit",
        "bomb",
    ],
)
def test_a_bad_picture_is_one_clear_error_naming_the_file(tmp_path: Path, case: str) -> None:
    path, words = _bad_files(tmp_path)[case]
    with pytest.raises(InvalidRequestError) as raised:
        load_input(path)
    message = str(raised.value)
    assert path in message and words in message
    assert "\n" not in message


def test_a_decompression_bomb_is_refused_before_any_pixel_is_decoded(tmp_path: Path) -> None:
    import tracemalloc

    side = int(MAX_INPUT_PIXELS**0.5) * 2
    path = png_header_only(tmp_path / "bomb.png", side, side)
    tracemalloc.start()
    with pytest.raises(InvalidRequestError, match="refused before decoding"):
        load_input(str(path))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 10 * 1024**2  # a decoded picture would take side² × 3 bytes (~800 MB)


@pytest.mark.parametrize(
    ("mask_size", "painted", "words"),
    [
        ((50, 50), None, "shapes differ"),
        ((100, 50), 0.0, "all black"),
        ((100, 50), 1.0, "all white"),
    ],
)
def test_a_mask_that_cannot_be_used_is_refused(
    tmp_path: Path, mask_size: tuple[int, int], painted: float | None, words: str
) -> None:
    image = write_picture(tmp_path / "photo.png", (200, 100))
    mask = write_mask(tmp_path / "mask.png", mask_size, box=0.5 if painted is None else painted)
    with pytest.raises(InvalidRequestError, match=words):
        load_input(str(image), mask=str(mask))


def test_image_and_mask_cannot_both_come_from_stdin() -> None:
    with pytest.raises(InvalidRequestError, match="only one"):
        load_input("-", mask="-")


def test_a_tiff_whose_second_frame_lacks_its_size_is_refused_in_words(tmp_path: Path) -> None:
    """Pillow raises TypeError (or KeyError) deep in its TIFF reader for this; a user
    sees one line, not an internal error (found by the property test)."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    frames = [Image.new("RGB", (40, 24), colour) for colour in ("red", "blue")]
    frames[0].save(buffer, format="TIFF", save_all=True, append_images=frames[1:])
    data = bytearray(buffer.getvalue())
    width_tag = data.rfind(b"\x00\x01\x04\x00")  # ImageWidth (256), LONG, of frame 2
    data[width_tag : width_tag + 2] = b"\x99\x99"  # an unknown tag instead
    path = tmp_path / "broken.tiff"
    path.write_bytes(bytes(data))
    with pytest.raises(InvalidRequestError, match=r"broken\.tiff is truncated or corrupt"):
        load_input(str(path), "crop")
