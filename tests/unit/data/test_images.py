"""``vitlesson.data.images``: the sample photograph, cropping, normalisation and ``read_image`` (every mode Pillow opens, EXIF orientation, anything else refused in one line)."""

import math
import re
import struct
import zlib

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from tests.support.data_inputs import SETTINGS
from tests.support.refusals import expect
from vitlesson.data import images
from vitlesson.data.images import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    load_photo,
    normalize,
    read_image,
    sample_image,
    square_crop_resize,
)
from vitlesson.figures.plots import (
    patches_figure,
)


def png(path, pixels: np.ndarray, bit_depth: int, colour_type: int):
    """A PNG written by hand: Pillow cannot write 16-bit RGB."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return (
            struct.pack(">I", len(data))
            + body
            + struct.pack(">I", zlib.crc32(body))
        )

    height, width = pixels.shape[:2]
    header = struct.pack(
        ">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0
    )
    rows = b"".join(b"\x00" + row.tobytes() for row in pixels)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )
    return path


def read(path) -> np.ndarray:
    image = read_image(path)
    assert image.dtype == torch.float32 and image.shape[0] == 3
    assert 0 <= image.min() and image.max() <= 1
    return image.permute(1, 2, 0).numpy()  # (H, W, 3)


def test_16_bit_greyscale_keeps_its_values(tmp_path):
    values = np.array([[0, 16384, 32768, 65535]], dtype=np.uint16)
    Image.fromarray(values).save(tmp_path / "grey16.png")
    assert Image.open(tmp_path / "grey16.png").mode.startswith("I;16")
    pixels = read(tmp_path / "grey16.png")
    np.testing.assert_allclose(pixels[0, :, 0], values[0] / 65535, atol=1e-7)
    assert (pixels[..., 0] == pixels[..., 2]).all()
    half = np.full((6, 6), 32768, dtype=np.uint16)
    Image.fromarray(half).save(tmp_path / "half.png")
    assert read(tmp_path / "half.png").mean() == pytest.approx(0.5, abs=1e-4)


def test_16_bit_colour_reads_its_true_colour(tmp_path):
    pixels = np.empty((2, 3, 3), dtype=">u2")
    pixels[...] = [32768, 16384, 65535]
    png(tmp_path / "rgb16.png", pixels, 16, 2)
    got = read(tmp_path / "rgb16.png")
    np.testing.assert_allclose(
        got, np.broadcast_to([0.5, 0.25, 1.0], got.shape), atol=1 / 255
    )


def test_float_tiff_is_read_as_it_is(tmp_path):
    values = np.linspace(0, 1, 12, dtype=np.float32).reshape(3, 4)
    Image.fromarray(values, mode="F").save(tmp_path / "depth.tiff")
    got = read(tmp_path / "depth.tiff")
    np.testing.assert_allclose(got[..., 1], values, atol=1e-7)
    Image.fromarray(values * 255, mode="F").save(tmp_path / "wide.tiff")
    with pytest.raises(ValueError, match=r"floats from 0 to 255; expected"):
        read_image(tmp_path / "wide.tiff")
    values[0, 0] = np.nan
    Image.fromarray(values, mode="F").save(tmp_path / "nan.tiff")
    with pytest.raises(ValueError, match="non-finite floats"):
        read_image(tmp_path / "nan.tiff")


def test_32_bit_integers_beyond_16_bits_are_refused(tmp_path):
    values = np.array([[0, 70000]], dtype=np.int32)
    Image.fromarray(values, mode="I").save(tmp_path / "counts.tiff")
    with pytest.raises(ValueError, match="32-bit integers from 0 to 70000"):
        read_image(tmp_path / "counts.tiff")


def test_palette_with_and_without_transparency(tmp_path):
    image = Image.new("P", (2, 1))
    image.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    image.putdata([0, 1])
    image.save(tmp_path / "palette.png")
    np.testing.assert_array_equal(
        read(tmp_path / "palette.png")[0], [[1, 0, 0], [0, 0, 1]]
    )
    image.save(tmp_path / "clear.png", transparency=0)  # red is see-through
    np.testing.assert_array_equal(
        read(tmp_path / "clear.png")[0], [[1, 1, 1], [0, 0, 1]]
    )


def test_cmyk_becomes_rgb(tmp_path):
    image = Image.new("CMYK", (3, 1))
    image.putdata([(0, 0, 0, 0), (255, 0, 0, 0), (0, 0, 0, 255)])
    image.save(tmp_path / "print.tiff")
    np.testing.assert_array_equal(
        read(tmp_path / "print.tiff")[0], [[1, 1, 1], [0, 1, 1], [0, 0, 0]]
    )


def test_transparency_is_composited_over_white(tmp_path):
    grey = Image.new("LA", (2, 1))
    grey.putdata([(0, 255), (0, 0)])
    grey.save(tmp_path / "grey-alpha.png")
    np.testing.assert_array_equal(
        read(tmp_path / "grey-alpha.png")[0], [[0, 0, 0], [1, 1, 1]]
    )
    colour = Image.new("RGBA", (1, 1), (255, 0, 0, 51))  # 20% opaque red
    colour.save(tmp_path / "rgba.png")
    np.testing.assert_allclose(
        read(tmp_path / "rgba.png")[0, 0], [1, 0.8, 0.8], atol=1e-6
    )


def test_bilevel_and_greyscale_become_three_channels(tmp_path):
    Image.new("1", (2, 2), 1).save(tmp_path / "bits.png")
    assert read(tmp_path / "bits.png").min() == 1
    Image.new("L", (2, 2), 51).save(tmp_path / "grey.png")
    np.testing.assert_allclose(read(tmp_path / "grey.png"), 0.2, atol=1e-7)


@pytest.mark.parametrize("orientation,turn", [(3, 2), (6, -1), (8, 1)])
def test_exif_orientation_is_applied(tmp_path, orientation, turn):
    rng = np.random.default_rng(orientation)
    pixels = rng.integers(0, 256, (2, 3, 3), dtype=np.uint8)  # 2 × 3
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(pixels).save(tmp_path / "phone.png", exif=exif)
    got = read(tmp_path / "phone.png")
    np.testing.assert_allclose(got, np.rot90(pixels, turn) / 255, atol=1e-7)


def test_a_truncated_jpeg_is_one_line(tmp_path):
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(
        tmp_path / "whole.jpg"
    )
    data = (tmp_path / "whole.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError) as caught:
        read_image(tmp_path / "cut.jpg")
    message = str(caught.value)
    assert f"Could not read {tmp_path / 'cut.jpg'}" in message
    assert "truncated or damaged" in message and "\n" not in message


def test_not_an_image_a_folder_a_missing_file_or_not_a_path(tmp_path):
    (tmp_path / "notes.png").write_text("not a picture")
    with pytest.raises(ValueError, match="Could not read .*notes.png as an"):
        read_image(tmp_path / "notes.png")
    with pytest.raises(ValueError, match="is a folder, expected an image"):
        read_image(tmp_path)
    with pytest.raises(FileNotFoundError, match="No image at .*gone.png"):
        read_image(tmp_path / "gone.png")
    with pytest.raises(TypeError, match="got ndarray"):
        read_image(np.zeros((3, 4, 4)))
    for empty in ("", "  "):
        with pytest.raises(ValueError, match="path is empty: name an image"):
            read_image(empty)


def test_a_decompression_bomb_is_refused_before_decoding(tmp_path):
    """A 182-megapixel PNG of 22 KB: Pillow's limit stops it at the header."""
    Image.new("1", (14000, 13000)).save(tmp_path / "bomb.png")
    with pytest.raises(ValueError) as caught:
        read_image(tmp_path / "bomb.png")
    message = str(caught.value)
    assert "bomb.png" in message and "\n" not in message
    assert "182000000 pixels" in message


