"""The village's own work: /desa for the kepala desa or the village operator, and /usulan_warga.

/desa shows what waits in the village and a menu. Review shows one waiting usulan at a time with
its photos: Terima, Perlu perbaikan (-> a note), Tolak (-> a reason -> a note), Gabung (-> the
usulan it joins), Lewati. After each action comes the next usulan, or the menu when none is left.

/usulan_warga: the resident's name -> phone -> the resident intake with the desa fixed to the
official's own, submitted with origin kepala_desa.

A button carries the 8 characters of the tracking code and is checked against the usulan on
screen, so a stale or forged press changes nothing.
"""

from __future__ import annotations

import re
from collections import Counter
from decimal import Decimal
from typing import Any

from backend.domain import MAX_TEXT_CHARS, Decision, Stage
from backend.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound
from backend.services.intake import normalise_code
from backend.services.officials import Actor
from backend.services.queues import QueueFilter, QueueRow
from backend.services.workflow import REASON_CODES, DecisionRequest
from handlers import intake, rembuk
from handlers.enrol import desa_label, excerpt, lines, village_actor
from handlers.events import (
    Button,
    ButtonPress,
    Contact,
    Event,
    Msg,
    Photos,
    Reply,
    Say,
    Text,
    Unsupported,
    say,
)
from handlers.steps import Ctx, prompt_of, reprompt, stale_button, step

MENU = "village.menu"
REVIEW = "village.review"
FIX_NOTE = "village.fix_note"
REJECT_REASON = "village.reject_reason"
REJECT_NOTE = "village.reject_note"
MERGE = "village.merge"
RESIDENT_NAME = "village.resident_name"
RESIDENT_PHONE = "village.resident_phone"

MERGE_CHOICES = 5
MIN_NOTE_CHARS = 5
OPEN_AT_DESA = {Decision.MENUNGGU.value, Decision.DITERIMA.value}
BACK = "back"


def short(code: str) -> str:
    """The tracking code as a button carries it: 8 characters, no dash."""
    return code.replace("-", "")


def _pressed(event: ButtonPress, prefix: str) -> tuple[str, str | None]:
    """`rv:ok:K7QM4RXT` -> ("ok", "K7QM-4RXT"); an unreadable payload gives no code."""
    parts = event.payload.split(":")
    if len(parts) != 3 or parts[0] != prefix:
        return "", None
    return parts[1], normalise_code(parts[2])


def _refusal(exc: DomainError) -> str:
    if isinstance(exc, Conflict):
        return "village.conflict"
    if isinstance(exc, Forbidden):
        return "village.forbidden"
    if isinstance(exc, NotFound):
        return "village.not_found"
    return "village.invalid"


async def _actor_or_leave(ctx: Ctx) -> Actor | None:
    actor = await village_actor(ctx)
    if actor is None:
        ctx.reset()
    return actor


def _not_official() -> list[Reply]:
    return [say("village.only_officials", clear_keyboard=True)]


def _use_buttons(ctx: Ctx, event: Event) -> list[Reply]:
    """Anything but a button where a button is expected: a short hint, then the question."""
    if isinstance(event, Unsupported):
        return [say(Msg(f"common.unexpected.{event.kind}")), *_question(ctx)]
    return [say("village.use_buttons"), *_question(ctx)]


def _not_text(ctx: Ctx, event: Event, key: str) -> list[Reply]:
    """A text was asked for and something else came."""
    if isinstance(event, Unsupported):
        return _use_buttons(ctx, event)
    return reprompt(ctx, key)


def _question(ctx: Ctx) -> list[Reply]:
    """The step's question without the photos (they were shown already)."""
    return [r for r in prompt_of(ctx) if not isinstance(r, Photos)]


# --- /desa: the menu --------------------------------------------------------------------


async def desa(ctx: Ctx) -> list[Reply]:
    actor = await village_actor(ctx)
    if actor is None:
        return _not_official()
    return await open_menu(ctx, actor)


async def open_menu(ctx: Ctx, actor: Actor, *before: Reply) -> list[Reply]:
    rows = await ctx.services.queues.all_rows(
        actor, QueueFilter(Stage.DESA, decision=None), limit=10_000
    )
    waiting = Counter(r.category for r in rows if r.decision == Decision.MENUNGGU.value)
    ctx.conversation.data = {
        "menu": {
            "desa": desa_label(ctx, actor.wilayah_code or ""),
            "waiting": dict(waiting),
            "accepted": sum(r.decision == Decision.DITERIMA.value for r in rows),
            "fixing": sum(r.decision == Decision.PERLU_PERBAIKAN.value for r in rows),
        }
    }
    return ctx.go(MENU, *before)


