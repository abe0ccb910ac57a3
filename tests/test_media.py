"""Photos residents send: only real images are kept, without EXIF, once per content."""

from __future__ import annotations

import asyncio
import hashlib
import io
import random
import struct
import threading
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PIL import ExifTags, Image, ImageCms, ImageFile, PngImagePlugin

from backend.errors import PhotoRejected
from backend.services import media
from backend.services.media import DECODERS, MAX_PIXELS, MAX_SIDE, MediaStore
from tests.chat import make_jpeg, png_bomb


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
    assert refused.value.reason == "too_many_pixels"
    assert stored_files(store) == []


async def test_a_decompression_bomb_is_refused_as_too_many_pixels(store: MediaStore) -> None:
    # 400 megapixels: Pillow itself refuses to open it; the resident should still hear that
    # the picture's resolution is too large, not that it is not a picture.
    with pytest.raises(PhotoRejected) as refused:
        await store.store_photo(png_header_only(20_000, 20_000))
    assert refused.value.reason == "too_many_pixels"


async def test_the_same_photo_twice_is_stored_once(store: MediaStore) -> None:
    photo = make_jpeg(gps=True)
    first = await store.store_photo(photo)
    second = await store.store_photo(photo)
    assert first == second
    assert stored_files(store) == [store.path_of(first.sha256)]

    other = await store.store_photo(make_jpeg(color=(1, 2, 3)))
    assert other.sha256 != first.sha256
    assert len(stored_files(store)) == 2


# --- issue 8: nothing but pixels, in every accepted format ---------------------------------

MARKER = "resident home Jl. Melati 12"
XMP = (
    '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/'
    f'22-rdf-syntax-ns#"><rdf:Description>{MARKER}</rdf:Description></rdf:RDF></x:xmpmeta>'
)


def _exif_with_marker() -> Image.Exif:
    exif = Image.Exif()
    exif[ExifTags.Base.ImageDescription] = MARKER
    exif[ExifTags.Base.Make] = "TestPhone"
    return exif


def _srgb_icc() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def _picture(mode: str = "RGB") -> Image.Image:
    return Image.new(mode, (64, 48), (120, 90, 60) if mode == "RGB" else 3)


def _saved(image: Image.Image, fmt: str, **params: Any) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **params)
    return out.getvalue()


def jpeg_with_every_block() -> bytes:
    return _saved(
        _picture(),
        "JPEG",
        comment=MARKER,
        exif=_exif_with_marker(),
        xmp=XMP.encode(),
        icc_profile=_srgb_icc(),
    )


def png_with_text_chunks() -> bytes:
    text = PngImagePlugin.PngInfo()
    text.add_text("comment", MARKER)  # tEXt; Pillow reads it back as the image's comment
    text.add_text("Description", MARKER, zip=True)  # zTXt
    text.add_itxt("Author", MARKER, lang="id", tkey="Penulis")  # iTXt
    text.add_itxt("XML:com.adobe.xmp", XMP)
    return _saved(_picture(), "PNG", pnginfo=text, exif=_exif_with_marker())


def gif_with_comment() -> bytes:
    return _saved(_picture("P"), "GIF", comment=MARKER)


def webp_with_xmp_and_exif() -> bytes:
    return _saved(
        _picture(), "WEBP", exif=_exif_with_marker(), xmp=XMP.encode(), icc_profile=_srgb_icc()
    )


def tiff_with_text_tags() -> bytes:
    tags = {270: MARKER, 315: MARKER, 305: MARKER}  # ImageDescription, Artist, Software
    return _saved(_picture(), "TIFF", tiffinfo=tags)


def jpeg_segments(data: bytes) -> list[tuple[int, bytes]]:
    """The marker segments of a JPEG up to its first scan: (marker, payload)."""
    assert data[:2] == b"\xff\xd8"
    segments, at = [], 2
    while data[at + 1] != 0xDA:
        assert data[at] == 0xFF
        length = int.from_bytes(data[at + 2 : at + 4], "big")
        segments.append((data[at + 1], data[at + 4 : at + 2 + length]))
        at += 2 + length
    return segments


