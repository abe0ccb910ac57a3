"""A resident talking to the conversations the way a channel does, for tests.

Every message is one unit of work on the real backend, exactly like the Telegram channel:
`handle()` inside `backend.unit()`, replies rendered with the channel's own renderer.
"""

from __future__ import annotations

import copy
import functools
import io
import re
import struct
import zlib
from collections.abc import Awaitable, Callable
from typing import Any

from PIL import ExifTags, Image
from sqlalchemy import select

import locales
from backend.services.conversations import IDLE, ConversationState
from backend.services.media import StoredAudio, StoredPhoto
from backend.services.officials import Role
from backend.services.transcription import Heard
from backend.services.wiring import Backend
from backend.storage.models import Conversation, User
from bot.telegram.render import label, text_of
from handlers.dispatch import handle
from handlers.events import (
    Audio,
    ButtonPress,
    Command,
    Contact,
    Event,
    Incoming,
    Location,
    Notice,
    Photo,
    Reply,
    Say,
    Sender,
    Text,
    Unsupported,
    UnsupportedKind,
    prepared,
)
from tests.officials import OPERATOR

CODE_RE = re.compile(r"\b[2-9A-Z]{4}-[2-9A-Z]{4}\b")

PASAR_BARU = "12.71.01.1001"  # Kelurahan Pasar Baru, Kec. Medan Kota
MEDAN_LAT, MEDAN_LON = 3.583412, 98.672230

# A valid answer for every state, so a test can walk to the step it is about.
ADDRESS_TEXT = "Lingkungan 3, RT 02/RW 05, Jl. Melati"
PROBLEM_TEXT = "Jalan di depan SD rusak berlubang sepanjang 120 meter, tergenang saat hujan."
REQUEST_TEXT = "Pengaspalan jalan lingkungan 120 meter dan pembuatan parit di kedua sisi."


class Resident:
    """One person on the `test` channel. Keeps the replies to the last message sent."""

    def __init__(
        self,
        backend: Backend,
        external_id: str = "700100200",
        *,
        language_code: str | None = "id",
        display_name: str | None = "Siti Aminah",
    ) -> None:
        self.backend = backend
        self.sender = Sender(
            channel="test",
            external_id=external_id,
            chat_id=external_id,
            display_name=display_name,
            language_code=language_code,
        )
        self.replies: list[Reply] = []
        self.language = "id"
        self._sent = 0

    # --- what the resident does --------------------------------------------------------

    async def deliver(self, event: Event) -> Resident:
        self._sent += 1
        incoming = Incoming(self.sender, event, message_ref=f"{self.sender.chat_id}:{self._sent}")
        incoming = await prepared(incoming)  # as the channels do: photos stored before the unit
        async with self.backend.unit() as services:
            outcome = await handle(incoming, services)
        self.replies = outcome.replies
        self.language = outcome.language
        return self

    async def send(self, text: str) -> Resident:
        if text.startswith("/"):
            name, _, args = text[1:].partition(" ")
            return await self.deliver(Command(name.lower(), args.strip()))
        return await self.deliver(Text(text))

    async def press(self, payload: str) -> Resident:
        return await self.deliver(ButtonPress(payload))

    async def press_label(self, text: str) -> Resident:
        """Press the button of the last replies whose label contains `text` (a whole word
        match wins over a substring, so "Sei Rengas I" does not pick "Sei Rengas II")."""
        wanted = text.casefold()
        found = [(lbl, p) for lbl, p in self.buttons if wanted in lbl.casefold()]
        if len(found) > 1:
            whole = re.compile(rf"(?<!\w){re.escape(wanted)}(?!\w)")
            found = [(lbl, p) for lbl, p in found if whole.search(lbl.casefold())]
        if len(found) != 1:
            raise AssertionError(f"no single button labelled {text!r} in {self.buttons}")
        return await self.press(found[0][1])

    async def location(self, latitude: float, longitude: float) -> Resident:
        return await self.deliver(Location(latitude, longitude))

    async def contact(self, phone: str) -> Resident:
        return await self.deliver(Contact(phone))

    async def voice(self, data: bytes) -> Resident:
        """A voice note, heard as the channels hear it: before the unit of work opens."""

        async def load() -> Heard:
            return await self.backend.transcriber.listen(data, self.backend.media)

        return await self.deliver(Audio(load=load))

    async def heard(self, text: str, sha256: str = "a0" * 32) -> Resident:
        """A voice note whose transcript is `text`: the conversation around it, no model."""

        async def load() -> Heard:
            return Heard(StoredAudio(sha256=sha256, seconds=4.0, bytes=9_000), text)

        return await self.deliver(Audio(load=load))

    async def photo(
        self, data: bytes, media_group_id: str | None = None, file_size: int | None = None
    ) -> Resident:
        async def load() -> StoredPhoto:
            return await self.backend.media.store_photo(data)

        size = len(data) if file_size is None else file_size
        return await self.deliver(Photo(load=load, file_size=size, media_group_id=media_group_id))

    async def unsupported(self, kind: UnsupportedKind) -> Resident:
        return await self.deliver(Unsupported(kind))

    # --- what the resident sees --------------------------------------------------------

    @property
    def says(self) -> list[Say]:
        return [r for r in self.replies if isinstance(r, Say)]

    @property
    def texts(self) -> list[str]:
        return [text_of(self.language, s) for s in self.says]

    @property
    def text(self) -> str:
        """All messages of the last answer, one after the other."""
        return "\n\n".join(self.texts)

    @property
    def last_text(self) -> str:
        texts = self.texts
        return texts[-1] if texts else ""

    @property
    def buttons(self) -> list[tuple[str, str]]:
        return [
            (label(self.language, b.label), b.payload)
            for s in self.says
            for row in s.buttons
            for b in row
        ]

    @property
    def payloads(self) -> list[str]:
        return [p for _, p in self.buttons]

    @property
    def notices(self) -> list[str]:
        return [
            locales.t(self.language, r.text.key, r.text.params)
            for r in self.replies
            if isinstance(r, Notice)
        ]

    @property
    def keys(self) -> list[str]:
        """Catalog keys of the last answer's message parts, for precise assertions."""
        return [part.key for s in self.says for part in s.parts] + [
            r.text.key for r in self.replies if isinstance(r, Notice)
        ]

    @property
    def asks_location(self) -> bool:
        return any(s.request_location is not None for s in self.says)

    def t(self, key: str, **params: Any) -> str:
        """A catalog text in the resident's current language."""
        return locales.t(self.language, key, params)

    # --- what the database holds for the resident --------------------------------------

    async def conversation(self) -> ConversationState:
        async with self.backend.sessionmaker() as session:
            row = await session.scalar(
                select(Conversation)
                .join(User, User.id == Conversation.user_id)
                .where(
                    User.channel == self.sender.channel,
                    User.external_id == self.sender.external_id,
                )
            )
        if row is None:
            return ConversationState()
        return ConversationState(state=row.state, data=dict(row.data or {}))

    async def state(self) -> str:
        return (await self.conversation()).state

    async def draft(self) -> dict[str, Any]:
        return dict((await self.conversation()).data.get("draft", {}))

    async def restore(self, snapshot: ConversationState) -> None:
        """Put the resident back where `snapshot` was taken, to try another answer there."""
        async with self.backend.unit() as services:
            user = await services.users.get_or_create(
                channel=self.sender.channel,
                external_id=self.sender.external_id,
                chat_id=self.sender.chat_id,
                language_hint=self.sender.language_code,
            )
            copied = ConversationState(snapshot.state, copy.deepcopy(snapshot.data))
            await services.conversations.save(user.id, copied)