def _ask_menu(ctx: Ctx) -> list[Reply]:
    menu = ctx.data.get("menu") or {}
    waiting: dict[str, int] = menu.get("waiting") or {}
    order = [c.key for c in ctx.services.categories]
    per_category = lines(
        ctx,
        (
            Msg("village.menu_category", {"category": Msg(f"category.{key}"), "count": n})
            for key, n in sorted(waiting.items(), key=lambda kv: _position(order, kv[0]))
        ),
    )
    parts = [
        Msg(
            "village.menu",
            {
                "desa": menu.get("desa", ""),
                "count": sum(waiting.values()),
                "lines": f"\n{per_category}" if per_category else "",
            },
        ),
        Msg(
            "village.menu_other",
            {"accepted": menu.get("accepted", 0), "fixing": menu.get("fixing", 0)},
        ),
    ]
    buttons = (
        (Button(Msg("button.village_review"), "vm:review"),),
        (Button(Msg("button.village_rembuk"), "vm:rembuk"),),
        (Button(Msg("button.village_on_behalf"), "vm:onbehalf"),),
    )
    return [Say(parts=tuple(parts), buttons=buttons, clear_keyboard=True)]


def _position(order: list[str], key: str) -> int:
    return order.index(key) if key in order else len(order)


@step(MENU, _ask_menu)
async def on_menu(ctx: Ctx, event: Event) -> list[Reply]:
    if not isinstance(event, ButtonPress):
        return _use_buttons(ctx, event)
    if event.payload not in {"vm:review", "vm:rembuk", "vm:onbehalf"}:
        return stale_button()
    actor = await _actor_or_leave(ctx)
    if actor is None:
        return _not_official()
    if event.payload == "vm:review":
        return await start_review(ctx, actor)
    if event.payload == "vm:rembuk":
        return await rembuk.begin(ctx, actor)
    return await begin_on_behalf(ctx, actor)


# --- review: one usulan at a time -------------------------------------------------------


async def start_review(ctx: Ctx, actor: Actor, *before: Reply) -> list[Reply]:
    ctx.conversation.data = {"skipped": []}
    return await _next(ctx, actor, *before)


async def _next(ctx: Ctx, actor: Actor, *before: Reply) -> list[Reply]:
    """Show the first waiting usulan not skipped in this round, or go back to the menu."""
    skipped: list[str] = ctx.data.setdefault("skipped", [])
    waiting = QueueFilter(Stage.DESA)
    rows = await ctx.services.queues.all_rows(actor, waiting, limit=len(skipped) + 1)
    row = next((r for r in rows if r.code not in skipped), None)
    if row is None:
        done = "village.rest_skipped" if skipped else "village.all_reviewed"
        return await open_menu(ctx, actor, *before, say(done))
    try:
        detail = await ctx.services.workflow.detail(actor, row.code)
    except DomainError as exc:
        skipped.append(row.code)
        return await _next(ctx, actor, *before, say(Msg(_refusal(exc), {"code": row.code})))
    total = (await ctx.services.queues.page(actor, waiting, per_page=1)).total
    for key in ("reason", "merge"):
        ctx.data.pop(key, None)
    ctx.data["review"] = _card_data(row, detail, total)
    return ctx.go(REVIEW, *before)


def _plain_volume(volume: Decimal | None, unit: str | None) -> str:
    if volume is None:
        return ""
    return f"{format(volume.normalize(), 'f')} {unit or ''}".strip()


def _card_data(row: QueueRow, detail: dict[str, Any], waiting: int) -> dict[str, Any]:
    """What the card shows, kept in the conversation so the question can be asked again."""
    address = ", ".join(
        x
        for x in (
            detail.get("dusun"),
            f"RT {detail['rt']}" if detail.get("rt") else None,
            f"RW {detail['rw']}" if detail.get("rw") else None,
            detail.get("street"),
        )
        if x
    )
    if detail.get("latitude") is not None and detail.get("longitude") is not None:
        point = f"{float(detail['latitude']):.5f}, {float(detail['longitude']):.5f}"
        address = f"{address} ({point})" if address else point
    return {
        "code": row.code,
        "category": row.category,
        "problem": row.permasalahan,
        "request": row.usulan,
        "volume": _plain_volume(row.volume, row.unit),
        "address": address,
        "submitter": row.submitter_name or "",
        "on_behalf": detail.get("origin") == "kepala_desa",
        "support": row.support_count,
        "date": row.created_at.strftime("%d-%m-%Y"),
        "beneficiaries": detail.get("beneficiaries") or "",
        "photos": list(detail.get("photo_hashes") or []),
        "waiting": waiting,
    }


