"""The neutral message model between a channel (Telegram, the terminal) and the conversations.

A channel translates what a person sent into an `Incoming` and renders the `Reply` objects a
conversation returns. Nothing here knows any channel's types.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from backend.errors import AudioRejected, PhotoRejected
from backend.services.media import StoredPhoto
from backend.services.transcription import Heard

# --- what a person sent -------------------------------------------------------------------


@dataclass(frozen=True)
class Sender:
    channel: str
    external_id: str
    chat_id: str
    display_name: str | None = None
    language_code: str | None = None


@dataclass(frozen=True)
class Text:
    text: str


@dataclass(frozen=True)
class Command:
    name: str  # lower case, without the slash or a @botname suffix
    args: str = ""


@dataclass(frozen=True)
class ButtonPress:
    payload: str


@dataclass(frozen=True)
class Location:
    latitude: float
    longitude: float


@dataclass(frozen=True)
class Contact:
    phone: str


@dataclass(frozen=True)
class Photo:
    """A picture the person sent. `load` gives it checked, cleaned and stored, or raises
    PhotoRejected; a channel runs it through `prepared` before the unit of work opens, so a
    step only records what is already stored."""

    load: Callable[[], Awaitable[StoredPhoto]]
    file_size: int | None = None
    media_group_id: str | None = None
    caption: str | None = None


@dataclass(frozen=True)
class Audio:
    """A voice note or audio file, for a channel that can listen. `load` gives it heard
    (cleaned, stored and transcribed) or raises AudioRejected; like a photo, a channel runs it
    through `prepared` before the unit of work opens. `duration` is what the channel says,
    in seconds, before anything is downloaded."""

    load: Callable[[], Awaitable[Heard]]
    kind: Literal["voice", "audio"] = "voice"
    duration: int | None = None


UnsupportedKind = Literal["sticker", "voice", "audio", "video", "video_note", "document", "other"]


@dataclass(frozen=True)
class Unsupported:
    kind: UnsupportedKind


Event = Text | Command | ButtonPress | Location | Contact | Photo | Audio | Unsupported


@dataclass(frozen=True)
class Incoming:
    sender: Sender
    event: Event
    message_ref: str | None = None  # the channel's id of the message, kept for traceability


async def prepared(incoming: Incoming) -> Incoming:
    """Download, decode and store a photo (or hear a voice note) now, before the unit of work
    opens: neither the network nor a decode may hold a database transaction open. The step
    then gets the stored photo or transcript (or the refusal) at once."""
    event = incoming.event
    if not isinstance(event, Photo | Audio):
        return incoming
    settled: Callable[[], Awaitable[Any]]
    try:
        result: Any = await event.load()
    except (PhotoRejected, AudioRejected) as exc:
        refusal = exc

        async def refused() -> Any:
            raise refusal

        settled = refused
    else:

        async def ready() -> Any:
            return result

        settled = ready
    if isinstance(event, Photo):
        return replace(incoming, event=replace(event, load=settled))
    return replace(incoming, event=replace(event, load=settled))


# --- what the conversation answers --------------------------------------------------------


@dataclass(frozen=True)
class Msg:
    """A catalog key and its parameters; rendered in the reader's language by the channel."""

    key: str
    params: Mapping[str, Any] = field(default_factory=dict)


Label = Msg | str  # a plain str is shown as is (a village's name, a tracking code)


@dataclass(frozen=True)
class Button:
    label: Label
    payload: str
    # The answer most people give here (Kirim on a summary): a channel that can show only
    # some choices at once (WhatsApp's lists) shows it first.
    primary: bool = False


@dataclass(frozen=True)
class Say:
    """One message. `parts` are joined with blank lines.

    `buttons` are inline buttons (rows). `request_location` asks the channel to offer a
    "share my location" control next to the `skip` label; `clear_keyboard` removes such a control.
    """

    parts: tuple[Msg, ...]
    buttons: tuple[tuple[Button, ...], ...] = ()
    request_location: Label | None = None
    skip: Label | None = None
    clear_keyboard: bool = False


@dataclass(frozen=True)
class Photos:
    """Stored photos (by content hash) shown as one message or album, with a caption."""

    hashes: tuple[str, ...]
    caption: Msg | None = None


@dataclass(frozen=True)
class Notice:
    """A short toast for a button press (Telegram's answerCallbackQuery)."""

    text: Msg


@dataclass(frozen=True)
class Document:
    """A file for the person to keep (their own data, as JSON), with a caption."""

    filename: str
    data: bytes
    caption: Msg | None = None


Reply = Say | Photos | Notice | Document


def say(*parts: Msg | str, **kwargs: Any) -> Say:
    """`say("intake.ask_desa")` or `say(Msg("x", {...}), "y")`."""
    return Say(parts=tuple(p if isinstance(p, Msg) else Msg(p) for p in parts), **kwargs)


@dataclass
class Outcome:
    replies: list[Reply]
    language: str
