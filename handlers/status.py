"""Looking an usulan up: /status KODE, and /usulan_saya for one's own."""

from __future__ import annotations

from backend.domain import Decision
from backend.services.intake import UsulanSummary
from handlers.context import Ctx
from handlers.events import Button, Msg, Reply, say

MAX_LISTED = 10


def _desa(ctx: Ctx, code: str) -> str:
    desa = ctx.services.wilayah.get(code)
    return desa.label if desa else code


def _status_line(item: UsulanSummary) -> Msg:
    return Msg(
        "status.stage_decision",
        {"stage": Msg(f"stage.{item.stage}"), "decision": Msg(f"decision.{item.decision}")},
    )


async def status(ctx: Ctx, code_text: str) -> list[Reply]:
    if not code_text.strip():
        return [say("status.ask_code")]
    found = await ctx.services.intake.status(code_text)
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
        _status_line(found),
    ]
    for entry in found.history:
        lines.append(
            Msg(
                "status.history_entry",
                {
                    "date": entry.at.strftime("%d-%m-%Y"),
                    "stage": Msg(f"stage.{entry.stage}"),
                    "decision": Msg(f"decision.{entry.decision}"),
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