def _card(ctx: Ctx) -> Say:
    card = ctx.data.get("review") or {}
    none = Msg("summary.empty")
    submitter: Msg | str = card.get("submitter") or none
    if card.get("on_behalf"):
        submitter = Msg("village.card_on_behalf", {"name": card.get("submitter") or "-"})
    code = card.get("code", "")
    body = Msg(
        "village.card",
        {
            "code": code,
            "category": Msg(f"category.{card.get('category', 'lainnya')}"),
            "problem": card.get("problem", ""),
            "request": card.get("request", ""),
            "volume": card.get("volume") or none,
            "address": card.get("address") or none,
            "beneficiaries": card.get("beneficiaries") or none,
            "submitter": submitter,
            "support": card.get("support", 0),
            "date": card.get("date", ""),
            "photos": len(card.get("photos") or []),
        },
    )
    s = short(code)
    buttons = (
        (
            Button(Msg("button.review_accept"), f"rv:ok:{s}"),
            Button(Msg("button.review_fix"), f"rv:fix:{s}"),
        ),
        (
            Button(Msg("button.review_reject"), f"rv:no:{s}"),
            Button(Msg("button.review_merge"), f"rv:merge:{s}"),
        ),
        (Button(Msg("button.review_skip"), f"rv:skip:{s}"),),
    )
    waiting = Msg("village.card_waiting", {"count": card.get("waiting", 0)})
    return Say(parts=(body, waiting), buttons=buttons, clear_keyboard=True)


def _ask_review(ctx: Ctx) -> list[Reply]:
    card = ctx.data.get("review") or {}
    replies: list[Reply] = []
    if card.get("photos"):
        caption = Msg("village.photos_caption", {"code": card.get("code", "")})
        replies.append(Photos(tuple(card["photos"]), caption))
    return [*replies, _card(ctx)]


def _current(ctx: Ctx) -> str | None:
    code = (ctx.data.get("review") or {}).get("code")
    return str(code) if code else None


@step(REVIEW, _ask_review)
async def on_review(ctx: Ctx, event: Event) -> list[Reply]:
    if not isinstance(event, ButtonPress):
        return _use_buttons(ctx, event)
    action, code = _pressed(event, "rv")
    if code is None or code != _current(ctx):
        return stale_button()
    actor = await _actor_or_leave(ctx)
    if actor is None:
        return _not_official()
    if action == "ok":
        return await _decide(ctx, actor, DecisionRequest(Stage.DESA, Decision.DITERIMA))
    if action == "fix":
        return ctx.go(FIX_NOTE)
    if action == "no":
        return ctx.go(REJECT_REASON)
    if action == "merge":
        return await _open_merge(ctx, actor, code)
    if action == "skip":
        ctx.data.setdefault("skipped", []).append(code)
        return await _next(ctx, actor, say(Msg("village.skipped", {"code": code})))
    return stale_button()


DONE_KEYS = {
    Decision.DITERIMA: "village.accepted",
    Decision.PERLU_PERBAIKAN: "village.returned",
    Decision.DITOLAK: "village.rejected",
    Decision.DIGABUNG: "village.merged",
}


async def _decide(ctx: Ctx, actor: Actor, request: DecisionRequest) -> list[Reply]:
    code = _current(ctx) or ""
    try:
        await ctx.services.workflow.decide(actor, code, request)
    except InvalidInput:
        return [say(Msg("village.invalid", {"code": code})), *_question(ctx)]
    except DomainError as exc:
        ctx.data.setdefault("skipped", []).append(code)
        return await _next(ctx, actor, say(Msg(_refusal(exc), {"code": code})))
    params: dict[str, Any] = {"code": code, "target": request.merge_into or ""}
    if request.reason_code:
        params["reason"] = Msg(f"reason.{request.reason_code}")
    return await _next(ctx, actor, say(Msg(DONE_KEYS[request.decision], params)))


def _back_button() -> tuple[Button, ...]:
    return (Button(Msg("button.back"), BACK),)


def _is_back(event: Event) -> bool:
    return isinstance(event, ButtonPress) and event.payload == BACK


def _note(event: Event) -> str | None:
    if not isinstance(event, Text):
        return None
    return event.text.strip()


# --- Perlu perbaikan --------------------------------------------------------------------