def test_the_size_limit_is_checked_before_the_pixels(tmp_path, monkeypatch):
    Image.new("RGB", (30, 20)).save(tmp_path / "photo.png")
    monkeypatch.setattr(images, "MAX_PIXELS", 500)
    with pytest.raises(ValueError, match="is 30×20 pixels .* make it smaller"):
        read_image(tmp_path / "photo.png")


def test_photo_is_a_real_photograph():
    photo = load_photo()
    assert photo.shape == (3, 600, 512) and photo.dtype == torch.float32
    assert 0 <= photo.min() and photo.max() <= 1
    assert (
        photo.std() > 0.2
    )  # far from a flat image; random noise would not be reproducible either
    assert torch.equal(load_photo(), photo)


@pytest.mark.parametrize(
    "size,expected",
    [(224, (3, 224, 224)), (384, (3, 384, 384)), ((224, 160), (3, 224, 160))],
)
def test_sample_image_sizes(size, expected):
    image = sample_image(size)
    assert image.shape == expected
    # the centred crop of the photograph, resized: its mean colour is the crop's
    photo = load_photo()  # (3, 600, 512)
    h, w = expected[1:]
    side_h, side_w = (
        min(600, round(512 * h / w)),
        min(512, round(600 * w / h)),
    )  # largest crop of that shape
    top, left = (600 - side_h) // 2, (512 - side_w) // 2
    crop = photo[:, top : top + side_h, left : left + side_w]
    assert torch.allclose(
        image.mean(dim=(1, 2)), crop.mean(dim=(1, 2)), atol=0.01
    )


