"""Looking an usulan up: /status KODE, and /usulan_saya for one's own."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from backend.domain import Decision, Stage
from backend.errors import TooManyAttempts
from backend.services.intake import UsulanSummary
from handlers.events import Button, Msg, Reply, Say, say
from handlers.steps import Ctx

MAX_LISTED = 10


def _desa(ctx: Ctx, code: str) -> str:
    desa = ctx.services.wilayah.get(code)
    return desa.label if desa else code


def _status_line(item: UsulanSummary) -> Msg:
    return Msg(
        "status.stage_decision",
        {"stage": Msg(f"stage.{item.stage}"), "decision": Msg(f"decision.{item.decision}")},
    )


def _current(ctx: Ctx, item: UsulanSummary) -> list[Msg]:
    """Where the usulan stands, in words: the last decision with its date, the reason and
    the official's note, and what happens next."""
    lines = [_status_line(item)]
    latest = item.latest
    if latest is not None and latest.decision != Decision.MENUNGGU.value:
        lines.append(
            Msg(
                "status.decided",
                {
                    "date": _local_date(ctx, latest.at),
                    "stage": Msg(f"stage.{latest.stage}"),
                    "decision": Msg(f"decision.{latest.decision}"),
                },
            )
        )
    if item.reason_code:
        lines.append(Msg("status.reason", {"reason": Msg(f"reason.{item.reason_code}")}))
    if item.note:
        lines.append(Msg("status.note", {"note": _excerpt(item.note, 300)}))
    lines.append(_next_step(ctx, item))
    return lines


def too_many_lookups(exc: TooManyAttempts) -> Say:
    """Codes tried too often from this chat: when to try again, in whole minutes."""
    return say(Msg("status.too_many_lookups", {"minutes": max(1, -(-exc.retry_after // 60))}))


def _why(item: UsulanSummary) -> Msg | None:
    """One line for a list: the reason and the official's note of the last decision."""
    note = _excerpt(item.note, 160) if item.note else None
    reason = Msg(f"reason.{item.reason_code}") if item.reason_code else None
    if reason and note:
        return Msg("status.mine_reason_note", {"reason": reason, "note": note})
    if reason:
        return Msg("status.mine_reason", {"reason": reason})
    if note:
        return Msg("status.mine_note", {"note": note})
    return None


def _next_step(ctx: Ctx, item: UsulanSummary) -> Msg:
    decision, stage = Decision(item.decision), Stage(item.stage)
    if decision is Decision.MENUNGGU:
        deadline = ctx.services.stage_deadlines.get(stage.value)
        if deadline is not None:
            when = deadline.strftime("%d-%m-%Y")
            return Msg("status.next_waiting_until", {"stage": Msg(f"stage.{stage}"), "date": when})
        return Msg("status.next_waiting", {"stage": Msg(f"stage.{stage}")})
    if decision in {Decision.DITERIMA, Decision.DITERIMA_DENGAN_PERUBAHAN}:
        if stage is Stage.DESA:  # moves on when the village confirms its rembuk warga
            return Msg("status.next_after_rembuk")
        return Msg("status.next_done")  # accepted at the last stage: carried out
    return Msg(f"status.next_{decision.value}")


def _local_date(ctx: Ctx, moment: datetime) -> str:
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(ZoneInfo(ctx.services.timezone)).strftime("%d-%m-%Y")


async def status(ctx: Ctx, code_text: str) -> list[Reply]:
    if not code_text.strip():
        # /status alone: the person's own usulan, or how to ask for one.
        own = await mine(ctx)
        nothing = isinstance(own[0], Say) and own[0].parts[0].key == "status.mine_empty"
        return [say("status.ask_code")] if nothing else own
    try:
        found = await ctx.services.throttle.code_lookup(
            f"user:{ctx.user.id}", lambda: ctx.services.intake.status(code_text)
        )
    except TooManyAttempts as exc:
        return [too_many_lookups(exc)]
    if found is None:
        return [say(Msg("status.not_found", {"code": code_text.strip()[:20]}))]
    lines = [
        Msg(
            "status.header",
            {
                "code": found.code,
                "desa": _desa(ctx, found.desa_code),
                "category": Msg(f"category.{found.category}"),
                "year": found.planning_year,
                "usulan": _excerpt(found.usulan),
            },
        ),
        *_current(ctx, found),
        Msg("status.history_title"),
    ]
    for entry in found.history:
        lines.append(
            Msg(
                "status.history_entry_reason" if entry.reason_code else "status.history_entry",
                {
                    "date": _local_date(ctx, entry.at),
                    "stage": Msg(f"stage.{entry.stage}"),
                    "decision": Msg(f"decision.{entry.decision}"),
                    "reason": Msg(f"reason.{entry.reason_code}"),
                },
            )
        )
    if ctx.services.public_url:
        url = f"{ctx.services.public_url.rstrip('/')}/u/{found.code}"
        lines.append(Msg("status.public_link", {"url": url}))
    return [say(*lines)]


async def mine(ctx: Ctx) -> list[Reply]:
    items = await ctx.services.intake.mine(ctx.user.id, limit=MAX_LISTED)
    if not items:
        return [say("status.mine_empty")]
    lines = [Msg("status.mine_header", {"count": len(items)})]
    to_fix: list[str] = []
    for item in items:
        lines.append(
            Msg(
                "status.mine_item",
                {
                    "code": item.code,
                    "usulan": _excerpt(item.usulan, 60),
                    "desa": _desa(ctx, item.desa_code),
                    "status": _status_line(item),
                },
            )
        )
        why = _why(item)
        if why is not None:
            lines.append(why)
        if item.decision == Decision.PERLU_PERBAIKAN.value:
            lines.append(Msg("status.mine_needs_fix", {"code": item.code}))
            to_fix.append(item.code)
    lines.append(Msg("status.mine_hint"))
    # The same payload as the notification's button: handled wherever the person is.
    buttons = tuple(
        (Button(Msg("button.fix_code", {"code": code}), f"fix:{code.replace('-', '')}"),)
        for code in to_fix
    )
    return [say(*lines, buttons=buttons)]


def _excerpt(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