# --- walking a conversation -------------------------------------------------------------


async def _pick_pasar_baru(r: Resident) -> None:
    await r.send("pasar baru")
    await r.press(f"desa:{PASAR_BARU}")


Answer = Callable[[Resident], Awaitable[Any]]

ANSWERS: dict[str, Answer] = {
    "account.consent": lambda r: r.press("consent:yes"),
    "intake.desa": _pick_pasar_baru,
    "intake.location": lambda r: r.location(MEDAN_LAT, MEDAN_LON),
    "intake.address": lambda r: r.send(ADDRESS_TEXT),
    "intake.category": lambda r: r.press("cat:jalan"),
    "intake.problem": lambda r: r.send(PROBLEM_TEXT),
    "intake.request": lambda r: r.send(REQUEST_TEXT),
    "intake.volume": lambda r: r.send("120 meter"),
    "intake.photos": lambda r: r.press("skip:intake.photos"),
    "intake.beneficiaries": lambda r: r.send("200"),
}


# --- conversations that do not begin with /start -----------------------------------------


def _short(code: str) -> str:
    return code.replace("-", "")


async def _neighbour_usulan(r: Resident) -> str:
    """An usulan of someone else in Pasar Baru, with the texts `walk_to` itself answers."""
    return await submit_usulan(Resident(r.backend, f"neighbour-of-{r.sender.external_id}"))


async def _enrol_kepala_desa(r: Resident) -> None:
    """This person becomes the kepala desa of Pasar Baru by claiming an invite in the chat."""
    async with r.backend.unit() as services:
        invite = await services.officials.create_invite(
            Role.KEPALA_DESA, wilayah_code=PASAR_BARU, created_by=OPERATOR
        )
    await r.send(f"/daftar {invite.code}")


async def _open_desa(r: Resident) -> None:
    await _enrol_kepala_desa(r)
    await _neighbour_usulan(r)
    await r.send("/desa")


async def _on_behalf(r: Resident) -> None:
    await _enrol_kepala_desa(r)
    await r.send("/usulan_warga")


async def _open_rembuk(r: Resident) -> None:
    await _enrol_kepala_desa(r)
    await r.send("/rembuk")


async def _similar_exists(r: Resident) -> None:
    await _neighbour_usulan(r)
    await r.send("/start")


def _on_card(action: str) -> Answer:
    async def press(r: Resident) -> None:
        code = (await r.conversation()).data["review"]["code"]
        await r.press(f"rv:{action}:{_short(code)}")

    return press


