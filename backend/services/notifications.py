"""The transactional outbox (docs/architecture.md): notifications are rows written in the
same transaction as the change that causes them, and a delivery worker sends them later. Text
is not stored: the worker renders the template in the recipient's language at send time."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.domain import Decision, Stage
from backend.storage.models import Notification, Official, Support, User, Usulan, Wilayah
from backend.storage.upsert import insert_ignoring_duplicates

# Whose queue a stage is, by role (the Bappeda admins are told about the stages they run).
QUEUE_OWNERS = {
    Stage.KECAMATAN: "operator_kecamatan",
    Stage.PERANGKAT_DAERAH: "opd",
    Stage.KABKOTA: "admin",
    Stage.RENJA: "opd",
    Stage.RKPD: "admin",
    Stage.APBD: "admin",
    Stage.REALISASI: "opd",
}


class Outbox:
    def __init__(self, session: AsyncSession, groups: dict[str, int] | None = None) -> None:
        self.session = session
        self.groups = groups or {}  # kecamatan or OPD code -> Telegram group chat id

    async def add(self, rows: Iterable[dict[str, Any]]) -> int:
        """Write notification rows; returns how many were new. A repeated cause (the same
        decision seen twice) notifies once: the dedupe key is unique and a clash is skipped."""
        return await insert_ignoring_duplicates(
            self.session, Notification, list(rows), ("dedupe_key",)
        )

    async def _recipients(self, usulan_id: int, submitter_id: int | None) -> list[User]:
        ids = set(
            await self.session.scalars(
                select(Support.user_id).where(Support.usulan_id == usulan_id)
            )
        )
        if submitter_id is not None:
            ids.add(submitter_id)
        if not ids:
            return []
        users = await self.session.scalars(select(User).where(User.id.in_(ids)))
        return [u for u in users if u.chat_id]  # erased accounts have no chat left

    async def decision(
        self,
        row: Usulan,
        stage: Stage,
        decision: Decision,
        reason_code: str | None,
        note: str | None,
    ) -> int:
        """Tell the submitter and every supporter what was decided, and why."""
        recipients = await self._recipients(row.id, row.submitter_id)
        params = {
            "code": row.code,
            "stage": stage.value,
            "decision": decision.value,
            "reason_code": reason_code,
            "note": note,
            "next_stage": row.stage if row.stage != stage.value else None,
        }
        return await self.add(
            {
                "user_id": user.id,
                "channel": user.channel,
                "template": "notify.decision",
                "params": {**params, "submitter": user.id == row.submitter_id},
                "dedupe_key": f"decision:{row.code}:{stage.value}:{decision.value}:{user.id}",
            }
            for user in recipients
        )

    async def _group_user(self, chat_id: int) -> int:
        """A Telegram group receives alerts like a person: it gets a recipient row once."""
        external = f"group:{chat_id}"
        user_id = await self.session.scalar(
            select(User.id).where(User.channel == "telegram", User.external_id == external)
        )
        if user_id is None:
            user = User(channel="telegram", external_id=external, chat_id=str(chat_id),
                        language="id", reachable=True)  # fmt: skip
            self.session.add(user)
            await self.session.flush()
            user_id = user.id
        return user_id

    async def forwarded(self, rows: Sequence[Usulan], from_stage: Stage) -> int:
        """Tell backers their usulan passed a stage and now waits at the next one."""
        total = 0
        for row in rows:
            recipients = await self._recipients(row.id, row.submitter_id)
            total += await self.add(
                {
                    "user_id": user.id,
                    "channel": user.channel,
                    "template": "notify.forwarded",
                    "params": {
                        "code": row.code,
                        "stage": from_stage.value,
                        "next_stage": row.stage,
                        "village_rank": row.village_rank,
                    },
                    "dedupe_key": f"forwarded:{row.code}:{row.stage}:{user.id}",
                }
                for user in recipients
            )
        return total

    async def queue_received(
        self, stage: Stage, rows: Sequence[Usulan], batch: str | None = None
    ) -> int:
        """One alert per official whose queue just received these usulan."""
        role = QUEUE_OWNERS.get(stage)
        if role is None or not rows:
            return 0
        batch = batch or uuid.uuid4().hex[:12]
        officials = list(
            await self.session.scalars(
                select(Official).where(Official.role == role, Official.revoked_at.is_(None))
            )
        )
        alerts: dict[int, list[Usulan]] = {}
        for scope, chat_id in self.groups.items():
            in_scope = [r for r in rows if scope in (r.kecamatan_code, r.opd)]
            if in_scope:
                alerts[await self._group_user(chat_id)] = in_scope
        for official in officials:
            for row in rows:
                if role == "opd":
                    mine = row.opd == official.opd_code
                else:
                    scope = official.wilayah_code or ""
                    mine = row.desa_code == scope or row.desa_code.startswith(scope + ".")
                if mine:
                    alerts.setdefault(official.user_id, []).append(row)
        if not alerts:
            return 0
        users = {
            u.id: u
            for u in await self.session.scalars(select(User).where(User.id.in_(list(alerts))))
        }
        codes = sorted({r.desa_code for alert in alerts.values() for r in alert})
        names = dict(
            (await self.session.execute(
                select(Wilayah.code, Wilayah.name).where(Wilayah.code.in_(codes))
            )).all()
        )  # fmt: skip
        return await self.add(
            {
                "user_id": user_id,
                "channel": users[user_id].channel,
                "template": "alert.queue_received",
                "params": {
                    "stage": stage.value,
                    "count": len(items),
                    "desa": sorted({names.get(r.desa_code, r.desa_code) for r in items}),
                },
                "dedupe_key": f"queue:{stage.value}:{batch}:{user_id}",
            }
            for user_id, items in alerts.items()
            if user_id in users and users[user_id].chat_id
        )