def test_crop_keeps_the_centre():
    image = torch.zeros(3, 40, 20)
    image[:, 10:30] = 1.0  # the centred 20x20 square is white, the rest black
    assert torch.allclose(square_crop_resize(image, 10), torch.ones(3, 10, 10))


def test_normalize():
    x = torch.tensor(IMAGENET_MEAN).reshape(3, 1, 1).expand(3, 2, 2)
    assert torch.allclose(normalize(x), torch.zeros(3, 2, 2), atol=1e-6)
    with pytest.raises(
        ValueError,
        match=r"mean and std hold 3 values \(mean=\(0.485, 0.456, 0.406\) "
        r"and std=\(0.229, 0.224, 0.225\)\) but the images have 1 "
        r"channels in dimension -3 \(shape \(1, 2, 2\)\)",
    ):
        normalize(torch.zeros(1, 2, 2))


def test_image_errors():
    with pytest.raises(
        ValueError,
        match=r"shape \(channels, height, width\), got \(1, 3, 8, 8\)",
    ):
        square_crop_resize(torch.zeros(1, 3, 8, 8), 4)
    with pytest.raises(ValueError, match=r"shape \(3, height, width\)"):
        patches_figure(torch.zeros(1, 3, 32, 32))


# --- images --------------------------------------------------------------------


def test_photo_values_are_bytes_over_255():
    photo = load_photo()
    assert photo.max().item() == 1.0 and torch.equal(
        photo * 255, (photo * 255).round()
    )


def test_square_crop_resize_is_antialiased_bilinear():
    image = torch.rand(3, 40, 40)
    expected = F.interpolate(
        image[None],
        size=(10, 10),
        mode="bilinear",
        antialias=True,
        align_corners=False,
    )[0]
    assert torch.allclose(square_crop_resize(image, 10), expected)
    assert square_crop_resize(torch.ones(3, 40, 40), 7).max() == 1.0


def test_normalize_keeps_double_precision():
    image = torch.rand(3, 4, 4, dtype=torch.float64)
    mean = torch.tensor(IMAGENET_MEAN, dtype=torch.float64).reshape(3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=torch.float64).reshape(3, 1, 1)
    assert torch.equal(normalize(image), (image - mean) / std)


def test_normalize_divides_by_the_standard_deviation_and_round_trips():
    image = torch.rand(3, 8, 8)
    mean = torch.tensor(IMAGENET_MEAN).reshape(3, 1, 1)
    std = torch.tensor(IMAGENET_STD).reshape(3, 1, 1)
    assert torch.allclose(
        normalize(torch.ones(3, 2, 2))[:, 0, 0],
        (1 - mean.flatten()) / std.flatten(),
    )
    assert torch.allclose(
        normalize(image) * std + mean, image, atol=1e-6
    )  # the inverse gives it back


# --- read_image: exact values, boundaries and whole messages ----------------


def refusal(path) -> str:
    """The one-line message ``read_image`` refuses ``path`` with."""
    with pytest.raises(ValueError) as caught:
        read_image(path)
    return str(caught.value)


@pytest.mark.parametrize(
    "mode,channels",
    [
        ("1", 1),
        ("L", 1),
        ("I;16", 1),
        ("I;16B", 1),
        ("I", 1),
        ("F", 1),
        ("P", 3),
        ("RGB", 3),
        ("CMYK", 3),
        ("YCbCr", 3),
        ("LA", 2),
        ("La", 2),
        ("RGBA", 4),
        ("RGBa", 4),
        ("PA", 4),
    ],
)
def test_unit_pixels_are_float32_with_the_files_own_channels(mode, channels):
    """The helper behind ``read_image`` keeps float32 (not twice the memory
    in float64) and one channel for greyscale, two for grey with alpha, four
    for colour with alpha: only ``read_image`` composites and copies."""
    got = images._unit_pixels(Image.new(mode, (3, 2)), "x.tiff")
    assert got.dtype == np.float32 and got.shape == (2, 3, channels)


