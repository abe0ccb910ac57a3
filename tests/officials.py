"""Readable fixtures for the Musrenbang's people: a warga, a kepala desa, a camat's operator."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

from backend.domain import Decision, Stage
from backend.services.officials import Actor, Role, system_actor
from backend.services.wiring import Backend
from backend.services.workflow import DecisionRequest

PASAR_BARU = "12.71.01.1001"  # Kelurahan Pasar Baru, Kec. Medan Kota
PUSAT_PASAR = "12.71.01.1002"  # Kelurahan Pusat Pasar, Kec. Medan Kota
MEDAN_KOTA = "12.71.01"
LABUHAN_DELI = "12.71.12.1001"  # Kec. Medan Marelan: another kecamatan
OPERATOR = system_actor("12.71")  # the command line of the Kota Medan deployment
_ids = itertools.count(10_000)


@dataclass(frozen=True)
class Person:
    user_id: int
    actor: Actor | None = None
    token: str | None = None


async def warga(backend: Backend, name: str = "Warga") -> Person:
    async with backend.unit() as s:
        user = await s.users.get_or_create(
            channel="test", external_id=str(next(_ids)), chat_id="1", language_hint="id"
        )
        await s.users.record_consent(user.id, name)
    return Person(user.id)


async def official(
    backend: Backend, role: Role, *, wilayah: str | None = None, opd: str | None = None,
    username: str | None = None, password: str = "rahasia-sekali-123",
) -> Person:  # fmt: skip
    """An official enrolled the real way: an invite code claimed by a chat user."""
    person = await warga(backend, f"{role.value} {wilayah or opd}")
    async with backend.unit() as s:
        invite = await s.officials.create_invite(
            role, wilayah_code=wilayah, opd_code=opd, created_by=OPERATOR
        )
        actor = await s.officials.claim(person.user_id, invite.code)
        token = await s.officials.create_token(person.user_id, "test")
        if username:
            await s.officials.set_password(person.user_id, username, password)
    return Person(person.user_id, actor, token)


def draft(
    desa: str = PASAR_BARU, category: str = "jalan", n: int = 0, **extra: Any
) -> dict[str, Any]:
    return {
        "desa_code": desa,
        "category": category,
        "permasalahan": f"Jalan lingkungan rusak berlubang nomor {n}",
        "usulan": f"Pengaspalan jalan lingkungan nomor {n}",
        "volume": "120",
        "unit": "meter",
        **extra,
    }


async def submit(backend: Backend, submitter: Person, **kwargs: Any) -> str:
    async with backend.unit() as s:
        done = await s.intake.submit(draft(**kwargs), submitter_id=submitter.user_id)
    return done.code


async def decide(
    backend: Backend, who: Person, code: str, stage: Stage, decision: Decision, **kwargs: Any
) -> Any:
    assert who.actor is not None
    async with backend.unit() as s:
        return await s.workflow.decide(who.actor, code, DecisionRequest(stage, decision, **kwargs))


async def forward_to_kecamatan(backend: Backend, kepala: Person, codes: list[str]) -> None:
    """Accept the usulan in the village and confirm a rembuk warga with them in this order."""
    from datetime import date

    assert kepala.actor is not None
    for code in codes:
        await decide(backend, kepala, code, Stage.DESA, Decision.DITERIMA)
    async with backend.unit() as s:
        rembuk = await s.rembuk.open(kepala.actor, backend.planning_year)
        await s.rembuk.set_details(kepala.actor, rembuk.id, held_on=date(2026, 11, 20),
                                   place="Balai kelurahan")  # fmt: skip
        await s.rembuk.set_attendance(kepala.actor, rembuk.id, total=42, women=19)
        await s.rembuk.rank(kepala.actor, rembuk.id, codes)
        await s.rembuk.confirm(kepala.actor, rembuk.id)
