"""Photos: check they really are images, keep only their pixels, store by content hash.

Decoding is the costly part, so it is guarded: the dimensions in the header are checked before
any pixel is decoded, a big JPEG is decoded at a reduced scale, and at most `DECODERS` photos
decode at once in the process. Callers run `store_photo` before opening a database
transaction: a decode takes long enough to stall every request waiting on SQLite's write lock.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import io
import logging
import os
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageCms, ImageOps

from backend.domain import MAX_PHOTO_BYTES
from backend.errors import PhotoRejected, Unavailable

log = logging.getLogger(__name__)

# 1600 px shows a road or a drain clearly on a phone and on the dashboard, and it lets a 12 MP
# (4000 px) JPEG be decoded at half scale, a quarter of the memory.
MAX_SIDE = 1600
# More than any ordinary phone photo (12-24 MP; 48 MP sensors save 12 MP unless told otherwise),
# and it keeps one decoded picture under about 160 MB.
MAX_PIXELS = 40_000_000
DECODERS = 2  # photos decoding at once in this process, each up to a few hundred MB
ACCEPTED_FORMATS = {"JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF", "MPO", "HEIF"}

# Process-wide, so the bound holds however many stores, event loops or requests there are.
_decoders = ThreadPoolExecutor(max_workers=DECODERS, thread_name_prefix="photo-decode")


@dataclass(frozen=True)
class StoredPhoto:
    sha256: str
    width: int
    height: int
    bytes: int


@dataclass(frozen=True)
class StoredAudio:
    sha256: str
    seconds: float
    bytes: int


class MediaStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path_of(self, sha256: str) -> Path:
        return self.root / sha256[:2] / f"{sha256}.jpg"

    def audio_path_of(self, sha256: str) -> Path:
        return self.root / "audio" / sha256[:2] / f"{sha256}.ogg"

    async def forget_audio(self, hashes: list[str]) -> None:
        """Remove recordings of a person who asked to be forgotten (UU PDP)."""

        def remove() -> None:
            for sha in hashes:
                self.audio_path_of(sha).unlink(missing_ok=True)

        await asyncio.to_thread(remove)

    def store_audio_sync(self, data: bytes, seconds: float) -> StoredAudio:
        """Keep an already cleaned voice note (backend.services.audio) by its content hash.
        Blocking: the transcription pool calls it."""
        digest = hashlib.sha256(data).hexdigest()
        path = self.audio_path_of(digest)
        if not path.exists():
            try:
                self._write(path, data)
            except OSError as error:  # disk full, read-only, gone: nothing was kept
                raise Unavailable(f"media storage: {type(error).__name__}") from error
        return StoredAudio(sha256=digest, seconds=seconds, bytes=len(data))

    async def store_photo(self, data: bytes) -> StoredPhoto:
        """Check, clean and store one photo, or raise PhotoRejected. Decodes: call it outside
        any database transaction."""
        if len(data) > MAX_PHOTO_BYTES:
            raise PhotoRejected("too_large")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(_decoders, self._store_photo, data)

    def _store_photo(self, data: bytes) -> StoredPhoto:
        clean = _clean_jpeg(data)
        digest = hashlib.sha256(clean.data).hexdigest()
        path = self.path_of(digest)
        if not path.exists():
            try:
                self._write(path, clean.data)
            except OSError as error:  # disk full, read-only, gone: nothing was kept
                raise Unavailable(f"media storage: {type(error).__name__}") from error
        return StoredPhoto(
            sha256=digest, width=clean.width, height=clean.height, bytes=len(clean.data)
        )


    @staticmethod
    def _write(path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # A name of its own: the same photo may be stored by two decoders at once.
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.replace(tmp, path)  # atomic: a reader never sees half a file
        except OSError:
            Path(tmp).unlink(missing_ok=True)
            raise


@dataclass(frozen=True)
class _Clean:
    data: bytes
    width: int
    height: int


def _clean_jpeg(data: bytes) -> _Clean:
    """Decode, turn upright, convert to sRGB, scale down, and encode as a JPEG that carries
    nothing but the pixels (no EXIF, XMP, ICC profile, comment or text chunk)."""
    try:
        img = _decode(data)
        pixels = _pixels_only(img)
    except PhotoRejected:
        raise
    except Image.DecompressionBombError:
        raise PhotoRejected("too_many_pixels") from None
    except Exception as exc:  # noqa: BLE001 - a hostile file can make a decoder raise anything
        log.debug("photo refused: %s", type(exc).__name__)
        raise PhotoRejected("not_image") from None
    out = io.BytesIO()
    pixels.save(out, format="JPEG", quality=85, optimize=True)
    return _Clean(out.getvalue(), pixels.width, pixels.height)


def _decode(data: bytes) -> Image.Image:
    """Open and decode, refusing by the header alone what is not a photo or too many pixels."""
    with Image.open(io.BytesIO(data)) as probe:
        if probe.format not in ACCEPTED_FORMATS:
            raise PhotoRejected("not_image")
        if probe.width * probe.height > MAX_PIXELS:
            raise PhotoRejected("too_many_pixels")
        probe.verify()
    img = Image.open(io.BytesIO(data))
    # JPEG only (a no-op elsewhere): decode at 1/2, 1/4 or 1/8 scale when that still leaves
    # at least the stored size, so a big photo is never held at full size.
    img.draft(None, _fitted(img.size))
    img.load()
    return img


def _fitted(size: tuple[int, int]) -> tuple[int, int]:
    scale = min(1.0, MAX_SIDE / max(size))
    return max(1, int(size[0] * scale)), max(1, int(size[1] * scale))


def _pixels_only(img: Image.Image) -> Image.Image:
    icc = img.info.get("icc_profile")
    if img.mode not in {"RGB", "RGBA", "L", "LA", "CMYK"}:
        # Palette and exotic modes: resampling works on real colour values only.
        has_alpha = "A" in img.mode or "transparency" in img.info
        img = img.convert("RGBA" if has_alpha else "RGB")
    img.thumbnail((MAX_SIDE, MAX_SIDE))  # reduce() first, then a good filter: cheap and sharp
    img = ImageOps.exif_transpose(img)
    if img.mode in {"RGBA", "LA"}:
        rgba = img.convert("RGBA")
        img = Image.new("RGB", rgba.size, (255, 255, 255))  # transparent parts shown on white
        img.paste(rgba, mask=rgba.getchannel("A"))
    if icc:
        img = _to_srgb(img, icc)
    rgb = img.convert("RGB")
    rgb.info = {}  # Pillow's JPEG writer copies e.g. a comment over from here
    return rgb


def _to_srgb(img: Image.Image, icc: bytes) -> Image.Image:
    """The colours as the embedded profile means them, in sRGB; the profile itself is dropped."""
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        converted = ImageCms.profileToProfile(img, source, _srgb(), outputMode="RGB")
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        log.debug("embedded colour profile ignored: unreadable or not for %s", img.mode)
        return img
    assert converted is not None  # returned because inPlace is false
    return converted


@functools.cache
def _srgb() -> ImageCms.ImageCmsProfile:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
