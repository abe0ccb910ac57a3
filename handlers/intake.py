"""Resident intake: a new usulan, step by step, ending with a summary and Kirim.

Order: desa -> location -> address -> category -> problem -> request -> volume -> photos ->
beneficiaries -> summary. Optional steps offer Lewati. From the summary each field can be
edited; after an edit the resident comes back to the summary.
"""

from __future__ import annotations

import re
from typing import Any

import locales
from backend.domain import (
    MAX_PHOTO_BYTES,
    MAX_PHOTOS,
    MAX_TEXT_CHARS,
    MIN_TEXT_CHARS,
    Origin,
    check_number,
    check_text,
    number_limit,
    text_limit,
)
from backend.errors import Conflict, Forbidden, InvalidInput, NotFound, PhotoRejected
from backend.services.intake import RESIDENT_FIELDS
from backend.services.places import FAR_FROM_DESA_M, kilometres
from backend.services.wilayah import DesaMatch
from handlers.enrol import excerpt, village_actor
from handlers.events import (
    Audio,
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
from handlers.parsing import parse_address, parse_beneficiaries, parse_volume
from handlers.steps import Ctx, reprompt, stale_button, step, unexpected
from handlers.voice import forget, hear, listens_at

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
    "unit": VOLUME,
    "photos": PHOTOS,
    "beneficiaries": BENEFICIARIES,
    "latitude": LOCATION,
    "longitude": LOCATION,
    "dusun": ADDRESS,
    "rt": ADDRESS,
    "rw": ADDRESS,
    "street": ADDRESS,
}
CLEAR_PHOTOS = "photos:clear"
REVISABLE = {*RESIDENT_FIELDS, "photos"}  # what a revision may send back
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
    return Button(f"{match.desa.label} ({match.place})", f"desa:{match.desa.code}")


def _desa_from_location(ctx: Ctx, event: Location) -> list[Reply]:
    """A location shared at the desa step: offer the desa it falls in first, and keep the
    point as the usulan's location once a desa is chosen."""
    refused = _outside_region(ctx, event.latitude, event.longitude)
    if refused:
        return refused
    ctx.data["desa_location"] = [round(event.latitude, 6), round(event.longitude, 6)]
    found = ctx.services.places.desa_at(event.latitude, event.longitude, limit=3)
    matches = [m for m in map(ctx.services.wilayah.match_code, found) if m is not None]
    if not matches:
        return [say("intake.desa_location_unknown")]
    rows = tuple((_desa_button(m),) for m in matches)
    return [say(Msg("intake.desa_from_location", {"desa": matches[0].desa.label}), buttons=rows)]


@step(DESA, _ask_desa)
async def on_desa(ctx: Ctx, event: Event) -> list[Reply]:
    if isinstance(event, ButtonPress):
        if not event.payload.startswith("desa:"):
            return stale_button()
        desa = ctx.services.wilayah.get(event.payload.removeprefix("desa:"))
        if desa is None:
            return stale_button()
        ctx.draft["desa_code"] = desa.code
        chosen = say(Msg("intake.desa_chosen", {"desa": desa.label}))
        shared = ctx.data.pop("desa_location", None)
        if shared is None:
            return advance(ctx, chosen)
        ctx.conversation.state = LOCATION  # the point shared to find the desa is the usulan's
        return [chosen, *_take_location(ctx, shared[0], shared[1])]
    if isinstance(event, Location):
        return _desa_from_location(ctx, event)
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


def _outside_region(ctx: Ctx, latitude: float, longitude: float) -> list[Reply] | None:
    """A point far outside the region served is refused, and the step asked again."""
    if ctx.services.places.in_region(latitude, longitude) is not False:
        return None
    region = ctx.services.wilayah.region_name() or "Indonesia"
    return reprompt(ctx, Msg("intake.location_outside_region", {"region": region}))


