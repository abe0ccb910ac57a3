"""Support instead of duplicates: residents back an existing usulan of their village."""

from __future__ import annotations

from dataclasses import dataclass

from rapidfuzz import fuzz
from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from backend.domain import Decision
from backend.errors import Conflict
from backend.services.workflow import WorkflowService
from backend.storage.models import Support, Usulan

SIMILAR_CUTOFF = 60  # token-set similarity (0-100) of the texts; tuned on real usulan wording
CLOSED = {Decision.DITOLAK.value, Decision.DIGABUNG.value, Decision.DITUNDA.value}


class SupportRefused(Conflict):
    """Why a resident cannot back an usulan: `own`, `already` or `closed`."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Backed:
    """The usulan a resident now supports (the one merged into, if theirs was merged)."""

    code: str
    support_count: int


@dataclass(frozen=True)
class SimilarUsulan:
    code: str
    usulan: str
    support_count: int
    score: float


class SupportService:
    def __init__(self, session: AsyncSession, workflow: WorkflowService) -> None:
        self.session = session
        self.workflow = workflow

    async def similar(
        self, desa_code: str, category: str, text: str, limit: int = 3, scan: int = 500,
        exclude_submitter: int | None = None,
    ) -> list[SimilarUsulan]:  # fmt: skip
        """Open usulan of the same desa and category whose texts resemble `text`.

        `exclude_submitter` leaves out a person's own usulan: they cannot back those.
        """
        query = (
            select(Usulan.code, Usulan.usulan, Usulan.permasalahan, Usulan.support_count)
            .where(
                Usulan.desa_code == desa_code,
                Usulan.category == category,
                Usulan.decision.not_in(CLOSED),
            )
            .order_by(Usulan.created_at.desc())
            .limit(scan)
        )
        if exclude_submitter is not None:
            query = query.where(
                or_(Usulan.submitter_id.is_(None), Usulan.submitter_id != exclude_submitter)
            )
        rows = (await self.session.execute(query)).all()
        scored = []
        for code, usulan, permasalahan, support in rows:
            score = fuzz.token_set_ratio(text.lower(), f"{usulan} {permasalahan}".lower())
            if score >= SIMILAR_CUTOFF:
                scored.append(SimilarUsulan(code, usulan, support, round(score, 1)))
        scored.sort(key=lambda s: (-s.score, -s.support_count))
        return scored[:limit]

    async def support(self, user_id: int, code: str) -> Backed:
        row = await self.workflow.get(code)
        if row.merged_into_id is not None:
            target = await self.session.get(Usulan, row.merged_into_id)
            assert target is not None
            row = target  # a merged usulan is backed through the one it joined
        if row.submitter_id == user_id:
            raise SupportRefused("own", "this is your own usulan")
        if row.decision in CLOSED:
            raise SupportRefused("closed", f"{row.code} is closed ({row.decision})")
        try:
            async with self.session.begin_nested():
                self.session.add(Support(usulan_id=row.id, user_id=user_id))
        except IntegrityError:
            raise SupportRefused("already", "you already support this usulan") from None
        await self.workflow.add_support(row.id, 1)
        await self.session.refresh(row)
        return Backed(row.code, row.support_count)
