"""Neutral replies -> Bot API calls, rendered in the reader's language."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiogram import Bot
from aiogram.exceptions import TelegramRetryAfter
from aiogram.types import (
    BufferedInputFile,
    FSInputFile,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaPhoto,
    KeyboardButton,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
)

import locales
from handlers.events import Button, Document, Label, Msg, Notice, Photos, Reply, Say

MAX_TEXT = 4096  # Telegram's limit for one message
MAX_CAPTION = 1024
# A conversation's answer held back by flood control is resent after the wait Telegram asks
# for, unless that wait is longer than a person would sit looking at the chat.
FLOOD_RETRIES = 3
REPLY_FLOOD_WAIT = 30  # seconds


def label(language: str, value: Label) -> str:
    return locales.t(language, value.key, value.params) if isinstance(value, Msg) else value


def text_of(language: str, message: Say) -> str:
    return "\n\n".join(locales.t(language, part.key, part.params) for part in message.parts)


def _button(language: str, button: Button) -> InlineKeyboardButton:
    # Labels have no hard limit; a very long one (a desa named with its kecamatan and
    # kabupaten/kota in a whole-country deployment) is cut where a phone still shows it.
    return InlineKeyboardButton(
        text=label(language, button.label)[:120], callback_data=button.payload
    )


def markup(
    language: str, message: Say
) -> InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove | None:
    if message.buttons:
        rows = [[_button(language, b) for b in row] for row in message.buttons]
        return InlineKeyboardMarkup(inline_keyboard=rows)
    if message.request_location is not None:
        keyboard = [
            [KeyboardButton(text=label(language, message.request_location), request_location=True)]
        ]
        if message.skip is not None:
            keyboard.append([KeyboardButton(text=label(language, message.skip))])
        return ReplyKeyboardMarkup(keyboard=keyboard, resize_keyboard=True, one_time_keyboard=True)
    if message.clear_keyboard:
        return ReplyKeyboardRemove()
    return None


def utf16_len(text: str) -> int:
    """Telegram measures text in UTF-16 code units: an emoji such as 🚧 counts as two."""
    return len(text) if text.isascii() else len(text.encode("utf-16-le")) // 2


def _fitting(line: str, limit: int) -> int:
    """How many characters from the start of `line` fit in `limit` UTF-16 units."""
    units = 0
    for i, char in enumerate(line):
        units += 2 if ord(char) > 0xFFFF else 1
        if units > limit:
            return i
    return len(line)


def split_text(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Split at line breaks so no message passes Telegram's limit."""
    if utf16_len(text) <= limit:
        return [text]
    chunks: list[str] = []
    current = ""
    for line in text.split("\n"):
        while utf16_len(line) > limit:
            cut = _fitting(line, limit)
            chunks.append(line[:cut])
            line = line[cut:]
        if current and utf16_len(current) + 1 + utf16_len(line) > limit:
            chunks.append(current)
            current = line
        else:
            current = f"{current}\n{line}" if current else line
    if current:
        chunks.append(current)
    return chunks


def callback_answer(language: str, replies: list[Reply], callback_query_id: str) -> dict[str, Any]:
    """The answerCallbackQuery for a button press, as a method a webhook response can carry."""
    notice = next((r for r in replies if isinstance(r, Notice)), None)
    answer: dict[str, Any] = {
        "method": "answerCallbackQuery",
        "callback_query_id": callback_query_id,
    }
    if notice is not None:
        answer["text"] = locales.t(language, notice.text.key, notice.text.params)[:200]
    return answer


async def send_replies(
    bot: Bot,
    chat_id: int | str,
    replies: list[Reply],
    language: str,
    callback_query_id: str | None = None,
    media: Callable[[str], Path] | None = None,
    flood_wait: int = 0,
) -> None:
    """Send in order. A button press is always answered, so the client stops its spinner.

    `media` maps a stored photo's hash to its file, for `Photos` replies. `flood_wait` is the
    longest "retry after" sat out before a message is sent again; beyond it (and with the
    default 0, for the delivery worker, which reschedules instead) TelegramRetryAfter is
    raised."""
    notice = next((r for r in replies if isinstance(r, Notice)), None)
    if callback_query_id is not None:
        await bot.answer_callback_query(
            callback_query_id,
            text=locales.t(language, notice.text.key, notice.text.params)[:200] if notice else None,
        )
    for reply in replies:
        if isinstance(reply, Photos):
            if media is not None:
                await _send_photos(bot, chat_id, reply, language, media)
            continue
        if isinstance(reply, Document):
            caption = label(language, reply.caption)[:MAX_CAPTION] if reply.caption else None
            await bot.send_document(
                chat_id, BufferedInputFile(reply.data, reply.filename), caption=caption
            )
            continue
        if not isinstance(reply, Say):
            continue
        chunks = split_text(text_of(language, reply))
        for i, chunk in enumerate(chunks):
            last = i == len(chunks) - 1
            reply_markup = markup(language, reply) if last else None
            await _send_message(bot, chat_id, chunk, reply_markup, flood_wait)


async def _send_message(
    bot: Bot,
    chat_id: int | str,
    text: str,
    reply_markup: InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove | None,
    flood_wait: int,
) -> None:
    """sendMessage; when Telegram's flood control answers "retry after N" (N <= flood_wait),
    wait N seconds and send again. A 429 means nothing was delivered, so resending cannot
    duplicate; the wait holds only this chat, which Telegram is slowing down anyway."""
    for attempt in range(FLOOD_RETRIES + 1):
        try:
            await bot.send_message(chat_id, text, reply_markup=reply_markup)
            return
        except TelegramRetryAfter as exc:
            if attempt == FLOOD_RETRIES or exc.retry_after > flood_wait:
                raise
            await asyncio.sleep(exc.retry_after)


async def _send_photos(
    bot: Bot, chat_id: int | str, reply: Photos, language: str, media: Callable[[str], Path]
) -> None:
    files = [media(h) for h in reply.hashes if media(h).is_file()]
    if not files:
        return
    caption = None
    if reply.caption is not None:
        caption = locales.t(language, reply.caption.key, reply.caption.params)[:MAX_CAPTION]
    if len(files) == 1:
        await bot.send_photo(chat_id, FSInputFile(files[0]), caption=caption)
        return
    album = [
        InputMediaPhoto(media=FSInputFile(path), caption=caption if i == 0 else None)
        for i, path in enumerate(files[:10])
    ]
    await bot.send_media_group(chat_id, album)  # type: ignore[arg-type]
