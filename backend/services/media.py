"""Photos: check they really are images, drop every metadata block, store by content hash."""

from __future__ import annotations

import asyncio
import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from backend.domain import MAX_PHOTO_BYTES
from backend.errors import PhotoRejected

MAX_SIDE = 2048  # enough to judge a road or a drain; keeps storage and page weight small
MAX_PIXELS = 60_000_000  # refuse decompression bombs before decoding
ACCEPTED_FORMATS = {"JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF", "MPO", "HEIF"}


@dataclass(frozen=True)
class StoredPhoto:
    sha256: str
    width: int
    height: int
    bytes: int


class MediaStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path_of(self, sha256: str) -> Path:
        return self.root / sha256[:2] / f"{sha256}.jpg"

    async def store_photo(self, data: bytes) -> StoredPhoto:
        return await asyncio.to_thread(self._store_photo, data)

    def _store_photo(self, data: bytes) -> StoredPhoto:
        if len(data) > MAX_PHOTO_BYTES:
            raise PhotoRejected("too_large")
        clean = _clean_jpeg(data)
        digest = hashlib.sha256(clean.data).hexdigest()
        path = self.path_of(digest)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(clean.data)
            tmp.replace(path)  # atomic: a reader never sees half a file
        return StoredPhoto(
            sha256=digest, width=clean.width, height=clean.height, bytes=len(clean.data)
        )


@dataclass(frozen=True)
class _Clean:
    data: bytes
    width: int
    height: int


def _clean_jpeg(data: bytes) -> _Clean:
    """Decode, apply the EXIF orientation, and re-encode as a JPEG that carries no metadata."""
    try:
        with Image.open(io.BytesIO(data)) as probe:
            if probe.format not in ACCEPTED_FORMATS:
                raise PhotoRejected("not_image")
            if probe.width * probe.height > MAX_PIXELS:
                raise PhotoRejected("too_large")
            probe.verify()
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            oriented = ImageOps.exif_transpose(img) or img
            rgb = oriented.convert("RGB")
    except PhotoRejected:
        raise
    except Image.DecompressionBombError:
        raise PhotoRejected("too_large") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise PhotoRejected("not_image") from None
    rgb.thumbnail((MAX_SIDE, MAX_SIDE))
    out = io.BytesIO()
    # A fresh image object has no info dict: no EXIF (GPS, device), no XMP, no comments.
    rgb.save(out, format="JPEG", quality=85, optimize=True)
    return _Clean(out.getvalue(), rgb.width, rgb.height)
