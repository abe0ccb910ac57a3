"""Residents backing an existing usulan instead of sending a duplicate, and revising their own.

Support: pressing Kirim on the intake summary first shows up to 3 similar usulan of the same
desa and category (`intake.similar`): Dukung one of them (the draft is discarded only then), or
send one's own anyway. `/dukung KODE` supports by tracking code.

Revision: an usulan returned with `perlu_perbaikan` offers Perbaiki (in /usulan_saya and in the
notification): the official's note -> new usulan text -> new problem text (Lewati keeps the old
one) -> it waits again at the same stage.
"""

from __future__ import annotations

from backend.domain import MAX_TEXT_CHARS, MIN_TEXT_CHARS, Decision
from backend.errors import Conflict, Forbidden, NotFound
from backend.services.intake import normalise_code
from backend.services.support import SupportRefused
from handlers import intake
from handlers.context import Ctx, reprompt, stale_button, step, unexpected
from handlers.enrol import excerpt, lines
from handlers.events import Button, ButtonPress, Event, Msg, Reply, Say, Text, say

REVISE_REQUEST = "revise.request"
REVISE_PROBLEM = "revise.problem"

REFUSED = {
    "own": "support.own",
    "already": "support.already",
    "closed": "support.closed",
}


# --- similar usulan before sending ------------------------------------------------------


def _similar(ctx: Ctx) -> list[list[object]]:
    found: list[list[object]] = ctx.data.get("similar") or []
    return found


def _ask_similar(ctx: Ctx) -> list[Reply]:
    found = _similar(ctx)
    listed = lines(
        ctx,
        (
            Msg("support.similar_item", {"code": code, "usulan": text, "support": count})
            for code, text, count in found
        ),
    )
    rows: list[tuple[Button, ...]] = [
        (Button(Msg("button.support_code", {"code": code}), f"dk:{str(code).replace('-', '')}"),)
        for code, _, _ in found
    ]
    rows.append((Button(Msg("button.send_mine"), "dk:own"),))
    rows.append((Button(Msg("button.back_to_summary"), "dk:back"),))
    return [
        Say(
            parts=(Msg("support.similar", {"lines": listed}), Msg("support.similar_hint")),
            buttons=tuple(rows),
            clear_keyboard=True,
        )
    ]


@step(intake.SIMILAR, _ask_similar)
async def on_similar(ctx: Ctx, event: Event) -> list[Reply]:
    if isinstance(event, Text):
        return reprompt(ctx, "support.use_buttons")
    if not isinstance(event, ButtonPress):
        return unexpected(ctx, event)
    if event.payload == "dk:own":
        return await intake.submit_draft(ctx)
    if event.payload == "dk:back":
        return ctx.go(intake.SUMMARY)
    code = normalise_code(event.payload.removeprefix("dk:"))
    offered = {str(c) for c, _, _ in _similar(ctx)}
    if not event.payload.startswith("dk:") or code is None or code not in offered:
        return stale_button()
    try:
        backed = await ctx.services.support.support(ctx.user.id, code)
    except SupportRefused as exc:
        return reprompt(ctx, Msg(REFUSED.get(exc.reason, "support.closed"), {"code": code}))
    except NotFound:
        return reprompt(ctx, Msg("status.not_found", {"code": code}))
    ctx.reset()
    return [_thanks(backed.code, backed.support_count)]


def _thanks(code: str, count: int) -> Say:
    return say(Msg("support.thanks", {"code": code, "count": count}), clear_keyboard=True)


# --- /dukung KODE -----------------------------------------------------------------------


async def support_code(ctx: Ctx, text: str) -> list[Reply]:
    """Back an usulan by its tracking code; the conversation's state is left as it was."""
    if not text.strip():
        return [say("support.ask_code")]
    code = normalise_code(text)
    if code is None:
        return [say(Msg("status.not_found", {"code": text.strip()[:20]}))]
    try:
        backed = await ctx.services.support.support(ctx.user.id, code)
    except SupportRefused as exc:
        return [say(Msg(REFUSED.get(exc.reason, "support.closed"), {"code": code}))]
    except (NotFound, Conflict):
        return [say(Msg("status.not_found", {"code": code}))]
    return [_thanks(backed.code, backed.support_count)]


