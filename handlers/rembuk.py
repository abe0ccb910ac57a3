"""Rembuk warga in chat: /rembuk for the kepala desa or the village operator.

Opening one: date -> place -> attendance (total -> women -> youth, disabled, elderly) -> minutes
photos -> ranking of the accepted usulan -> summary. From the summary each part can be changed;
after a change the official comes back to the summary. `Konfirmasi & teruskan` confirms the
rembuk: its accepted usulan move to the Musrenbang Kecamatan queue in the village's order.
When a rembuk is open, /rembuk goes straight to its summary.

The rembuk itself lives in the database from the first answer on; the conversation keeps only
its id and a copy of what the questions show.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from backend.domain import MAX_PHOTO_BYTES
from backend.errors import Conflict, DomainError, Forbidden, InvalidInput, PhotoRejected
from backend.services.intake import normalise_code
from backend.services.officials import Actor
from backend.services.rembuk import MAX_MINUTES_PHOTOS, RembukView
from handlers import intake
from handlers.enrol import desa_label, excerpt, lines, village_actor
from handlers.events import Button, ButtonPress, Event, Msg, Photo, Reply, Say, Text, say
from handlers.parsing import parse_count
from handlers.steps import Ctx, reprompt, stale_button, step, unexpected

DATE = "rembuk.date"
PLACE = "rembuk.place"
TOTAL = "rembuk.total"
WOMEN = "rembuk.women"
GROUPS = "rembuk.groups"
MINUTES = "rembuk.minutes"
RANK = "rembuk.rank"
SUMMARY = "rembuk.summary"

ORDER = (DATE, PLACE, TOTAL, WOMEN, GROUPS, MINUTES, RANK, SUMMARY)
# Summary button -> (first step asked, last step asked before coming back to the summary).
EDITS = {
    "date": (DATE, DATE),
    "place": (PLACE, PLACE),
    "attendance": (TOTAL, GROUPS),
    "minutes": (MINUTES, MINUTES),
    "rank": (RANK, RANK),
}
MAX_ATTENDANCE = 100_000
DATE_WINDOW = timedelta(days=400)  # a rembuk recorded late, or planned ahead, within about a year

RELATIVE_DAYS = {
    "hari ini": 0, "today": 0, "sekarang": 0, "tadi": 0,
    "kemarin": -1, "yesterday": -1,
    "besok": 1, "tomorrow": 1,
}  # fmt: skip
MONTHS = {
    "jan": 1, "januari": 1, "january": 1,
    "feb": 2, "februari": 2, "pebruari": 2, "february": 2,
    "mar": 3, "maret": 3, "march": 3,
    "apr": 4, "april": 4,
    "mei": 5, "may": 5,
    "jun": 6, "juni": 6, "june": 6,
    "jul": 7, "juli": 7, "july": 7,
    "agu": 8, "agt": 8, "ags": 8, "agustus": 8, "aug": 8, "august": 8,
    "sep": 9, "sept": 9, "september": 9,
    "okt": 10, "oktober": 10, "oct": 10, "october": 10,
    "nov": 11, "november": 11, "nopember": 11,
    "des": 12, "desember": 12, "dec": 12, "december": 12,
}  # fmt: skip
# Words for the optional attendance groups, in both languages.
GROUP_WORDS = {
    "pemuda": "youth", "muda": "youth", "remaja": "youth", "youth": "youth",
    "disabilitas": "disabled", "difabel": "disabled", "penyandang": "disabled",
    "disabled": "disabled", "disability": "disabled",
    "lansia": "elderly", "elderly": "elderly", "manula": "elderly",
}  # fmt: skip
GROUPS_ORDER = ("youth", "disabled", "elderly")
# "pemuda 10", "pemuda: 10 orang" or "10 pemuda"
GROUP_ITEM = re.compile(
    r"([a-z ]+?)\s*:?\s*(\d{1,6})(?:\s*orang)?|(\d{1,6})\s*(?:orang\s*)?([a-z ]+)"
)
GROUP_KEYS = {
    "youth": "rembuk.group_youth",
    "disabled": "rembuk.group_disabled",
    "elderly": "rembuk.group_elderly",
}


# --- parsing ----------------------------------------------------------------------------


def parse_date(text: str, today: date) -> date | None:
    """'hari ini', '20-11-2026', '20/11', '20 November 2026', '20 nov' -> a date."""
    words = " ".join(text.lower().replace(",", " ").split())
    if words in RELATIVE_DAYS:
        return today + timedelta(days=RELATIVE_DAYS[words])
    numeric = re.fullmatch(r"(\d{1,2})\s*[-/.]\s*(\d{1,2})(?:\s*[-/.]\s*(\d{4}|\d{2}))?", words)
    named = re.fullmatch(r"(\d{1,2})\s+([a-z]+)\.?(?:\s+(\d{4}))?", words)
    if numeric:
        day, month, year = int(numeric[1]), int(numeric[2]), numeric[3]
    elif named and named[2] in MONTHS:
        day, month, year = int(named[1]), MONTHS[named[2]], named[3]
    else:
        return None
    full_year = today.year if year is None else int(year) + (2000 if len(year) == 2 else 0)
    try:
        return date(full_year, month, day)
    except ValueError:
        return None


def parse_groups(text: str) -> dict[str, int] | None:
    """'pemuda 10, disabilitas 2, lansia 15' (or '10 pemuda') -> counts; None if unreadable."""
    found: dict[str, int] = {}
    pieces = [p.strip() for p in re.split(r"[,;\n]+", text.lower()) if p.strip()]
    for piece in pieces:
        match = GROUP_ITEM.fullmatch(piece)
        if not match:
            return None
        words = (match[1] or match[4] or "").split()
        number = int(match[2] or match[3])
        group = next((GROUP_WORDS[w] for w in words if w in GROUP_WORDS), None)
        if group is None:
            return None
        found[group] = number
    return found or None


def _today(ctx: Ctx) -> date:
    return datetime.now(ZoneInfo(ctx.services.timezone)).date()


# --- entering -------------------------------------------------------------------------


async def command(ctx: Ctx) -> list[Reply]:
    actor = await village_actor(ctx)
    if actor is None:
        return [say("village.only_officials", clear_keyboard=True)]
    return await begin(ctx, actor)


async def begin(ctx: Ctx, actor: Actor) -> list[Reply]:
    current = await ctx.services.rembuk.current(actor)
    ctx.conversation.data = {}
    if current is None:
        return ctx.go(DATE, say("rembuk.none_open", clear_keyboard=True))
    ctx.data["rembuk_id"] = current.id
    return _to_summary(ctx, current)


def _stash(ctx: Ctx, view: RembukView) -> None:
    ctx.data["rembuk_id"] = view.id
    ctx.data["view"] = {
        "desa": desa_label(ctx, view.desa_code),
        "held_on": view.held_on.isoformat() if view.held_on else None,
        "place": view.place,
        "attendance": dict(view.attendance),
        "minutes": view.minutes_photos,
        "accepted": [[i.code, excerpt(i.usulan, 50), i.support_count] for i in view.accepted],
        "rejected": view.rejected,
        "waiting": view.waiting,
    }


def _view(ctx: Ctx) -> dict[str, Any]:
    view: dict[str, Any] = ctx.data.setdefault("view", {})
    return view


def _to_summary(ctx: Ctx, view: RembukView, *before: Reply) -> list[Reply]:
    ctx.data.pop("until", None)
    _stash(ctx, view)
    return ctx.go(SUMMARY, *before)


async def _fresh(ctx: Ctx, actor: Actor) -> RembukView | None:
    """The open rembuk this conversation works on; None when it was confirmed meanwhile."""
    current = await ctx.services.rembuk.current(actor)
    if current is None or current.id != ctx.data.get("rembuk_id"):
        return None
    return current


async def _go(ctx: Ctx, actor: Actor, state: str, *before: Reply) -> list[Reply]:
    """Move to `state`, refreshing what its question shows from the database."""
    if state in {RANK, SUMMARY}:
        view = await _fresh(ctx, actor)
        if view is None:
            return _gone(ctx)
        if state == SUMMARY:
            return _to_summary(ctx, view, *before)
        _stash(ctx, view)
    return ctx.go(state, *before)


async def _advance(ctx: Ctx, actor: Actor, *before: Reply) -> list[Reply]:
    """After an answer: back to the summary when changing one part, else the next step."""
    if ctx.data.get("until") == ctx.state:
        return await _go(ctx, actor, SUMMARY, *before)
    return await _go(ctx, actor, ORDER[ORDER.index(ctx.state) + 1], *before)


def _gone(ctx: Ctx) -> list[Reply]:
    ctx.reset()
    return [say("rembuk.gone", clear_keyboard=True)]


async def _actor(ctx: Ctx) -> Actor | None:
    actor = await village_actor(ctx)
    if actor is None:
        ctx.reset()
    return actor


def _refused(ctx: Ctx, exc: DomainError) -> list[Reply]:
    if isinstance(exc, Conflict):
        ctx.reset()
        return [say("rembuk.already_confirmed", clear_keyboard=True)]
    if isinstance(exc, Forbidden):
        ctx.reset()
        return [say("village.forbidden", clear_keyboard=True)]
    return reprompt(ctx, "rembuk.invalid")


def _skip_row(ctx: Ctx) -> tuple[Button, ...]:
    return intake.skip_button(ctx)


# --- date and place ---------------------------------------------------------------------


def _ask_date(ctx: Ctx) -> list[Reply]:
    return [
        say(
            "rembuk.ask_date",
            buttons=((Button(Msg("button.today"), "rb:today"),),),
            clear_keyboard=True,
        )
    ]


@step(DATE, _ask_date)
async def on_date(ctx: Ctx, event: Event) -> list[Reply]:
    today = _today(ctx)
    if isinstance(event, ButtonPress):
        if event.payload != "rb:today":
            return stale_button()
        held_on: date | None = today
    elif isinstance(event, Text):
        held_on = parse_date(event.text[:40], today)
        if held_on is None:
            return reprompt(ctx, "rembuk.date_invalid")
    else:
        return unexpected(ctx, event)
    assert held_on is not None
    if abs(held_on - today) > DATE_WINDOW:
        return reprompt(ctx, "rembuk.date_out_of_range")
    actor = await _actor(ctx)
    if actor is None:
        return [say("village.only_officials")]
    rembuk_id = ctx.data.get("rembuk_id")
    try:
        if rembuk_id is None:
            current = await ctx.services.rembuk.current(actor)
            if current is None:
                current = await ctx.services.rembuk.open(actor, ctx.services.planning_year)
            rembuk_id = ctx.data["rembuk_id"] = current.id
        await ctx.services.rembuk.set_details(actor, rembuk_id, held_on=held_on)
    except DomainError as exc:
        return _refused(ctx, exc)
    return await _advance(
        ctx, actor, say(Msg("rembuk.date_saved", {"date": held_on.strftime("%d-%m-%Y")}))
    )


def _ask_place(ctx: Ctx) -> list[Reply]:
    return [say("rembuk.ask_place")]


@step(PLACE, _ask_place)
async def on_place(ctx: Ctx, event: Event) -> list[Reply]:
    if isinstance(event, ButtonPress):
        return stale_button()
    if not isinstance(event, Text):
        return unexpected(ctx, event)
    place = " ".join(event.text.split())
    if not 3 <= len(place) <= 200:
        return reprompt(ctx, "rembuk.place_invalid")
    return await _save(ctx, {"place": place})


async def _save(ctx: Ctx, values: dict[str, Any], *before: Reply) -> list[Reply]:
    """Store details or attendance of the rembuk, then move on."""
    actor = await _actor(ctx)
    if actor is None:
        return [say("village.only_officials")]
    rembuk_id = int(ctx.data.get("rembuk_id") or 0)
    try:
        if "place" in values:
            await ctx.services.rembuk.set_details(actor, rembuk_id, place=values["place"])
        else:
            await ctx.services.rembuk.set_attendance(actor, rembuk_id, **values)
    except InvalidInput:
        return reprompt(ctx, "rembuk.more_than_total")
    except DomainError as exc:
        return _refused(ctx, exc)
    attendance = _view(ctx).setdefault("attendance", {})
    attendance.update({k: v for k, v in values.items() if k != "place"})
    return await _advance(ctx, actor, *before)


# --- attendance -------------------------------------------------------------------------


def _ask_total(ctx: Ctx) -> list[Reply]:
    return [say("rembuk.ask_total")]


def _count(event: Event) -> int | None:
    if not isinstance(event, Text):
        return None
    text = event.text.strip()[:40]
    if re.fullmatch(r"0+", text):
        return 0
    return parse_count(text)


@step(TOTAL, _ask_total)
async def on_total(ctx: Ctx, event: Event) -> list[Reply]:
    if isinstance(event, ButtonPress):
        return stale_button()
    if not isinstance(event, Text):
        return unexpected(ctx, event)
    total = _count(event)
    if total is None or not 1 <= total <= MAX_ATTENDANCE:
        return reprompt(ctx, "rembuk.number_invalid")
    # Counts of groups larger than the new total are cleared; they are asked again next.
    known = _view(ctx).get("attendance") or {}
    values: dict[str, Any] = {"total": total}
    values.update({k: None for k, v in known.items() if k != "total" and v and v > total})
    return await _save(ctx, values)


def _ask_women(ctx: Ctx) -> list[Reply]:
    return [say("rembuk.ask_women")]


@step(WOMEN, _ask_women)
async def on_women(ctx: Ctx, event: Event) -> list[Reply]:
    if isinstance(event, ButtonPress):
        return stale_button()
    if not isinstance(event, Text):
        return unexpected(ctx, event)
    women = _count(event)
    if women is None or not 0 <= women <= MAX_ATTENDANCE:
        return reprompt(ctx, "rembuk.number_invalid")
    return await _save(ctx, {"women": women})


def _ask_groups(ctx: Ctx) -> list[Reply]:
    return [say("rembuk.ask_groups", buttons=(_skip_row(ctx),))]


@step(GROUPS, _ask_groups)
async def on_groups(ctx: Ctx, event: Event) -> list[Reply]:
    if intake.is_skip(ctx, event):
        actor = await _actor(ctx)
        if actor is None:
            return [say("village.only_officials")]
        return await _advance(ctx, actor)
    if isinstance(event, ButtonPress):
        return stale_button()
    if not isinstance(event, Text):
        return unexpected(ctx, event)
    groups = parse_groups(event.text[:200])
    if groups is None:
        return reprompt(ctx, "rembuk.groups_invalid")
    if any(n > MAX_ATTENDANCE for n in groups.values()):
        return reprompt(ctx, "rembuk.number_invalid")
    return await _save(ctx, dict(groups))


# --- minutes (berita acara) photos -----------------------------------------------------


def _ask_minutes(ctx: Ctx) -> list[Reply]:
    have = int(_view(ctx).get("minutes") or 0)
    done = Button(Msg("button.photos_done" if have else "button.skip"), f"skip:{ctx.state}")
    return [
        say(
            Msg("rembuk.ask_minutes", {"max": MAX_MINUTES_PHOTOS, "have": have}),
            buttons=((done,),),
        )
    ]


@step(MINUTES, _ask_minutes)
async def on_minutes(ctx: Ctx, event: Event) -> list[Reply]:
    done = isinstance(event, Text) and event.text.strip().lower() in intake.DONE_WORDS
    if intake.is_skip(ctx, event) or done:
        actor = await _actor(ctx)
        if actor is None:
            return [say("village.only_officials")]
        ctx.data.pop("album", None)
        return await _advance(ctx, actor)
    if isinstance(event, ButtonPress):
        return stale_button()
    if not isinstance(event, Photo):
        return unexpected(ctx, event)
    view = _view(ctx)
    album = event.media_group_id
    same_album = album is not None and ctx.data.get("album") == album
    ctx.data["album"] = album
    if int(view.get("minutes") or 0) >= MAX_MINUTES_PHOTOS:
        full = Msg("rembuk.minutes_full", {"max": MAX_MINUTES_PHOTOS})
        return [] if same_album else reprompt(ctx, full)
    if event.file_size is not None and event.file_size > MAX_PHOTO_BYTES:
        return [say(Msg("intake.photo_too_large", {"max_mb": MAX_PHOTO_BYTES // 2**20}))]
    actor = await _actor(ctx)
    if actor is None:
        return [say("village.only_officials")]
    try:
        stored = await event.load()  # checked and stored before the transaction opened
    except PhotoRejected as exc:
        return [say(Msg(f"intake.photo_{exc.reason}", {"max_mb": MAX_PHOTO_BYTES // 2**20}))]
    try:
        count = await ctx.services.rembuk.add_minutes_photo(
            actor, int(ctx.data.get("rembuk_id") or 0), stored.sha256
        )
    except InvalidInput:
        return reprompt(ctx, Msg("rembuk.minutes_full", {"max": MAX_MINUTES_PHOTOS}))
    except DomainError as exc:
        return _refused(ctx, exc)
    duplicate = count == view.get("minutes")
    view["minutes"] = count
    if count >= MAX_MINUTES_PHOTOS:
        # The rest of a larger album arrives at the next step; dispatch passes it over quietly.
        ctx.data["last_album"] = ctx.data.pop("album", None)
        return await _advance(
            ctx, actor, say(Msg("rembuk.minutes_complete", {"max": MAX_MINUTES_PHOTOS}))
        )
    if same_album:
        return []  # one answer per album
    if duplicate:
        return [say("intake.photo_duplicate")]
    return _ask_minutes(ctx)


# --- ranking ----------------------------------------------------------------------------


def _accepted(ctx: Ctx) -> list[list[Any]]:
    accepted: list[list[Any]] = _view(ctx).get("accepted") or []
    return accepted


def _ranked_lines(ctx: Ctx) -> str:
    return lines(
        ctx,
        (
            Msg("rembuk.rank_item", {"n": n, "code": code, "usulan": text, "support": support})
            for n, (code, text, support) in enumerate(_accepted(ctx), 1)
        ),
    )


def _ask_rank(ctx: Ctx) -> list[Reply]:
    accepted = _accepted(ctx)
    done = (Button(Msg("button.rank_done"), "rk:done"),)
    if not accepted:
        return [say("rembuk.rank_none", buttons=(done,))]
    rows: list[tuple[Button, ...]] = []
    last = len(accepted)
    for n, (code, _, _) in enumerate(accepted, 1):
        row = []
        if n > 1:
            row.append(Button(f"{n}. {code} ⬆️", f"rk:up:{code.replace('-', '')}"))
        if n < last:
            row.append(Button(f"{n}. {code} ⬇️", f"rk:dn:{code.replace('-', '')}"))
        if row:
            rows.append(tuple(row))
    rows.append(done)
    if last == 1:
        return [Say(parts=(Msg("rembuk.ask_rank_single", {"lines": _ranked_lines(ctx)}),),
                    buttons=tuple(rows))]  # fmt: skip
    text = Msg("rembuk.ask_rank", {"lines": _ranked_lines(ctx), "example": _example(last)})
    return [Say(parts=(text,), buttons=tuple(rows))]


def _example(count: int) -> str:
    order = list(range(1, min(count, 3) + 1))
    return " ".join(str(n) for n in (order[-1:] + order[:-1] if len(order) > 1 else order))


def parse_order(text: str, count: int) -> list[int] | None:
    """'3 1 2', '3,1,2', '3-1-2' -> positions (1-based); all distinct and within the list."""
    if not re.fullmatch(r"[\d\s,.;>-]+", text.strip()):
        return None
    numbers = [int(n) for n in re.findall(r"\d+", text)]
    if not numbers or len(set(numbers)) != len(numbers):
        return None
    if any(not 1 <= n <= count for n in numbers):
        return None
    return numbers


@step(RANK, _ask_rank)
async def on_rank(ctx: Ctx, event: Event) -> list[Reply]:
    accepted = [code for code, _, _ in _accepted(ctx)]
    if isinstance(event, ButtonPress):
        if event.payload == "rk:done":
            actor = await _actor(ctx)
            if actor is None:
                return [say("village.only_officials")]
            return await _advance(ctx, actor)
        parts = event.payload.split(":")
        code = normalise_code(parts[2]) if len(parts) == 3 else None
        if parts[0] != "rk" or parts[1] not in {"up", "dn"} or code not in accepted:
            return stale_button()
        assert code is not None
        return await _reorder(ctx, lambda a, r: ctx.services.rembuk.move(
            a, r, code, -1 if parts[1] == "up" else 1))  # fmt: skip
    if not isinstance(event, Text):
        return unexpected(ctx, event)
    order = parse_order(event.text[:200], len(accepted))
    if order is None:
        example = _example(len(accepted))
        wrong = Msg("rembuk.order_invalid", {"count": len(accepted), "example": example})
        return reprompt(ctx, wrong)
    codes = [accepted[n - 1] for n in order]
    return await _reorder(ctx, lambda a, r: ctx.services.rembuk.rank(a, r, codes), typed=True)


async def _reorder(ctx: Ctx, change: Any, typed: bool = False) -> list[Reply]:
    actor = await _actor(ctx)
    if actor is None:
        return [say("village.only_officials")]
    try:
        await change(actor, int(ctx.data.get("rembuk_id") or 0))
    except InvalidInput:
        # The accepted list changed since it was shown (another official decided meanwhile).
        return await _go(ctx, actor, RANK, say("rembuk.rank_changed"))
    except DomainError as exc:
        return _refused(ctx, exc)
    if typed:
        return await _advance(ctx, actor, say("rembuk.rank_saved"))
    return await _go(ctx, actor, RANK)


# --- summary and confirmation -----------------------------------------------------------


def _attendance_text(ctx: Ctx) -> Msg | str:
    counts = _view(ctx).get("attendance") or {}
    if counts.get("total") is None:
        return Msg("summary.empty")
    groups = lines(
        ctx,
        (Msg(GROUP_KEYS[g], {"count": counts[g]}) for g in GROUPS_ORDER
         if counts.get(g) is not None),
    ).replace("\n", ", ")  # fmt: skip
    women = counts.get("women")
    return Msg(
        "rembuk.attendance",
        {
            "total": counts["total"],
            "women": women if women is not None else "-",
            "groups": f", {groups}" if groups else "",
        },
    )


def _ask_summary(ctx: Ctx) -> list[Reply]:
    view = _view(ctx)
    none = Msg("summary.empty")
    held_on = view.get("held_on")
    ranked: Msg | str = _ranked_lines(ctx) or Msg("rembuk.summary_no_accepted")
    body = Msg(
        "rembuk.summary",
        {
            "desa": view.get("desa", ""),
            "date": date.fromisoformat(held_on).strftime("%d-%m-%Y") if held_on else none,
            "place": view.get("place") or none,
            "attendance": _attendance_text(ctx),
            "minutes": view.get("minutes", 0),
            "ranked": ranked,
            "accepted": len(_accepted(ctx)),
            "rejected": view.get("rejected", 0),
            "waiting": view.get("waiting", 0),
        },
    )
    rembuk_id = ctx.data.get("rembuk_id")
    buttons = (
        (Button(Msg("button.rembuk_confirm"), f"rb:confirm:{rembuk_id}"),),
        (
            Button(Msg("button.rembuk_edit.date"), "rb:edit:date"),
            Button(Msg("button.rembuk_edit.place"), "rb:edit:place"),
        ),
        (
            Button(Msg("button.rembuk_edit.attendance"), "rb:edit:attendance"),
            Button(Msg("button.rembuk_edit.minutes"), "rb:edit:minutes"),
        ),
        (Button(Msg("button.rembuk_edit.rank"), "rb:edit:rank"),),
    )
    return [Say(parts=(body, Msg("rembuk.summary_hint")), buttons=buttons, clear_keyboard=True)]


@step(SUMMARY, _ask_summary)
async def on_summary(ctx: Ctx, event: Event) -> list[Reply]:
    if not isinstance(event, ButtonPress):
        if isinstance(event, Text):
            return reprompt(ctx, "rembuk.use_buttons")
        return unexpected(ctx, event)
    payload = event.payload
    if payload.startswith("rb:confirm:"):
        if payload != f"rb:confirm:{ctx.data.get('rembuk_id')}":
            return await confirm_button(ctx, payload)
        return await _confirm(ctx)
    field = payload.removeprefix("rb:edit:")
    if not payload.startswith("rb:edit:") or field not in EDITS:
        return stale_button()
    actor = await _actor(ctx)
    if actor is None:
        return [say("village.only_officials")]
    first, last = EDITS[field]
    ctx.data["until"] = last
    return await _go(ctx, actor, first)


async def _confirm(ctx: Ctx) -> list[Reply]:
    actor = await _actor(ctx)
    if actor is None:
        return [say("village.only_officials")]
    view = await _fresh(ctx, actor)
    if view is None:
        ctx.reset()
        return [say("rembuk.already_confirmed", clear_keyboard=True)]
    _stash(ctx, view)
    # Say what is missing and ask for it, instead of a bare refusal.
    if view.held_on is None or not view.place:
        ctx.data["until"] = PLACE
        first = DATE if view.held_on is None else PLACE
        return ctx.go(first, say("rembuk.missing_details"))
    if view.attendance.get("total") is None or view.attendance.get("women") is None:
        ctx.data["until"] = GROUPS
        return ctx.go(TOTAL, say("rembuk.missing_attendance"))
    if not view.accepted:
        return [say("rembuk.nothing_accepted"), *_ask_summary(ctx)]
    try:
        done = await ctx.services.rembuk.confirm(actor, view.id)
    except InvalidInput:
        return reprompt(ctx, "rembuk.invalid")
    except DomainError as exc:
        return _refused(ctx, exc)
    ctx.reset()
    return [
        say(
            Msg(
                "rembuk.confirmed",
                {
                    "count": len(done.forwarded),
                    "stage": Msg("stage.kecamatan"),
                    "waiting": done.waiting,
                },
            ),
            clear_keyboard=True,
        )
    ]


async def confirm_button(ctx: Ctx, payload: str) -> list[Reply]:
    """A Konfirmasi press from an older summary: confirmed already, or show the summary again
    (it may have changed since that message) instead of confirming blind."""
    rembuk_id = payload.removeprefix("rb:confirm:")
    actor = await village_actor(ctx)
    if actor is None or not rembuk_id.isdigit():
        return stale_button()
    current = await ctx.services.rembuk.current(actor)
    if current is not None and current.id == int(rembuk_id):
        ctx.conversation.data = {}
        return _to_summary(ctx, current, say("rembuk.check_again"))
    if current is None or current.id > int(rembuk_id):
        return [say("rembuk.already_confirmed")]
    return stale_button()
