"""Resident intake: a new usulan, step by step, ending with a summary and Kirim.

Order: desa -> location -> address -> category -> problem -> request -> volume -> photos ->
beneficiaries -> summary. Optional steps offer Lewati. From the summary each field can be
edited; after an edit the resident comes back to the summary.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import locales
from backend.domain import MAX_PHOTO_BYTES, MAX_PHOTOS, MAX_TEXT_CHARS, MIN_TEXT_CHARS, Origin
from backend.errors import InvalidInput, PhotoRejected
from backend.services.wilayah import DesaMatch
from handlers.context import Ctx, reprompt, stale_button, step, unexpected
from handlers.enrol import excerpt, village_actor
from handlers.events import (
    Button,
    ButtonPress,
    Event,
    Location,
    Msg,
    Photo,
    Reply,
    Say,
    Text,
    say,
)
from handlers.parsing import parse_address, parse_count, parse_volume

DESA = "intake.desa"
LOCATION = "intake.location"
ADDRESS = "intake.address"
CATEGORY = "intake.category"
PROBLEM = "intake.problem"
REQUEST = "intake.request"
VOLUME = "intake.volume"
PHOTOS = "intake.photos"
BENEFICIARIES = "intake.beneficiaries"
SUMMARY = "intake.summary"
SIMILAR = "intake.similar"  # similar usulan offered before sending (handlers.support)

ORDER = (DESA, LOCATION, ADDRESS, CATEGORY, PROBLEM, REQUEST, VOLUME, PHOTOS, BENEFICIARIES)
# Field name in the summary's edit buttons -> the step that asks for it.
EDITABLE = {
    "desa": DESA,
    "lokasi": LOCATION,
    "alamat": ADDRESS,
    "kategori": CATEGORY,
    "masalah": PROBLEM,
    "usulan": REQUEST,
    "volume": VOLUME,
    "foto": PHOTOS,
    "manfaat": BENEFICIARIES,
}
# Which step to reopen when the server refuses a field of the draft.
FIELD_STEP = {
    "desa_code": DESA,
    "category": CATEGORY,
    "permasalahan": PROBLEM,
    "usulan": REQUEST,
    "volume": VOLUME,
    "photos": PHOTOS,
    "beneficiaries": BENEFICIARIES,
}
SKIP_WORDS = {"-", "lewati", "skip", "tidak ada", "tidak", "none", "no"}
DONE_WORDS = {"selesai", "done", "sudah", "cukup", "lanjut"}
SUGGESTIONS = 6


def begin(ctx: Ctx) -> list[Reply]:
    ctx.conversation.data = {"draft": {}}
    return ctx.go(DESA)


def advance(ctx: Ctx, *before: Reply) -> list[Reply]:
    """After a step is answered: back to the summary when editing, else the next step."""
    if ctx.data.get("editing"):
        ctx.data.pop("editing", None)
        return ctx.go(SUMMARY, *before)
    index = ORDER.index(ctx.state)
    nxt = ORDER[index + 1] if index + 1 < len(ORDER) else SUMMARY
    return ctx.go(nxt, *before)


def skip_button(ctx: Ctx) -> tuple[Button, ...]:
    return (Button(Msg("button.skip"), f"skip:{ctx.state}"),)


def is_skip(ctx: Ctx, event: Event) -> bool:
    if isinstance(event, ButtonPress):
        return event.payload == f"skip:{ctx.state}"
    if isinstance(event, Text):
        text = event.text.strip().lower()
        return text in SKIP_WORDS or text in locales.variants("button.skip")
    return False


# --- desa -------------------------------------------------------------------------------


def _ask_desa(ctx: Ctx) -> list[Reply]:
    return [say("intake.ask_desa", clear_keyboard=True)]


def _desa_button(match: DesaMatch) -> Button:
    label = match.desa.label if not match.where else f"{match.desa.label} ({match.where})"
    return Button(label, f"desa:{match.desa.code}")


@step(DESA, _ask_desa)
async def on_desa(ctx: Ctx, event: Event) -> list[Reply]:
    if isinstance(event, ButtonPress):
        if not event.payload.startswith("desa:"):
            return stale_button()
        desa = ctx.services.wilayah.get(event.payload.removeprefix("desa:"))
        if desa is None:
            return stale_button()
        ctx.draft["desa_code"] = desa.code
        return advance(ctx, say(Msg("intake.desa_chosen", {"desa": desa.label})))
    if not isinstance(event, Text):
        return unexpected(ctx, event)
    query = event.text.strip()[:100]
    matches = ctx.services.wilayah.search(query, limit=SUGGESTIONS)
    if not matches:
        return [say(Msg("intake.desa_not_found", {"query": query}))]
    rows = tuple((_desa_button(m),) for m in matches)
    # Where one name exists in several kecamatan, say how to narrow it down.
    key = "intake.desa_pick_ambiguous" if any(m.where for m in matches) else "intake.desa_pick"
    return [say(key, buttons=rows)]


# --- location ---------------------------------------------------------------------------


def _ask_location(ctx: Ctx) -> list[Reply]:
    return [
        say(
            "intake.ask_location",
            request_location=Msg("button.share_location"),
            skip=Msg("button.skip"),
        )
    ]


@step(LOCATION, _ask_location)
async def on_location(ctx: Ctx, event: Event) -> list[Reply]:
    if isinstance(event, Location):
        if not (-90 <= event.latitude <= 90 and -180 <= event.longitude <= 180):
            return reprompt(ctx, "intake.location_invalid")
        ctx.draft["latitude"] = round(event.latitude, 6)
        ctx.draft["longitude"] = round(event.longitude, 6)
        return advance(ctx, say("intake.location_saved", clear_keyboard=True))
    if is_skip(ctx, event):
        ctx.draft.pop("latitude", None)
        ctx.draft.pop("longitude", None)
        return advance(ctx, say("intake.location_skipped", clear_keyboard=True))
    if isinstance(event, Text):
        return reprompt(ctx, "intake.location_use_button")
    if isinstance(event, ButtonPress):
        return stale_button()
    return unexpected(ctx, event)


# --- address ----------------------------------------------------------------------------


def _ask_address(ctx: Ctx) -> list[Reply]:
    return [say("intake.ask_address", buttons=(skip_button(ctx),), clear_keyboard=True)]


@step(ADDRESS, _ask_address)
async def on_address(ctx: Ctx, event: Event) -> list[Reply]:
    if is_skip(ctx, event):
        for key in ("dusun", "rt", "rw", "street"):
            ctx.draft.pop(key, None)
        return advance(ctx)
    if isinstance(event, ButtonPress):
        return stale_button()
    if not isinstance(event, Text):
        return unexpected(ctx, event)
    if len(event.text) > 300:
        return reprompt(ctx, Msg("intake.address_too_long", {"max": 300}))
    address = parse_address(event.text)
    for key in ("dusun", "rt", "rw", "street"):
        value = getattr(address, key)
        if value:
            ctx.draft[key] = value
        else:
            ctx.draft.pop(key, None)
    return advance(ctx)


# --- category ---------------------------------------------------------------------------


def _ask_category(ctx: Ctx) -> list[Reply]:
    buttons = [Button(Msg(f"category.{c.key}"), f"cat:{c.key}") for c in ctx.services.categories]
    rows = tuple(tuple(buttons[i : i + 2]) for i in range(0, len(buttons), 2))
    return [say("intake.ask_category", buttons=rows)]


def _words(text: str) -> str:
    return " ".join(re.findall(r"[\w&]+", text.lower()))


def _category_from_text(ctx: Ctx, text: str) -> str | None:
    """A category typed as its label ("lampu jalan"), without the emoji the button shows."""
    wanted = _words(text)
    for category in ctx.services.categories:
        if wanted in {_words(v) for v in locales.variants(f"category.{category.key}")}:
            return category.key
    return None


@step(CATEGORY, _ask_category)
async def on_category(ctx: Ctx, event: Event) -> list[Reply]:
    key: str | None = None
    if isinstance(event, ButtonPress):
        key = event.payload.removeprefix("cat:") if event.payload.startswith("cat:") else None
        if key not in {c.key for c in ctx.services.categories}:
            return stale_button()
    elif isinstance(event, Text):
        key = _category_from_text(ctx, event.text)
        if key is None:
            return reprompt(ctx, "intake.category_use_buttons")
    else:
        return unexpected(ctx, event)
    ctx.draft["category"] = key
    return advance(ctx, say(Msg("intake.category_chosen", {"category": Msg(f"category.{key}")})))


# --- problem and request ----------------------------------------------------------------


def _long_text(ctx: Ctx, event: Event, field: str) -> list[Reply]:
    if isinstance(event, ButtonPress):
        return stale_button()
    if not isinstance(event, Text):
        return unexpected(ctx, event)
    text = event.text.strip()
    if len(text) > MAX_TEXT_CHARS:
        return [say(Msg("intake.text_too_long", {"max": MAX_TEXT_CHARS, "length": len(text)}))]
    if len(text) < MIN_TEXT_CHARS:
        return [say(Msg("intake.text_too_short", {"min": MIN_TEXT_CHARS}))]
    ctx.draft[field] = text
    return advance(ctx)


def _ask_problem(ctx: Ctx) -> list[Reply]:
    return [say(Msg("intake.ask_problem", {"max": MAX_TEXT_CHARS}))]


@step(PROBLEM, _ask_problem)
async def on_problem(ctx: Ctx, event: Event) -> list[Reply]:
    return _long_text(ctx, event, "permasalahan")


def _ask_request(ctx: Ctx) -> list[Reply]:
    return [say(Msg("intake.ask_request", {"max": MAX_TEXT_CHARS}))]


@step(REQUEST, _ask_request)
async def on_request(ctx: Ctx, event: Event) -> list[Reply]:
    return _long_text(ctx, event, "usulan")


# --- volume -----------------------------------------------------------------------------


def _ask_volume(ctx: Ctx) -> list[Reply]:
    return [say("intake.ask_volume", buttons=(skip_button(ctx),))]


@step(VOLUME, _ask_volume)
async def on_volume(ctx: Ctx, event: Event) -> list[Reply]:
    if is_skip(ctx, event):
        ctx.draft.pop("volume", None)
        ctx.draft.pop("unit", None)
        return advance(ctx)
    if isinstance(event, ButtonPress):
        return stale_button()
    if not isinstance(event, Text):
        return unexpected(ctx, event)
    volume = parse_volume(event.text[:100])
    if volume is None or volume.amount >= Decimal("1e12"):
        return reprompt(ctx, "intake.volume_invalid")
    ctx.draft["volume"] = str(volume.amount)
    ctx.draft["unit"] = volume.unit
    return advance(ctx)


# --- photos -----------------------------------------------------------------------------


def _photos(ctx: Ctx) -> list[dict[str, Any]]:
    photos: list[dict[str, Any]] = ctx.draft.setdefault("photos", [])
    return photos


def _ask_photos(ctx: Ctx) -> list[Reply]:
    have = len(_photos(ctx))
    done = (Button(Msg("button.photos_done" if have else "button.skip"), f"skip:{ctx.state}"),)
    return [say(Msg("intake.ask_photos", {"max": MAX_PHOTOS, "have": have}), buttons=(done,))]


@step(PHOTOS, _ask_photos)
async def on_photos(ctx: Ctx, event: Event) -> list[Reply]:
    if is_skip(ctx, event) or (
        isinstance(event, Text) and event.text.strip().lower() in DONE_WORDS
    ):
        ctx.data["last_album"] = ctx.data.pop("album", None)
        return advance(ctx)
    if isinstance(event, ButtonPress):
        return stale_button()
    if not isinstance(event, Photo):
        return unexpected(ctx, event)
    photos = _photos(ctx)
    album = event.media_group_id
    same_album = album is not None and ctx.data.get("album") == album
    ctx.data["album"] = album
    if len(photos) >= MAX_PHOTOS:
        return [] if same_album else reprompt(ctx, Msg("intake.photos_full", {"max": MAX_PHOTOS}))
    if event.file_size is not None and event.file_size > MAX_PHOTO_BYTES:
        return [say(Msg("intake.photo_too_large", {"max_mb": MAX_PHOTO_BYTES // 2**20}))]
    try:
        stored = await ctx.services.media.store_photo(await event.fetch())
    except PhotoRejected as exc:
        return [say(Msg(f"intake.photo_{exc.reason}", {"max_mb": MAX_PHOTO_BYTES // 2**20}))]
    if any(p["sha256"] == stored.sha256 for p in photos):
        return [] if same_album else [say("intake.photo_duplicate")]
    photos.append(
        {
            "sha256": stored.sha256,
            "width": stored.width,
            "height": stored.height,
            "bytes": stored.bytes,
        }
    )
    if len(photos) >= MAX_PHOTOS:
        # The rest of a larger album arrives at the next step; it is passed over quietly there.
        ctx.data["last_album"] = ctx.data.pop("album", None)
        return advance(ctx, say(Msg("intake.photos_complete", {"max": MAX_PHOTOS})))
    if same_album:
        return []  # one answer per album: its first photo already got one
    if album is not None:
        # The album's other photos are still arriving: no count yet, it would be wrong.
        done = (Button(Msg("button.photos_done"), f"skip:{ctx.state}"),)
        return [say(Msg("intake.album_received", {"max": MAX_PHOTOS}), buttons=(done,))]
    return _ask_photos(ctx)


# --- beneficiaries ----------------------------------------------------------------------


def _ask_beneficiaries(ctx: Ctx) -> list[Reply]:
    return [say("intake.ask_beneficiaries", buttons=(skip_button(ctx),))]


@step(BENEFICIARIES, _ask_beneficiaries)
async def on_beneficiaries(ctx: Ctx, event: Event) -> list[Reply]:
    if is_skip(ctx, event):
        ctx.draft.pop("beneficiaries", None)
        return advance(ctx)
    if isinstance(event, ButtonPress):
        return stale_button()
    if not isinstance(event, Text):
        return unexpected(ctx, event)
    count = parse_count(event.text[:100])
    if count is None:
        return reprompt(ctx, "intake.beneficiaries_invalid")
    ctx.draft["beneficiaries"] = count
    return advance(ctx)


# --- summary ----------------------------------------------------------------------------


def summary_lines(ctx: Ctx) -> list[Msg]:
    d = ctx.draft
    desa = ctx.services.wilayah.get(d.get("desa_code", ""))
    none = Msg("summary.empty")
    address = ", ".join(
        x
        for x in (
            d.get("dusun"),
            f"RT {d['rt']}" if d.get("rt") else None,
            f"RW {d['rw']}" if d.get("rw") else None,
            d.get("street"),
        )
        if x
    )
    location: Msg | str = (
        f"{d['latitude']:.5f}, {d['longitude']:.5f}" if d.get("latitude") is not None else none
    )
    volume: Msg | str = f"{d['volume']} {d['unit']}" if d.get("volume") else none
    category: Msg = Msg(f"category.{d['category']}") if d.get("category") else none
    behalf = ctx.data.get("on_behalf")
    resident = (
        [Msg("summary.on_behalf", {"name": behalf.get("name") or none,
                                   "phone": behalf.get("phone") or none})]
        if behalf is not None
        else []
    )  # fmt: skip
    return [
        Msg("summary.title"),
        *resident,
        Msg(
            "summary.body",
            {
                "desa": f"{desa.label}, Kec. {desa.kecamatan_name}" if desa else none,
                "location": location,
                "address": address or none,
                "category": category,
                "problem": d.get("permasalahan") or none,
                "request": d.get("usulan") or none,
                "volume": volume,
                "photos": len(d.get("photos") or []),
                "beneficiaries": d.get("beneficiaries") or none,
            },
        ),
        Msg("summary.hint"),
    ]


def _editable(ctx: Ctx) -> list[str]:
    """On behalf of a resident the desa is the official's own and cannot be changed."""
    on_behalf = ctx.data.get("on_behalf") is not None
    return [f for f in EDITABLE if not (on_behalf and f == "desa")]