def test_a_palette_with_a_transparent_colour_keeps_its_alpha():
    """Only a palette that names a transparent colour gains an alpha
    channel; the colour stays exact and the transparent entry is clear."""
    image = Image.new("P", (2, 1))
    image.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    image.putdata([0, 1])
    opaque = images._unit_pixels(image, "palette.png")
    np.testing.assert_array_equal(opaque[0], [[1, 0, 0], [0, 0, 1]])
    image.info["transparency"] = 0
    clear = images._unit_pixels(image, "clear.png")
    np.testing.assert_array_equal(clear[0], [[1, 0, 0, 0], [0, 0, 1, 1]])


@pytest.mark.parametrize("mode", ["I", "F"])
def test_an_empty_image_has_no_range_to_check(mode):
    """A 0×0 integer or float image gives an empty array, not numpy's
    error about the minimum of an empty array."""
    got = images._unit_pixels(Image.new(mode, (0, 0)), "empty.tiff")
    assert got.shape == (0, 0, 1) and got.dtype == np.float32


def test_32_bit_integers_within_16_bits_are_scaled_by_65535(tmp_path):
    """An integer TIFF holding 0..65535 (what a 16-bit scan often becomes)
    is read as 16-bit: 0 is black, 65535 exactly white, nothing refused."""
    values = np.array([[0, 1, 32768, 65535]], dtype=np.int32)
    Image.fromarray(values).save(tmp_path / "counts.tiff")
    assert Image.open(tmp_path / "counts.tiff").mode == "I"
    got = read(tmp_path / "counts.tiff")
    expected = values[0].astype(np.float32) / np.float32(65535)
    np.testing.assert_array_equal(got[0, :, 0], expected)
    assert got[0, 0].tolist() == [0, 0, 0] and got[0, -1].tolist() == [1] * 3


@pytest.mark.parametrize("low,high", [(0, 65536), (-1, 65535), (-5, 70000)])
def test_32_bit_integers_outside_16_bits_are_refused_whole(
    tmp_path, low, high
):
    """One step past 0..65535 at either end is refused, and the message
    names the file, the range found and the range expected."""
    path = tmp_path / "counts.tiff"
    Image.fromarray(np.array([[low, high]], dtype=np.int32)).save(path)
    assert refusal(path) == (
        f"{path} holds 32-bit integers from {low} to {high}; "
        "expected 0 to 65535 (16-bit)"
    )


def test_floats_from_0_to_1_are_kept_and_beyond_refused_whole(tmp_path):
    """Floats exactly 0 and 1 are read as they are; 1.5 or -0.5 or NaN is
    refused with the file's name and the range expected."""
    ends = np.array([[0.0, 0.25, 1.0]], dtype=np.float32)
    Image.fromarray(ends).save(tmp_path / "ends.tiff")
    np.testing.assert_array_equal(
        read(tmp_path / "ends.tiff")[0, :, 2], ends[0]
    )
    for name, low, high in [("over.tiff", 0, 1.5), ("under.tiff", -0.5, 1)]:
        path = tmp_path / name
        values = np.array([[low, high]], dtype=np.float32)
        Image.fromarray(values).save(path)
        assert refusal(path) == (
            f"{path} holds floats from {low:g} to {high:g}; "
            "expected values in [0, 1]"
        )
    path = tmp_path / "nan.tiff"
    Image.fromarray(np.array([[0.5, np.nan]], dtype=np.float32)).save(path)
    assert refusal(path) == (
        f"{path} holds non-finite floats; expected values in [0, 1]"
    )


def test_bilevel_and_greyscale_keep_their_exact_levels(tmp_path):
    """Mode "1" is black or white, mode "L" is its byte over 255, each
    copied to the three channels."""
    bits = Image.new("1", (2, 1))
    bits.putpixel((1, 0), 1)
    bits.save(tmp_path / "bits.png")
    assert Image.open(tmp_path / "bits.png").mode == "1"
    np.testing.assert_array_equal(
        read(tmp_path / "bits.png")[0], [[0, 0, 0], [1, 1, 1]]
    )
    levels = np.array([[0, 51, 255]], dtype=np.uint8)
    Image.fromarray(levels).save(tmp_path / "grey.png")
    assert Image.open(tmp_path / "grey.png").mode == "L"
    expected = levels[0].astype(np.float32) / 255
    np.testing.assert_array_equal(
        read(tmp_path / "grey.png")[0], np.repeat(expected[:, None], 3, 1)
    )


