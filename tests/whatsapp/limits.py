"""Limits of the Cloud API that Meta documents but its OpenAPI file does not state, each with
the error code Meta answers (see ../shared/whatsapp/SOURCE.md; summarised in SOURCE.md here).

Every check is written defensively: it looks only at parts of the right type and leaves
everything else to the schema, so it can run first and answer with Meta's specific code.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

__all__ = ["TEXT_LIMIT", "Refusal", "message_refusals", "template_refusals"]

TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
INTERACTIVE_BODY_LIMIT = 1024
HEADER_LIMIT = 60
FOOTER_LIMIT = 60
MAX_BUTTONS = 3
BUTTON_TITLE_LIMIT = 20
BUTTON_ID_LIMIT = 256
LIST_BUTTON_LIMIT = 20
MAX_SECTIONS = 10
MAX_ROWS = 10
ROW_TITLE_LIMIT = 24
ROW_DESCRIPTION_LIMIT = 72
ROW_ID_LIMIT = 200
SECTION_TITLE_LIMIT = 24

INVALID_PARAMETER = 100
PARAMETER_VALUE_INVALID = 131009
TEMPLATE_PARAM_COUNT = 132000
TEMPLATE_PARAM_FORMAT = 132018

_CAPTIONED = frozenset({"image", "video", "document"})
_UNCAPTIONED = frozenset({"audio", "sticker"})
_TEMPLATE_PARAM_BAD = re.compile(r"[\n\t]| {5,}")

Refusal = tuple[int, str]  # (Meta error code, error_data.details)


def message_refusals(body: dict[str, Any]) -> list[Refusal]:
    """Documented limits ``body`` breaks, in the order Meta reports them."""
    kind = body.get("type", "text")
    part = body.get(kind) if isinstance(kind, str) else None
    if not isinstance(part, dict):
        return []
    if kind == "text":
        return list(_text(part))
    if kind in _CAPTIONED or kind in _UNCAPTIONED:
        return list(_media(kind, part))
    if kind == "interactive":
        return list(_interactive(part))
    return []


def _too_long(value: Any, limit: int, minimum: int = 1) -> bool:
    return isinstance(value, str) and not minimum <= len(value) <= limit


def _text(text: dict[str, Any]) -> Iterator[Refusal]:
    body = text.get("body")
    if not isinstance(body, str) or not body:
        yield INVALID_PARAMETER, "The parameter text['body'] is required."
    elif len(body) > TEXT_LIMIT:
        yield INVALID_PARAMETER, f"Param text['body'] must be at most {TEXT_LIMIT} characters long."


def _media(kind: str, media: dict[str, Any]) -> Iterator[Refusal]:
    caption = media.get("caption")
    if caption is not None and kind in _UNCAPTIONED:
        yield INVALID_PARAMETER, f'Unexpected key "caption" on param "{kind}".'
    elif _too_long(caption, CAPTION_LIMIT, 0):
        yield (
            INVALID_PARAMETER,
            f"Param {kind}['caption'] must be at most {CAPTION_LIMIT} characters long.",
        )
    link = media.get("link")
    if isinstance(link, str) and not link.startswith(("http://", "https://")):
        yield INVALID_PARAMETER, f"Param {kind}['link'] must be an HTTP or HTTPS URL."
    if "id" in media and "link" in media:
        yield INVALID_PARAMETER, f"Param {kind} takes either id or link, not both."


def _interactive(obj: dict[str, Any]) -> Iterator[Refusal]:
    kind = obj.get("type")
    body = obj.get("body")
    body_text = body.get("text") if isinstance(body, dict) else None
    if kind in ("button", "list", "location_request_message") and not body_text:
        yield PARAMETER_VALUE_INVALID, f"The parameter interactive['body'] is required for {kind}."
    elif _too_long(body_text, INTERACTIVE_BODY_LIMIT):
        yield (
            PARAMETER_VALUE_INVALID,
            f"Body text length invalid. Min length: 1, Max length: {INTERACTIVE_BODY_LIMIT}",
        )
    yield from _header_footer(obj, kind)
    action = obj.get("action")
    if not isinstance(action, dict):
        return
    if kind == "button":
        yield from _buttons(action.get("buttons"))
    elif kind == "list":
        yield from _list(action)
    elif kind == "location_request_message" and action.get("name") != "send_location":
        yield PARAMETER_VALUE_INVALID, "A location request's action name must be send_location."


def _header_footer(obj: dict[str, Any], kind: Any) -> Iterator[Refusal]:
    header = obj.get("header")
    if isinstance(header, dict):
        if kind == "location_request_message":
            yield PARAMETER_VALUE_INVALID, "A location request message takes no header."
        elif kind == "list" and header.get("type") != "text":
            yield PARAMETER_VALUE_INVALID, "A list message header must be of type text."
        if _too_long(header.get("text"), HEADER_LIMIT):
            yield (
                PARAMETER_VALUE_INVALID,
                f"Header text length invalid. Min length: 1, Max length: {HEADER_LIMIT}",
            )
    footer = obj.get("footer")
    if isinstance(footer, dict) and _too_long(footer.get("text"), FOOTER_LIMIT):
        yield (
            PARAMETER_VALUE_INVALID,
            f"Footer text length invalid. Min length: 1, Max length: {FOOTER_LIMIT}",
        )


def _buttons(buttons: Any) -> Iterator[Refusal]:
    if not isinstance(buttons, list):
        return
    if not 1 <= len(buttons) <= MAX_BUTTONS:
        yield (
            PARAMETER_VALUE_INVALID,
            f"Invalid buttons count. Min allowed buttons: 1, Max allowed buttons: {MAX_BUTTONS}",
        )
    replies = [
        b["reply"] for b in buttons if isinstance(b, dict) and isinstance(b.get("reply"), dict)
    ]
    titles = [r.get("title") for r in replies]
    ids = [r.get("id") for r in replies]
    if any(_too_long(t, BUTTON_TITLE_LIMIT) for t in titles):
        yield (
            PARAMETER_VALUE_INVALID,
            f"Button title length invalid. Min length: 1, Max length: {BUTTON_TITLE_LIMIT}",
        )
    if any(_too_long(i, BUTTON_ID_LIMIT) for i in ids):
        yield (
            PARAMETER_VALUE_INVALID,
            f"Button ID length invalid. Min length: 1, Max length: {BUTTON_ID_LIMIT}",
        )
    if len(set(map(str, titles))) < len(titles):
        yield PARAMETER_VALUE_INVALID, "Button titles must be unique."
    if len(set(map(str, ids))) < len(ids):
        yield PARAMETER_VALUE_INVALID, "Button IDs must be unique."


def _list(action: dict[str, Any]) -> Iterator[Refusal]:
    if _too_long(action.get("button"), LIST_BUTTON_LIMIT):
        yield (
            PARAMETER_VALUE_INVALID,
            f"Button text length invalid. Min length: 1, Max length: {LIST_BUTTON_LIMIT}",
        )
    sections = action.get("sections")
    if not isinstance(sections, list):
        return
    if not 1 <= len(sections) <= MAX_SECTIONS:
        yield (
            PARAMETER_VALUE_INVALID,
            f"Invalid number of sections. Min: 1, Max: {MAX_SECTIONS}",
        )
    sections = [s for s in sections if isinstance(s, dict)]
    for s in sections:
        title = s.get("title")
        if title is None and len(sections) > 1:
            yield PARAMETER_VALUE_INVALID, "Section title is required when there are several."
        elif _too_long(title, SECTION_TITLE_LIMIT):
            yield (
                PARAMETER_VALUE_INVALID,
                f"Section title length invalid. Min length: 1, Max length: {SECTION_TITLE_LIMIT}",
            )
    rows = [r for s in sections for r in s.get("rows", []) if isinstance(r, dict)]
    yield from _rows(rows, [s for s in sections if not s.get("rows")])


def _rows(rows: list[dict[str, Any]], empty_sections: list[Any]) -> Iterator[Refusal]:
    if empty_sections:
        yield PARAMETER_VALUE_INVALID, "Each section needs at least one row."
    if len(rows) > MAX_ROWS:
        yield PARAMETER_VALUE_INVALID, f"Total row count exceed max allowed count: {MAX_ROWS}"
    if any(_too_long(r.get("title"), ROW_TITLE_LIMIT) for r in rows):
        yield (
            PARAMETER_VALUE_INVALID,
            f"Row title length invalid. Min length: 1, Max length: {ROW_TITLE_LIMIT}",
        )
    if any(_too_long(r.get("description"), ROW_DESCRIPTION_LIMIT, 0) for r in rows):
        yield (
            PARAMETER_VALUE_INVALID,
            f"Row description length invalid. Max length: {ROW_DESCRIPTION_LIMIT}",
        )
    ids = [r.get("id") for r in rows]
    if any(_too_long(i, ROW_ID_LIMIT) for i in ids):
        yield (
            PARAMETER_VALUE_INVALID,
            f"Row ID length invalid. Min length: 1, Max length: {ROW_ID_LIMIT}",
        )
    if len(set(map(str, ids))) < len(ids):
        yield PARAMETER_VALUE_INVALID, "Row IDs must be unique."


def template_refusals(template: dict[str, Any], body_params: int, buttons: int) -> list[Refusal]:
    """Parameters of a template message that do not fit the approved template."""
    refusals: list[Refusal] = []
    components = template.get("components") or []
    body = [c for c in components if isinstance(c, dict) and str(c.get("type")).lower() == "body"]
    given = sum(len(c.get("parameters") or []) for c in body)
    if given != body_params:
        refusals.append(
            (
                TEMPLATE_PARAM_COUNT,
                f"body: number of localizable_params ({given}) does not match the expected "
                f"number of params ({body_params})",
            )
        )
    for c in body:
        for p in c.get("parameters") or []:
            if isinstance(p, dict) and _TEMPLATE_PARAM_BAD.search(str(p.get("text", ""))):
                refusals.append(
                    (
                        TEMPLATE_PARAM_FORMAT,
                        "Param text cannot have new-line/tab characters or more than 4 "
                        "consecutive spaces",
                    )
                )
    for c in components:
        if isinstance(c, dict) and str(c.get("type")).lower() == "button":
            index = c.get("index")
            if not str(index).isdigit() or int(str(index)) >= buttons:
                refusals.append(
                    (PARAMETER_VALUE_INVALID, f"button at index {index} is not in the template")
                )
    return refusals