def _summary(ctx: Ctx) -> list[Reply]:
    fields = _editable(ctx)
    edit_buttons = [Button(Msg(f"button.edit.{f}"), f"edit:{f}") for f in fields]
    rows = [tuple(edit_buttons[i : i + 3]) for i in range(0, len(edit_buttons), 3)]
    rows.append((Button(Msg("button.submit"), "submit"), Button(Msg("button.cancel"), "cancel")))
    return [Say(parts=tuple(summary_lines(ctx)), buttons=tuple(rows), clear_keyboard=True)]


@step(SUMMARY, _summary)
async def on_summary(ctx: Ctx, event: Event) -> list[Reply]:
    if isinstance(event, ButtonPress):
        field = event.payload.removeprefix("edit:")
        if event.payload.startswith("edit:") and field in _editable(ctx):
            ctx.data["editing"] = True
            if field == "foto":
                ctx.draft["photos"] = []  # new photos replace the earlier ones
            return ctx.go(EDITABLE[field])
        if event.payload == "cancel":
            ctx.reset()
            return [say("common.cancelled", clear_keyboard=True)]
        if event.payload == "submit":
            return await _offer_similar(ctx) or await submit_draft(ctx)
        return stale_button()
    if isinstance(event, Text):
        return reprompt(ctx, "summary.use_buttons")
    return unexpected(ctx, event)