def assert_pixels_only(data: bytes) -> None:
    assert MARKER.encode() not in data
    segments = jpeg_segments(data)
    # JFIF header, quantisation and Huffman tables, frame header: nothing else before the scan
    # (no APP1 EXIF or XMP, no APP2 ICC profile, no COM comment).
    assert {marker for marker, _ in segments} <= {0xE0, 0xDB, 0xC4, 0xC0, 0xC2}
    assert [payload[:5] for marker, payload in segments if marker == 0xE0] == [b"JFIF\x00"]
    with Image.open(io.BytesIO(data)) as kept:
        assert not kept.getexif()
        assert not {"exif", "xmp", "icc_profile", "comment"} & set(kept.info)


@pytest.mark.parametrize(
    "build",
    [
        jpeg_with_every_block,
        png_with_text_chunks,
        gif_with_comment,
        webp_with_xmp_and_exif,
        tiff_with_text_tags,
    ],
)
async def test_no_text_of_the_sender_survives_in_the_stored_photo(
    store: MediaStore, build: Callable[[], bytes]
) -> None:
    sent = build()
    with Image.open(io.BytesIO(sent)) as original:
        original.load()
        assert MARKER in repr(original.info) + repr(dict(original.getexif()))  # it is there

    stored = await store.store_photo(sent)

    assert_pixels_only(store.path_of(stored.sha256).read_bytes())


def swapped_rgb_profile() -> bytes:
    """A real ICC matrix/TRC profile for an RGB space whose red and blue primaries are
    sRGB's blue and red: a pixel it calls red is blue in sRGB."""

    def s15(value: float) -> bytes:
        return struct.pack(">i", round(value * 65536))

    def xyz(x: float, y: float, z: float) -> bytes:
        return b"XYZ \0\0\0\0" + s15(x) + s15(y) + s15(z)

    red, green, blue = (0.4361, 0.2225, 0.0139), (0.3851, 0.7169, 0.0971), (0.1431, 0.0606, 0.7141)
    name = b"red and blue swapped\0"
    desc = b"desc\0\0\0\0" + struct.pack(">I", len(name)) + name + b"\0" * 78
    gamma = b"curv\0\0\0\0" + struct.pack(">IH", 1, 0x0233)  # gamma 2.2
    tags = [
        (b"desc", desc),
        (b"wtpt", xyz(0.9642, 1.0, 0.8249)),
        (b"rXYZ", xyz(*blue)),
        (b"gXYZ", xyz(*green)),
        (b"bXYZ", xyz(*red)),
        (b"rTRC", gamma),
        (b"gTRC", gamma),
        (b"bTRC", gamma),
        (b"cprt", b"text\0\0\0\0none\0"),
    ]
    offset = 128 + 4 + 12 * len(tags)
    table, body = b"", b""
    for signature, data in tags:
        data += b"\0" * (-len(data) % 4)
        table += signature + struct.pack(">II", offset + len(body), len(data))
        body += data
    header = (
        struct.pack(">I4sI4s4s4s", offset + len(body), b"", 0x02100000, b"mntr", b"RGB ", b"XYZ ")
        + b"\0" * 12
        + b"acsp"
        + b"\0" * 28
        + s15(0.9642)
        + s15(1.0)
        + s15(0.8249)
        + b"\0" * 48
    )
    return header + struct.pack(">I", len(tags)) + table + body


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
async def test_a_photo_with_a_colour_profile_is_converted_to_srgb_and_the_profile_dropped(
    store: MediaStore, fmt: str
) -> None:
    red_in_its_own_space = Image.new("RGB", (64, 48), (200, 30, 30))
    tagged = await store.store_photo(
        _saved(red_in_its_own_space, fmt, icc_profile=swapped_rgb_profile())
    )
    untagged = await store.store_photo(_saved(red_in_its_own_space, fmt))

    data = store.path_of(tagged.sha256).read_bytes()
    assert_pixels_only(data)
    with Image.open(io.BytesIO(data)) as kept:
        r, g, b = kept.convert("RGB").getpixel((32, 24))  # type: ignore[misc]
    assert b > 170 and r < 60 and g < 60  # what the profile meant: blue
    with Image.open(store.path_of(untagged.sha256)) as plain:
        r, g, b = plain.convert("RGB").getpixel((32, 24))  # type: ignore[misc]
    assert r > 170 and b < 60  # without a profile the numbers are taken as sRGB