# How a conversation that is not the resident intake begins, by the state to reach.
STARTS: dict[str, Answer] = {
    **dict.fromkeys(
        ("village.menu", "village.review", "village.fix_note", "village.reject_reason",
         "village.reject_note", "village.merge"),
        _open_desa,
    ),
    **dict.fromkeys(("village.resident_name", "village.resident_phone"), _on_behalf),
    **dict.fromkeys(
        ("rembuk.date", "rembuk.place", "rembuk.total", "rembuk.women", "rembuk.groups",
         "rembuk.minutes", "rembuk.rank", "rembuk.summary"),
        _open_rembuk,
    ),
    "intake.similar": _similar_exists,
}  # fmt: skip
ANSWERS.update(
    {
        "village.menu": lambda r: r.press("vm:review"),
        "village.review": _on_card("fix"),
        "village.resident_name": lambda r: r.send("Mbah Karto"),
        "rembuk.date": lambda r: r.press("rb:today"),
        "rembuk.place": lambda r: r.send("Balai kelurahan"),
        "rembuk.total": lambda r: r.send("40"),
        "rembuk.women": lambda r: r.send("18"),
        "rembuk.groups": lambda r: r.press("skip:rembuk.groups"),
        "rembuk.minutes": lambda r: r.press("skip:rembuk.minutes"),
        "rembuk.rank": lambda r: r.press("rk:done"),
    }
)
# Where a step has several ways on, the way towards these states.
BRANCHES: dict[str, dict[str, Answer]] = {
    "village.reject_reason": {"village.review": _on_card("no")},
    "village.reject_note": {
        "village.review": _on_card("no"),
        "village.reject_reason": lambda r: r.press("rj:duplikat"),
    },
    "village.merge": {"village.review": _on_card("merge")},
    "intake.similar": {"intake.summary": lambda r: r.press("submit")},
    "voice.heard": {"intake.problem": lambda r: r.heard(PROBLEM_TEXT)},
}


async def walk_to(resident: Resident, target: str, *, max_steps: int = 20) -> None:
    """From wherever the resident is, answer each question validly until `target` is asked."""
    if target == "account.cancel":  # /batal with a draft half typed asks first
        await walk_to(resident, "intake.request")
        await resident.send("/batal")
        return
    if await resident.state() == IDLE:
        await STARTS.get(target, lambda r: r.send("/start"))(resident)
    if target == "account.delete":
        await resident.send("/hapus_data")
        return
    answers = {**ANSWERS, **BRANCHES.get(target, {})}
    for _ in range(max_steps):
        state = await resident.state()
        if state == target:
            return
        answer = answers.get(state)
        if answer is None:
            raise AssertionError(f"cannot walk from {state!r} to {target!r}")
        await answer(resident)
    raise AssertionError(f"{target!r} not reached")


async def submit_usulan(resident: Resident, photos: tuple[bytes, ...] = ()) -> str:
    """A complete, valid intake; returns the tracking code the resident was shown."""
    await walk_to(resident, "intake.photos")
    for data in photos:
        await resident.photo(data)
    if await resident.state() == "intake.photos":
        await resident.press("skip:intake.photos")
    await walk_to(resident, "intake.summary")
    await resident.press("submit")
    if await resident.state() == "intake.similar":  # similar usulan offered: send anyway
        await resident.press("dk:own")
    match = CODE_RE.search(resident.text)
    if match is None:
        raise AssertionError(f"no tracking code in {resident.text!r}")
    return match.group(0)


# --- pictures ---------------------------------------------------------------------------


def make_jpeg(
    size: tuple[int, int] = (64, 48),
    color: tuple[int, int, int] = (120, 90, 60),
    *,
    gps: bool = False,
    orientation: int | None = None,
) -> bytes:
    """A small real JPEG; with `gps` it carries a GPS position and a camera make in EXIF.

    The left half has `color`, the right half is blue, so a rotation can be seen.
    """
    image = Image.new("RGB", size, color)
    width, height = size
    image.paste((0, 0, 200), (width // 2, 0, width, height))
    exif = Image.Exif()
    if orientation is not None:
        exif[ExifTags.Base.Orientation] = orientation
    if gps:
        exif[ExifTags.Base.Make] = "TestPhone"
        info = exif.get_ifd(ExifTags.IFD.GPSInfo)
        info[ExifTags.GPS.GPSLatitudeRef] = "N"
        info[ExifTags.GPS.GPSLatitude] = (3.0, 35.0, 0.3)
        info[ExifTags.GPS.GPSLongitudeRef] = "E"
        info[ExifTags.GPS.GPSLongitude] = (98.0, 40.0, 20.0)
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=90, exif=exif)
    return out.getvalue()


@functools.cache
def png_bomb() -> bytes:
    """A complete, valid 59-megapixel PNG of black pixels in 172 KB: it decodes to 177 MB."""
    width, height = 8000, 7375
    packer = zlib.compressobj(9)
    rows = (b"\x00" * (1 + 3 * width)) * 125  # filter byte + RGB, 125 rows at a time
    idat = b"".join(packer.compress(rows) for _ in range(height // 125)) + packer.flush()

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