def _take_location(ctx: Ctx, latitude: float, longitude: float) -> list[Reply]:
    """Keep the point, unless it lies far outside the chosen desa: then ask once."""
    desa = ctx.services.wilayah.get(ctx.draft.get("desa_code", ""))
    outside = ctx.services.places.metres_outside(desa.code, latitude, longitude) if desa else None
    if desa is None or outside is None or outside <= FAR_FROM_DESA_M:
        return _save_location(ctx, latitude, longitude)
    ctx.data["pending_location"] = [round(latitude, 6), round(longitude, 6)]
    keep = Button(Msg("button.location_keep"), "location:keep")
    again = Button(Msg("button.location_again"), "location:again")
    params = {"desa": desa.label, "km": kilometres(outside)}
    return [say(Msg("intake.location_far_from_desa", params), buttons=((keep, again),))]


def _save_location(ctx: Ctx, latitude: float, longitude: float) -> list[Reply]:
    ctx.data.pop("pending_location", None)
    ctx.draft["latitude"] = round(latitude, 6)
    ctx.draft["longitude"] = round(longitude, 6)
    return advance(ctx, say("intake.location_saved", clear_keyboard=True))


@step(LOCATION, _ask_location)
async def on_location(ctx: Ctx, event: Event) -> list[Reply]:
    if isinstance(event, Location):
        if not (-90 <= event.latitude <= 90 and -180 <= event.longitude <= 180):
            return reprompt(ctx, "intake.location_invalid")
        return _outside_region(ctx, event.latitude, event.longitude) or _take_location(
            ctx, event.latitude, event.longitude
        )
    pending = ctx.data.get("pending_location")
    if isinstance(event, ButtonPress) and pending and event.payload == "location:keep":
        return _save_location(ctx, pending[0], pending[1])
    if isinstance(event, ButtonPress) and pending and event.payload == "location:again":
        ctx.data.pop("pending_location", None)
        return _ask_location(ctx)
    if is_skip(ctx, event):
        ctx.data.pop("pending_location", None)
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
    if event.text.strip().isdigit():
        # A lone number is rather a button's number typed by hand than an address.
        return reprompt(ctx, Msg("intake.address_only_number", {"number": event.text.strip()}))
    address = parse_address(event.text)
    for key in ("dusun", "rt", "rw", "street"):
        value = getattr(address, key)
        if value and len(value) > text_limit(key).max_chars:
            limit = text_limit(key).max_chars
            return reprompt(ctx, Msg(f"intake.{key}_too_long", {"max": limit}))
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
    forget(ctx, field)  # typed now; a voice note's marker comes back only through handlers.voice
    return advance(ctx)


def _ask_problem(ctx: Ctx) -> list[Reply]:
    return [say(Msg("intake.ask_problem", {"max": MAX_TEXT_CHARS}))]


@step(PROBLEM, _ask_problem)
async def on_problem(ctx: Ctx, event: Event) -> list[Reply]:
    if isinstance(event, Audio):
        return await hear(ctx, event)
    return _long_text(ctx, event, "permasalahan")


def _ask_request(ctx: Ctx) -> list[Reply]:
    return [say(Msg("intake.ask_request", {"max": MAX_TEXT_CHARS}))]


@step(REQUEST, _ask_request)
async def on_request(ctx: Ctx, event: Event) -> list[Reply]:
    if isinstance(event, Audio):
        return await hear(ctx, event)
    return _long_text(ctx, event, "usulan")


listens_at(PROBLEM, "permasalahan")
listens_at(REQUEST, "usulan")


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
    if volume is None:
        return reprompt(ctx, "intake.volume_invalid")
    try:
        check_number("volume", volume.amount)
        check_text("unit", volume.unit)
    except InvalidInput:
        return reprompt(ctx, Msg("intake.volume_limit", volume_limits()))
    ctx.draft["volume"] = str(volume.amount)
    ctx.draft["unit"] = volume.unit
    return advance(ctx)


def volume_limits() -> dict[str, int]:
    """The volume column's size in words a resident can follow: digits before and after."""
    limit = number_limit("volume")
    return {"digits": len(str(int(limit.high))), "decimals": limit.scale}


# --- photos -----------------------------------------------------------------------------


def _photos(ctx: Ctx) -> list[dict[str, Any]]:
    photos: list[dict[str, Any]] = ctx.draft.setdefault("photos", [])
    return photos


