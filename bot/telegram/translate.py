"""Telegram update -> neutral `Incoming`. The only place that reads aiogram's update types."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiogram.types import CallbackQuery, Message, Update

from backend.services.media import StoredPhoto
from backend.services.transcription import Heard
from handlers.events import (
    Audio,
    ButtonPress,
    Command,
    Contact,
    Event,
    Incoming,
    Location,
    Photo,
    Sender,
    Text,
    Unsupported,
)

log = logging.getLogger(__name__)

CHANNEL = "telegram"
# file id -> the photo's `load` (download, check, store)
Fetcher = Callable[[str], Callable[[], Awaitable[StoredPhoto]]]
# file id -> the voice note's `load` (download, check, store, transcribe); None: no listening
Listener = Callable[[str], Callable[[], Awaitable[Heard]]]


def chat_key(update: Update) -> str | None:
    """The private chat an update belongs to; None for what the bot ignores on purpose."""
    if update.message is not None:
        if update.message.chat.type != "private":
            return None
        return str(update.message.chat.id)
    if update.callback_query is not None:
        return str(update.callback_query.from_user.id)
    if update.my_chat_member is not None and update.my_chat_member.chat.type == "private":
        return str(update.my_chat_member.chat.id)
    return None


def to_incoming(
    update: Update, fetcher: Fetcher, listener: Listener | None = None
) -> Incoming | None:
    """A neutral event for a private message or button press; None for everything else
    (edited messages, group and channel posts, reactions), which the bot ignores on purpose."""
    if update.message is not None and update.message.chat.type == "private":
        message = update.message
        if message.from_user is None:
            return None
        event = _message_event(message, fetcher, listener)
        return Incoming(
            sender=_sender(message.from_user, str(message.chat.id)),
            event=event,
            message_ref=f"{message.chat.id}:{message.message_id}",
        )
    if update.callback_query is not None:
        query: CallbackQuery = update.callback_query
        if query.message is not None and query.message.chat.type != "private":
            return None
        return Incoming(
            sender=_sender(query.from_user, str(query.from_user.id)),
            event=ButtonPress(query.data or ""),
            message_ref=f"callback:{query.id}",
        )
    return None


def _sender(user: object, chat_id: str) -> Sender:
    first = getattr(user, "first_name", None)
    last = getattr(user, "last_name", None)
    name = _storable(" ".join(x for x in (first, last) if x)) or None
    return Sender(
        channel=CHANNEL,
        external_id=str(getattr(user, "id", "")),
        chat_id=chat_id,
        display_name=name[:120] if name else None,
        language_code=getattr(user, "language_code", None),
    )


def _storable(text: str) -> str:
    """Without NUL characters: PostgreSQL refuses them in text and JSON, so a message carrying
    one could never be saved, and every resend would fail the same way."""
    return text.replace("\x00", "")


def _message_event(message: Message, fetcher: Fetcher, listener: Listener | None) -> Event:
    if message.text is not None:
        text = _storable(message.text)
        if text.startswith("/"):
            head, _, args = text[1:].partition(" ")
            name = head.split("@", 1)[0].lower()
            if name:
                return Command(name=name, args=args.strip())
        return Text(text)
    if message.location is not None:
        return Location(message.location.latitude, message.location.longitude)
    if message.contact is not None:
        return Contact(message.contact.phone_number)
    if message.photo:
        largest = max(message.photo, key=lambda p: (p.width * p.height, p.file_size or 0))
        return Photo(
            load=fetcher(largest.file_id),
            file_size=largest.file_size,
            media_group_id=message.media_group_id,
            caption=message.caption,
        )
    if message.document is not None:
        document = message.document
        if (document.mime_type or "").startswith("image/"):
            # An "uncompressed" photo sent as a file is still a photo to the resident.
            return Photo(
                load=fetcher(document.file_id),
                file_size=document.file_size,
                media_group_id=message.media_group_id,
                caption=message.caption,
            )
        return Unsupported("document")
    sound = message.voice or message.audio
    if sound is not None and listener is not None:
        return Audio(
            load=listener(sound.file_id),
            kind="voice" if message.voice is not None else "audio",
            duration=sound.duration,
        )
    for kind in ("sticker", "voice", "audio", "video", "video_note"):
        if getattr(message, kind, None) is not None:
            return Unsupported(kind)
    return Unsupported("other")