def _ask_fix_note(ctx: Ctx) -> list[Reply]:
    return [
        say(
            Msg("village.ask_fix_note", {"code": _current(ctx) or ""}),
            buttons=(_back_button(),),
        )
    ]


@step(FIX_NOTE, _ask_fix_note)
async def on_fix_note(ctx: Ctx, event: Event) -> list[Reply]:
    if _is_back(event):
        return ctx.go(REVIEW)
    if isinstance(event, ButtonPress):
        return stale_button()
    note = _note(event)
    if note is None:
        return _not_text(ctx, event, "village.note_as_text")
    if not MIN_NOTE_CHARS <= len(note) <= MAX_TEXT_CHARS:
        return reprompt(
            ctx, Msg("village.note_length", {"min": MIN_NOTE_CHARS, "max": MAX_TEXT_CHARS})
        )
    actor = await _actor_or_leave(ctx)
    if actor is None:
        return _not_official()
    return await _decide(
        ctx, actor, DecisionRequest(Stage.DESA, Decision.PERLU_PERBAIKAN, note=note)
    )


# --- Tolak ------------------------------------------------------------------------------


def _ask_reject_reason(ctx: Ctx) -> list[Reply]:
    buttons = [Button(Msg(f"button.reason.{code}"), f"rj:{code}") for code in REASON_CODES]
    rows = [tuple(buttons[i : i + 2]) for i in range(0, len(buttons), 2)]
    rows.append(_back_button())
    return [
        say(Msg("village.ask_reject_reason", {"code": _current(ctx) or ""}), buttons=tuple(rows))
    ]


@step(REJECT_REASON, _ask_reject_reason)
async def on_reject_reason(ctx: Ctx, event: Event) -> list[Reply]:
    if _is_back(event):
        return ctx.go(REVIEW)
    if not isinstance(event, ButtonPress):
        return _use_buttons(ctx, event)
    reason = event.payload.removeprefix("rj:")
    if not event.payload.startswith("rj:") or reason not in REASON_CODES:
        return stale_button()
    ctx.data["reason"] = reason
    return ctx.go(REJECT_NOTE)


def _note_required(ctx: Ctx) -> bool:
    return ctx.data.get("reason") == "lainnya"


def _ask_reject_note(ctx: Ctx) -> list[Reply]:
    reason = Msg(f"reason.{ctx.data.get('reason') or 'lainnya'}")
    if _note_required(ctx):
        return [
            say(
                Msg("village.ask_reject_note_required", {"reason": reason}),
                buttons=(_back_button(),),
            )
        ]
    return [
        say(
            Msg("village.ask_reject_note", {"reason": reason}),
            buttons=(intake.skip_button(ctx), _back_button()),
        )
    ]


@step(REJECT_NOTE, _ask_reject_note)
async def on_reject_note(ctx: Ctx, event: Event) -> list[Reply]:
    if _is_back(event):
        return ctx.go(REJECT_REASON)
    reason = ctx.data.get("reason")
    if reason not in REASON_CODES:
        return ctx.go(REJECT_REASON)
    note: str | None = None
    if intake.is_skip(ctx, event):
        if _note_required(ctx):
            return reprompt(ctx, "village.note_required")
    elif isinstance(event, ButtonPress):
        return stale_button()
    else:
        note = _note(event)
        if note is None:
            return _not_text(ctx, event, "village.note_as_text")
        if len(note) > MAX_TEXT_CHARS:
            return reprompt(ctx, Msg("village.note_length", {"min": 1, "max": MAX_TEXT_CHARS}))
    actor = await _actor_or_leave(ctx)
    if actor is None:
        return _not_official()
    return await _decide(
        ctx,
        actor,
        DecisionRequest(Stage.DESA, Decision.DITOLAK, reason_code=str(reason), note=note),
    )


# --- Gabung -----------------------------------------------------------------------------


async def _open_merge(ctx: Ctx, actor: Actor, code: str) -> list[Reply]:
    """Offer the village's other open usulan, the same category first."""
    rows = await ctx.services.queues.all_rows(
        actor, QueueFilter(Stage.DESA, decision=None), limit=10_000
    )
    category = (ctx.data.get("review") or {}).get("category")
    others = [r for r in rows if r.code != code and r.decision in OPEN_AT_DESA]
    others.sort(key=lambda r: r.category != category)  # stable: queue order within each group
    ctx.data["merge"] = [[r.code, excerpt(r.usulan, 36)] for r in others[:MERGE_CHOICES]]
    return ctx.go(MERGE)