def _ask_photos(ctx: Ctx) -> list[Reply]:
    have = len(_photos(ctx))
    done = (Button(Msg("button.photos_done" if have else "button.skip"), f"skip:{ctx.state}"),)
    # Photos already there (a revision, an edit) can be removed, to replace or drop them.
    clear = ((Button(Msg("button.photos_clear"), CLEAR_PHOTOS),),) if have else ()
    return [
        say(Msg("intake.ask_photos", {"max": MAX_PHOTOS, "have": have}), buttons=(done, *clear))
    ]


@step(PHOTOS, _ask_photos)
async def on_photos(ctx: Ctx, event: Event) -> list[Reply]:
    if is_skip(ctx, event) or (
        isinstance(event, Text) and event.text.strip().lower() in DONE_WORDS
    ):
        ctx.data["last_album"] = ctx.data.pop("album", None)
        return advance(ctx)
    if isinstance(event, ButtonPress):
        if event.payload == CLEAR_PHOTOS:
            ctx.draft["photos"] = []
            return [say("intake.photos_cleared"), *_ask_photos(ctx)]
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
        stored = await event.load()  # checked and stored before the transaction opened
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
        ctx.draft.pop("beneficiaries_unit", None)
        return advance(ctx)
    if isinstance(event, ButtonPress):
        return stale_button()
    if not isinstance(event, Text):
        return unexpected(ctx, event)
    parsed = parse_beneficiaries(event.text[:100])
    if parsed is None:
        return reprompt(ctx, "intake.beneficiaries_invalid")
    count, unit = parsed
    if count > number_limit("beneficiaries").high:
        limit = int(number_limit("beneficiaries").high)
        return reprompt(ctx, Msg("intake.beneficiaries_limit", {"max": limit}))
    ctx.draft["beneficiaries"] = count
    if unit is not None:
        ctx.draft["beneficiaries_unit"] = unit
    else:
        ctx.draft.pop("beneficiaries_unit", None)
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
    revise = ctx.data.get("revise")
    if revise is not None:
        note = revise.get("note") or none
        title = Msg("revise.summary_title", {"code": revise["code"], "note": note})
    elif behalf is not None:  # the official checks a resident's usulan, not their own
        title = Msg("summary.title_on_behalf", {"name": behalf.get("name") or none})
    else:
        title = Msg("summary.title")
    return [
        title,
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
                "beneficiaries": (
                    " ".join(str(x) for x in (d["beneficiaries"], d.get("beneficiaries_unit")) if x)
                    if d.get("beneficiaries")
                    else none
                ),
            },
        ),
        *([Msg("summary.from_voice")] if d.get("voice") else []),
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
    submit = Button(Msg("button.submit"), "submit", primary=True)
    rows.append((submit, Button(Msg("button.cancel"), "cancel")))
    return [Say(parts=tuple(summary_lines(ctx)), buttons=tuple(rows), clear_keyboard=True)]


@step(SUMMARY, _summary)
async def on_summary(ctx: Ctx, event: Event) -> list[Reply]:
    if isinstance(event, ButtonPress):
        field = event.payload.removeprefix("edit:")
        if event.payload.startswith("edit:") and field in _editable(ctx):
            ctx.data["editing"] = True
            return ctx.go(EDITABLE[field])
        revising = ctx.data.get("revise") is not None
        if event.payload == "cancel":
            ctx.reset()
            key = "revise.abandoned" if revising else "common.cancelled"
            return [say(key, clear_keyboard=True)]
        if event.payload == "submit" and revising:
            return await resubmit_revision(ctx)
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


async def resubmit_revision(ctx: Ctx) -> list[Reply]:
    """Send a revised usulan back: it waits again where it was returned from."""
    code = str(ctx.data["revise"]["code"])
    changes = {k: v for k, v in ctx.draft.items() if k in REVISABLE}
    try:
        await ctx.services.workflow.resubmit(ctx.user.id, code, changes)
    except InvalidInput as exc:
        target = FIELD_STEP.get(exc.field, SUMMARY)
        ctx.data["editing"] = True
        return ctx.go(target, say(Msg(f"summary.invalid.{exc.field}")))
    except (Conflict, Forbidden, NotFound):
        ctx.reset()  # decided meanwhile, or no longer theirs: nothing to send back
        return [say(Msg("revise.not_needed", {"code": code}), clear_keyboard=True)]
    ctx.reset()
    return [say(Msg("revise.sent", {"code": code}), clear_keyboard=True)]


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