async def _offer_similar(ctx: Ctx) -> list[Reply] | None:
    """Before a resident's usulan is sent: similar open ones of the same desa and category,
    which they may back instead of sending a duplicate."""
    d = ctx.draft
    if ctx.data.get("on_behalf") is not None or not (d.get("desa_code") and d.get("category")):
        return None
    found = await ctx.services.support.similar(
        d["desa_code"],
        d["category"],
        f"{d.get('usulan') or ''} {d.get('permasalahan') or ''}",
        exclude_submitter=ctx.user.id,
    )
    if not found:
        return None
    ctx.data["similar"] = [[s.code, excerpt(s.usulan, 80), s.support_count] for s in found]
    return ctx.go(SIMILAR)


async def submit_draft(ctx: Ctx) -> list[Reply]:
    behalf = ctx.data.get("on_behalf")
    if behalf is not None:
        return await _submit_on_behalf(ctx, behalf)
    try:
        submitted = await ctx.services.intake.submit(
            dict(ctx.draft),
            submitter_id=ctx.user.id,
            channel=ctx.incoming.sender.channel,
            message_ref=ctx.incoming.message_ref,
        )
    except InvalidInput as exc:
        target = FIELD_STEP.get(exc.field, SUMMARY)
        ctx.data["editing"] = True
        return ctx.go(target, say(Msg(f"summary.invalid.{exc.field}")))
    desa = ctx.services.wilayah.get(submitted.desa_code)
    ctx.reset()
    return [
        say(
            Msg(
                "intake.submitted",
                {
                    "code": submitted.code,
                    "desa": desa.label if desa else submitted.desa_code,
                    "year": ctx.services.planning_year,
                },
            ),
            clear_keyboard=True,
        )
    ]