# --- issue 8: decompression bombs and memory ------------------------------------------------


@pytest.fixture
def decoded_sizes(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """The size at which each picture was decoded (Pillow's `load`)."""
    sizes: list[tuple[int, int]] = []
    load = ImageFile.ImageFile.load

    def recording_load(self: ImageFile.ImageFile) -> Any:
        sizes.append(self.size)
        return load(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", recording_load)
    return sizes


async def test_a_small_png_of_59_megapixels_is_refused_before_decoding(
    store: MediaStore, decoded_sizes: list[tuple[int, int]]
) -> None:
    bomb = png_bomb()
    assert len(bomb) < 200_000
    with pytest.raises(PhotoRejected) as refused:
        await store.store_photo(bomb)
    assert refused.value.reason == "too_many_pixels"
    assert decoded_sizes == []
    assert stored_files(store) == []


def jpeg_declaring(width: int, height: int) -> bytes:
    """A small JPEG whose frame header claims `width` x `height`."""
    data = bytearray(make_jpeg())
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


async def test_a_jpeg_over_40_megapixels_is_refused_before_decoding(
    store: MediaStore, decoded_sizes: list[tuple[int, int]]
) -> None:
    assert MAX_PIXELS == 40_000_000
    with pytest.raises(PhotoRejected) as refused:
        await store.store_photo(jpeg_declaring(7800, 5200))  # 40.6 MP
    assert refused.value.reason == "too_many_pixels"
    assert decoded_sizes == []


async def test_a_12_megapixel_jpeg_is_decoded_at_half_size_and_stored_at_the_max_side(
    store: MediaStore, decoded_sizes: list[tuple[int, int]]
) -> None:
    twelve_mp = _saved(Image.new("RGB", (4000, 3000), (30, 120, 60)), "JPEG", quality=60)
    stored = await store.store_photo(twelve_mp)
    assert (stored.width, stored.height) == (MAX_SIDE, MAX_SIDE * 3 // 4) == (1600, 1200)
    assert max(decoded_sizes) == (2000, 1500)  # libjpeg scaled it down while decoding


async def test_a_large_png_is_stored_at_the_max_side(store: MediaStore) -> None:
    wide = _saved(Image.new("RGB", (6000, 2000), (200, 200, 10)), "PNG")
    stored = await store.store_photo(wide)
    assert (stored.width, stored.height) == (MAX_SIDE, MAX_SIDE // 3)


async def test_at_most_two_photos_decode_at_once(
    store: MediaStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    lock, release = threading.Lock(), threading.Event()
    active, most = 0, 0

    def slow_decode(data: bytes) -> Image.Image:
        nonlocal active, most
        with lock:
            active += 1
            most = max(most, active)
        release.wait(10)
        with lock:
            active -= 1
        return Image.new("RGB", (8, 8), (40 * data[0], 0, 0))

    monkeypatch.setattr(media, "_decode", slow_decode)
    uploads = [asyncio.create_task(store.store_photo(bytes([n]))) for n in range(6)]
    try:
        for _ in range(500):
            if active == DECODERS:
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.2)  # room for a third to start, were it allowed to
        assert (active, most) == (DECODERS, DECODERS) == (2, 2)
    finally:
        release.set()
    assert len({p.sha256 for p in await asyncio.gather(*uploads)}) == 6


async def test_a_photo_that_cannot_be_written_is_unavailable_not_refused(tmp_path: Path) -> None:
    from backend.errors import Unavailable

    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the media folder should be")
    store = MediaStore(blocker / "media")
    # Not the resident's photo at fault: the service must say "try again", never "bad photo".
    with pytest.raises(Unavailable):
        await store.store_photo(make_jpeg())
    leftovers = await asyncio.to_thread(lambda: sorted(p.name for p in tmp_path.iterdir()))
    assert leftovers == [blocker.name]  # nothing half-written left behind