def test_a_palette_with_alpha_keeps_its_colours(tmp_path):
    """A "PA" TIFF (palette plus alpha) is read in colour, composited over
    white: red stays red, 20 % green becomes pale green, not grey."""
    image = Image.new("PA", (2, 1))
    image.putpalette([255, 0, 0, 0, 255, 0] + [0] * 762)
    image.putdata([(0, 255), (1, 51)])
    image.save(tmp_path / "palette-alpha.tiff")
    assert Image.open(tmp_path / "palette-alpha.tiff").mode == "PA"
    np.testing.assert_allclose(
        read(tmp_path / "palette-alpha.tiff")[0],
        [[1, 0, 0], [0.8, 1, 0.8]],
        atol=1e-6,
    )


def test_premultiplied_alpha_is_undone_before_compositing():
    """An "RGBa" image stores colour already multiplied by alpha; it is
    un-multiplied, so 20 % opaque red stays pure red with alpha 0.2."""
    image = Image.new("RGBa", (1, 1), (51, 0, 0, 51))
    np.testing.assert_array_equal(
        images._unit_pixels(image, "x.tiff")[0, 0],
        np.array([255, 0, 0, 51], dtype=np.float32) / 255,
    )


def test_a_mode_pillow_cannot_convert_is_refused_naming_it(
    tmp_path, monkeypatch
):
    """When Pillow cannot turn a colour mode into RGB (older releases, a
    plugin's own mode), the message names the file, the mode and why."""
    path = tmp_path / "lab.tiff"
    Image.new("LAB", (2, 2)).save(path)
    convert = Image.Image.convert

    def refuse_lab(self, mode=None, *args, **kwargs):
        if self.mode == "LAB":
            raise ValueError("conversion from LAB to RGB not supported")
        return convert(self, mode, *args, **kwargs)

    monkeypatch.setattr(Image.Image, "convert", refuse_lab)
    assert refusal(path) == (
        f"{path} has the LAB colour mode, which cannot be read as RGB: "
        "conversion from LAB to RGB not supported"
    )


def test_the_size_limit_itself_is_allowed(tmp_path, monkeypatch):
    """An image of exactly ``MAX_PIXELS`` pixels is read; only more is
    refused."""
    Image.new("RGB", (30, 20), (255, 0, 0)).save(tmp_path / "photo.png")
    monkeypatch.setattr(images, "MAX_PIXELS", 600)
    assert read(tmp_path / "photo.png").shape == (20, 30, 3)
    monkeypatch.setattr(images, "MAX_PIXELS", 599)
    assert "more than the 0 megapixels" in refusal(tmp_path / "photo.png")


def test_the_size_refusal_gives_both_sizes_in_megapixels(
    tmp_path, monkeypatch
):
    """The message names the file, its width × height, and its size and the
    limit rounded to whole megapixels (3.5 → 4, 1.5 → 2)."""
    path = tmp_path / "scan.png"
    Image.new("1", (3500, 1000)).save(path)
    monkeypatch.setattr(images, "MAX_PIXELS", 1_500_000)
    assert refusal(path) == (
        f"{path} is 3500×1000 pixels (4 megapixels), more than the 2 "
        "megapixels this reads; make it smaller first"
    )


def test_pillows_bomb_warning_is_a_one_line_refusal(tmp_path):
    """Between Pillow's warning (89 megapixels) and its hard error (twice
    that), the warning is turned into the same one-line ``ValueError``."""
    path = tmp_path / "big.png"
    Image.new("1", (10000, 9000)).save(path)
    assert refusal(path) == (
        f"Could not read {path} as an image: Image size (90000000 pixels) "
        "exceeds limit of 89478485 pixels, could be decompression bomb DOS "
        "attack."
    )


def test_other_pillow_warnings_do_not_stop_the_reading(tmp_path):
    """A harmless warning (a PNG with a broken animation chunk) is passed
    on as a warning; only the decompression bomb warning is an error."""
    Image.new("RGB", (2, 1), (0, 0, 255)).save(tmp_path / "still.png")
    data = (tmp_path / "still.png").read_bytes()
    body = b"acTL" + struct.pack(">II", 0, 0)  # zero frames: invalid APNG
    actl = struct.pack(">I", 8) + body + struct.pack(">I", zlib.crc32(body))
    (tmp_path / "odd.png").write_bytes(data[:33] + actl + data[33:])
    with pytest.warns(UserWarning, match="Invalid APNG"):
        got = read(tmp_path / "odd.png")
    np.testing.assert_array_equal(got[0], [[0, 0, 1], [0, 0, 1]])


