"""The Musrenbang state machine (docs/architecture.md): who may decide what, where, and what
follows.

Every transition is checked here and nowhere else: the stage must be the usulan's current one,
the usulan must be waiting, the actor's role must work that stage and their scope must cover
the usulan. The status row is updated with a guard on its old value, so of two officials
deciding at once exactly one wins and the other gets a Conflict.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from backend.domain import Decision, Stage, check_number, check_text
from backend.errors import Conflict, Forbidden, InvalidInput, NotFound
from backend.services.categories import Category
from backend.services.history import append_event
from backend.services.intake import (
    DERIVED_FROM,
    RESIDENT_FIELDS,
    VOICE_FIELDS,
    clean_text,
    draft_of,
    normalise_code,
    photo_rows,
    plain_number,
    usulan_fields,
)
from backend.services.notifications import Outbox
from backend.services.officials import Actor, Role
from backend.storage.models import Opd, Support, Usulan, UsulanEvent, UsulanPhoto, UsulanVoice

STAGES = list(Stage)
REASON_CODES = (
    "bukan_kewenangan",
    "duplikat",
    "volume_tidak_wajar",
    "dokumen_tidak_lengkap",
    "tidak_sesuai_prioritas",
    "pagu_tidak_cukup",
    "lainnya",
)
# Decisions an official takes; `menunggu` is where an usulan waits, not a decision.
DECISIONS = tuple(d for d in Decision if d is not Decision.MENUNGGU)
FINAL = {Decision.DITOLAK, Decision.DITUNDA, Decision.DIGABUNG}
NEEDS_NOTE = {Decision.PERLU_PERBAIKAN, Decision.DITUNDA}
CHANGEABLE = {"volume", "unit", "opd", "desa_code", "latitude", "longitude", "street"}

# Which roles work which stage. Bappeda (admin) may act at every stage of its kabupaten/kota.
STAGE_ROLES: dict[Stage, set[Role]] = {
    Stage.DESA: {Role.KEPALA_DESA, Role.OPERATOR_DESA, Role.ADMIN},
    Stage.KECAMATAN: {Role.OPERATOR_KECAMATAN, Role.ADMIN},
    Stage.PERANGKAT_DAERAH: {Role.OPD, Role.ADMIN},
    Stage.KABKOTA: {Role.ADMIN},
    Stage.RENJA: {Role.OPD, Role.ADMIN},
    Stage.RKPD: {Role.ADMIN},
    Stage.APBD: {Role.ADMIN},
    Stage.REALISASI: {Role.OPD, Role.ADMIN},
}


def next_stage(stage: Stage) -> Stage | None:
    index = STAGES.index(stage)
    return STAGES[index + 1] if index + 1 < len(STAGES) else None


def may_act(actor: Actor, stage: Stage, desa_code: str, opd: str | None) -> bool:
    if actor.role not in STAGE_ROLES[stage]:
        return False
    if actor.role == Role.OPD:
        return opd is not None and opd == actor.opd_code
    return actor.covers_desa(desa_code)


@dataclass(frozen=True)
class DecisionRequest:
    stage: Stage
    decision: Decision
    reason_code: str | None = None
    note: str | None = None
    changes: dict[str, Any] | None = None
    merge_into: str | None = None  # tracking code of the usulan to merge into


@dataclass(frozen=True)
class DecisionResult:
    code: str
    stage: str
    decision: str


class WorkflowService:
    def __init__(
        self,
        session: AsyncSession,
        outbox: Outbox,
        wilayah: Any,
        categories: dict[str, Category] | None = None,
    ) -> None:
        self.session = session
        self.outbox = outbox
        self.wilayah = wilayah
        self.categories = categories or {}

    async def get(self, code: str) -> Usulan:
        normalised = normalise_code(code)
        row = None
        if normalised is not None:
            row = await self.session.scalar(select(Usulan).where(Usulan.code == normalised))
        if row is None:
            raise NotFound(f"no usulan with code {code[:20]}")
        return row

    def check_scope(self, actor: Actor, row: Usulan) -> None:
        stage = Stage(row.stage)
        if not may_act(actor, stage, row.desa_code, row.opd):
            raise Forbidden(
                f"a {actor.role.value} of {actor.wilayah_code or actor.opd_code} "
                f"may not act on {row.code} at stage {stage.value}"
            )

    def check_can_view(self, actor: Actor, row: Usulan) -> None:
        """Officials see what lies in their wilayah or belongs to their OPD, at any stage."""
        if actor.role == Role.OPD:
            if row.opd != actor.opd_code:
                raise Forbidden("outside your OPD")
        elif not actor.covers_desa(row.desa_code):
            raise Forbidden("outside your wilayah")

    async def detail(self, actor: Actor, code: str) -> dict[str, Any]:
        """Everything an official in scope needs to decide, with the full history."""
        from backend.services.queues import mask_phone

        row = await self.get(code)
        self.check_can_view(actor, row)
        photos = await self.session.scalars(
            select(UsulanPhoto.sha256)
            .where(UsulanPhoto.usulan_id == row.id)
            .order_by(UsulanPhoto.position)
        )
        events = await self.session.scalars(
            select(UsulanEvent).where(UsulanEvent.usulan_id == row.id).order_by(UsulanEvent.seq)
        )
        merged_into = (
            await self.session.scalar(select(Usulan.code).where(Usulan.id == row.merged_into_id))
            if row.merged_into_id
            else None
        )
        fields = (
            "code", "created_at", "desa_code", "category", "urusan_code", "opd", "permasalahan",
            "usulan", "volume", "unit", "stage", "decision", "village_rank", "support_count",
            "planning_year", "origin", "dusun", "rt", "rw", "street", "latitude", "longitude",
            "beneficiaries", "beneficiaries_unit",
        )  # fmt: skip
        return {
            **{name: getattr(row, name) for name in fields},
            "submitter_phone": mask_phone(row.submitter_phone) or None,
            "merged_into": merged_into,
            "photo_hashes": list(photos),
            "history": [
                {
                    "at": e.at,
                    "kind": e.kind,
                    "stage": e.to_stage,
                    "decision": e.to_decision,
                    "reason_code": e.reason_code,
                    "note": e.note,
                    "changes": (e.payload or {}).get("changes") or None,
                }
                for e in events
            ],
        }

    async def decide(self, actor: Actor, code: str, request: DecisionRequest) -> DecisionResult:
        row = await self._decidable(actor, code, request)
        decision = request.decision
        reason, note = self._reason(request)
        changes: dict[str, list[Any]] = {}
        target: Usulan | None = None
        if decision is Decision.DITERIMA_DENGAN_PERUBAHAN:
            changes = await self._changes(row, request.changes or {})
            self._check_changes_in_scope(actor, row, changes)
        if decision is Decision.DIGABUNG:
            target = await self._merge_target(row, request.merge_into)

        stage = Stage(row.stage)
        forward = decision in {Decision.DITERIMA, Decision.DITERIMA_DENGAN_PERUBAHAN}
        # At the desa stage acceptance waits for the rembuk warga to be confirmed; at the
        # last stage it is the end of the road.
        moved_to = next_stage(stage) if forward and stage is not Stage.DESA else None
        values: dict[str, Any] = {
            "stage": (moved_to or stage).value,
            "decision": (Decision.MENUNGGU if moved_to else decision).value,
            **{field: new for field, (_, new) in changes.items()},
        }
        if "desa_code" in changes:
            values["kecamatan_code"] = ".".join(str(changes["desa_code"][1]).split(".")[:3])
        if target is not None:
            values["merged_into_id"] = target.id
        if not await self._update_if(row.id, stage.value, Decision.MENUNGGU.value, values):
            raise Conflict(f"{row.code} was decided by someone else a moment ago")
        await self._record(row, actor, stage, decision, (reason, note), changes, target, moved_to)
        if target is not None:
            await self._join_supporters(row, target)
        await self.session.refresh(row)
        if not (forward and stage is Stage.DESA):
            # Acceptance in the village is announced when its rembuk warga is confirmed.
            await self.outbox.decision(row, stage, decision, reason, note)
        if moved_to is not None:
            await self.outbox.queue_received(moved_to, [row])
        return DecisionResult(code=row.code, stage=row.stage, decision=row.decision)

    async def _decidable(self, actor: Actor, code: str, request: DecisionRequest) -> Usulan:
        """The usulan, if this actor may take this decision on it now."""
        row = await self.get(code)
        if row.stage != request.stage.value:
            raise Conflict(f"{row.code} is at stage {row.stage}, not {request.stage.value}")
        self.check_scope(actor, row)
        if row.decision != Decision.MENUNGGU.value:
            raise Conflict(f"{row.code} was already decided at {row.stage}: {row.decision}")
        if request.decision not in DECISIONS:
            raise InvalidInput("decision", f"not a decision: {request.decision.value}")
        return row

    async def _record(
        self,
        row: Usulan,
        actor: Actor,
        stage: Stage,
        decision: Decision,
        why: tuple[str | None, str | None],
        changes: dict[str, list[Any]],
        target: Usulan | None,
        moved_to: Stage | None,
    ) -> None:
        """The decision's events: the decision itself, and the move to the next stage."""
        reason, note = why
        await append_event(
            self.session,
            usulan_id=row.id,
            kind="keputusan",
            from_stage=stage.value,
            from_decision=Decision.MENUNGGU.value,
            to_stage=stage.value,
            to_decision=decision.value,
            actor_user_id=actor.user_id,
            reason_code=reason,
            note=note,
            payload={
                "role": actor.role.value,
                "changes": changes,
                **({"merged_into": target.code} if target is not None else {}),
            },
        )
        if moved_to is not None:
            await append_event(
                self.session,
                usulan_id=row.id,
                kind="diteruskan",
                from_stage=stage.value,
                from_decision=decision.value,
                to_stage=moved_to.value,
                to_decision=Decision.MENUNGGU.value,
                actor_user_id=actor.user_id,
            )

    def _reason(self, request: DecisionRequest) -> tuple[str | None, str | None]:
        note = check_text("note", clean_text(request.note)) or None
        reason = request.reason_code
        if request.decision is Decision.DITOLAK:
            if reason not in REASON_CODES:
                raise InvalidInput("reason_code", f"one of {', '.join(REASON_CODES)}")
            if reason == "lainnya" and not note:
                raise InvalidInput("note", "say why when the reason is 'lainnya'")
            return reason, note
        if request.decision in NEEDS_NOTE and not note:
            raise InvalidInput("note", f"a reason is required for {request.decision.value}")
        if reason is not None and reason not in REASON_CODES:
            raise InvalidInput("reason_code", f"one of {', '.join(REASON_CODES)}")
        return reason, note

    async def _changes(self, row: Usulan, wanted: dict[str, Any]) -> dict[str, list[Any]]:
        unknown = set(wanted) - CHANGEABLE
        if unknown:
            raise InvalidInput("changes", f"cannot change {', '.join(sorted(unknown))}")
        if not wanted:
            raise InvalidInput("changes", "say what changed")
        changes: dict[str, list[Any]] = {}
        for field, value in wanted.items():
            value = _changed_value(field, value)
            if field == "opd" and await self.session.get(Opd, value) is None:
                raise InvalidInput("changes.opd", "unknown OPD code")
            if field == "desa_code" and self.wilayah.get(value) is None:
                raise InvalidInput("changes.desa_code", "unknown desa/kelurahan")
            old = getattr(row, field)
            if old != value:
                changes[field] = [_plain(old), _plain(value)]
        if not changes:
            raise InvalidInput("changes", "nothing differs from the usulan as it is")
        return changes

    def _check_changes_in_scope(
        self, actor: Actor, row: Usulan, changes: dict[str, list[Any]]
    ) -> None:
        """A change may not carry the usulan out of the actor's reach: moved to a desa
        outside their wilayah, or handed to an OPD that is not theirs at a stage they work
        as that OPD. Deciding is acting in scope; so is what the decision changes."""
        desa_code = str(changes["desa_code"][1]) if "desa_code" in changes else row.desa_code
        opd = str(changes["opd"][1]) if "opd" in changes else row.opd
        if not may_act(actor, Stage(row.stage), desa_code, opd):
            moved = ", ".join(f for f in ("desa_code", "opd") if f in changes)
            raise Forbidden(f"changing {moved} would move {row.code} outside your scope")

    async def _merge_target(self, row: Usulan, code: str | None) -> Usulan:
        if not code:
            raise InvalidInput("merge_into", "the code of the usulan to merge into")
        target = await self.get(code)
        if target.id == row.id:
            raise InvalidInput("merge_into", "an usulan cannot merge into itself")
        if target.merged_into_id is not None or target.decision in {d.value for d in FINAL}:
            raise Conflict(f"{target.code} is closed ({target.decision})")
        if target.stage != row.stage:
            raise Conflict(f"{target.code} is at another stage ({target.stage})")
        if row.stage == Stage.DESA.value and target.desa_code != row.desa_code:
            raise InvalidInput("merge_into", "at the desa stage only usulan of the same desa merge")
        return target

    async def _join_supporters(self, source: Usulan, target: Usulan) -> None:
        """The merged usulan's submitter and supporters now back the target."""
        backers = set(
            await self.session.scalars(
                select(Support.user_id).where(Support.usulan_id == source.id)
            )
        )
        if source.submitter_id is not None:
            backers.add(source.submitter_id)
        if target.submitter_id is not None:
            backers.discard(target.submitter_id)
        existing = set(
            await self.session.scalars(
                select(Support.user_id).where(Support.usulan_id == target.id)
            )
        )
        joining = sorted(backers - existing)
        for user_id in joining:
            self.session.add(Support(usulan_id=target.id, user_id=user_id))
        await self.session.flush()
        await self.add_support(target.id, len(joining))

    async def _update_if(
        self, usulan_id: int, stage: str, decision: str, values: dict[str, Any]
    ) -> bool:
        """Change the status row only if it still is what the caller saw: of two concurrent
        changes exactly one matches, and the other learns it lost."""
        result = await self.session.execute(
            update(Usulan)
            .where(Usulan.id == usulan_id, Usulan.stage == stage, Usulan.decision == decision)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]

    async def add_support(self, usulan_id: int, added: int) -> None:
        """Count `added` new supporters. An increment, not a recount: under READ COMMITTED
        two recounts running side by side each miss the other's new row, while increments
        queue on the row lock and each adds its own."""
        if added == 0:
            return
        await self.session.execute(
            update(Usulan)
            .where(Usulan.id == usulan_id)
            .values(support_count=Usulan.support_count + added)
            .execution_options(synchronize_session=False)
        )

    async def resubmit(self, user_id: int, code: str, changes: dict[str, Any]) -> DecisionResult:
        """The submitter revises an usulan returned to them; it waits again at its stage.

        `changes` holds the fields the resident wrote anew (any of RESIDENT_FIELDS, and
        `photos`); the usulan as revised is checked as a new one is. The event records each
        changed field, old and new."""
        row = await self.get(code)
        if row.submitter_id != user_id:
            raise Forbidden("only the submitter revises an usulan")
        if row.decision != Decision.PERLU_PERBAIKAN.value:
            raise Conflict(f"{row.code} is not waiting for a revision")
        unknown = set(changes) - {*RESIDENT_FIELDS, "photos"}
        if unknown:
            raise InvalidInput("changes", f"cannot change {', '.join(sorted(unknown))}")
        photos = list(await self.session.scalars(
            select(UsulanPhoto).where(UsulanPhoto.usulan_id == row.id)
        ))  # fmt: skip
        fields, new_photos = usulan_fields(
            {**draft_of(row, photos), **changes}, self.wilayah, self.categories
        )
        values: dict[str, Any] = {}
        diff: dict[str, list[Any]] = {}
        for field in RESIDENT_FIELDS:
            if fields[field] != getattr(row, field):
                diff[field] = [_plain(getattr(row, field)), _plain(fields[field])]
                values[field] = fields[field]
                values.update({d: fields[d] for d in DERIVED_FROM.get(field, ())})
        old_hashes = [p.sha256 for p in sorted(photos, key=lambda p: p.position)]
        new_hashes = [p["sha256"] for p in new_photos]
        if new_hashes != old_hashes:
            diff["photos"] = [[h[:12] for h in old_hashes], [h[:12] for h in new_hashes]]
        values["decision"] = Decision.MENUNGGU.value
        if not await self._update_if(row.id, row.stage, Decision.PERLU_PERBAIKAN.value, values):
            raise Conflict(f"{row.code} is not waiting for a revision")
        if "photos" in diff:
            await self._replace_photos(row.id, new_photos)
        if changed_texts := [f for f in diff if f in VOICE_FIELDS]:
            # Typed anew: those texts are no longer the transcript of a voice note.
            await self.session.execute(
                delete(UsulanVoice).where(
                    UsulanVoice.usulan_id == row.id, UsulanVoice.field.in_(changed_texts)
                )
            )
        await append_event(
            self.session,
            usulan_id=row.id,
            kind="diperbaiki",
            from_stage=row.stage,
            from_decision=Decision.PERLU_PERBAIKAN.value,
            to_stage=row.stage,
            to_decision=Decision.MENUNGGU.value,
            actor_user_id=user_id,
            payload={"changes": diff},
        )
        await self.session.refresh(row)
        return DecisionResult(code=row.code, stage=row.stage, decision=row.decision)

    async def _replace_photos(self, usulan_id: int, photos: list[dict[str, Any]]) -> None:
        await self.session.execute(delete(UsulanPhoto).where(UsulanPhoto.usulan_id == usulan_id))
        for photo in photo_rows(photos):
            photo.usulan_id = usulan_id
            self.session.add(photo)
        await self.session.flush()


def _changed_value(field: str, value: Any) -> Any:
    """A value an official sets, as its column holds it (the limits of backend.domain):
    numbers for the numeric fields, text only for the others, refused rather than cut."""
    name = f"changes.{field}"
    if field in {"volume", "latitude", "longitude"}:
        number = check_number(field, value, name)
        return number if field == "volume" else float(number)
    if not isinstance(value, str):
        raise InvalidInput(name, "text expected")
    text = clean_text(value)
    if not text:
        if field == "street":
            return None
        raise InvalidInput(name, "must not be empty")
    return check_text(field, text, name)


def _plain(value: Any) -> Any:
    return plain_number(value) if isinstance(value, Decimal) else value
