"""``vitlesson.data.images``: the sample photograph, cropping, normalisation and ``read_image`` (every mode Pillow opens, EXIF orientation, anything else refused in one line)."""

import struct
import zlib

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

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
        match=r"Expected images with 3 channels in dimension -3, got shape \(1, 2, 2\)",
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
