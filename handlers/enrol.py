"""Officials in chat: enrolment with a single-use invite code (`/daftar KODE` or the deep link
`/start KODE`), and the bits the officials' conversations share (who is a village official,
how a desa is named, a list rendered as lines of one message)."""

from __future__ import annotations

from collections.abc import Iterable

import locales
from backend.errors import Conflict, NotFound
from backend.services.intake import CODE_ALPHABET
from backend.services.officials import (
    VILLAGE_ROLES,
    Actor,
    InviteRefused,
    Role,
    normalise_invite,
)
from handlers.events import Msg, Reply, say
from handlers.steps import Ctx

INVITE_LENGTH = 12

ROLE_NAMES = {
    Role.KEPALA_DESA: "role.kepala_desa",
    Role.OPERATOR_DESA: "role.operator_desa",
    Role.OPERATOR_KECAMATAN: "role.operator_kecamatan",
    Role.OPD: "role.opd",
    Role.ADMIN: "role.admin",
}
REFUSED = {"used": "enrol.code_used", "expired": "enrol.code_expired"}


def looks_like_invite(text: str) -> bool:
    """Is this deep-link payload shaped like an invite code (not some other /start payload)?"""
    code = normalise_invite(text)
    return len(code) == INVITE_LENGTH and all(ch in CODE_ALPHABET for ch in code)


async def village_actor(ctx: Ctx) -> Actor | None:
    """The person's role when it is a village one (kepala desa, operator desa) bound to a desa."""
    actor = await ctx.services.officials.actor_for(ctx.user.id)
    if actor is None or actor.role not in VILLAGE_ROLES or not actor.wilayah_code:
        return None
    return actor


def desa_label(ctx: Ctx, code: str) -> str:
    desa = ctx.services.wilayah.get(code)
    return f"{desa.label}, Kec. {desa.kecamatan_name}" if desa else code


def lines(ctx: Ctx, items: Iterable[Msg]) -> str:
    """Several short lines as one parameter: a list reads better without blank lines between."""
    return "\n".join(locales.t(ctx.language, m.key, m.params) for m in items)


def excerpt(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


async def _scope(ctx: Ctx, actor: Actor) -> str:
    if actor.role == Role.OPD:
        name = await ctx.services.officials.opd_name(actor.opd_code or "")
        return name or actor.opd_code or ""
    code = actor.wilayah_code or ""
    level = len(code.split("."))
    if level == 4:
        return desa_label(ctx, code)
    if level == 3:
        return f"Kecamatan {ctx.services.wilayah.kecamatan_name(code) or code}"
    return ctx.services.wilayah.kabkota_name(code) or code


async def claim(ctx: Ctx, text: str) -> list[Reply]:
    if not text.strip():
        return [say("enrol.ask_code")]
    try:
        actor = await ctx.services.officials.claim(ctx.user.id, text)
    except InviteRefused as exc:
        return [say(REFUSED.get(exc.reason, "enrol.code_used"))]
    except (NotFound, Conflict):
        return [say("enrol.code_unknown")]
    welcome = Msg(
        "enrol.welcome",
        {"role": Msg(ROLE_NAMES[actor.role]), "scope": await _scope(ctx, actor)},
    )
    can = "enrol.can_village" if actor.role in VILLAGE_ROLES else "enrol.can_alerts"
    return [say(welcome, can)]
