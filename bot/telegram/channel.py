"""The running Telegram channel: polling or webhook, ordering, deduplication, photos.

Every update goes through one path (`_on_update`): per-chat ordering, then one unit of work
that claims the update id and runs the conversation, then the replies are sent. A failure
rolls the unit back, so the draft stays as it was and a retried update is processed in full.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

import aiohttp
from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest, TelegramForbiddenError
from aiogram.methods import Response
from aiogram.types import (
    BotCommand,
    BotCommandScopeDefault,
    File,
    Message,
    TelegramObject,
    Update,
    User,
)

import locales
from backend.domain import MAX_AUDIO_BYTES, MAX_AUDIO_SECONDS, MAX_PHOTO_BYTES
from backend.errors import AudioRejected, DomainError, PhotoRejected, Unavailable
from backend.services.media import StoredPhoto
from backend.services.transcription import Heard
from backend.services.wiring import Backend
from bot.telegram.render import REPLY_FLOOD_WAIT, callback_answer, send_replies
from bot.telegram.translate import CHANNEL, chat_key, to_incoming
from handlers.dispatch import MENU_COMMANDS, handle
from handlers.events import Audio, Incoming, Msg, prepared, say
from handlers.voice import listens

log = logging.getLogger(__name__)

ALLOWED_UPDATES = ["message", "callback_query", "my_chat_member"]

# aiogram parses every Bot API answer into Response[T]; pydantic caches those generic types
# only weakly, so a garbage collection can make the next call rebuild them. Hold on to the
# ones this bot uses.
_RESPONSE_TYPES = tuple(
    Response[kind]  # type: ignore[valid-type]
    for kind in (Message, bool, list[Message], File, User, list[BotCommand])
)
WEBHOOK_PATH = "/telegram/webhook"
POLL_TIMEOUT = 25  # seconds getUpdates waits for news
POLL_PAUSE_MIN, POLL_PAUSE_MAX = 1.0, 5.0  # backoff while Telegram or the database is away


class TelegramChannel:
    def __init__(self, backend: Backend, *, token: str, api_url: str) -> None:
        self.backend = backend
        session = AiohttpSession(api=TelegramAPIServer.from_base(api_url.rstrip("/")))
        self.bot = Bot(token=token, session=session)
        # Conversation state lives in the database; aiogram's in-memory FSM would only keep
        # an empty record for every person ever seen, for the life of the process.
        self.dispatcher = Dispatcher(disable_fsm=True)
        self.dispatcher.update.outer_middleware(self._in_chat_order)
        for observer in (
            self.dispatcher.message,
            self.dispatcher.callback_query,
            self.dispatcher.my_chat_member,
        ):
            observer.register(self._on_event)
        # One lock per chat, dropped when no update of that chat is in flight.
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self._polling: asyncio.Task[None] | None = None
        self.answers_in_webhook_body = False

    # --- lifecycle ----------------------------------------------------------------------

    async def set_commands(self) -> None:
        me = await self.bot.get_me()
        self.backend.bot_username = me.username  # invite deep links name the bot
        for language in locales.LANGUAGES:
            commands = [
                BotCommand(command=name, description=locales.t(language, f"menu.{name}"))
                for name in MENU_COMMANDS
            ]
            await self.bot.set_my_commands(
                commands,
                scope=BotCommandScopeDefault(),
                language_code=None if language == locales.DEFAULT else language,
            )

    async def start_webhook(self, public_url: str, secret: str) -> None:
        self.answers_in_webhook_body = True
        await self.bot.set_webhook(
            url=public_url.rstrip("/") + WEBHOOK_PATH,
            secret_token=secret,
            allowed_updates=ALLOWED_UPDATES,
        )
        log.info("Telegram webhook set at %s%s", public_url.rstrip("/"), WEBHOOK_PATH)

    async def start_polling(self) -> None:
        await self.bot.delete_webhook(drop_pending_updates=False)
        self._polling = asyncio.create_task(self._poll())

    async def close(self) -> None:
        if self._polling is not None:
            self._polling.cancel()
            await asyncio.gather(self._polling, return_exceptions=True)
        await self.bot.session.close()

    async def _poll(self) -> None:
        """Long polling that confirms an update only once it was stored.

        aiogram's own loop moves the offset past every update it fetched, processed or not;
        here the offset stops at the first update the database could not take, so getUpdates
        hands it (and those after it, which the update-id claim then skips) back next time.
        """
        offset: int | None = None
        pause = POLL_PAUSE_MIN
        while True:
            try:
                updates = await self.bot.get_updates(
                    offset=offset, timeout=POLL_TIMEOUT, allowed_updates=ALLOWED_UPDATES
                )
            except (TelegramAPIError, aiohttp.ClientError, TimeoutError) as error:
                log.warning("getUpdates failed (%s); trying again", type(error).__name__)
                await asyncio.sleep(pause)
                pause = min(pause * 2, POLL_PAUSE_MAX)
                continue
            if not updates:
                continue
            failed = await self._process_batch(updates)
            if failed is None:
                offset = updates[-1].update_id + 1
                pause = POLL_PAUSE_MIN
                continue
            offset = failed
            log.warning("database unavailable; update %s will be fetched again", failed)
            await asyncio.sleep(pause)
            pause = min(pause * 2, POLL_PAUSE_MAX)

    async def _process_batch(self, updates: list[Update]) -> int | None:
        """Process one getUpdates batch: chats side by side, each chat's updates in order.
        Returns the first update id that could not be stored, or None."""
        by_chat: dict[str, list[Update]] = {}
        for update in updates:
            by_chat.setdefault(chat_key(update) or f"update:{update.update_id}", []).append(
                update
            )

        async def run_chat(chat_updates: list[Update]) -> int | None:
            for update in chat_updates:
                try:
                    await self.feed(update)
                except Unavailable:
                    return update.update_id  # the rest of this chat waits, to stay in order
            return None

        failures = await asyncio.gather(*(run_chat(group) for group in by_chat.values()))
        return min((f for f in failures if f is not None), default=None)

    # --- entry points -------------------------------------------------------------------

    async def feed(self, update: Update) -> dict[str, Any] | None:
        """Process one update (the webhook calls this). Returns the method the webhook
        response should carry (a button press's answer), if any.

        Raises `Unavailable` when the database did not answer: nothing was stored, and the
        caller must not acknowledge the update, so that Telegram delivers it again.
        """
        try:
            answer = await self.dispatcher.feed_update(self.bot, update)
        except Unavailable:
            raise
        except Exception:
            log.exception("update %s failed", update.update_id)
            return None
        return answer if isinstance(answer, dict) else None

    async def _in_chat_order(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        # Reached without any await since the update arrived, so the lock is queued for in
        # arrival order; asyncio locks wake waiters first come, first served.
        assert isinstance(event, Update)
        key = chat_key(event)
        if key is None:
            # Not `event.event_type`: it raises for update kinds newer than this aiogram.
            log.debug("update %s ignored on purpose", event.update_id)
            return None
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        async with lock:
            return await handler(event, data)

    async def _on_event(self, event: TelegramObject, event_update: Update) -> Any:
        return await self._on_update(event_update)

    async def _on_update(self, update: Update) -> dict[str, Any] | None:
        if update.my_chat_member is not None:
            await self._on_member_change(update)
            return None
        listener = self._listener if self.backend.transcriber.available else None
        incoming = to_incoming(update, self._fetcher, listener)
        if incoming is None:
            return None
        callback_id = update.callback_query.id if update.callback_query else None
        if isinstance(incoming.event, Audio):
            incoming = await self._before_listening(incoming)
        incoming = await prepared(incoming)  # photo stored, voice heard: no transaction waits
        try:
            async with self.backend.unit() as services:
                if not await services.updates.first_time(CHANNEL, update.update_id):
                    log.info("update %s seen before; not processed again", update.update_id)
                    return None
                outcome = await handle(incoming, services)
        except Unavailable:
            # Not the resident's fault and nothing was kept: no apology that says otherwise.
            # The update is not acknowledged, so Telegram delivers it again.
            log.warning("update %s not stored: database unavailable", update.update_id)
            raise
        except Exception:
            log.exception("update %s could not be handled; nothing was changed", update.update_id)
            await self._apologise(
                incoming.sender.chat_id, incoming.sender.language_code, callback_id
            )
            return None
        # Behind a webhook a button press is answered in the response body: one Bot API
        # call fewer for every press.
        in_body = callback_id is not None and self.answers_in_webhook_body
        try:
            await send_replies(
                self.bot,
                int(incoming.sender.chat_id),
                outcome.replies,
                outcome.language,
                None if in_body else callback_id,
                media=self.backend.media.path_of,
                flood_wait=REPLY_FLOOD_WAIT,
            )
        except TelegramForbiddenError:
            await self._set_reachable(incoming.sender.external_id, reachable=False)
        if in_body and callback_id is not None:
            return callback_answer(outcome.language, outcome.replies, callback_id)
        return None

    async def _apologise(
        self, chat_id: str, language_code: str | None, callback_id: str | None
    ) -> None:
        language = "en" if (language_code or "").startswith("en") else locales.DEFAULT
        try:
            await send_replies(
                self.bot,
                int(chat_id),
                [say(Msg("common.error"))],
                language,
                callback_id,
                flood_wait=REPLY_FLOOD_WAIT,
            )
        except TelegramAPIError:
            log.warning("could not tell chat about the failure")

    async def _on_member_change(self, update: Update) -> None:
        member = update.my_chat_member
        assert member is not None
        status = member.new_chat_member.status
        reachable = status not in {"kicked", "left"}
        async with self.backend.unit() as services:
            if not await services.updates.first_time(CHANNEL, update.update_id):
                return
            external_id = str(member.from_user.id)
            known = await services.users.set_reachable(CHANNEL, external_id, reachable)
            if reachable:  # notifications parked while they had blocked the bot go out now
                await services.delivery.resume_external(CHANNEL, external_id)
        log.info(
            "bot %s by a %s user",
            "unblocked" if reachable else "blocked",
            "known" if known else "new",
        )

    async def _set_reachable(self, external_id: str, *, reachable: bool) -> None:
        # The update itself is stored already; failing here would only get it redelivered
        # and skipped, so a lost "blocked" mark is noted and left to the delivery worker,
        # which learns the same from its next 403.
        try:
            async with self.backend.unit() as services:
                await services.users.set_reachable(CHANNEL, external_id, reachable)
        except Unavailable:
            log.warning("could not mark a chat unreachable: database unavailable")

    # --- voice notes --------------------------------------------------------------------

    async def _before_listening(self, incoming: Incoming) -> Incoming:
        """Hear a voice note only where the conversation takes one, and say "listening" at
        once: the transcript takes seconds. Elsewhere the step answers without it."""
        event = incoming.event
        assert isinstance(event, Audio)
        async with self.backend.unit() as services:
            language = await listens(incoming, services)
        too_long = (event.duration or 0) > MAX_AUDIO_SECONDS
        if language is None or too_long:
            reason = "too_long" if too_long else "not_here"

            async def refused() -> Heard:
                raise AudioRejected(reason)

            return replace(incoming, event=replace(event, load=refused))
        try:
            await send_replies(
                self.bot,
                int(incoming.sender.chat_id),
                [say(Msg("voice.listening", {"max": MAX_AUDIO_SECONDS}))],
                language,
                None,
                flood_wait=REPLY_FLOOD_WAIT,
            )
        except TelegramAPIError:
            log.warning("could not say 'listening'; the transcript follows anyway")
        return incoming

    def _listener(self, file_id: str) -> Callable[[], Awaitable[Heard]]:
        async def load() -> Heard:
            data = await self._download(file_id, MAX_AUDIO_BYTES, AudioRejected, "not_audio",
                                        bad_request="download_failed")  # fmt: skip
            return await self.backend.transcriber.listen(data, self.backend.media)

        return load

    # --- photos -------------------------------------------------------------------------

    def _fetcher(self, file_id: str) -> Callable[[], Awaitable[StoredPhoto]]:
        async def load() -> StoredPhoto:
            data = await self._download(file_id, MAX_PHOTO_BYTES, PhotoRejected, "not_image",
                                        bad_request="not_image")  # fmt: skip
            return await self.backend.media.store_photo(data)

        return load

    async def _download(
        self,
        file_id: str,
        limit: int,
        refused: Callable[[str], DomainError],
        unusable: str,
        *,
        bad_request: str,
    ) -> bytes:
        """A file the person sent, through getFile (outside any transaction), or the
        polite refusal: `too_large`, `unusable` (no file to fetch), `bad_request` (Telegram
        would not hand it out), `download_failed` (the network)."""
        try:
            file = await self.bot.get_file(file_id)
            if (file.file_size or 0) > limit or not file.file_path:
                raise refused("too_large" if file.file_path else unusable)
            buffer = await self.bot.download_file(file.file_path, timeout=60)
            assert buffer is not None
            return buffer.read()
        except DomainError:
            raise
        except TelegramBadRequest as exc:
            too_big = "too big" in exc.message.lower()
            raise refused("too_large" if too_big else bad_request) from None
        except Exception as exc:  # noqa: BLE001 - a failed download: "send it once more"
            log.warning("download of a sent file failed: %s", type(exc).__name__)
            raise refused("download_failed") from None
