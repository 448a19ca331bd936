"""What is kept of an uploaded photo: its picture, upright; nothing of its metadata; and a thumbnail small enough
for lists and cards."""

from __future__ import annotations

import io
import random

import pytest
from PIL import Image

from tracker.service.photos import NotAPhoto, PhotoTooLarge, cleaned, thumbnail
from tracker.web.limits import note_length

GPS_IFD = 0x8825
ORIENTATION = 0x0112
RED, BLUE = (255, 0, 0), (0, 0, 255)


def camera_photo(fmt: str = "JPEG") -> bytes:
    """40 x 20, red left half and blue right half, stored as a phone held upright stores it: sideways, with
    EXIF saying "turn 90 degrees clockwise to view", where it was taken, and the camera's make."""
    image = Image.new("RGB", (40, 20), RED)
    image.paste(BLUE, (20, 0, 40, 20))
    exif = Image.Exif()
    exif[ORIENTATION] = 6
    exif[0x010F] = "PhoneMaker"
    gps = exif.get_ifd(GPS_IFD)
    gps[1], gps[2], gps[3], gps[4] = "N", (31.0, 58.0, 12.0), "E", (121.0, 10.0, 5.0)
    out = io.BytesIO()
    extra = {"comment": b"taken at home"} if fmt == "JPEG" else {}
    image.save(out, fmt, exif=exif, **extra)
    return out.getvalue()


@pytest.mark.parametrize(
    ("fmt", "content_type"), [("JPEG", "image/jpeg"), ("PNG", "image/png"), ("WEBP", "image/webp")]
)
def test_it_keeps_the_picture_upright_and_drops_every_tag(fmt: str, content_type: str):
    data = camera_photo(fmt)
    assert b"PhoneMaker" in data
    kept, kind = cleaned(data)
    assert kind == content_type
    assert b"PhoneMaker" not in kept and b"taken at home" not in kept
    with Image.open(io.BytesIO(kept)) as image:
        assert dict(image.getexif()) == {}
        assert image.size == (20, 40)  # turned as the camera said: the red half is now on top
        red, blue = image.convert("RGB").getpixel((10, 5)), image.convert("RGB").getpixel((10, 35))
    assert red[0] > 200 and red[2] < 60 and blue[2] > 200 and blue[0] < 60


def test_it_refuses_what_is_not_a_jpeg_png_or_webp():
    gif = io.BytesIO()
    Image.new("RGB", (4, 4)).save(gif, "GIF")
    for data in (b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, b"<script>alert(1)</script>", gif.getvalue()):
        with pytest.raises(NotAPhoto):
            cleaned(data)


def test_it_refuses_a_small_file_that_claims_a_huge_picture():
    out = io.BytesIO()
    Image.new("1", (9_000, 8_000)).save(out, "PNG")  # a few kilobytes for 72 megapixels
    assert len(out.getvalue()) < 100_000
    with pytest.raises(PhotoTooLarge):
        cleaned(out.getvalue())


def noisy_photo(width: int, height: int, fmt: str = "JPEG", mode: str = "RGB") -> bytes:
    """A phone-sized picture of noise: the hardest thing to make small."""
    image = Image.frombytes(mode, (width, height), random.Random(7).randbytes(width * height * len(mode)))
    out = io.BytesIO()
    image.save(out, fmt, **({"quality": 95} if fmt == "JPEG" else {}))
    return out.getvalue()


@pytest.mark.parametrize(
    ("width", "height", "fmt", "mode"),
    [
        (4000, 3000, "JPEG", "RGB"),
        (1200, 1600, "PNG", "RGBA"),
        (900, 300, "WEBP", "RGB"),
        (60, 40, "PNG", "RGB"),
    ],
)
def test_it_makes_a_thumbnail_at_most_320_px_and_30_kb(width: int, height: int, fmt: str, mode: str):
    small = thumbnail(cleaned(noisy_photo(width, height, fmt, mode))[0])
    assert len(small) <= 30 * 1024
    with Image.open(io.BytesIO(small)) as image:
        assert image.format == "JPEG"
        assert max(image.size) <= 320
        # The shape of the photo, not a square crop; a small photo is not blown up.
        assert abs(image.width / image.height - width / height) < 0.05
        assert max(image.size) == min(320, max(width, height))


def test_a_thumbnail_keeps_the_picture_upright_and_shows_transparency_white():
    with Image.open(io.BytesIO(thumbnail(cleaned(camera_photo())[0]))) as image:
        assert image.size == (20, 40)
        red, blue = image.getpixel((10, 5)), image.getpixel((10, 35))
    assert red[0] > 200 and red[2] < 60 and blue[2] > 200 and blue[0] < 60
    clear = io.BytesIO()
    Image.new("RGBA", (30, 30), (0, 0, 0, 0)).save(clear, "PNG")
    with Image.open(io.BytesIO(thumbnail(clear.getvalue()))) as image:
        assert min(image.getpixel((15, 15))) > 245


def test_a_note_is_counted_as_the_text_box_counts_it():
    assert note_length("a\r\nb") == 3 == note_length("a\nb")
