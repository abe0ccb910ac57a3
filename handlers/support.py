"""Residents backing an existing usulan instead of sending a duplicate, and revising their own.

Support: pressing Kirim on the intake summary first shows up to 3 similar usulan of the same
desa and category (`intake.similar`): Dukung one of them (the draft is discarded only then), or
send one's own anyway. `/dukung KODE` supports by tracking code.

Revision: an usulan returned with `perlu_perbaikan` offers Perbaiki (in /usulan_saya and in the
notification): the official's note, then the usulan on the intake summary, where any field can
be changed (photos added, replaced or removed too); Kirim sends it back to wait again at the
same stage (intake.resubmit_revision).
"""

from __future__ import annotations

from backend.domain import Decision
from backend.errors import Conflict, NotFound, TooManyAttempts
from backend.services.intake import normalise_code
from backend.services.support import Backed, SupportRefused
from handlers import intake
from handlers.enrol import lines
from handlers.events import Button, ButtonPress, Event, Msg, Reply, Say, Text, say
from handlers.status import too_many_lookups
from handlers.steps import Ctx, reprompt, stale_button, step, unexpected

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
    async def back() -> Backed | None:
        try:
            return await ctx.services.support.support(ctx.user.id, code)
        except NotFound:
            return None

    try:
        # A code tried by a resident counts like a /status lookup: no walking the codes.
        backed = await ctx.services.throttle.code_lookup(f"user:{ctx.user.id}", back)
    except TooManyAttempts as exc:
        return [too_many_lookups(exc)]
    except SupportRefused as exc:
        return [say(Msg(REFUSED.get(exc.reason, "support.closed"), {"code": code}))]
    except Conflict:
        return [say(Msg("status.not_found", {"code": code}))]
    if backed is None:
        return [say(Msg("status.not_found", {"code": code}))]
    return [_thanks(backed.code, backed.support_count)]


# --- revising an usulan returned for perlu_perbaikan ------------------------------------


async def start_revision(ctx: Ctx, code_text: str) -> list[Reply]:
    """Perbaiki: the official's note first, then the usulan as a draft on the summary, where
    every field can be changed with the buttons a new usulan has; Kirim sends it back."""
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
    draft = await ctx.services.intake.revision_draft(ctx.user.id, code)
    assert draft is not None  # owned a moment ago, in this same transaction
    note = found.note or ""
    ctx.conversation.data = {"draft": draft, "revise": {"code": code, "note": note}}
    return ctx.go(intake.SUMMARY, say(Msg("revise.intro", {"code": code, "note": note or "-"})))