def _ask_merge(ctx: Ctx) -> list[Reply]:
    choices: list[list[str]] = ctx.data.get("merge") or []
    rows: list[tuple[Button, ...]] = [
        (Button(f"{code} · {text}", f"mg:{short(code)}"),) for code, text in choices
    ]
    rows.append(_back_button())
    key = "village.ask_merge" if choices else "village.ask_merge_none"
    return [say(Msg(key, {"code": _current(ctx) or ""}), buttons=tuple(rows))]


@step(MERGE, _ask_merge)
async def on_merge(ctx: Ctx, event: Event) -> list[Reply]:
    if _is_back(event):
        return ctx.go(REVIEW)
    current = _current(ctx)
    if isinstance(event, ButtonPress):
        target = normalise_code(event.payload.removeprefix("mg:"))
        offered = {c for c, _ in ctx.data.get("merge") or []}
        if not event.payload.startswith("mg:") or target is None or target not in offered:
            return stale_button()
    elif isinstance(event, Text):
        target = normalise_code(event.text)
        if target is None:
            return reprompt(ctx, "village.merge_code_invalid")
    else:
        return _use_buttons(ctx, event)
    if target == current:
        return reprompt(ctx, "village.merge_self")
    actor = await _actor_or_leave(ctx)
    if actor is None:
        return _not_official()
    try:
        found = await ctx.services.workflow.detail(actor, target)
    except (NotFound, Forbidden):
        # Another desa's usulan is not even confirmed to exist.
        return reprompt(ctx, Msg("village.merge_not_here", {"code": target}))
    if found["desa_code"] != actor.wilayah_code:
        return reprompt(ctx, Msg("village.merge_not_here", {"code": target}))
    if found["stage"] != Stage.DESA.value or found["decision"] not in OPEN_AT_DESA:
        return reprompt(ctx, Msg("village.merge_closed", {"code": target}))
    return await _decide(
        ctx, actor, DecisionRequest(Stage.DESA, Decision.DIGABUNG, merge_into=target)
    )


# --- /usulan_warga: on behalf of a resident without a phone ------------------------------


async def on_behalf(ctx: Ctx) -> list[Reply]:
    actor = await village_actor(ctx)
    if actor is None:
        return _not_official()
    return await begin_on_behalf(ctx, actor)


async def begin_on_behalf(ctx: Ctx, actor: Actor) -> list[Reply]:
    ctx.conversation.data = {
        "draft": {"desa_code": actor.wilayah_code},
        "on_behalf": {},
    }
    intro = Msg("village.on_behalf_intro", {"desa": desa_label(ctx, actor.wilayah_code or "")})
    return ctx.go(RESIDENT_NAME, say(intro, clear_keyboard=True))


def _ask_resident_name(ctx: Ctx) -> list[Reply]:
    return [say("village.ask_resident_name")]


@step(RESIDENT_NAME, _ask_resident_name)
async def on_resident_name(ctx: Ctx, event: Event) -> list[Reply]:
    if isinstance(event, ButtonPress):
        return stale_button()
    if not isinstance(event, Text):
        return _not_text(ctx, event, "village.name_as_text")
    name = " ".join(event.text.split())
    if not 2 <= len(name) <= 120 or name.startswith("/"):
        return reprompt(ctx, "village.name_invalid")
    ctx.data.setdefault("on_behalf", {})["name"] = name
    return ctx.go(RESIDENT_PHONE)


def _ask_resident_phone(ctx: Ctx) -> list[Reply]:
    return [say("village.ask_resident_phone", buttons=(intake.skip_button(ctx),))]


def normalise_phone(text: str) -> str | None:
    """'0812-3456-7890', '+62 812 3456 7890' -> digits (with a leading +); None if not a phone."""
    compact = re.sub(r"[\s().-]", "", text.strip())
    if not re.fullmatch(r"\+?\d{8,15}", compact):
        return None
    return compact


@step(RESIDENT_PHONE, _ask_resident_phone)
async def on_resident_phone(ctx: Ctx, event: Event) -> list[Reply]:
    behalf = ctx.data.setdefault("on_behalf", {})
    if intake.is_skip(ctx, event):
        behalf.pop("phone", None)
    elif isinstance(event, ButtonPress):
        return stale_button()
    elif isinstance(event, Contact | Text):
        phone = normalise_phone(event.phone if isinstance(event, Contact) else event.text)
        if phone is None:
            return reprompt(ctx, "village.phone_invalid")
        behalf["phone"] = phone
    else:
        return _use_buttons(ctx, event)
    return ctx.go(intake.LOCATION)
