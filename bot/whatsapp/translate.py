"""Cloud API webhook payload -> neutral `Incoming`. The only place that reads Meta's envelope.

The envelope is parsed here rather than by pywa: its parser needs ids a payload may lack (a
message may name its sender by `wa_id`, by the business-scoped user id, or by both).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

from backend.services.intake import normalise_code
from backend.services.media import StoredPhoto
from handlers.dispatch import COMMAND_ALIASES
from handlers.enrol import looks_like_invite
from handlers.events import (
    ButtonPress,
    Command,
    Contact,
    Event,
    Location,
    Photo,
    Text,
    Unsupported,
    UnsupportedKind,
)

log = logging.getLogger(__name__)

CHANNEL = "whatsapp"
# A reply button whose id starts so stands for a word the person could have typed (a location
# request cannot carry a "skip" button of its own, so one follows it).
TYPED = "typed:"
# media id -> the photo's `load` (download, check, store)
Fetcher = Callable[[str], Callable[[], Awaitable[StoredPhoto]]]

# Canonical commands whose argument must look like a tracking code or an invite code: only
# then is "status ABCD-EFGH" a command and "status jalan kami rusak" an answer.
_CODE_ARGUMENT = {"status", "dukung"}
_INVITE_ARGUMENT = {"daftar", "start"}
# Message kinds passed over on purpose: reactions, edits and deletions of earlier messages,
# and system notes (a changed number); none of them is an answer to a question.
_IGNORED = {"reaction", "edit", "revoke", "system", "request_welcome", "errors"}
_UNSUPPORTED: dict[str, UnsupportedKind] = {
    "sticker": "sticker",
    "video": "video",
    "document": "document",
}


@dataclass(frozen=True)
class Inbound:
    """One message of a webhook payload, with whoever sent it."""

    message_id: str
    wa_id: str | None
    user_id: str | None  # the business-scoped user id, when the payload carries it
    name: str | None
    timestamp: int
    message: dict[str, Any]

    @property
    def kind(self) -> str:
        return str(self.message.get("type", ""))

    @property
    def person(self) -> str:
        """A key for the person within one process (per-person ordering)."""
        return self.wa_id or self.user_id or ""


def messages_of(payload: dict[str, Any]) -> tuple[list[Inbound], int]:
    """The inbound messages of a payload, in order, and how many status items it carried."""
    found: list[Inbound] = []
    statuses = 0
    for value in _message_values(payload):
        contacts = [c for c in _list(value.get("contacts")) if isinstance(c, dict)]
        statuses += len(_list(value.get("statuses")))
        for message in _list(value.get("messages")):
            item = _inbound(message, contacts)
            if item is not None:
                found.append(item)
    return found, statuses


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _message_values(payload: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for entry in _list(payload.get("entry")):
        if not isinstance(entry, dict):
            continue
        for change in _list(entry.get("changes")):
            if isinstance(change, dict) and change.get("field") == "messages":
                value = change.get("value")
                if isinstance(value, dict):
                    yield value


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _inbound(message: Any, contacts: list[dict[str, Any]]) -> Inbound | None:
    if not isinstance(message, dict) or _text(message.get("id")) is None:
        return None
    wa_id, user_id = _text(message.get("from")), _text(message.get("from_user_id"))
    contact = next(
        (
            c
            for c in contacts
            if (wa_id and c.get("wa_id") == wa_id) or (user_id and c.get("user_id") == user_id)
        ),
        contacts[0] if len(contacts) == 1 else {},
    )
    wa_id = wa_id or _text(contact.get("wa_id"))
    user_id = user_id or _text(contact.get("user_id"))
    if wa_id is None and user_id is None:
        return None
    profile = contact.get("profile")
    name = _text(profile.get("name")) if isinstance(profile, dict) else None
    stamp = str(message.get("timestamp", "0"))
    return Inbound(
        message_id=str(message["id"]),
        wa_id=wa_id,
        user_id=user_id,
        name=_storable(name)[:120] if name else None,
        timestamp=int(stamp) if stamp.isdigit() else 0,
        message=message,
    )


def _storable(text: str) -> str:
    """Without NUL characters, which PostgreSQL refuses in text and JSON."""
    return text.replace("\x00", "")


def command_of(text: str) -> Command | None:
    """A command typed as words ("status K7QM-4RXT", "batal"), or with Telegram's slash.

    Only a known command name as the first word counts, and a command that takes an argument
    only with an argument shaped like one, so an answer that happens to start with "desa" or
    "bantuan" stays an answer."""
    stripped = text.strip()
    slashed = stripped.startswith("/")
    head, _, rest = stripped.removeprefix("/").partition(" ")
    name = head.split("@", 1)[0].lower().rstrip(".!?,")
    args = rest.strip()
    canonical = COMMAND_ALIASES.get(name)
    if not name or (canonical is None and not slashed):
        return None
    if slashed or not args:
        return Command(name=name, args=args)
    if canonical in _CODE_ARGUMENT and normalise_code(args):
        return Command(name=name, args=args)
    if canonical in _INVITE_ARGUMENT and looks_like_invite(args):
        return Command(name=name, args=args)
    return None


def to_event(item: Inbound, fetcher: Fetcher, album: str | None = None) -> Event | None:
    """The neutral event of one message; None for what the bot ignores on purpose.
    `album`: the key shared by images sent together."""
    kind, message = item.kind, item.message
    part = message.get(kind)
    part = part if isinstance(part, dict) else {}
    if kind in _IGNORED:
        return None
    if kind == "text":
        text = _storable(str(part.get("body", "")))
        return command_of(text) or Text(text)
    if kind == "interactive":
        return _interactive(part)
    if kind == "button":  # a template's quick-reply button
        return ButtonPress(str(part.get("payload", "")))
    if kind == "location":
        return _location(part)
    if kind == "image" or (kind == "document" and _is_image(part)):
        # An "uncompressed" photo sent as a file is still a photo to the resident.
        return _photo(part, fetcher, album)
    if kind == "audio":
        return Unsupported("voice" if part.get("voice") else "audio")
    if kind == "contacts":
        return _contact(message.get("contacts"))
    return Unsupported(_UNSUPPORTED.get(kind, "other"))


def _interactive(part: dict[str, Any]) -> Event:
    reply = part.get(str(part.get("type", "")))
    if part.get("type") not in ("button_reply", "list_reply") or not isinstance(reply, dict):
        return Unsupported("other")  # a flow's answer, an order: nothing this bot asks for
    payload = str(reply.get("id", ""))
    if payload.startswith(TYPED):
        return Text(_storable(payload.removeprefix(TYPED)))
    return ButtonPress(payload)


def _location(part: dict[str, Any]) -> Event:
    try:
        return Location(float(part["latitude"]), float(part["longitude"]))
    except (KeyError, TypeError, ValueError):
        return Unsupported("other")


def _is_image(part: dict[str, Any]) -> bool:
    return str(part.get("mime_type", "")).startswith("image/")


def _photo(part: dict[str, Any], fetcher: Fetcher, album: str | None) -> Event:
    media_id = _text(part.get("id"))
    if media_id is None:
        return Unsupported("other")
    caption = part.get("caption")
    return Photo(
        load=fetcher(media_id),
        media_group_id=album,
        caption=_storable(caption) if isinstance(caption, str) else None,
    )


def _contact(cards: Any) -> Event:
    for card in _list(cards):
        for phone in _list(card.get("phones") if isinstance(card, dict) else None):
            if isinstance(phone, dict) and _text(phone.get("phone")):
                return Contact(str(phone["phone"])[:32])
    return Unsupported("other")