# --- revising an usulan returned for perlu_perbaikan ------------------------------------


async def start_revision(ctx: Ctx, code_text: str) -> list[Reply]:
    code = normalise_code(code_text)
    if code is None:
        return stale_button()
    found = await ctx.services.intake.owned(ctx.user.id, code)
    if found is None:
        return [say(Msg("status.not_found", {"code": code}))]
    if found.decision != Decision.PERLU_PERBAIKAN.value:
        return [say(Msg("revise.not_needed", {"code": code}))]
    if ctx.state.startswith("intake."):  # a draft in progress is not dropped for this
        return [say("revise.finish_draft_first")]
    returned = [h for h in found.history if h.decision == Decision.PERLU_PERBAIKAN.value]
    note = (returned[-1].note if returned else None) or ""
    ctx.conversation.data = {
        "revise": {
            "code": code,
            "note": note,
            "usulan": found.usulan,
            "permasalahan": found.permasalahan,
            "changes": {},
        }
    }
    return ctx.go(REVISE_REQUEST, say(Msg("revise.intro", {"code": code, "note": note or "-"})))


def _revise(ctx: Ctx) -> dict[str, object]:
    revise: dict[str, object] = ctx.data.setdefault("revise", {})
    return revise


def _ask_revise_request(ctx: Ctx) -> list[Reply]:
    old = excerpt(str(_revise(ctx).get("usulan") or ""), 300)
    return [
        say(
            Msg("revise.ask_request", {"old": old, "max": MAX_TEXT_CHARS}),
            buttons=(intake.skip_button(ctx),),
            clear_keyboard=True,
        )
    ]


def _ask_revise_problem(ctx: Ctx) -> list[Reply]:
    old = excerpt(str(_revise(ctx).get("permasalahan") or ""), 300)
    return [
        say(
            Msg("revise.ask_problem", {"old": old, "max": MAX_TEXT_CHARS}),
            buttons=(intake.skip_button(ctx),),
        )
    ]


def _revised_text(ctx: Ctx, event: Event, field: str) -> list[Reply] | None:
    """Take the answer into the changes; replies only when the answer is not usable."""
    if intake.is_skip(ctx, event):
        return None
    if isinstance(event, ButtonPress):
        return stale_button()
    if not isinstance(event, Text):
        return unexpected(ctx, event)
    text = event.text.strip()
    if len(text) > MAX_TEXT_CHARS:
        return [say(Msg("intake.text_too_long", {"max": MAX_TEXT_CHARS, "length": len(text)}))]
    if len(text) < MIN_TEXT_CHARS:
        return [say(Msg("intake.text_too_short", {"min": MIN_TEXT_CHARS}))]
    changes = _revise(ctx).setdefault("changes", {})
    assert isinstance(changes, dict)
    changes[field] = text
    return None


@step(REVISE_REQUEST, _ask_revise_request)
async def on_revise_request(ctx: Ctx, event: Event) -> list[Reply]:
    refused = _revised_text(ctx, event, "usulan")
    if refused is not None:
        return refused
    return ctx.go(REVISE_PROBLEM)


@step(REVISE_PROBLEM, _ask_revise_problem)
async def on_revise_problem(ctx: Ctx, event: Event) -> list[Reply]:
    refused = _revised_text(ctx, event, "permasalahan")
    if refused is not None:
        return refused
    revise = _revise(ctx)
    code = str(revise.get("code") or "")
    changes = revise.get("changes") or {}
    assert isinstance(changes, dict)
    try:
        await ctx.services.workflow.resubmit(ctx.user.id, code, dict(changes))
    except (Conflict, Forbidden, NotFound):
        ctx.reset()
        return [say(Msg("revise.not_needed", {"code": code}), clear_keyboard=True)]
    ctx.reset()
    key = "revise.sent" if changes else "revise.sent_unchanged"
    return [say(Msg(key, {"code": code}), clear_keyboard=True)]
