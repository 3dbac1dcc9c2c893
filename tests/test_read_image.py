"""``read_image``: every mode Pillow opens, read with its true values, the
EXIF orientation applied, and anything else refused in one line naming the
file."""

import struct
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from vitlesson.data import images
from vitlesson.data.images import read_image


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
