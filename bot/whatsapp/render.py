"""Neutral replies -> Cloud API messages, in the reader's language, within WhatsApp's limits.

Rendering is pure: it returns `Outgoing` values the channel sends. How many choices fit, and
how long a title may be, comes from the limits table (`bot.whatsapp.limits`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import locales
from bot.telegram.render import label, split_text, text_of
from bot.whatsapp.limits import WHATSAPP, Limits
from bot.whatsapp.translate import TYPED
from handlers.events import Document, Photos, Reply, Say

MORE = "more:"  # the id of a list's "Lainnya" row: `more:<page>`


@dataclass(frozen=True)
class OutText:
    body: str


@dataclass(frozen=True)
class OutButtons:
    body: str
    buttons: tuple[tuple[str, str], ...]  # (id, title)


@dataclass(frozen=True)
class OutList:
    body: str
    button: str
    rows: tuple[tuple[str, str, str | None], ...]  # (id, title, description)


@dataclass(frozen=True)
class OutLocationRequest:
    body: str


@dataclass(frozen=True)
class OutImage:
    path: Path
    caption: str | None


@dataclass(frozen=True)
class OutDocument:
    filename: str
    data: bytes
    caption: str | None


Outgoing = OutText | OutButtons | OutList | OutLocationRequest | OutImage | OutDocument


def shorten(text: str, limit: int) -> str:
    """`text` within `limit` characters, cut at a word boundary with an ellipsis."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if text[len(cut)] != " " and space >= limit // 2:  # mid-word: back to the last space
        cut = cut[:space]
    return cut.rstrip(" ,.;:-(/") + "…"


def render(
    replies: list[Reply],
    language: str,
    media: Callable[[str], Path],
    *,
    page: int = 0,
    limits: Limits = WHATSAPP,
) -> list[Outgoing]:
    """`page`: which page of a long list of choices to show (a "Lainnya" row asks for it).
    A toast (`Notice`) has no WhatsApp equivalent and is dropped."""
    out: list[Outgoing] = []
    for reply in replies:
        if isinstance(reply, Say):
            out.extend(_say(reply, language, page, limits))
        elif isinstance(reply, Photos):
            out.extend(_photos(reply, language, media, limits))
        elif isinstance(reply, Document):
            caption = label(language, reply.caption) if reply.caption else None
            out.append(OutDocument(reply.filename, reply.data, _cut(caption, limits.caption)))
    return out


def _cut(text: str | None, limit: int) -> str | None:
    return None if text is None else text[:limit]


def _say(reply: Say, language: str, page: int, limits: Limits) -> list[Outgoing]:
    buttons = [b for row in reply.buttons for b in row]
    buttons.sort(key=lambda b: not b.primary)  # stable: the main answer first, then the rest
    choices = [(b.payload, label(language, b.label)) for b in buttons]
    interactive = bool(choices) or reply.request_location is not None
    chunks = split_text(text_of(language, reply), limits.text)
    if interactive and len(chunks[-1]) > limits.interactive_body:
        chunks[-1:] = split_text(chunks[-1], limits.interactive_body)
    out: list[Outgoing] = [OutText(chunk) for chunk in (chunks[:-1] if interactive else chunks)]
    if not interactive:
        return out
    body = chunks[-1]
    if choices:
        out.append(_choices(body, choices, language, page, limits))
    if reply.request_location is not None:
        asked = body if not choices else label(language, reply.request_location)
        out.append(OutLocationRequest(asked[: limits.interactive_body]))
        if reply.skip is not None:
            skip = label(language, reply.skip)
            hint = locales.t(language, "whatsapp.skip_hint", {"skip": skip})
            button = (f"{TYPED}{skip}"[: limits.button_id], shorten(skip, limits.button_title))
            out.append(OutButtons(hint[: limits.interactive_body], (button,)))
    return out


def _choices(
    body: str, choices: list[tuple[str, str]], language: str, page: int, limits: Limits
) -> Outgoing:
    titles = [shorten(title, limits.button_title) for _, title in choices]
    fits = all(short == " ".join(t.split()) for short, (_, t) in zip(titles, choices, strict=True))
    if (
        len(choices) <= limits.reply_buttons
        and fits
        and len(set(titles)) == len(titles)
        and all(len(payload) <= limits.button_id for payload, _ in choices)
    ):
        return OutButtons(body, tuple((p, t) for (p, _), t in zip(choices, titles, strict=True)))
    shown, more = _page(choices, page, limits.list_rows)
    rows = [_row(payload, title, limits) for payload, title in shown]
    if more:
        remaining = len(choices) - more
        title = shorten(locales.t(language, "whatsapp.more"), limits.row_title)
        description = locales.t(language, "whatsapp.more_description", {"count": remaining})
        page_of = more // (limits.list_rows - 1)
        rows.append((f"{MORE}{page_of}", title, shorten(description, limits.row_description)))
    button = shorten(locales.t(language, "whatsapp.choose"), limits.list_button)
    return OutList(_with_full_titles(body, shown, limits), button, tuple(rows))


def _with_full_titles(body: str, shown: list[tuple[str, str]], limits: Limits) -> str:
    """Titles longer than even a row's description are written out in the body, room given."""
    long = [
        " ".join(t.split()) for _, t in shown if len(" ".join(t.split())) > limits.row_description
    ]
    if not long:
        return body
    listed = body + "\n\n" + "\n".join(f"• {title}" for title in long)
    return listed if len(listed) <= limits.interactive_body else body


def _page(
    choices: list[tuple[str, str]], page: int, rows: int
) -> tuple[list[tuple[str, str]], int]:
    """The choices of `page`, and where the next page starts (0: this is the last).
    A page shows `rows - 1` choices and a "Lainnya" row, the last page up to `rows`."""
    if len(choices) <= rows:
        return choices, 0
    per = rows - 1
    start = page * per if 0 <= page * per < len(choices) else 0
    rest = choices[start:]
    if len(rest) <= rows:
        return rest, 0
    return rest[:per], start + per


def _row(payload: str, title: str, limits: Limits) -> tuple[str, str, str | None]:
    whole = " ".join(title.split())
    short = shorten(whole, limits.row_title)
    description = None if short == whole else shorten(whole, limits.row_description)
    return payload[: limits.row_id], short, description


def _photos(
    reply: Photos, language: str, media: Callable[[str], Path], limits: Limits
) -> list[Outgoing]:
    files = [media(h) for h in reply.hashes if media(h).is_file()]
    caption = None
    if reply.caption is not None:
        caption = locales.t(language, reply.caption.key, reply.caption.params)[: limits.caption]
    # WhatsApp has no albums: one image each, the caption on the first.
    return [OutImage(path, caption if i == 0 else None) for i, path in enumerate(files)]
