"""The Musrenbang state machine on both databases: legal moves, scope, races, the audit."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select, text, update

from backend.domain import Decision, Stage
from backend.errors import Conflict, Forbidden, InvalidInput
from backend.services.audit import verify
from backend.services.officials import Role
from backend.services.queues import QueueFilter
from backend.storage.models import Notification, Usulan, UsulanEvent
from tests.officials import (
    LABUHAN_DELI,
    MEDAN_KOTA,
    OPERATOR,
    PASAR_BARU,
    PUSAT_PASAR,
    decide,
    forward_to_kecamatan,
    official,
    submit,
    warga,
)


async def test_usulan_moves_through_every_stage_to_realisasi(backend):
    resident = await warga(backend)
    kepala = await official(backend, Role.KEPALA_DESA, wilayah=PASAR_BARU)
    camat = await official(backend, Role.OPERATOR_KECAMATAN, wilayah=MEDAN_KOTA)
    dpupr = await official(backend, Role.OPD, opd="dpupr")
    bappeda = await official(backend, Role.ADMIN, wilayah="12.71")
    code = await submit(backend, resident)
    await forward_to_kecamatan(backend, kepala, [code])

    steps = [
        (camat, Stage.KECAMATAN),
        (dpupr, Stage.PERANGKAT_DAERAH),
        (bappeda, Stage.KABKOTA),
        (dpupr, Stage.RENJA),
        (bappeda, Stage.RKPD),
        (bappeda, Stage.APBD),
    ]
    for who, stage in steps:
        result = await decide(backend, who, code, stage, Decision.DITERIMA)
        assert result.decision == "menunggu" and result.stage != stage.value
    done = await decide(backend, dpupr, code, Stage.REALISASI, Decision.DITERIMA)
    assert (done.stage, done.decision) == ("realisasi", "diterima")

    async with backend.unit() as s:
        status = await s.intake.status(code)
        report = await verify(s.session)
    stages = [(h.stage, h.decision) for h in status.history]
    assert stages[0] == ("desa", "menunggu")
    assert ("kecamatan", "diterima") in stages and ("apbd", "diterima") in stages
    assert stages[-1] == ("realisasi", "diterima")
    assert report.ok and report.events == len(stages)


async def test_skipping_a_stage_or_deciding_twice_is_refused(backend):
    resident = await warga(backend)
    kepala = await official(backend, Role.KEPALA_DESA, wilayah=PASAR_BARU)
    code = await submit(backend, resident)
    with pytest.raises(Conflict, match="at stage desa"):
        await decide(backend, kepala, code, Stage.KECAMATAN, Decision.DITERIMA)
    await decide(backend, kepala, code, Stage.DESA, Decision.DITOLAK, reason_code="duplikat")
    with pytest.raises(Conflict, match="already decided"):
        await decide(backend, kepala, code, Stage.DESA, Decision.DITERIMA)


async def test_scope_is_checked_on_the_server(backend):
    resident = await warga(backend)
    other_kepala = await official(backend, Role.KEPALA_DESA, wilayah=PUSAT_PASAR)
    kepala = await official(backend, Role.KEPALA_DESA, wilayah=PASAR_BARU)
    dpupr = await official(backend, Role.OPD, opd="dpupr")
    far_camat = await official(backend, Role.OPERATOR_KECAMATAN, wilayah="12.71.12")
    code = await submit(backend, resident)
    with pytest.raises(Forbidden):  # the kepala desa of desa B acting on desa A
        await decide(backend, other_kepala, code, Stage.DESA, Decision.DITERIMA)
    with pytest.raises(Forbidden):  # an OPD at the desa stage
        await decide(backend, dpupr, code, Stage.DESA, Decision.DITERIMA)
    await forward_to_kecamatan(backend, kepala, [code])
    with pytest.raises(Forbidden):  # OPD staff deciding at the kecamatan stage
        await decide(backend, dpupr, code, Stage.KECAMATAN, Decision.DITERIMA)
    with pytest.raises(Forbidden):  # another kecamatan's operator
        await decide(backend, far_camat, code, Stage.KECAMATAN, Decision.DITERIMA)
    async with backend.unit() as s:
        row = await s.session.scalar(select(Usulan).where(Usulan.code == code))
    assert (row.stage, row.decision) == ("kecamatan", "menunggu")


async def test_reasons_are_required_where_the_design_says(backend):
    resident = await warga(backend)
    kepala = await official(backend, Role.KEPALA_DESA, wilayah=PASAR_BARU)
    code = await submit(backend, resident)
    for decision, kwargs, field in [
        (Decision.DITOLAK, {}, "reason_code"),
        (Decision.DITOLAK, {"reason_code": "lainnya"}, "note"),
        (Decision.PERLU_PERBAIKAN, {}, "note"),
        (Decision.DITUNDA, {}, "note"),
        (Decision.DITERIMA_DENGAN_PERUBAHAN, {}, "changes"),
        (Decision.DIGABUNG, {}, "merge_into"),
    ]:
        with pytest.raises(InvalidInput) as refused:
            await decide(backend, kepala, code, Stage.DESA, decision, **kwargs)
        assert refused.value.field == field
    async with backend.unit() as s:
        assert (await s.intake.status(code)).decision == "menunggu"


async def test_accepted_with_changes_records_old_and_new(backend):
    resident = await warga(backend)
    kepala = await official(backend, Role.KEPALA_DESA, wilayah=PASAR_BARU)
    camat = await official(backend, Role.OPERATOR_KECAMATAN, wilayah=MEDAN_KOTA)
    code = await submit(backend, resident)
    await forward_to_kecamatan(backend, kepala, [code])
    await decide(backend, camat, code, Stage.KECAMATAN, Decision.DITERIMA_DENGAN_PERUBAHAN,
                 changes={"volume": "80", "opd": "perkim"})  # fmt: skip
    async with backend.unit() as s:
        row = await s.session.scalar(select(Usulan).where(Usulan.code == code))
        event = await s.session.scalar(
            select(UsulanEvent).where(UsulanEvent.usulan_id == row.id,
                                      UsulanEvent.to_decision == "diterima_dengan_perubahan")
        )  # fmt: skip
    assert (row.stage, row.decision, row.opd) == ("perangkat_daerah", "menunggu", "perkim")
    assert float(row.volume) == 80
    assert event.payload["changes"] == {"volume": ["120", "80"], "opd": ["dpupr", "perkim"]}


async def test_merge_moves_supporters_to_the_other_usulan(backend):
    first, second, backer = await warga(backend), await warga(backend), await warga(backend)
    kepala = await official(backend, Role.KEPALA_DESA, wilayah=PASAR_BARU)
    keep = await submit(backend, first, n=1)
    dup = await submit(backend, second, n=2)
    async with backend.unit() as s:
        await s.support.support(backer.user_id, dup)
    await decide(backend, kepala, dup, Stage.DESA, Decision.DIGABUNG, merge_into=keep)
    async with backend.unit() as s:
        kept = await s.session.scalar(select(Usulan).where(Usulan.code == keep))
        merged = await s.session.scalar(select(Usulan).where(Usulan.code == dup))
    assert kept.support_count == 2  # the duplicate's submitter and its supporter
    assert merged.decision == "digabung" and merged.merged_into_id == kept.id
    with pytest.raises(InvalidInput):  # not across villages at the desa stage
        other = await submit(backend, first, desa=PUSAT_PASAR)
        await decide(backend, kepala, keep, Stage.DESA, Decision.DIGABUNG, merge_into=other)


async def test_two_officials_deciding_at_once_one_wins_one_gets_conflict(backend):
    resident = await warga(backend)
    kepala = await official(backend, Role.KEPALA_DESA, wilayah=PASAR_BARU)
    operator = await official(backend, Role.OPERATOR_DESA, wilayah=PASAR_BARU)
    code = await submit(backend, resident)
    results = await asyncio.gather(
        decide(backend, kepala, code, Stage.DESA, Decision.DITERIMA),
        decide(backend, operator, code, Stage.DESA, Decision.DITOLAK, reason_code="duplikat"),
        return_exceptions=True,
    )
    wins = [r for r in results if not isinstance(r, BaseException)]
    losses = [r for r in results if isinstance(r, BaseException)]
    assert len(wins) == 1 and len(losses) == 1
    assert isinstance(losses[0], Conflict)
    async with backend.unit() as s:
        status = await s.intake.status(code)
    assert [h.decision for h in status.history] == ["menunggu", wins[0].decision]


async def test_kecamatan_queue_order_rank_then_support_then_age(backend):
    residents = [await warga(backend) for _ in range(4)]
    kepala_a = await official(backend, Role.KEPALA_DESA, wilayah=PASAR_BARU)
    kepala_b = await official(backend, Role.KEPALA_DESA, wilayah=PUSAT_PASAR)
    camat = await official(backend, Role.OPERATOR_KECAMATAN, wilayah=MEDAN_KOTA)
    far_kepala = await official(backend, Role.KEPALA_DESA, wilayah=LABUHAN_DELI)
    a1 = await submit(backend, residents[0], n=1)
    a2 = await submit(backend, residents[1], n=2)
    b1 = await submit(backend, residents[2], desa=PUSAT_PASAR, n=3)
    far = await submit(backend, residents[3], desa=LABUHAN_DELI, n=4)
    async with backend.unit() as s:
        await s.support.support(residents[0].user_id, b1)  # b1: rank 1 and one supporter
    await forward_to_kecamatan(backend, kepala_a, [a2, a1])
    await forward_to_kecamatan(backend, kepala_b, [b1])
    await forward_to_kecamatan(backend, far_kepala, [far])
    async with backend.unit() as s:
        page = await s.queues.page(camat.actor, QueueFilter(Stage.KECAMATAN))
        alerts = await s.session.scalar(
            select(text("count(*)")).select_from(Notification)
            .where(Notification.template == "alert.queue_received",
                   Notification.user_id == camat.user_id)
        )  # fmt: skip
    assert [i.code for i in page.items] == [b1, a2, a1]  # the far kecamatan's usulan is absent
    assert [i.village_rank for i in page.items] == [1, 1, 2]
    assert alerts == 2  # one alert per confirmed rembuk, not one per usulan


async def test_rembuk_cannot_be_confirmed_twice_and_undecided_stay(backend):
    resident = await warga(backend)
    kepala = await official(backend, Role.KEPALA_DESA, wilayah=PASAR_BARU)
    accepted = await submit(backend, resident, n=1)
    waiting = await submit(backend, resident, n=2)
    await forward_to_kecamatan(backend, kepala, [accepted])
    async with backend.unit() as s:
        assert (await s.intake.status(waiting)).stage == "desa"
        assert await s.rembuk.current(kepala.actor) is None
        rembuk_id = await s.session.scalar(text("select max(id) from rembuk"))
        with pytest.raises(Conflict):
            await s.rembuk.confirm(kepala.actor, rembuk_id)


async def test_audit_verify_names_an_event_edited_by_plain_sql(backend):
    resident = await warga(backend)
    kepala = await official(backend, Role.KEPALA_DESA, wilayah=PASAR_BARU)
    honest = await submit(backend, resident, n=1)
    tampered = await submit(backend, resident, n=2)
    truncated = await submit(backend, resident, n=3)
    await decide(backend, kepala, tampered, Stage.DESA, Decision.DITOLAK, reason_code="duplikat")
    await decide(backend, kepala, truncated, Stage.DESA, Decision.DITOLAK, reason_code="lainnya",
                 note="tidak jelas")  # fmt: skip
    async with backend.unit() as s:
        report = await verify(s.session)
        assert report.ok
        ids = dict((await s.session.execute(select(Usulan.code, Usulan.id))).all())
        # Someone turns a rejection into an acceptance behind the system's back...
        await s.session.execute(
            update(UsulanEvent)
            .where(UsulanEvent.usulan_id == ids[tampered], UsulanEvent.seq == 2)
            .values(to_decision="diterima")
        )
        # ...and erases the newest event of another usulan.
        await s.session.execute(
            text("delete from usulan_events where usulan_id = :id and seq = 2"),
            {"id": ids[truncated]},
        )
    async with backend.unit() as s:
        report = await verify(s.session)
    broken = {b.code: b for b in report.broken}
    assert set(broken) == {tampered, truncated}
    assert honest not in broken
    assert "changed" in broken[tampered].problem


async def test_decisions_notify_submitter_and_supporters_once(backend):
    resident, backer = await warga(backend), await warga(backend)
    kepala = await official(backend, Role.KEPALA_DESA, wilayah=PASAR_BARU)
    code = await submit(backend, resident)
    async with backend.unit() as s:
        await s.support.support(backer.user_id, code)
    await decide(backend, kepala, code, Stage.DESA, Decision.PERLU_PERBAIKAN,
                 note="Lengkapi foto lokasi")  # fmt: skip
    async with backend.unit() as s:
        rows = list(await s.session.scalars(select(Notification).order_by(Notification.user_id)))
    assert {r.user_id for r in rows} == {resident.user_id, backer.user_id}
    assert all(r.template == "notify.decision" for r in rows)
    assert rows[0].params["note"] == "Lengkapi foto lokasi"
    assert rows[0].params["decision"] == "perlu_perbaikan"


async def test_resubmitted_revision_waits_again(backend):
    resident = await warga(backend)
    kepala = await official(backend, Role.KEPALA_DESA, wilayah=PASAR_BARU)
    code = await submit(backend, resident)
    await decide(backend, kepala, code, Stage.DESA, Decision.PERLU_PERBAIKAN, note="Volume?")
    async with backend.unit() as s:
        with pytest.raises(Forbidden):
            await s.workflow.resubmit(kepala.user_id, code, {"volume": "90"})
    async with backend.unit() as s:
        done = await s.workflow.resubmit(resident.user_id, code, {"usulan": "Aspal 90 meter"})
    assert done.decision == "menunggu"
    await decide(backend, kepala, code, Stage.DESA, Decision.DITERIMA)


async def test_invites_are_single_use_scoped_and_expire(backend):
    from datetime import timedelta

    first, second = await warga(backend), await warga(backend)
    async with backend.unit() as s:
        with pytest.raises(InvalidInput):  # a kepala desa needs a desa code, not a kecamatan
            await s.officials.create_invite(
                Role.KEPALA_DESA, wilayah_code=MEDAN_KOTA, created_by=OPERATOR
            )
        with pytest.raises(InvalidInput):  # outside the region
            await s.officials.create_invite(
                Role.KEPALA_DESA, wilayah_code="11.08.01.2001", created_by=OPERATOR
            )
        invite = await s.officials.create_invite(
            Role.KEPALA_DESA, wilayah_code=PASAR_BARU, created_by=OPERATOR
        )
        stale = await s.officials.create_invite(
            Role.KEPALA_DESA,
            wilayah_code=PASAR_BARU,
            created_by=OPERATOR,
            ttl=timedelta(seconds=-1),
        )
    async with backend.unit() as s:
        actor = await s.officials.claim(first.user_id, invite.code.lower())
    assert (actor.role, actor.wilayah_code) == (Role.KEPALA_DESA, PASAR_BARU)
    async with backend.unit() as s:
        with pytest.raises(Conflict, match="already used"):
            await s.officials.claim(second.user_id, invite.code)
    async with backend.unit() as s:
        with pytest.raises(Conflict, match="expired"):
            await s.officials.claim(second.user_id, stale.code)
    async with backend.unit() as s:
        assert await s.officials.actor_for(second.user_id) is None


# --- issue 8: scope escapes and lost support ----------------------------------------------


async def test_a_change_that_moves_the_usulan_out_of_the_deciders_scope_is_refused(backend):
    resident = await warga(backend)
    kepala = await official(backend, Role.KEPALA_DESA, wilayah=PASAR_BARU)
    camat = await official(backend, Role.OPERATOR_KECAMATAN, wilayah=MEDAN_KOTA)
    dpupr = await official(backend, Role.OPD, opd="dpupr")
    code, other = await submit(backend, resident, n=1), await submit(backend, resident, n=2)
    await forward_to_kecamatan(backend, kepala, [code, other])

    # Into another kecamatan (Medan Marelan): out of the operator's reach, so refused.
    with pytest.raises(Forbidden, match="outside your scope"):
        await decide(backend, camat, code, Stage.KECAMATAN, Decision.DITERIMA_DENGAN_PERUBAHAN,
                     changes={"desa_code": LABUHAN_DELI})  # fmt: skip
    async with backend.unit() as s:
        row = await s.session.scalar(select(Usulan).where(Usulan.code == code))
    assert (row.desa_code, row.stage, row.decision) == (PASAR_BARU, "kecamatan", "menunggu")

    # Within the kecamatan it is a correction the operator may make.
    await decide(backend, camat, code, Stage.KECAMATAN, Decision.DITERIMA_DENGAN_PERUBAHAN,
                 changes={"desa_code": PUSAT_PASAR})  # fmt: skip
    async with backend.unit() as s:
        row = await s.session.scalar(select(Usulan).where(Usulan.code == code))
    assert (row.desa_code, row.kecamatan_code) == (PUSAT_PASAR, MEDAN_KOTA)

    # An OPD cannot hand its usulan to another OPD by "accepting with changes".
    await decide(backend, camat, other, Stage.KECAMATAN, Decision.DITERIMA)
    with pytest.raises(Forbidden, match="outside your scope"):
        await decide(backend, dpupr, other, Stage.PERANGKAT_DAERAH,
                     Decision.DITERIMA_DENGAN_PERUBAHAN, changes={"opd": "perkim"})  # fmt: skip


async def test_a_scope_escape_over_the_api_answers_403_and_changes_nothing(backend):
    import httpx

    from backend.api.app import create_api

    resident = await warga(backend)
    kepala = await official(backend, Role.KEPALA_DESA, wilayah=PASAR_BARU)
    camat = await official(backend, Role.OPERATOR_KECAMATAN, wilayah=MEDAN_KOTA)
    code = await submit(backend, resident)
    await forward_to_kecamatan(backend, kepala, [code])
    transport = httpx.ASGITransport(app=create_api(backend))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        answer = await http.post(
            f"/api/v1/usulan/{code}/decision",
            headers={"Authorization": f"Bearer {camat.token}"},
            json={"stage": "kecamatan", "decision": "diterima_dengan_perubahan",
                  "changes": {"desa_code": LABUHAN_DELI}},
        )  # fmt: skip
        assert answer.status_code == 403, answer.text
        assert "outside your scope" in answer.json()["detail"]
        detail = await http.get(
            f"/api/v1/usulan/{code}", headers={"Authorization": f"Bearer {camat.token}"}
        )
    assert detail.status_code == 200  # still the operator's, still waiting
    assert (detail.json()["desa_code"], detail.json()["decision"]) == (PASAR_BARU, "menunggu")


async def test_fifty_residents_backing_one_usulan_at_once_are_all_counted(backend):
    from backend.storage.models import Support

    submitter = await warga(backend)
    code = await submit(backend, submitter)
    backers = [await warga(backend) for _ in range(50)]

    async def back(person):
        async with backend.unit() as s:
            await s.support.support(person.user_id, code)

    await asyncio.gather(*(back(p) for p in backers))
    async with backend.unit() as s:
        row = await s.session.scalar(select(Usulan).where(Usulan.code == code))
        supports = await s.session.scalars(select(Support).where(Support.usulan_id == row.id))
        rows = len(list(supports))
    assert rows == 50
    assert row.support_count == 50