async def _submit_on_behalf(ctx: Ctx, behalf: dict[str, Any]) -> list[Reply]:
    """A kepala desa (or the village operator) sends the usulan of a resident without a phone:
    the desa is the official's own, the resident is named on the usulan, the origin recorded."""
    actor = await village_actor(ctx)
    if actor is None or ctx.draft.get("desa_code") != actor.wilayah_code:
        ctx.reset()
        return [say("village.only_officials", clear_keyboard=True)]
    try:
        submitted = await ctx.services.intake.submit(
            dict(ctx.draft),
            submitter_id=ctx.user.id,
            origin=Origin.KEPALA_DESA,
            channel=ctx.incoming.sender.channel,
            message_ref=ctx.incoming.message_ref,
            submitter_name=behalf.get("name"),
            submitter_phone=behalf.get("phone"),
        )
    except InvalidInput as exc:
        target = FIELD_STEP.get(exc.field, SUMMARY)
        ctx.data["editing"] = True
        return ctx.go(target, say(Msg(f"summary.invalid.{exc.field}")))
    ctx.reset()
    return [
        say(
            Msg(
                "intake.submitted_on_behalf",
                {"code": submitted.code, "name": behalf.get("name") or "-"},
            ),
            clear_keyboard=True,
        )
    ]
