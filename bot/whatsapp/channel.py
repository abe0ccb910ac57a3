"""The running WhatsApp channel: signed webhooks in, one message at a time per person, replies
out through the Cloud API (pywa's client).

Every message goes through one path (`_on_message`): per-person ordering, the photo fetched and
stored, then one unit of work that claims the message id (`wamid`), finds the person by any id
the payload carries and runs the conversation; then the message is marked read and the replies
are sent. A failure rolls the unit back, so a redelivered message is processed in full.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

import httpx
from pywa_async import WhatsApp, types
from pywa_async.errors import WhatsAppError

import locales
from backend.domain import MAX_PHOTO_BYTES
from backend.errors import PhotoRejected, Unavailable
from backend.services.media import StoredPhoto
from backend.services.wiring import Backend, Services
from bot.whatsapp.render import (
    MORE,
    OutButtons,
    OutDocument,
    Outgoing,
    OutImage,
    OutList,
    OutLocationRequest,
    OutText,
    render,
)
from bot.whatsapp.translate import CHANNEL, Inbound, messages_of, to_event
from handlers.dispatch import handle
from handlers.events import ButtonPress, Incoming, Msg, Outcome, Sender, prepared, say
from handlers.steps import Ctx, prompt_of

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/whatsapp/webhook"
ALBUM_GAP = 3  # seconds between images of one person that still count as sent together
_ALBUMS_KEPT = 10_000  # people whose last image is remembered, for the gap above
DOCUMENT_MIME = "text/plain"  # Meta takes no application/json; the JSON reads as text


class WhatsAppChannel:
    def __init__(
        self,
        backend: Backend,
        *,
        token: str,
        phone_number_id: str,
        app_secret: str,
        verify_token: str,
        api_url: str,
        api_version: str,
    ) -> None:
        self.backend = backend
        self._app_secret = app_secret.encode()
        self._verify_token = verify_token.encode()
        version = api_version.lstrip("v")
        self._session = httpx.AsyncClient(timeout=httpx.Timeout(30.0))
        self.client = WhatsApp(
            phone_id=phone_number_id,
            token=token,
            session=self._session,
            api_version=version,
            server=None,
            filter_updates=False,
        )
        # pywa pins Meta's host; the configured API URL (the stand-in in tests) goes here.
        self._session.base_url = f"{api_url.rstrip('/')}/v{version}"
        # One lock per person, dropped when no message of theirs is in flight.
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self._albums: dict[str, tuple[int, str]] = {}  # person -> (last image's time, key)

    async def close(self) -> None:
        await self._session.aclose()

    # --- the webhook's checks -------------------------------------------------------------

    def verifies(self, token: str) -> bool:
        """The subscription handshake's `hub.verify_token` is ours."""
        return hmac.compare_digest(token.encode(), self._verify_token)

    def signed(self, body: bytes, signature: str) -> bool:
        """`X-Hub-Signature-256` is the HMAC-SHA256 of the raw body with the app secret."""
        expected = "sha256=" + hmac.new(self._app_secret, body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(signature.encode(), expected.encode())

    # --- entry point ----------------------------------------------------------------------

    async def feed(self, payload: dict[str, Any]) -> None:
        """Process one webhook payload, its messages in order.

        Raises `Unavailable` when the database did not answer: the caller must not
        acknowledge the payload, so that Meta delivers it again (what was already stored
        is then recognised by its message id and not redone)."""
        items, statuses = messages_of(payload)
        if statuses:
            # Sent, delivered, read, failed: acknowledged; not yet recorded on the outbox.
            log.debug("%d status update(s) acknowledged", statuses)
        albums = self._album_keys(items)
        for item in items:
            await self._on_message(item, albums.get(item.message_id))

    def _album_keys(self, items: list[Inbound]) -> dict[str, str]:
        """A shared key for images one person sent together: in one payload, or in separate
        payloads a few seconds apart (WhatsApp posts each image of a batch on its own).
        Anything else from the person ends the batch."""
        keys: dict[str, str] = {}
        for item in items:
            if item.kind not in ("image", "document"):
                if item.kind not in ("reaction", "edit", "revoke"):
                    self._albums.pop(item.person, None)
                continue
            last = self._albums.pop(item.person, None)
            key = (
                last[1] if last and 0 <= item.timestamp - last[0] <= ALBUM_GAP else item.message_id
            )
            self._albums[item.person] = (item.timestamp, key)
            keys[item.message_id] = key
        while len(self._albums) > _ALBUMS_KEPT:
            self._albums.pop(next(iter(self._albums)))
        return keys

    async def _on_message(self, item: Inbound, album: str | None) -> None:
        event = to_event(item, self._fetcher, album)
        if event is None:
            log.debug("%s message ignored on purpose", item.kind)
            return
        lock = self._locks.get(item.person)
        if lock is None:
            lock = self._locks[item.person] = asyncio.Lock()
        async with lock:
            sender = Sender(
                CHANNEL, external_id="", chat_id=item.wa_id or "", display_name=item.name
            )
            incoming = Incoming(sender=sender, event=event, message_ref=item.message_id)
            incoming = await prepared(incoming)  # photo stored: no transaction waits for it
            try:
                async with self.backend.unit() as services:
                    if not await services.updates.first_time_message(CHANNEL, item.message_id):
                        log.info("message seen before; not processed again")
                        return
                    outcome, chat_id, page = await self._run(item, incoming, services)
            except Unavailable:
                log.warning("message not stored: database unavailable")
                raise
            except Exception:
                log.exception("message could not be handled; nothing was changed")
                await self._apologise(item)
                return
            await self._mark_read(item)
            await self._send(chat_id, render(outcome.replies, outcome.language,
                                             self.backend.media.path_of, page=page))  # fmt: skip

    async def _run(
        self, item: Inbound, incoming: Incoming, services: Services
    ) -> tuple[Outcome, str, int]:
        """The conversation's answer, the chat to send it to, and the page of a long list."""
        identity = await services.users.identify(
            CHANNEL, {"user_id": item.user_id, "wa_id": item.wa_id}, chat_id=item.wa_id
        )
        incoming = replace(
            incoming,
            sender=replace(incoming.sender, external_id=identity.external_id,
                           chat_id=identity.chat_id),
        )  # fmt: skip
        event = incoming.event
        if isinstance(event, ButtonPress) and event.payload.startswith(MORE):
            page = event.payload.removeprefix(MORE)
            return await _current_prompt(incoming, services), identity.chat_id, _page(page)
        return await handle(incoming, services), identity.chat_id, 0

    # --- sending --------------------------------------------------------------------------

    async def _send(self, chat_id: str, messages: list[Outgoing]) -> None:
        if not chat_id:
            # Known only by the business-scoped id so far: v23.0 sends to phone numbers only.
            log.warning("no phone number known for a person yet; reply not sent")
            return
        try:
            for message in messages:
                await self._send_one(chat_id, message)
        except (WhatsAppError, httpx.HTTPError) as error:
            log.warning("reply not sent: %s", type(error).__name__)

    async def _send_one(self, to: str, message: Outgoing) -> None:
        wa = self.client
        if isinstance(message, OutText):
            await wa.send_message(to, message.body)
        elif isinstance(message, OutButtons):
            buttons = [types.Button(title, callback_data=id_) for id_, title in message.buttons]
            await wa.send_message(to, message.body, buttons=buttons)
        elif isinstance(message, OutList):
            rows = [
                types.SectionRow(title=title, callback_data=id_, description=description)
                for id_, title, description in message.rows
            ]
            section = types.Section(title=message.button, rows=rows)
            await wa.send_message(
                to, message.body, buttons=types.SectionList(message.button, [section])
            )
        elif isinstance(message, OutLocationRequest):
            await wa.request_location(to, message.body)
        elif isinstance(message, OutImage):
            media = await wa.upload_media(
                message.path.read_bytes(), mime_type="image/jpeg", filename=message.path.name
            )
            await wa.send_image(to, media.id, caption=message.caption)
        elif isinstance(message, OutDocument):
            media = await wa.upload_media(
                message.data, mime_type=DOCUMENT_MIME, filename=message.filename
            )
            await wa.send_document(to, media.id, filename=message.filename, caption=message.caption)

    async def _mark_read(self, item: Inbound) -> None:
        try:
            await self.client.mark_message_as_read(item.message_id)
        except (WhatsAppError, httpx.HTTPError) as error:
            log.info("could not mark a message read: %s", type(error).__name__)

    async def _apologise(self, item: Inbound) -> None:
        if item.wa_id is None:
            return
        replies = render([say(Msg("common.error"))], locales.DEFAULT, self.backend.media.path_of)
        await self._send(item.wa_id, replies)

    # --- photos ---------------------------------------------------------------------------

    def _fetcher(self, media_id: str) -> Callable[[], Awaitable[StoredPhoto]]:
        async def load() -> StoredPhoto:
            try:
                found = await self.client.get_media_url(media_id)
                if int(found.file_size or 0) > MAX_PHOTO_BYTES:
                    raise PhotoRejected("too_large")
                if not str(found.mime_type or "").startswith("image/"):
                    raise PhotoRejected("not_image")
                data = await self.client.get_media_bytes(found.url, timeout=60)
            except PhotoRejected:
                raise
            except Exception as exc:  # noqa: BLE001 - a failed download: "send it once more"
                log.warning("photo download failed: %s", type(exc).__name__)
                raise PhotoRejected("download_failed") from None
            return await self.backend.media.store_photo(data)

        return load


def _page(text: str) -> int:
    return int(text) if text.isdigit() and len(text) < 4 else 0


async def _current_prompt(incoming: Incoming, services: Services) -> Outcome:
    """The question the person's conversation is at, asked again (another page of its list).
    Nothing changes: the conversation is read, not saved."""
    sender = incoming.sender
    user = await services.users.get_or_create(
        channel=sender.channel,
        external_id=sender.external_id,
        chat_id=sender.chat_id,
        language_hint=sender.language_code,
    )
    conversation = await services.conversations.load(user.id)
    return Outcome(prompt_of(Ctx(services, user, conversation, incoming)), user.language)
