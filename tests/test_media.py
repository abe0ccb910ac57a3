"""Photos residents send: only real images are kept, without EXIF, once per content."""

from __future__ import annotations

import hashlib
import io
import random
import struct
import zlib
from pathlib import Path

import pytest
from PIL import Image

from backend.errors import PhotoRejected
from backend.services.media import MAX_PIXELS, MAX_SIDE, MediaStore
from tests.chat import make_jpeg


@pytest.fixture
def store(tmp_path: Path) -> MediaStore:
    return MediaStore(tmp_path / "media")


def stored_files(store: MediaStore) -> list[Path]:
    return sorted(p for p in store.root.rglob("*") if p.is_file())


def png_header_only(width: int, height: int) -> bytes:
    """A well-formed PNG that declares `width` x `height` but carries almost no pixel data:
    what a decompression bomb looks like to a server before it decodes."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body)
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


async def test_a_jpeg_with_gps_is_stored_without_exif_and_upright(store: MediaStore) -> None:
    original = make_jpeg((40, 20), color=(200, 0, 0), gps=True, orientation=6)
    with Image.open(io.BytesIO(original)) as sent:
        assert sent.getexif().get_ifd(0x8825)  # the test photo really carries a position

    stored = await store.store_photo(original)

    data = store.path_of(stored.sha256).read_bytes()
    assert hashlib.sha256(data).hexdigest() == stored.sha256
    assert len(data) == stored.bytes
    assert b"Exif" not in data and b"TestPhone" not in data
    with Image.open(io.BytesIO(data)) as kept:
        assert kept.format == "JPEG"
        assert not kept.getexif()
        assert "exif" not in kept.info and "xmp" not in kept.info
        # Orientation 6 means "turn 90° clockwise to view": the stored picture already is,
        # so the red left half of the sensor image is now on top.
        assert kept.size == (20, 40) == (stored.width, stored.height)
        top = kept.convert("RGB").getpixel((10, 5))
        bottom = kept.convert("RGB").getpixel((10, 35))
    assert isinstance(top, tuple) and isinstance(bottom, tuple)
    assert top[0] > 150 and top[2] < 60
    assert bottom[2] > 150 and bottom[0] < 60


async def test_a_png_is_accepted_and_stored_as_jpeg(store: MediaStore) -> None:
    out = io.BytesIO()
    Image.new("RGBA", (30, 30), (10, 200, 10, 128)).save(out, format="PNG")
    stored = await store.store_photo(out.getvalue())
    with Image.open(store.path_of(stored.sha256)) as kept:
        assert kept.format == "JPEG"
        assert kept.size == (30, 30)


async def test_a_big_photo_is_scaled_down(store: MediaStore) -> None:
    out = io.BytesIO()
    Image.new("RGB", (4000, 1000), (90, 90, 90)).save(out, format="JPEG", quality=50)
    stored = await store.store_photo(out.getvalue())
    assert (stored.width, stored.height) == (MAX_SIDE, MAX_SIDE // 4)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(random.Random(7).randbytes(4096), id="random-bytes"),
        pytest.param(
            b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\ntrailer\n%%EOF\n",
            id="pdf",
        ),
        pytest.param(b"", id="empty"),
        pytest.param(make_jpeg()[:200], id="truncated-jpeg"),
    ],
)
async def test_what_is_not_an_image_is_refused(store: MediaStore, data: bytes) -> None:
    with pytest.raises(PhotoRejected) as refused:
        await store.store_photo(data)
    assert refused.value.reason == "not_image"
    assert stored_files(store) == []


async def test_an_image_over_the_pixel_cap_is_refused_before_decoding(store: MediaStore) -> None:
    side = int(MAX_PIXELS**0.5) + 100  # just over the cap, under Pillow's own bomb limit
    with pytest.raises(PhotoRejected) as refused:
        await store.store_photo(png_header_only(side, side))
    assert refused.value.reason == "too_large"
    assert stored_files(store) == []


async def test_a_decompression_bomb_is_refused_as_too_large(store: MediaStore) -> None:
    # 400 megapixels: Pillow itself refuses to open it; the resident should still hear that
    # the picture is too large, not that it is not a picture.
    with pytest.raises(PhotoRejected) as refused:
        await store.store_photo(png_header_only(20_000, 20_000))
    assert refused.value.reason == "too_large"


async def test_the_same_photo_twice_is_stored_once(store: MediaStore) -> None:
    photo = make_jpeg(gps=True)
    first = await store.store_photo(photo)
    second = await store.store_photo(photo)
    assert first == second
    assert stored_files(store) == [store.path_of(first.sha256)]

    other = await store.store_photo(make_jpeg(color=(1, 2, 3)))
    assert other.sha256 != first.sha256
    assert len(stored_files(store)) == 2