def test_every_refusal_message_is_whole(tmp_path):
    """Each message names the file (or what was passed) and what was
    expected, in one line a learner can act on."""
    notes = tmp_path / "notes.png"
    notes.write_text("not a picture")
    assert refusal(notes) == (
        f"Could not read {notes} as an image: "
        f"cannot identify image file {str(notes)!r}"
    )
    assert (
        refusal(tmp_path) == f"{tmp_path} is a folder, expected an image file"
    )
    assert refusal("") == "path is empty: name an image file"
    with pytest.raises(FileNotFoundError) as missing:
        read_image(tmp_path / "gone.png")
    assert str(missing.value) == f"No image at {tmp_path / 'gone.png'}"
    with pytest.raises(TypeError) as wrong:
        read_image(np.zeros((3, 4, 4)))
    assert str(wrong.value) == (
        "path must be a file name (str or Path), got ndarray"
    )


def test_a_truncated_file_message_says_so_whole(tmp_path):
    """The truncation message is Pillow's reason between the file's name
    and the hint that the file is truncated or damaged."""
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(
        tmp_path / "whole.jpg"
    )
    data = (tmp_path / "whole.jpg").read_bytes()
    path = tmp_path / "cut.jpg"
    path.write_bytes(data[: len(data) // 2])
    assert re.fullmatch(
        f"Could not read {re.escape(str(path))} as an image: image file is "
        r"truncated \(\d+ bytes not processed\) "
        r"\(a truncated or damaged file\?\)",
        refusal(path),
    )


# --- bad input refused in one line (issue 36) -------------------------------


statistics = st.one_of(
    st.lists(
        st.one_of(
            st.floats(-2, 2),
            st.sampled_from([0, 0.0, -0.5, float("nan"), float("inf"), 1]),
        ),
        max_size=5,
    ).map(tuple),
    st.sampled_from(
        [
            None,
            0.5,
            "abc",
            (0.5, "0.5", 0.5),
            (np.float32(0.5), torch.tensor(0.5), np.float64(0.25)),
            torch.tensor([0.5, 0.5, 0.5]),
        ]
    ),
)


@SETTINGS
@given(mean=statistics, std=statistics, channels=st.integers(1, 4))
def test_normalize_names_mean_and_std(mean, std, channels):
    x = torch.rand(2, channels, 3, 3)

    def check(result):
        m = [float(v) for v in mean]
        s = [float(v) for v in std]
        assert len(m) == len(s) == channels
        assert all(map(math.isfinite, m + s)) and min(s) > 0
        expected = (x - torch.tensor(m).reshape(-1, 1, 1)) / torch.tensor(
            s
        ).reshape(-1, 1, 1)
        torch.testing.assert_close(result, expected)

    expect(
        lambda: normalize(x, mean=mean, std=std),
        check,
        names=("mean", "std"),
        values=(
            mean,
            std,
            *(mean if isinstance(mean, tuple) else ()),
            *(std if isinstance(std, tuple) else ()),
        ),
    )


@SETTINGS
@given(
    scale=st.sampled_from([1.0, 255.0, -1.0, 1.5]),
    nan=st.booleans(),
    size=st.one_of(
        st.integers(1, 12), st.sampled_from([10**5, (10**4, 2), 0, "8"])
    ),
)
def test_square_crop_resize_refuses_what_it_would_clamp(scale, nan, size):
    image = torch.rand(3, 10, 8) * scale
    if nan:
        image[0, 0, 0] = float("nan")

    def check(result):
        assert scale == 1.0 and not nan
        assert 0 <= result.min() and result.max() <= 1

    expect(
        lambda: square_crop_resize(image, size),
        check,
        names=("image", "size"),
        values=(
            size,
            f"{image.nan_to_num(0.5).min().item():g}",
            f"{image.nan_to_num(0.5).max().item():g}",
            "nan",
        ),
    )


def test_sample_image_too_large_is_refused_before_allocating():
    with pytest.raises(
        ValueError,
        match=r"^An image of size 100000 \(3x100000x100000\) would need "
        r"[\d,.]+ GiB of memory",
    ):
        sample_image(10**5)
